"""`auditstream score` (offline, from a CSV) and `auditstream detect` (streaming)."""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from shared.errors import AuditstreamError

SCORE_HELP = "score a historic-layout CSV offline and write the exports (as the sink does)"
REJECTED_FILE = "rejected_rows.csv"


def register(subparsers: Any) -> None:
    score = subparsers.add_parser("score", help=SCORE_HELP, description=(
        "Read INPUT.csv (the historic layout; label columns optional), score every row in "
        "timestamp order with the detection core, and write transactions_scored.csv and "
        "every rollup into --out. Rows that cannot be read go to rejected_rows.csv. "
        "Core settings come from DETECTOR_CORE__* variables."))
    score.add_argument("input", type=Path, nargs="+", metavar="INPUT.csv")
    score.add_argument("--out", type=Path, required=True, metavar="DIR")
    score.add_argument("--partitions", type=int, default=1, metavar="P",
                       help="emulate a topic of P partitions keyed by customer_id (default 1)")
    score.add_argument("--seed", type=int, help="model seed (default DETECTOR_CORE__SEED or 42)")
    score.set_defaults(func=run_score)

    detect = subparsers.add_parser(
        "detect", help="run the streaming detector (transactions -> transactions.scored)",
        description="Consume transactions, score them exactly once and publish "
        "transactions.scored. Settings come from DETECTOR_* and KAFKA_* variables.")
    detect.add_argument("--group", help="consumer group id")
    detect.add_argument("--instance-id", help="stable id of this process")
    detect.add_argument("--metrics-port", type=int, help="serve Prometheus metrics here")
    detect.add_argument("--batch-size", type=int, help="messages per consume() call")
    detect.add_argument("--snapshot-every", type=int, help="records between state snapshots")
    detect.add_argument("--recovery-policy", choices=("fail", "reset"))
    detect.set_defaults(func=run_detect)


def run_detect(args: argparse.Namespace) -> int:
    try:
        from detector.app import main_from_args
    except ModuleNotFoundError as exc:
        raise AuditstreamError(f"the streaming detector is not available: {exc}") from exc
    return int(main_from_args(args) or 0)


def _sha256(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _write_rejected(errors: list[Any], path: Path) -> None:
    from sink.atomic import atomic_writer
    from sink.csvfmt import encode_rows, text

    rows = [[e.source, str(e.line), text(e.reason), text(json.dumps(e.raw, ensure_ascii=False))]
            for e in errors]
    with atomic_writer(path) as fh:
        fh.write(encode_rows(rows, ("file", "line", "reason", "raw")))


def run_score(args: argparse.Namespace) -> int:
    # Millions of small live objects (inputs, scored rows, cells) make the cyclic GC rescan
    # the heap again and again while reading and writing; nothing here needs it (the
    # scoring step already pauses it), so it is paused for the whole command.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _run_score(args)
    finally:
        if gc_was_enabled:
            gc.enable()


def _run_score(args: argparse.Namespace) -> int:
    from detector.core.config import CoreConfig
    from detector.offline import score_transactions
    from shared.csv_io import load_sorted
    from sink.offline import ExportPipeline

    if args.partitions < 1:
        raise AuditstreamError("--partitions must be at least 1")
    config = _core_config()
    if args.seed is not None:
        config = CoreConfig.model_validate({**config.model_dump(), "seed": args.seed})
    started = time.perf_counter()
    txs, errors = load_sorted(args.input)
    read_s = time.perf_counter() - started
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    # Rows already scored are formatted for the export while later ones are scored.
    exports = ExportPipeline(out)
    rows = score_transactions(txs, config, partitions=args.partitions, progress=exports.ready)
    del txs  # the scored rows carry every input field; free the inputs before writing
    score_s = time.perf_counter() - started - read_s
    if errors:
        _write_rejected(errors, out / REJECTED_FILE)
    else:
        (out / REJECTED_FILE).unlink(missing_ok=True)
    info = {
        "inputs": [str(p) for p in args.input],
        "input_sha256": _sha256(args.input),
        "rows": len(rows),
        "rejected_rows": len(errors),
        "partitions": args.partitions,
        "core_config": config.model_dump(),
        "model_versions": dict(Counter(r.model_version for r in rows)),
    }
    exports.finish(rows, run_info=info)
    total = time.perf_counter() - started
    flagged = sum(r.is_flag for r in rows)
    print(f"score: {len(rows)} rows scored ({flagged} flagged), {len(errors)} rejected"
          f"{' -> ' + str(out / REJECTED_FILE) if errors else ''}; exports in {out} "
          f"(read {read_s:.1f} s, score {score_s:.1f} s, total {total:.1f} s)")
    return 0


def _core_config() -> Any:
    from detector.core.config import CoreConfig

    try:
        from detector.settings import DetectorSettings
    except ImportError:
        return CoreConfig()
    core = getattr(DetectorSettings(), "core", None)
    return core if isinstance(core, CoreConfig) else CoreConfig()
