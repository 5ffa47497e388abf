"""The exports of an offline run (`auditstream score`), through the sink's own code.

`ExportWriter` takes scored rows in stream order, batch by batch (or the inputs and their
verdicts, `write_verdicts`), and writes them as they come: each batch is formatted once
(`scored_cells`, `verdict_cells`: the same cells), counted into the rollup with the
streaming sink's incremental counts and appended to its day files (and, with
`single_file`, to transactions_scored.csv), so memory does not grow with the rows. Every
file is written into a temporary file and renamed when whole; the day files are written
aside (`DayWriter`: 32 open at most) and moved into `scored/` by `finish()`, with the
rollups, status.csv and the report, staged beside them. Leaving the `with` block without
`finish()` (an error, an interrupt, or no call) removes what was written: the folder's day
files and rollups stay the earlier run's. The files do not depend on how the rows are cut
into batches.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from shared.atomic import atomic_writer
from shared.columns import SCORED_COLUMNS, SCORED_INDEX, SOURCE_SCORE
from shared.exports_folder import REPORT_NAME, ROLLUP_FILES, STATUS_FILE
from shared.schemas import ScoredTransaction, Transaction
from shared.startup import loading
from sink.csvfmt import encode_rows, scored_cells, verdict_cells
from sink.days import DayWriter, single_file_bytes, split_by_day
from sink.exports import SCORED_FILE, OnRollup, notify, write_rollups
from sink.rollup import Facts, facts_of, params_of, verdict_facts
from sink.settings import ExportSettings
from sink.status import now_utc, write_status
from sink.volume import SinkRollup
from sink.watermark import Watermark

log = logging.getLogger(__name__)

#: Rows formatted per step when a caller hands over more at once.
CHUNK = 50_000
_CUSTOMER = itemgetter(SCORED_INDEX["customer_id"])
_TS = itemgetter(SCORED_INDEX["timestamp"])


class ExportWriter:
    """Scored rows in, export files out (see the module docstring).

        with ExportWriter(out_dir) as exports:
            for batch in batches:
                exports.write(batch)
            exports.finish(run_info)
    """

    def __init__(self, out_dir: Path, settings: ExportSettings | None = None,
                 on_rollup: OnRollup | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.settings = settings or ExportSettings()
        if warning := self.settings.sample_key_warning():
            log.warning("%s", warning)
        self.on_rollup = on_rollup
        self.state = SinkRollup(params_of(self.settings))
        self._clock = Watermark(self.state.params.watermark_customers)  # as the sink's
        self._stack = ExitStack()
        self._days: DayWriter | None = None
        self._single: IO[bytes] | None = None

    @property
    def rows(self) -> int:
        """Rows written so far."""
        return int(self.state.rows)

    def __enter__(self) -> ExportWriter:
        with ExitStack() as stack:
            self._days = stack.enter_context(DayWriter(self.out_dir))
            if self.settings.single_file:
                self._single = stack.enter_context(atomic_writer(self._days.also(SCORED_FILE)))
                self._single.write(encode_rows([], SCORED_COLUMNS))
            self._stack = stack.pop_all()
        return self

    def write(self, rows: Sequence[ScoredTransaction]) -> None:
        self._check_open()
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            self._write([scored_cells(tx) for tx in chunk], [facts_of(tx) for tx in chunk])

    def write_verdicts(self, txs: Sequence[Transaction], verdicts: Sequence[Any]) -> None:
        """`write` of the rows `txs` and their `verdicts` make (`detector.offline.
        verdict_batches`), without making them: the same bytes and counts."""
        self._check_open()
        for start in range(0, len(txs), CHUNK):
            pairs = list(zip(txs[start : start + CHUNK], verdicts[start : start + CHUNK],
                             strict=True))
            self._write([verdict_cells(tx.__dict__, w) for tx, w in pairs],
                        [verdict_facts(tx.is_anomaly, w) for tx, w in pairs])

    def _check_open(self) -> None:
        if self._days is None:
            raise RuntimeError("ExportWriter.write outside its with block")

    def _write(self, cells: list[list[str]], facts: list[Facts]) -> None:
        assert self._days is not None  # `_check_open`
        self.state.update(facts, cells)
        by_day = split_by_day(cells)
        # only run.json's watermark is read: each customer's latest row of a batch is enough
        self._clock.see_latest(list(map(_CUSTOMER, cells)), list(map(_TS, cells)))
        if self._single is not None:
            self._single.write(single_file_bytes(cells, by_day))
        self._days.write(by_day)

    def finish(self, run_info: Mapping[str, object] | None = None) -> None:
        """Close every file, write the rollups, status.csv and (through `on_rollup`) the
        report beside them, then move the day files, the rollups (and with `single_file`
        transactions_scored.csv), status.csv and the report in, renames only, status.csv and
        the report last. A transactions_scored.csv of an earlier run is removed when
        `single_file` is off. A failure before the move leaves the folder's earlier scored
        rows, rollups, status.csv and report as they were."""
        days = self._days
        if days is None:
            raise RuntimeError("ExportWriter.finish outside its with block")
        self._days = self._single = None
        try:
            self._stack.close()  # every scored file staged whole (`DayWriter`)
            for name in ROLLUP_FILES:  # staged too, moved in with the day files
                days.also(name)
            stale = () if self.settings.single_file else (SCORED_FILE,)  # an earlier run's
            days.check_targets((*stale, STATUS_FILE, REPORT_NAME))
            info: dict[str, object] = {"source": SOURCE_SCORE,
                                       "event_watermark": self._clock.value or None}
            info.update(run_info or {})
            # into the staging folder: a run stopped among them (Ctrl-C, a full disk) left
            # the new input's first tables beside the earlier run's day files and cases
            rollups = write_rollups(days.staging, self.state, self.settings, info)
            # a finished run: stopped, so no reader takes its last heartbeat's "0 minutes
            # behind" for a stream it still follows (nor, once stale, for a sink gone silent).
            # Staged, and moved in after the tables: written after the move, a stop in
            # between left the earlier run's row ("data as of", rows) beside the new tables
            write_status(days.staging, rollups.run, now_utc(), 0, stopped=True)
            days.also(STATUS_FILE)
            # the report is one of the run's files: its failure is the run's (a stale page
            # beside new rollups read as this run's; found by a hostile probe); made from
            # the staged status.csv, moved in last
            notify(self.on_rollup, rollups, days.staging, strict=True)
            if os.path.lexists(days.staging / REPORT_NAME):
                days.also(REPORT_NAME)
            with loading():  # Ctrl-C or SIGTERM held till the last rename: never half moved
                days.publish(remove=stale)
        except BaseException:
            days.discard()
            raise

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None and self._days is not None:  # left without finish(): abandoned
            exc = (RuntimeError, RuntimeError("ExportWriter left without finish()"), None)
        self._days = self._single = None
        self._stack.__exit__(*exc)


def write_exports(
    rows: Sequence[ScoredTransaction],
    out_dir: Path,
    settings: ExportSettings | None = None,
    run_info: Mapping[str, object] | None = None,
    on_rollup: OnRollup | None = None,
) -> None:
    """Write the day files (`sink.days`), every rollup and, with `settings.single_file`,
    transactions_scored.csv into `out_dir`, each file atomically (`ExportWriter` over rows
    already in memory). `run_info` (input file hash, model versions...) is merged into
    run.json; `on_rollup(state, out_dir)` runs after the rollups are written (the
    composition root passes the report writer)."""
    with ExportWriter(out_dir, settings, on_rollup) as exports:
        exports.write(rows)
        exports.finish(run_info)
