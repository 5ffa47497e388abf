"""`auditstream score` (offline: the CSV reader, the detection core, the sink's exports) and
`auditstream detect` (the streaming detector), wired together here."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from auditstream.report import write_report_from_rollup
from auditstream.sorted_input import OutOfOrder, direct, merged
from detector.core import KIND as CORE_KIND
from detector.core import compiled
from detector.core.config import CoreConfig
from detector.settings import DetectorSettings
from shared.csv_io import RowError, open_checked
from shared.dayfiles import day_files
from shared.entry import folder_name, input_file, partition_count
from shared.errors import AuditstreamError, ExitCode
from shared.exports_folder import EXPORT_FILES, refuse_foreign, refuse_sink_folder
from shared.folderlock import LOCK_FILE, FolderLock
from shared.gcpause import gc_paused
from shared.inputs import InputFile, Version, changed
from shared.names import shown
from shared.outputs import output_errors, same_file
from shared.rejects import check_reports, write_rejects_by_source
from shared.schemas import Transaction
from shared.seeds import seed_arg
from shared.startup import loading, sigterm_interrupts
from sink.folder import remove_leftovers, remove_staging
from sink.offline import ExportWriter
from sink.settings import ExportSettings

SCORE_HELP = "score a historic-layout CSV offline and write the exports (as the sink does)"
#: What a disk-full or read-only --out leaves behind, for its one-line message.
AFTER_OUTPUT_ERROR = ("the earlier run's day files kept (this run's move in only when it is "
                      "whole), each file in it whole, never half-written")


def register(subparsers: Any) -> None:
    score = subparsers.add_parser("score", help=SCORE_HELP, description=(
        "Read INPUT.csv (the historic layout; label columns optional), score every row in "
        "timestamp order with the detection core (streamed in bounded memory; input not in "
        "timestamp order is first sorted through temporary files under TMPDIR), and write "
        "the scored rows by day "
        "(scored/transactions_scored_YYYY-MM-DD.csv; also transactions_scored.csv with "
        "EXPORTS_SINGLE_FILE=true) and every rollup into --out (locked against a sink on the "
        "same folder). Rows that cannot be read go, with their line and reason, to "
        "<name>.rejects.csv beside each input (or in --rejects-dir), as `replay` does. "
        "Exit 0: every row scored; 1: rows rejected, the rest scored; 2: bad file, an "
        "input changed, removed or renamed while read, no row to score (nothing "
        "written), an input that is one of --out's exports (a day file), an --out "
        "without exports holding a file at an export's name, or usage; 5: --out "
        "not writable; 6: --out used by a running sink; 130: interrupted (Ctrl-C, "
        "SIGTERM, SIGHUP: --out left as it was). Core settings come from "
        "DETECTOR_CORE__* variables."))
    score.add_argument("input", type=input_file, nargs="+", metavar="INPUT.csv")
    score.add_argument("--out", type=folder_name, required=True, metavar="DIR")
    score.add_argument("--rejects-dir", type=folder_name, metavar="DIR",
                       help="where <name>.rejects.csv go (default: beside each input)")
    score.add_argument("--partitions", type=partition_count, default=1, metavar="P",
                       help="emulate a topic of P partitions keyed by customer_id (default 1; "
                       "at most 2^31 - 1, as Kafka)")
    score.add_argument("--seed", type=seed_arg,
                       help="model seed, 0 to 2^32 - 1 (default DETECTOR_CORE__SEED or 42)")
    score.set_defaults(func=run_score)

    detect = subparsers.add_parser(
        "detect", help="run the streaming detector (transactions -> transactions.scored)",
        description="Consume transactions, score them exactly once and publish "
        "transactions.scored. Settings come from DETECTOR_* and KAFKA_* variables.")
    # Each option overrides one DETECTOR_ setting (docs/detector.md, "Settings").
    detect.add_argument("--group", help="consumer group id (DETECTOR_GROUP_ID, default "
                        "auditstream-detector)")
    detect.add_argument("--instance-id", help="stable id of this process, never shared by two "
                        "live ones (DETECTOR_INSTANCE_ID, default: the host name)")
    detect.add_argument("--metrics-port", type=int, help="serve Prometheus metrics here, on "
                        "127.0.0.1 (DETECTOR_METRICS_PORT, default off)")
    detect.add_argument("--batch-size", type=int, help="most messages a loop turn takes "
                        "(DETECTOR_BATCH_SIZE, default 5000)")
    detect.add_argument("--snapshot-every", type=int, help="records per partition between "
                        "state snapshots (DETECTOR_SNAPSHOT_EVERY, default 20000)")
    detect.add_argument("--recovery-policy", choices=("fail", "reset"), help="when input "
                        "history is gone (DETECTOR_RECOVERY_POLICY, default fail)")
    detect.set_defaults(func=run_detect)


def run_detect(args: argparse.Namespace) -> int:
    from detector.app import main_from_args  # the engine: not for every command's start

    return int(main_from_args(args) or 0)


def _sha256(inputs: list[InputFile]) -> tuple[str, list[str]]:
    """The SHA-256 of the inputs' bytes one after the other (run.json's input_sha256), and
    of each input's, in one pass."""
    digest = hashlib.sha256()
    each = []
    for file in inputs:
        own = hashlib.sha256()
        with file.reader() as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
                own.update(chunk)
        each.append(own.hexdigest())
    return digest.hexdigest(), each


