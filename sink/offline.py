"""The exports of an offline run (`auditstream score`), through the sink's own code.

A large run formats its rows in two processes: a forked worker formats the second half
(CSV bytes and a rollup delta) while this process formats and writes the first; the
delta merges exactly (counts add, top-K of the union), as the streaming sink's decode
workers do, so the files are byte-identical either way. `ExportPipeline` goes further:
it formats leading rows in forked workers while the later rows are still being scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from shared import forkpool
from shared.atomic import atomic_writer
from shared.columns import SCORED_COLUMNS
from shared.schemas import ScoredTransaction
from sink.csvfmt import encode_rows, scored_cells
from sink.days import DayChunk, DayWriter, single_file_bytes, split_by_day
from sink.exports import SCORED_FILE, OnRollup, notify, write_rollups
from sink.rollup import facts_of
from sink.settings import ExportSettings
from sink.status import now_utc, write_status
from sink.volume import SinkRollup

CHUNK = 50_000
#: Below this many rows a worker process costs more than it saves.
PARALLEL_MIN_ROWS = 40_000
#: What the forked workers inherit (`forkpool.current_job()`): the rows, the top-K size and
#: whether transactions_scored.csv is written.
Job = tuple[Sequence[ScoredTransaction], int, bool]
#: One formatted chunk: its CSV bytes in stream order (b"" without the single file) and the
#: same rows by event day.
Part = tuple[bytes, dict[str, DayChunk]]


def write_exports(
    rows: Sequence[ScoredTransaction],
    out_dir: Path,
    settings: ExportSettings | None = None,
    run_info: Mapping[str, object] | None = None,
    workers: int | None = None,
    on_rollup: OnRollup | None = None,
) -> None:
    """Write the day files (`sink.days`), every rollup and, with `settings.single_file`,
    transactions_scored.csv into `out_dir`, each file atomically (a transactions_scored.csv
    of an earlier run is removed when `single_file` is off).

    Rollups are computed with the same incremental counts as the streaming sink, chunk by
    chunk; `run_info` (input file hash, model versions...) is merged into run.json.
    `workers`: 1 formats in this process only; by default a large run on a machine with
    several cores uses a second process. `on_rollup(state, out_dir)` runs after the rollups
    are written (the composition root passes the report writer).
    """
    settings = settings or ExportSettings()
    _write_all(rows, Path(out_dir), settings, run_info, workers, [], on_rollup)


def _write_all(
    rows: Sequence[ScoredTransaction],
    out_dir: Path,
    settings: ExportSettings,
    run_info: Mapping[str, object] | None,
    workers: int | None,
    done: list[tuple[list[Part], SinkRollup]],
    on_rollup: OnRollup | None = None,
) -> None:
    """`write_exports`, the first rows already formatted (`done`: bytes and delta, in order)."""
    state = SinkRollup(settings.top_cases)
    lo = 0
    for _parts, delta in done:
        lo += delta.rows
        state.merge(delta)
    rest = rows[lo:]
    if workers is None:
        workers = 2 if len(rest) >= PARALLEL_MIN_ROWS and forkpool.usable_cores() > 1 else 1
    with ExitStack() as stack:
        days = stack.enter_context(DayWriter(out_dir))
        fh: IO[bytes] | None = None
        if settings.single_file:
            fh = stack.enter_context(atomic_writer(out_dir / SCORED_FILE))
            fh.write(encode_rows([], SCORED_COLUMNS))
        for parts, _ in done:
            for part, by_day in parts:
                _write_part(fh, part, cells=None, by_day=by_day)
                days.write(by_day)
        if workers > 1 and forkpool.can_fork():
            _write_parallel(rest, fh, days, state, settings.top_cases)
        else:
            _write_rows(rest, 0, len(rest), fh, days, state)
    if not settings.single_file:
        (out_dir / SCORED_FILE).unlink(missing_ok=True)  # an earlier run's: stale now
    info: dict[str, object] = {"source": "auditstream score"}
    info.update(run_info or {})
    rollups = write_rollups(out_dir, state, settings, info)
    write_status(out_dir, rollups.run, now_utc(), 0)
    notify(on_rollup, rollups, out_dir)


def _write_part(fh: IO[bytes] | None, part: bytes | None,
                cells: Sequence[Sequence[str]] | None, by_day: dict[str, DayChunk]) -> None:
    """Append rows to transactions_scored.csv when it is written (`fh`)."""
    if fh is not None:
        fh.write(part if part is not None else single_file_bytes(cells or [], by_day))


def _write_rows(rows: Sequence[ScoredTransaction], lo: int, hi: int, fh: IO[bytes] | None,
                days: DayWriter, state: SinkRollup) -> None:
    for start in range(lo, hi, CHUNK):
        chunk = rows[start : min(start + CHUNK, hi)]
        cells = [scored_cells(tx) for tx in chunk]
        state.update([facts_of(tx) for tx in chunk], cells)
        by_day = split_by_day(cells)
        _write_part(fh, None, cells, by_day)
        days.write(by_day)


def _format_tail(lo: int, hi: int | None = None) -> tuple[list[Part], SinkRollup]:
    """Worker: CSV bytes (per chunk) and the rollup delta of rows `lo..hi`."""
    job: Job = forkpool.current_job()
    rows, top_cases, single = job
    hi = len(rows) if hi is None else hi
    delta = SinkRollup(top_cases)
    parts: list[Part] = []
    for start in range(lo, hi, CHUNK):
        chunk: Any = rows[start : min(start + CHUNK, hi)]
        cells = [scored_cells(tx) for tx in chunk]
        delta.update([facts_of(tx) for tx in chunk], cells)
        by_day = split_by_day(cells)
        parts.append((single_file_bytes(cells, by_day) if single else b"", by_day))
    return parts, delta


class ExportPipeline:
    """`write_exports` that starts while rows are still being scored.

    `ready(rows, n)` says the first `n` items of `rows` (a list being filled in order) are
    final; each further `CHUNK` of them is formatted by a forked worker (one at a time, so
    scoring keeps a core). `finish(rows)` formats the rest and writes every file.
    """

    def __init__(self, out_dir: Path, settings: ExportSettings | None = None,
                 on_rollup: OnRollup | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.on_rollup = on_rollup
        self.settings = settings or ExportSettings()
        self._started = 0  # rows handed to workers
        self._running: forkpool.Forked | None = None
        self._done: list[tuple[list[Part], SinkRollup]] = []
        self._enabled = forkpool.usable_cores() > 1 and forkpool.can_fork()

    def ready(self, rows: Sequence[ScoredTransaction | None], n: int) -> None:
        if not self._enabled or n - self._started < CHUNK:
            return
        self._collect()
        job = (rows, self.settings.top_cases, self.settings.single_file)
        self._running = forkpool.start(job, _format_tail, self._started, n)
        self._started = n

    def _collect(self) -> None:
        if self._running is not None:
            running, self._running = self._running, None
            self._done.append(running.result())

    def finish(self, rows: Sequence[ScoredTransaction],
               run_info: Mapping[str, object] | None = None) -> None:
        self._collect()
        _write_all(rows, self.out_dir, self.settings, run_info, None, self._done,
                   self.on_rollup)
        self._done = []


def _write_parallel(rows: Sequence[ScoredTransaction], fh: IO[bytes] | None, days: DayWriter,
                    state: SinkRollup, top_cases: int) -> None:
    half = len(rows) // 2
    job: Job = (rows, top_cases, fh is not None)
    with forkpool.pool(job, 1) as pool:
        tail = pool.apply_async(_format_tail, (half,))
        _write_rows(rows, 0, half, fh, days, state)
        parts, delta = tail.get()
    for part, by_day in parts:
        _write_part(fh, part, None, by_day)
        days.write(by_day)
    state.merge(delta)
