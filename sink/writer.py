"""The sink's file side: append rows, checkpoint, refresh rollups. No Kafka in here.

`SinkWriter.add` takes raw records `(partition, offset, value)` in offset order per
partition. Valid ones go to the day files (`sink.days`; with `EXPORTS_SINGLE_FILE` also to
transactions_scored.csv) and the rollup counts; a value that is
not a valid `ScoredTransaction` goes, with its partition, offset and the reason, to
`sink_rejected.jsonl` (nothing is lost, and the stream goes on). `checkpoint` makes both
durable and records them in `.sink-state.json` (see `sink.state`).
"""

from __future__ import annotations

import csv
import logging
import multiprocessing as mp
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from shared.atomic import atomic_write_bytes, fsync_dir
from shared.columns import SCORED_COLUMNS
from sink import days as dy
from sink import state as st
from sink.batch import Record, format_batch, format_slice
from sink.csvfmt import SCORED_HEADER
from sink.exports import SCORED_FILE, OnRollup, notify, write_rollups
from sink.settings import ExportSettings
from sink.status import now_utc, write_status
from sink.volume import SinkRollup, VolumeCounts

log = logging.getLogger(__name__)

REJECTED_FILE = "sink_rejected.jsonl"
MIN_SLICE = 500  # smaller batches are not worth a trip to a worker process

__all__ = ["REJECTED_FILE", "Record", "SinkWriter"]