def _stamps(paths: list[Path]) -> list[tuple[int, int, int, int]]:
    """What says a file was not changed: device, inode, size and modification time."""
    out = []
    for path in paths:
        st = path.stat()
        out.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return out


def _unchanged(paths: list[Path], inputs: list[InputFile], versions: list[Version]) -> None:
    """Raise if an input changed since `versions` (appended, rewritten or replaced while it
    was read): the rows scored and input_sha256 could describe different bytes. Its bytes
    are hashed again (`shared.inputs.changed`): a same-size write in the same tick of the
    file system's clock leaves the stamp as it was; its name is looked at too (replaced)."""
    moved = set(changed(inputs, versions))
    for path, file, version in zip(paths, inputs, versions, strict=True):
        before = version.stamp
        try:
            now = _stamps([path])[0]
        except FileNotFoundError:  # deleted or moved away (was a traceback, exit 70)
            raise AuditstreamError(
                f"{shown(path)} was removed or renamed while it was read, the exports not "
                "finished (the folder as it was); score it again from where it is now"
                ) from None
        if now != before or file.path in moved:
            raise AuditstreamError(
                f"{shown(path)} changed while it was read, the exports not finished (the "
                "folder as it was: the earlier run's day files, run.json and rollups); score "
                "it again once nothing writes to it")


def run_score(args: argparse.Namespace) -> int:
    # Millions of small live objects (inputs, scored rows, cells) make the cyclic GC rescan
    # the heap again and again while reading and writing; nothing here needs it (the
    # scoring step already pauses it), so it is paused for the whole command.
    with gc_paused(), sigterm_interrupts():  # SIGTERM: as Ctrl-C, no temporary file left
        return _run_score(args)


def _run_score(args: argparse.Namespace) -> int:
    from detector.core.engine import load_core  # the engine: not for every command's start

    try:  # before any file is read or written
        load_core()
    except compiled.CoreUnavailable as exc:
        raise AuditstreamError(str(exc)) from exc
    check_reports(args.input, args.rejects_dir)  # before the exports folder is created
    # So is a bad input (no empty folder left behind). Each opened once: what is checked,
    # hashed and scored is one file, whatever is put at its name since (then "changed").
    with contextlib.ExitStack() as stack:
        inputs = [stack.enter_context(open_checked(p)) for p in args.input]
        return _score_inputs(args, inputs)


def _score_inputs(args: argparse.Namespace, inputs: list[InputFile]) -> int:
    out: Path = args.out
    # every setting read and checked once, before the exports folder is created too
    config, export_settings = DetectorSettings().core, ExportSettings()
    # before the lock: nothing created in a folder not ours
    refuse_foreign(out, EXPORT_FILES, "score",
                   "give --out a folder of its own (created if missing)")
    refuse_sink_folder(out, "score", "--out")
    created = not out.exists()
    with output_errors(out, AFTER_OUTPUT_ERROR), FolderLock(out, "score"):
        try:
            _refuse_own_exports(args.input, out)
            remove_leftovers(out)  # what a killed writer left (never a live writer's file)
            remove_staging(out)  # a killed score's or sample's run (the lock is ours)
            return _score_into(args, inputs, out, config, export_settings)
        except BaseException:
            if created:  # a run that wrote nothing (no row to score) leaves no empty folder
                _remove_if_empty(out)
            raise


def _remove_if_empty(out: Path) -> None:
    """Remove `out`, which this run created, if it holds only its lock file and empty
    folders (called while the lock is held, so no other writer can be in it)."""
    folders = sorted((p for p in out.rglob("*") if p.is_dir() and not p.is_symlink()),
                     key=lambda p: len(p.parts), reverse=True)
    if any(p.name != LOCK_FILE and not p.is_dir() for p in out.rglob("*")):
        return
    with contextlib.suppress(OSError):
        for folder in folders:
            folder.rmdir()
        (out / LOCK_FILE).unlink()
        out.rmdir()


