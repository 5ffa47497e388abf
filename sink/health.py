"""`python -m sink.health`: the sink container's health check, from its own heartbeat.

The sink rewrites `status.csv` in its exports folder at every rollup refresh and, when idle,
every `SINK_ROLLUP_INTERVAL_S` (sink.status): `heartbeat_at` says its loop turned then,
`lag_messages` how many scored messages wait (empty when unknown: no broker connection for
`NO_BROKER_S`, or the partitions' ends not known yet), `last_row_written_at` when it last
made rows durable. `shared.health.judge` decides from those; the check prints the verdict
and exits 0 (healthy) or 1. A heartbeat more than `shared.freshness.STALE_S` old says the
sink was not heard from since (killed, crashed or stuck: its lag is what it was then); one
whose `stopped_at` is set (a clean stop) is unhealthy at once, whatever its age; so is a
batch run's folder (`auditstream score`: `shared.freshness.batch_run`), which no sink writes.

A second line, `note: ...`, names the scored messages' fields and rules (`rule_flags`)
run.json says the sink did not know (`shared.skew`: a newer detector's, mid rolling
upgrade). It leaves the exit code alone: those rows are exported and current, only without
the new columns, and a restart cannot teach the sink a field; unhealthy would have Docker
flag (or an orchestrator restart) the sink for the whole of an upgrade done in the order
the docs allow.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from shared.columns import SOURCE_SCORE, STATUS_COLUMNS
from shared.csv_encoding import unmatched_header
from shared.csv_lines import BoundedLines, LineTooLong
from shared.errors import UsageError
from shared.exports_folder import RUN_FILE
from shared.freshness import STALE_S, ahead_by, batch_run, silent_for, utc
from shared.health import Bounds, Signs, Verdict, judge
from shared.names import shown
from shared.outputs import open_text
from shared.skew import skew_note

#: The longest the sink may write no row while scored messages wait for it (s).
STALL_S = 120.0
#: The heartbeat's bound is the staleness every reader of status.csv uses.
BOUNDS = Bounds(beat_s=STALE_S, stall_s=STALL_S)


def signs(status: Mapping[str, str], now: datetime) -> Signs:
    """The signs in one status.csv row at `now` (naive UTC, as the row's times)."""

    def age(name: str) -> float | None:
        value = status.get(name) or ""
        return (now - utc(value)).total_seconds() if value else None

    lag = status.get("lag_messages") or ""
    return Signs(beat_age_s=age("heartbeat_at"), lag=int(lag) if lag else None,
                 stalled_s=age("last_row_written_at"))


def check(folder: Path, now: datetime) -> Verdict:
    """The verdict on the sink writing `folder`, from its status.csv."""
    from sink.status import STATUS_FILE

    path = folder / STATUS_FILE
    try:
        with open_text(path, "utf-8-sig", newline="") as fh:  # a FIFO there waited for ever
            # lines bounded (`shared.csv_lines`): a 1 GB line was read whole at every probe
            reader = csv.DictReader(BoundedLines(fh))
            rows = list(reader)
            header = reader.fieldnames or []
    except FileNotFoundError:
        return Verdict(False, f"no {shown(path)} yet: the sink has not started its loop")
    except (OSError, UnicodeDecodeError, csv.Error, UsageError) as exc:
        return Verdict(False, f"cannot read {shown(path)}: {exc}")
    except LineTooLong as exc:
        return Verdict(False, f"cannot read {shown(path)}: {exc}")
    hint = unmatched_header(header, ["heartbeat_at"], hinted=STATUS_COLUMNS)
    if header and hint is not None:
        return Verdict(False, f"{shown(path)} does not read as the sink writes it: its header "
                              f"has no heartbeat_at column{hint}")
    if len(rows) != 1:
        return Verdict(False, f"{shown(path)} holds {len(rows)} rows, not 1")
    try:
        found = signs(rows[0], now.replace(microsecond=0))  # the row's times: whole seconds
        stopped = rows[0].get("stopped_at") or ""
        if stopped:
            utc(stopped)
        beat = rows[0].get("heartbeat_at") or ""
        silent, ahead = silent_for(beat, now), ahead_by(beat, now)
    except ValueError as exc:
        return Verdict(False, f"{shown(path)} does not read as the sink writes it: {exc}")
    if batch_run(rows[0]):
        return Verdict(False, f"{shown(path)} is a batch run's ({SOURCE_SCORE}, ended "
                              f"{stopped or beat or 'at an unknown time'}): no sink writes "
                              "this folder; point the sink at its own --exports folder")
    if stopped:
        return Verdict(False, f"the sink stopped at {stopped} (a clean stop; {_waited(found)})")
    if silent is not None:
        return Verdict(False, f"sink not heard from since {beat} ({silent:.0f} s, bound "
                              f"{STALE_S} s): killed, crashed or stuck; {_waited(found)}")
    if ahead is not None:
        return Verdict(False, f"heartbeat {beat} is {ahead:.0f} s ahead of this clock (bound "
                              f"{STALE_S} s): the clocks disagree, so its age is unknown; "
                              f"{_waited(found)}")
    return judge(found, BOUNDS)


def note(folder: Path) -> str:
    """The line on fields and rules the sink did not know, from `folder`'s run.json; ""
    when it names none, or there is no run.json yet."""
    path = folder / RUN_FILE
    try:
        with open_text(path, "utf-8") as fh:  # as status.csv: a FIFO there waited for ever
            run = json.load(fh)
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError, ValueError, UsageError) as exc:
        return f"note: cannot read {shown(path)} for the fields the sink did not know: {exc}"
    said = skew_note(run) if isinstance(run, dict) else ""
    return f"note: {said}" if said else ""


def _waited(found: Signs) -> str:
    if found.lag is None:
        return "how many messages were waiting then was unknown"
    return f"{found.lag:,} messages were waiting then"


def main() -> int:
    from shared.entry import run_guarded
    from sink.settings import SinkSettings

    def run() -> int:
        s = SinkSettings()
        now = datetime.now(UTC).replace(tzinfo=None)
        verdict = check(s.exports_dir, now)
        print(verdict.line())
        if said := note(s.exports_dir):
            print(said)
        return 0 if verdict.healthy else 1

    # Docker reads 0 as healthy, 1 as unhealthy (2 is reserved): a bad setting is 1 too.
    return 0 if run_guarded("python -m sink.health", run) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