class SinkWriter:
    """Owns the appended files of one exports folder and its checkpoint."""

    def __init__(self, folder: Path, topic: str, settings: ExportSettings,
                 *, reset: bool = False, workers: int = 0,
                 on_rollup: OnRollup | None = None) -> None:
        self.folder = Path(folder)
        self.on_rollup = on_rollup
        self.settings = settings
        self.folder.mkdir(parents=True, exist_ok=True)
        if reset:
            for name in (st.STATE_FILE, SCORED_FILE, REJECTED_FILE):
                (self.folder / name).unlink(missing_ok=True)
            dy.remove_all(self.folder)
        cp = st.load(self.folder)
        if cp is None:
            cp = self._fresh(topic)
        elif cp.topic != topic:
            raise st.SinkStateError(
                f"{self.folder} holds exports of topic {cp.topic!r}, not {topic!r}; "
                "use another folder or --reset"
            )
        elif cp.extra.get("columns", list(SCORED_COLUMNS)) != list(SCORED_COLUMNS):
            raise st.SinkStateError(
                f"{self.folder} was written with other columns than this version's; "
                "use another folder or --reset"
            )
        elif cp.rollup.rows and not cp.extra.get("day_files"):
            raise st.SinkStateError(
                f"{self.folder} was written by a version without day files (scored/); its "
                "rows would be missing there: use another folder or --reset"
            )
        else:
            self._switch_single_file(cp)
            st.cut_to_checkpoint(self.folder, cp.lengths)
            dy.remove_unrecorded(self.folder, cp.lengths)
            if cp.rollup.volume.rows != cp.rollup.rows:  # a checkpoint from before the counts
                cp.rollup.volume = _recount(dy.day_files(self.folder))
            log.info("resuming %s at offsets %s (%d rows)", self.folder, cp.offsets,
                     cp.rollup.rows)
        self.cp = cp
        self._single = settings.single_file
        self._scored: BinaryIO | None = (
            open(self.folder / SCORED_FILE, "ab") if self._single else None)  # noqa: SIM115
        self._rows_written = cp.rollup.rows  # at the last checkpoint
        self._days = dy.DayAppender(self.folder)
        self._rejected: BinaryIO | None = None
        self.pending_rows = 0
        self._run: dict[str, Any] = {}  # run.json as last written
        self._workers = workers
        # Spawned, not forked: the parent runs librdkafka threads, which fork cannot copy.
        self._pool = mp.get_context("spawn").Pool(workers) if workers > 0 else None

    def _fresh(self, topic: str) -> st.Checkpoint:
        scored = self.folder / SCORED_FILE
        foreign = scored.exists() and _head(scored, len(SCORED_HEADER) + 1) not in (
            b"", SCORED_HEADER)
        if foreign or dy.day_files(self.folder):
            raise st.SinkStateError(
                f"{scored} exists but no sink checkpoint does (exports of another run?); "
                "use another folder or --reset"
            )
        lengths = {REJECTED_FILE: 0}
        if self.settings.single_file:
            atomic_write_bytes(scored, SCORED_HEADER)
            lengths[SCORED_FILE] = len(SCORED_HEADER)
        else:
            scored.unlink(missing_ok=True)
        (self.folder / REJECTED_FILE).unlink(missing_ok=True)
        cp = st.Checkpoint(
            topic=topic,
            lengths=lengths,
            offsets={},
            rollup=SinkRollup(self.settings.top_cases),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            extra={"columns": list(SCORED_COLUMNS), "day_files": True,
                   "single_file": self.settings.single_file},
        )
        st.save(self.folder, cp)
        return cp

    def _switch_single_file(self, cp: st.Checkpoint) -> None:
        """Follow `EXPORTS_SINGLE_FILE` on resume. Turned off: transactions_scored.csv is
        removed (a copy of the day files; a copy that silently stopped growing would mislead
        its readers). Turned on: refused, the copy would miss the rows already written."""
        was = bool(cp.extra.get("single_file", SCORED_FILE in cp.lengths))
        if was != self.settings.single_file:
            if self.settings.single_file and cp.rollup.rows:
                raise st.SinkStateError(
                    f"{self.folder} was written without transactions_scored.csv "
                    "(EXPORTS_SINGLE_FILE off), so a copy started now would miss its earlier "
                    "rows: unset EXPORTS_SINGLE_FILE, or use another folder or --reset"
                )
            if self.settings.single_file:
                atomic_write_bytes(self.folder / SCORED_FILE, SCORED_HEADER)
                cp.lengths[SCORED_FILE] = len(SCORED_HEADER)
            else:
                cp.lengths.pop(SCORED_FILE, None)
            cp.extra["single_file"] = self.settings.single_file
            st.save(self.folder, cp)
        scored = self.folder / SCORED_FILE
        if not self.settings.single_file and scored.exists():  # after the save: crash-safe
            scored.unlink()
            log.warning("removed %s: EXPORTS_SINGLE_FILE is off (the rows are in %s/)",
                        scored, dy.SCORED_DIR)

    @property
    def offsets(self) -> dict[int, int]:
        """Next offset to read per partition (what is in the files, checkpointed or not)."""
        return dict(self.cp.offsets)

    @property
    def rows(self) -> int:
        return self.cp.rollup.rows

    def add(self, records: Sequence[Record]) -> int:
        """Append a batch; return how many rows went to the files."""
        offsets = self.cp.offsets
        fresh: list[Record] = []
        for record in records:
            partition, offset, _value = record
            if offset < offsets.get(partition, 0):
                continue  # already in the files: a redelivery never duplicates a row
            offsets[partition] = offset + 1
            fresh.append(record)
        k = self.settings.top_cases
        if self._pool is not None and len(fresh) >= 2 * MIN_SLICE:
            step = -(-len(fresh) // self._workers)
            slices = [(fresh[i : i + step], k, self._single)
                      for i in range(0, len(fresh), step)]
            results = self._pool.map(format_slice, slices)
        else:
            results = [format_batch(fresh, k, self._single)]
        rows = 0
        for result in results:  # in offset order, whatever process formatted them
            if self._scored is not None:
                self._scored.write(result.csv)
            self._write_days(result.days)
            self.cp.rollup.merge(result.delta)
            rows += result.rows
            if result.rejected:
                self._reject(result.rejected)
        self.pending_rows += len(fresh)
        return rows

    def _write_days(self, chunks: dict[str, dy.DayChunk]) -> None:
        """Append each day's rows to its file; count rows of days already closed (late)."""
        extra = self.cp.extra
        watermark = str(extra.get("event_watermark", ""))
        late: dict[str, int] = extra.setdefault("late_rows_by_day", {})
        for day, chunk in chunks.items():
            if dy.is_closed(day, watermark):
                late[day] = late.get(day, 0) + chunk.rows
                log.warning("%d late rows for closed day %s appended to %s", chunk.rows, day,
                            dy.day_file(day))
        self._days.write(chunks)
        latest = max((c.latest for c in chunks.values()), default="")
        if latest > watermark:
            extra["event_watermark"] = latest

    def _reject(self, lines: list[bytes]) -> None:
        if self._rejected is None:
            self._rejected = open(self.folder / REJECTED_FILE, "ab")  # noqa: SIM115
        self._rejected.write(b"".join(lines))
        self.cp.rejected += len(lines)
        log.warning("%d invalid messages kept in %s", len(lines), REJECTED_FILE)

    def checkpoint(self) -> None:
        """Make the appended rows durable, then record lengths, offsets and counts."""
        lengths = dict(self.cp.lengths)
        if self._scored is not None:
            lengths[SCORED_FILE] = _sync(self._scored)
        lengths[REJECTED_FILE] = (
            _sync(self._rejected) if self._rejected is not None
            else self.cp.lengths.get(REJECTED_FILE, 0)
        )
        lengths.update(self._days.sync())
        if lengths != self.cp.lengths:
            fsync_dir(self.folder)
        if self.cp.rollup.rows != self._rows_written:
            self.cp.extra["last_row_written_at"] = now_utc()
            self._rows_written = self.cp.rollup.rows
        self.cp.lengths = lengths
        st.save(self.folder, self.cp)
        self.pending_rows = 0

    def write_rollups(self, run_info: Mapping[str, object] | None = None,
                      report: bool = True) -> dict[str, Any]:
        """Rewrite every rollup file from the counts, then tell `on_rollup` (if `report`)."""
        info: dict[str, object] = {
            "source": "auditstream sink",
            "topic": self.cp.topic,
            "input_offsets": {str(p): o for p, o in sorted(self.cp.offsets.items())},
            "rows_rejected": self.cp.rejected,
            "sink_started_at": self.cp.created_at,
            # Closed days that still got rows (sink.days): refresh those days' partitions.
            "late_rows_by_day": dict(sorted(self.cp.extra.get("late_rows_by_day", {}).items())),
        }
        info.update(run_info or {})
        rollups = write_rollups(self.folder, self.cp.rollup, self.settings, info)
        self._run = rollups.run
        self.heartbeat(info)
        if report:
            notify(self.on_rollup, rollups, self.folder)
        return rollups.run

    def heartbeat(self, run_info: Mapping[str, object] | None = None) -> list[str]:
        """Rewrite status.csv (freshness, lag, versions) from the last rollup refresh."""
        lag = (run_info or {}).get("lag_messages")
        return write_status(self.folder, self._run,
                            str(self.cp.extra.get("last_row_written_at", "")),
                            lag if isinstance(lag, int) else None)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
        if self._scored is not None:
            self._scored.close()
        self._days.close()
        if self._rejected is not None:
            self._rejected.close()


def _recount(files: Sequence[Path]) -> VolumeCounts:
    """The volume counts of the rows already in the day files (read once, on resume)."""
    counts = VolumeCounts()
    for path in files:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = csv.reader(fh)
            next(rows, None)
            counts.update(rows)
    return counts


def _head(path: Path, size: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(size)


def _sync(fh: BinaryIO) -> int:
    fh.flush()
    os.fsync(fh.fileno())
    return fh.tell()
