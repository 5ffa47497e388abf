"""`python -m producer`: generate or replay as PRODUCER_* settings say (for containers)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import TYPE_CHECKING

from shared.errors import UsageError
from shared.startup import loading, stopped_starting

if TYPE_CHECKING:
    from producer.settings import ProducerSettings

DESCRIPTION = ("Generate (PRODUCER_MODE=generate) or replay (PRODUCER_MODE=replay, "
               "PRODUCER_FILES) transactions to the transactions topic. Takes no arguments: "
               "settings come from PRODUCER_*, KAFKA_* and AUDITSTREAM_* variables (README, "
               "Configuration; docs/producer.md).")


def main(argv: list[str] | None = None) -> int:
    """Arguments are parsed first: `--help` (or a stray one, exit 2) never publishes."""
    argparse.ArgumentParser(prog="python -m producer", description=DESCRIPTION).parse_args(argv)
    try:  # a stop while the modules load (a second): one line and 130, as later on
        with loading():  # Ctrl-C and SIGTERM held until loaded, then as a stop
            import producer.cli  # noqa: F401  (numpy, the generator: loaded here, not in _run)
            from producer.settings import ProducerSettings
            from shared.entry import run_guarded, setup_logging
    except KeyboardInterrupt:
        return stopped_starting("python -m producer", service=False)
    setup_logging()
    return run_guarded("python -m producer", lambda: _run(ProducerSettings()))


def _run(s: ProducerSettings) -> int:
    """`_publish`, a path's error naming the setting that gave it (`PRODUCER_OUT: ...`)."""
    from pathlib import Path

    from producer.settings import ProducerSettings
    from shared.entry import paths_named
    from shared.settings import env_name

    paths: dict[str, list[Path] | list[Path | None]] = {
        "out": [s.out], "files": s.files, "rejects_dir": [s.rejects_dir]}
    with paths_named({env_name(ProducerSettings, k): v for k, v in paths.items()}):
        return _publish(s)


def _publish(s: ProducerSettings) -> int:
    from producer.cli import CONTAINER_ENTRY, cmd_generate, cmd_replay
    from producer.settings import REPLAY_ONLY, ProducerSettings, as_setting
    from shared.settings import env_name

    if s.mode == "replay":
        if not s.files:  # one line in the README's error format, not a log line
            raise UsageError("PRODUCER_MODE=replay needs PRODUCER_FILES (a JSON list of "
                             "paths, e.g. PRODUCER_FILES='[\"/data/tx.csv\"]')")
        if s.rate is not None and s.speed is not None:  # was the pacer's ValueError: exit 70
            raise UsageError("PRODUCER_RATE and PRODUCER_SPEED are both set: give one (messages "
                             "a second, or event time's speed-up), or neither for as fast as "
                             "possible")
        return cmd_replay(argparse.Namespace(files=s.files, rate=s.rate, speed=s.speed,
                                          strict=s.strict, rejects_dir=s.rejects_dir))
    ignored = [env_name(ProducerSettings, f) for f in REPLAY_ONLY if f in s.model_fields_set]
    if ignored:  # was ignored without a word, the generated stream sent
        default = "" if "mode" in s.model_fields_set else " (the default)"
        raise UsageError(f"{' and '.join(ignored)} {'applies' if len(ignored) == 1 else 'apply'}"
                         f" to PRODUCER_MODE=replay, not PRODUCER_MODE=generate{default}; "
                         f"unset {'it' if len(ignored) == 1 else 'them'}, or set "
                         "PRODUCER_MODE=replay")
    return cmd_generate(argparse.Namespace(
        recipe=s.recipe, mix=s.mix, changes_out=None, seed=s.seed, customers=s.customers,
        days=s.days,
        start=datetime(s.start.year, s.start.month, s.start.day), tx_per_day=None,
        transactions=None, anomaly_rate=[], traveller_share=None, travel_gap_hours=None,
        duplicate_window_minutes=None, out=s.out, publish=s.publish, entry=CONTAINER_ENTRY,
        naming=as_setting,
    ))


if __name__ == "__main__":
    sys.exit(main())
