"""The exports of an offline run (`auditstream score`), through the sink's own code.

A large run formats its rows in two processes: a forked worker formats the second half
(CSV bytes and a rollup delta) while this process formats and writes the first; the
delta merges exactly (counts add, top-K of the union), as the streaming sink's decode
workers do, so the files are byte-identical either way.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from shared.schemas import ScoredTransaction
from sink.atomic import atomic_writer
from sink.columns import SCORED_COLUMNS
from sink.csvfmt import encode_rows, scored_cells
from sink.exports import SCORED_FILE, refresh_report, write_rollups
from sink.rollup import RollupState, facts_of
from sink.settings import ExportSettings

CHUNK = 50_000
#: Below this many rows a worker process costs more than it saves.
PARALLEL_MIN_ROWS = 40_000
#: What the forked worker inherits: the rows and the top-K size.
_JOB: tuple[Sequence[ScoredTransaction], int] | None = None


def write_exports(
    rows: Sequence[ScoredTransaction],
    out_dir: Path,
    settings: ExportSettings | None = None,
    run_info: Mapping[str, object] | None = None,
    workers: int | None = None,
) -> None:
    """Write transactions_scored.csv and every rollup into `out_dir`, each file atomically.

    Rollups are computed with the same incremental counts as the streaming sink, chunk by
    chunk; `run_info` (input file hash, model versions...) is merged into run.json.
    `workers`: 1 formats in this process only; by default a large run on a machine with
    several cores uses a second process.
    """
    settings = settings or ExportSettings()
    out_dir = Path(out_dir)
    state = RollupState(settings.top_cases)
    if workers is None:
        workers = 2 if len(rows) >= PARALLEL_MIN_ROWS and _usable_cores() > 1 else 1
    with atomic_writer(out_dir / SCORED_FILE) as fh:
        fh.write(encode_rows([], SCORED_COLUMNS))
        if workers > 1 and "fork" in mp.get_all_start_methods():
            _write_parallel(rows, fh, state, settings.top_cases)
        else:
            _write_rows(rows, 0, len(rows), fh, state)
    info: dict[str, object] = {"source": "auditstream score"}
    info.update(run_info or {})
    write_rollups(out_dir, state, settings, info)
    refresh_report(out_dir)


def _write_rows(rows: Sequence[ScoredTransaction], lo: int, hi: int, fh: IO[bytes],
                state: RollupState) -> None:
    for start in range(lo, hi, CHUNK):
        chunk = rows[start : min(start + CHUNK, hi)]
        cells = [scored_cells(tx) for tx in chunk]
        state.update([facts_of(tx) for tx in chunk], cells)
        fh.write(encode_rows(cells))


def _format_tail(lo: int) -> tuple[list[bytes], RollupState]:
    """Worker: CSV bytes (per chunk) and the rollup delta of rows `lo..`."""
    assert _JOB is not None
    rows, top_cases = _JOB
    delta = RollupState(top_cases)
    parts: list[bytes] = []
    for start in range(lo, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        cells = [scored_cells(tx) for tx in chunk]
        delta.update([facts_of(tx) for tx in chunk], cells)
        parts.append(encode_rows(cells))
    return parts, delta


def _write_parallel(rows: Sequence[ScoredTransaction], fh: IO[bytes], state: RollupState,
                    top_cases: int) -> None:
    global _JOB
    half = len(rows) // 2
    _JOB = (rows, top_cases)
    try:
        with mp.get_context("fork").Pool(1) as pool:
            tail = pool.apply_async(_format_tail, (half,))
            _write_rows(rows, 0, half, fh, state)
            parts, delta = tail.get()
    finally:
        _JOB = None
    for part in parts:
        fh.write(part)
    state.merge(delta)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