def _refuse_own_exports(inputs: list[Path], out: Path) -> None:
    """Refuse an input that is (by any name) a file this run replaces or deletes in `out`:
    a day file in scored/ (`score out/scored/<day>.csv --out out` left the folder that one
    day, the others deleted), transactions_scored.csv (deleted without EXPORTS_SINGLE_FILE),
    a rollup, run.json, status.csv or report.html."""
    owned = [p for p in (out / name for name in EXPORT_FILES) if p.is_file()] + day_files(out)
    for path in inputs:
        for export in owned:
            if same_file(path, export):
                raise AuditstreamError(
                    f"{shown(path)} is one of the exports of {shown(out)} this run would replace "
                    f"({shown(export)}); copy it out of the folder first, or give another --out")


def _score_into(args: argparse.Namespace, inputs: list[InputFile], out: Path,
                config: CoreConfig, export_settings: ExportSettings) -> int:
    if args.seed is not None:
        config = CoreConfig.model_validate({**config.model_dump(), "seed": args.seed})
    started = time.perf_counter()
    paths: list[Path] = list(args.input)
    errors: list[RowError] = []
    rows = direct(inputs, errors)
    stamps = [file.stamp() for file in inputs]  # before they are hashed
    digest, digests = _sha256(inputs)
    versions = [Version(*v) for v in zip(stamps, digests, strict=True)]
    try:
        # Input already in event-time order (the usual case) is scored as it is read.
        done = _score_stream(rows, errors, args, config, export_settings, out,
                             inputs, versions, digest=digest)
        how = "input in event-time order, streamed"
    except OutOfOrder:
        # Abandoned (unfinished files removed; the rollups untouched): sort through runs
        # on disk, then score again (every file rewritten).
        errors = []
        sort_started = time.perf_counter()
        with merged(inputs, errors) as ordered:
            # Written before scoring: an unwritable rejects folder fails before the long part.
            reports = write_rejects_by_source(errors, paths[0], args.rejects_dir,
                                              AFTER_OUTPUT_ERROR)
            sorted_s = time.perf_counter() - sort_started
            done = _score_stream(ordered, errors, args, config, export_settings, out,
                                 inputs, versions, reports, digest)
        how = f"input not in event-time order, sorted on disk in {sorted_s:.1f} s"
    rows_n, flagged, reports = done
    total = time.perf_counter() - started
    where = f" -> {', '.join(map(shown, reports))}" if reports else ""
    print(f"score: {rows_n} rows scored ({flagged} flagged), {len(errors)} rejected"
          f"{where}; exports in {shown(out)} ({how}; detection core {CORE_KIND}; "
          f"total {total:.1f} s)")
    return int(ExitCode.ROWS_REJECTED if errors else ExitCode.OK)


def input_name(path: Path) -> str:
    """`path` for run.json, the same under every locale: its bytes read as UTF-8 (what
    Linux file names are in practice), a byte that is not as `\\xe9`. Python decodes a
    name by the locale: `données.csv` was `donnÃ©es.csv` under a Latin-1 locale and
    `donn\\udcc3\\udca9es.csv` (lone surrogates, which strict JSON readers refuse) under
    `LC_ALL=C` without UTF-8 mode."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _score_stream(
    rows: Iterable[Transaction], errors: list[RowError], args: argparse.Namespace,
    config: CoreConfig, settings: ExportSettings, out: Path,
    inputs: list[InputFile], versions: list[Version],
    reports: list[Path] | None = None, digest: str = "",
) -> tuple[int, int, list[Path]]:
    """Score `rows` (in event-time order) into the exports of `out`, batch by batch;
    `errors` is complete once `rows` is exhausted, and its reports are written then unless
    `reports` says they already are. An input no longer as `versions` says (its file,
    stamp and SHA-256) abandons the exports. Returns rows scored, rows flagged, the reports."""
    with loading():  # the engine (numba, scikit-learn): not for every command's start; a
        from detector.offline import verdict_batches  # stop while it loads is held till then

    with ExportWriter(out, settings, write_report_from_rollup) as exports:
        # the inputs and their verdicts, formatted without a scored row object each
        for txs, verdicts in verdict_batches(rows, config, partitions=args.partitions):
            exports.write_verdicts(txs, verdicts)
        _unchanged(args.input, inputs, versions)
        if reports is None:
            reports = write_rejects_by_source(errors, args.input[0], args.rejects_dir,
                                              AFTER_OUTPUT_ERROR)
        if not exports.rows:  # a failed upstream export: keep the folder's earlier run
            raise AuditstreamError(
                f"no row to score in {', '.join(map(shown, args.input))} (header only, or "
                f"every row rejected: {len(errors)}); the exports in {shown(out)} are as they were")
        exports.finish(run_info={
            "inputs": [input_name(p) for p in args.input],
            "input_sha256": digest,
            "rows": exports.rows,
            "rejected_rows": len(errors),
            "partitions": args.partitions,
            "core_config": config.model_dump(),
            # counted by the rollup (rows per model, in order of first use)
            "model_versions": dict(exports.state.model_versions),
        })
    return exports.rows, sum(exports.state.detector_flag), reports
