"""The sink's file side: append rows, checkpoint, refresh rollups. No Kafka in here.

`SinkWriter.add` takes raw records `(partition, offset, value)` in offset order per
partition. Valid ones go to the day files (`sink.days`; with `EXPORTS_SINGLE_FILE` also to
transactions_scored.csv) and the rollup counts; a value that is
not a valid `ScoredTransaction` goes, with its partition, offset and the reason, to
`sink_rejected.jsonl` (nothing is lost, and the stream goes on). `checkpoint` makes both
durable and records them in `.sink-state.json` (see `sink.state`).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from shared.atomic import fsync_dir
from shared.columns import SOURCE_SINK
from shared.exports_folder import REJECTED_FILE, REVIEWS_LOG_FILE
from shared.gcpause import gc_paused
from shared.names import shown
from shared.outputs import open_append
from shared.reviews import REVIEW_SCHEMA_VERSION
from shared.schemas import unguarded
from shared.skew import (
    HELD_REVIEWS,
    UNKNOWN_FIELDS,
    UNKNOWN_ROWS,
    UNKNOWN_RULE_ROWS,
    UNKNOWN_RULES,
    UNKNOWN_RULES_FIRED,
    UPGRADE_NOTE,
    held_line,
    skew_note,
)
from sink import days as dy
from sink import review_holds as rh
from sink import state as st
from sink.batch import BatchResult, Record, count_unknown, format_batch, format_slice
from sink.clock import StreamClock
from sink.exports import SCORED_FILE, OnRollup, notify, write_rollups
from sink.folder import open_checkpoint
from sink.reviews_state import ReviewBook
from sink.settings import ExportSettings
from sink.status import LastWrite, now_utc, wall_now, write_status
from sink.watermark import Watermark

log = logging.getLogger(__name__)

MIN_SLICE = 500  # smaller batches are not worth a trip to a worker process

__all__ = ["REJECTED_FILE", "REVIEWS_LOG_FILE", "Record", "SinkWriter"]


class SinkWriter:
    """Owns the appended files of one exports folder and its checkpoint."""

    def __init__(self, folder: Path, topic: str, settings: ExportSettings,
                 *, reset: bool = False, workers: int = 0,
                 on_rollup: OnRollup | None = None,
                 passed: frozenset[tuple[int, int]] = frozenset()) -> None:
        self.folder = Path(folder)
        #: Reviews-topic positions to pass rather than hold (`TopicSettings.reviews_pass`).
        self.passed = passed
        self.on_rollup = on_rollup
        self.settings = settings
        if warning := settings.sample_key_warning():
            log.warning("%s", warning)
        cp = open_checkpoint(self.folder, topic, settings, reset)
        self.reviews = (ReviewBook.from_json(cp.extra["reviews"]) if "reviews" in cp.extra
                        else ReviewBook())
        self.cp = cp
        rollup = cp.rollup
        if not (rollup.first_mark_saved and rollup.row_marks_saved):  # saved before: recount
            first, rows = dy.read_marks(self.folder, rollup.params.watermark_customers)
            if not rollup.first_mark_saved:
                rollup.first_mark = first
            rollup.row_marks = rows
            rollup.row_marks_saved = True
        #: What closes days (`sink.clock`: a watermark per partition and the stream's).
        self._clock = _saved_clock(self.folder, cp.extra.get("day_clock"), (
            _saved_watermark(self.folder, cp.extra["day_watermark"])
            if "day_watermark" in cp.extra else self._upgrade_watermarks()))
        #: Each appended file's length as this sink made it (checked at each checkpoint).
        self._made = {name: n for name, n in cp.lengths.items() if "/" not in name}
        self._reviews_log: BinaryIO = open_append(self.folder / REVIEWS_LOG_FILE)
        self.changes = 0  # rows and review messages taken, for the refresh schedule
        self._single = settings.single_file
        self._scored: BinaryIO | None = (
            open_append(self.folder / SCORED_FILE) if self._single else None)
        self._rows_written = cp.rollup.rows  # at the last checkpoint
        #: When rows were last made durable, moved with the wall clock's steps (sink.status).
        self._last_write = LastWrite(str(cp.extra.get("last_row_written_at", "")))
        self._days = dy.DayAppender(self.folder, lambda: self.cp.lengths)
        self._rejected: BinaryIO | None = None
        self.pending_rows = 0
        self._run: dict[str, Any] = {}  # run.json as last written
        self._warned: set[str] = set()  # unknown field names warned of by this process
        self._warned_rules: set[str] = set()  # unknown rule names, the same
        self._workers = workers
        # Spawned, not forked: the parent runs librdkafka threads, which fork cannot copy.
        self._pool = mp.get_context("spawn").Pool(workers) if workers > 0 else None

    def _upgrade_watermarks(self) -> Watermark:
        """The day watermark of a checkpoint from before the quorum, which kept only its
        latest event time seen (`event_watermark`, and the case book's `watermark`): those
        as floors (the days they closed stay closed, the case cutoff does not go back), the
        customers kept read from the day files; the case book's too (one read)."""
        cases = self.cp.rollup.cases
        days, cases.clock = dy.read_watermarks(
            self.folder, self.cp.rollup.params.watermark_customers,
            str(self.cp.extra.get("event_watermark") or ""), cases.clock.value)
        if self.cp.rollup.rows:
            log.info("%s: the watermarks' customers read from the day files (a checkpoint "
                     "from before EXPORTS_WATERMARK_CUSTOMERS)", self.folder)
        return days

    @property
    def offsets(self) -> dict[int, int]:
        """Next offset to read per partition (what is in the files, checkpointed or not)."""
        return dict(self.cp.offsets)

    @property
    def rows(self) -> int:
        return self.cp.rollup.rows

    def add(self, records: Sequence[Record], waiting: Collection[int] = ()) -> int:
        """Append a batch; return how many rows went to the files. `waiting`: the
        partitions with rows still to read after it (not at their end: `sink.clock`)."""
        # Formatting, and the case book's grouping in `merge`, make many small objects and
        # no cycles; a collection meanwhile rescans the book's cases each time (~0.9 us a
        # row of a 15 %-flagged stream): it waits for the batch (`shared.gcpause`).
        with gc_paused():
            return self._add(records, waiting)

    def _add(self, records: Sequence[Record], waiting: Collection[int]) -> int:
        offsets = self.cp.offsets
        fresh: list[Record] = []
        for record in records:
            partition, offset, _value = record
            if offset < offsets.get(partition, 0):
                continue  # already in the files: a redelivery never duplicates a row
            offsets[partition] = offset + 1
            fresh.append(record)
        k = self.cp.rollup.params
        if self._pool is not None and len(fresh) >= 2 * MIN_SLICE:
            step = -(-len(fresh) // self._workers)
            slices = [(fresh[i : i + step], k, self._single)
                      for i in range(0, len(fresh), step)]
            results = self._pool.map(format_slice, slices)
        else:
            results = [format_batch(fresh, k, self._single)]
        rows = 0
        # a slice's rows are followed by the later slices': their partitions still wait
        after = [set(waiting)]
        for result in reversed(results[1:]):
            after.append(after[-1].union(result.partitions))
        for result, still in zip(results, reversed(after), strict=True):  # in offset order
            if self._scored is not None:
                self._append(SCORED_FILE, self._scored, result.csv)
            self._write_days(result, still)
            self.cp.rollup.merge(result.delta)
            rows += result.rows
            if result.rejected:
                self._reject(result.rejected)
            if result.unknown_rows:
                self._note_unknown(result.unknown, result.unknown_rows)
        self._note_unknown_rules()
        self.pending_rows += len(fresh)
        self.changes += len(fresh)
        return rows

    @property
    def held(self) -> dict[int, rh.Hold]:
        """Reviews partitions held at a review a newer release wrote: partition -> (topic,
        offset, version), as the checkpoint keeps them (`sink.review_holds`)."""
        return {part: at for part, at in rh.holds(self.cp.extra, REVIEW_SCHEMA_VERSION).items()
                if (part, at[1]) not in self.passed}  # read again, to be passed

    def tell_holds(self) -> None:
        """One WARNING a partition held, as when the hold began (at the start, once the
        reviews topic's id is checked: `sink.app.same_reviews_topic`)."""
        for part, (topic, offset, version) in sorted(self.held.items()):
            log.warning("%s", held_line(topic, part, offset, version, REVIEW_SCHEMA_VERSION))

    @property
    def review_offsets(self) -> dict[int, int]:
        """Next offset to read per partition of the reviews topic."""
        return {int(p): int(o) for p, o in self.cp.extra.get("review_offsets", {}).items()}

    def add_reviews(self, records: Sequence[Record], topic: str) -> int:
        """Take review messages (`sink.reviews_state`); return how many were logged. A
        partition held at a review a newer release wrote (`held`) takes nothing from it on:
        its offset stays there (a restart, or that release, reads it again), its later
        records, which the consumer still reads, ignored; the rest goes on."""
        offsets, held_before = self.review_offsets, self.held
        fresh = []
        for record in records:
            if record[0] not in held_before and record[1] >= offsets.get(record[0], 0):
                offsets[record[0]] = record[1] + 1
                fresh.append(record)
        if not fresh:
            return 0
        read = self.reviews.messages
        lines, rejected, held = self.reviews.apply(fresh, topic, now_utc(), self._lookup(),
                                                   self.passed)
        for part, (offset, version) in held.items():
            offsets[part] = offset
            rh.hold(self.cp.extra, part, (topic, offset, version))
            log.warning("%s", held_line(topic, part, offset, version, REVIEW_SCHEMA_VERSION))
            self.changes += 1  # run.json's note says it
        # Noted now, as `matched` says: the case may leave the book before the next export.
        self.reviews.remember(self.cp.rollup.cases, self.cp.rollup.sample)
        self.cp.extra["review_offsets"] = {str(p): o for p, o in sorted(offsets.items())}
        self._append(REVIEWS_LOG_FILE, self._reviews_log, lines)
        if rejected:
            self._reject(rejected)
        self.pending_rows += len(fresh)
        self.changes += len(fresh)
        return self.reviews.messages - read - len(rejected)

    def _lookup(self) -> Callable[[str, str], str]:
        """What the sink knows of a reviewed id now (for reviews_log.csv's `matched`); the
        ids are indexed once per batch of reviews."""
        book, sample = self.cp.rollup.cases, self.cp.rollup.sample
        book.fold()
        # Reviews name a transaction as sent (`=t0`), the state holds its cell (`'=t0`).
        sampled = {unguarded(row[1]) for rows in sample.strata.values() for row in rows}
        in_case = {unguarded(tx[0]) for c in book.cases.values() for tx in c.txs}

        def known(target: str, id_: str) -> str:
            if target == "case":
                return "case" if id_ in book.cases else ""
            if id_ in sampled:
                return "audit_sample"
            return "case_transaction" if id_ in in_case else ""
        return known

    def settle(self, waiting: Collection[int]) -> None:
        """Tell the clock which partitions still hold the stream's watermark back, between
        batches (`sink.clock`); a move is a change to checkpoint and export (run.json's
        `event_watermark`, status.csv's `data_as_of`) as rows are."""
        before = self._clock.key
        self._clock.settle(waiting)
        if self._clock.key != before:
            self.changes += 1
            self.pending_rows = max(self.pending_rows, 1)  # the checkpoint holds it first

    def _write_days(self, result: BatchResult, waiting: Collection[int]) -> None:
        """Append each day's rows to its file; count rows of days already closed (late)."""
        chunks = result.days
        late: dict[str, int] = self.cp.extra.setdefault("late_rows_by_day", {})
        for day, n in dy.count_late(self._clock, result.times, result.partitions, chunks,
                                    waiting).items():
            late[day] = late.get(day, 0) + n
            log.warning("%d late rows for closed day %s appended to %s", n, day,
                        dy.day_file(day))
        self._days.write(chunks)

    def _note_unknown(self, counts: dict[str, int], rows: int) -> None:
        """Count rows holding fields this sink does not know (checkpointed with the rows,
        shown in run.json); name each field in one warning, once per sink process."""
        seen: dict[str, int] = self.cp.extra.setdefault(UNKNOWN_FIELDS, {})
        count_unknown(seen, counts)
        self.cp.extra[UNKNOWN_ROWS] = int(self.cp.extra.get(UNKNOWN_ROWS, 0)) + rows
        new = [name for name in counts if name in seen and name not in self._warned]
        if new:
            self._warned.update(new)
            log.warning("scored messages hold field(s) this sink does not know: %s; rows "
                        "exported with the columns it knows, the field(s) ignored (written "
                        "by a newer detector? upgrade the sink to export them)",
                        ", ".join(repr(n) for n in new))

    def _note_unknown_rules(self) -> None:
        """Name each rule this sink has no column for (counted by the rollup) in one
        warning, once per sink process."""
        new = [n for n in self.cp.rollup.unknown_rules.rows if n not in self._warned_rules]
        if new:
            self._warned_rules.update(new)
            log.warning("scored messages' rule_flags hold rule(s) this sink does not know: "
                        "%s; rows exported without a column for them, triggered_rules naming "
                        "them where they fired (written by a newer detector? upgrade the sink "
                        "to give them columns)", ", ".join(repr(n) for n in new))

    def _reject(self, lines: list[bytes]) -> None:
        if self._rejected is None:
            self._rejected = open_append(self.folder / REJECTED_FILE)
            # as a day file: what someone put at its name meanwhile is not appended to
            dy.check_as_left(self.folder / REJECTED_FILE, self._rejected,
                             self._made.get(REJECTED_FILE, 0))
        self._append(REJECTED_FILE, self._rejected, b"".join(lines))
        self.cp.rejected += len(lines)
        log.warning("%d invalid messages kept in %s", len(lines), REJECTED_FILE)

    def _append(self, name: str, fh: BinaryIO, data: bytes) -> None:
        fh.write(data)
        self._made[name] = self._made.get(name, 0) + len(data)

    def _sync(self, name: str, fh: BinaryIO) -> int:
        """Flush and fsync `fh`; its length, if it still is the file at `name` with the
        length this sink made it (else `SinkStateError`, the checkpoint not moved: cut or
        replaced by someone, its earlier rows would be gone without a word, as for a day
        file, `sink.days.DayAppender`)."""
        fh.flush()
        os.fsync(fh.fileno())
        dy.check_as_left(self.folder / name, fh, self._made[name], by_name=True)
        return self._made[name]

    def checkpoint(self) -> None:
        """Make the appended rows durable, then record lengths, offsets and counts."""
        lengths = dict(self.cp.lengths)
        if self._scored is not None:
            lengths[SCORED_FILE] = self._sync(SCORED_FILE, self._scored)
        lengths[REJECTED_FILE] = (
            self._sync(REJECTED_FILE, self._rejected) if self._rejected is not None
            else self.cp.lengths.get(REJECTED_FILE, 0)
        )
        lengths[REVIEWS_LOG_FILE] = self._sync(REVIEWS_LOG_FILE, self._reviews_log)
        lengths.update(self._days.sync())
        self.cp.extra["reviews"] = self.reviews.to_json()
        self.cp.extra["day_watermark"] = self._clock.whole.to_json()
        self.cp.extra["day_clock"] = self._clock.to_json()
        # its value alone, as a version before the quorum kept (and reads) it
        self.cp.extra["event_watermark"] = self._clock.value
        if lengths != self.cp.lengths:
            fsync_dir(self.folder)
        if self.cp.rollup.rows != self._rows_written:
            self._last_write.mark()
            self._rows_written = self.cp.rollup.rows
        if self._last_write.saved:
            self.cp.extra["last_row_written_at"] = self._last_write.at(wall_now())
        self.cp.lengths = lengths
        st.save(self.folder, self.cp)
        self.pending_rows = 0

    def _unknown_rules(self) -> dict[str, object]:
        counted = self.cp.rollup.unknown_rules.to_json()
        return {UNKNOWN_RULES: counted["rows"], UNKNOWN_RULES_FIRED: counted["fired"],
                UNKNOWN_RULE_ROWS: counted["any"]}

    def write_rollups(self, run_info: Mapping[str, object] | None = None,
                      report: bool = True) -> dict[str, Any]:
        """Rewrite every rollup file from the counts, then tell `on_rollup` (if `report`)."""
        info: dict[str, object] = {
            "source": SOURCE_SINK,
            "topic": self.cp.topic,
            "input_offsets": {str(p): o for p, o in sorted(self.cp.offsets.items())},
            "rows_rejected": self.cp.rejected,
            "sink_started_at": self.cp.created_at,
            # Closed days that still got rows (sink.days): refresh those days' partitions.
            "late_rows_by_day": dict(sorted(self.cp.extra.get("late_rows_by_day", {}).items())),
            # What closed them (`sink.watermark`); status.csv's `data_as_of`.
            "event_watermark": self._clock.value or None,
            # Fields of scored messages this sink ignored (a newer detector's: docs/sink.md,
            # "Upgrades"): name -> rows, and the rows holding any.
            UNKNOWN_FIELDS: dict(sorted(self.cp.extra.get(UNKNOWN_FIELDS, {}).items())),
            UNKNOWN_ROWS: int(self.cp.extra.get(UNKNOWN_ROWS, 0)),
            # Rules in `rule_flags` this sink has no column for (the rollup counts them):
            # name -> rows holding it, name -> rows it fired in, the rows holding any.
            **self._unknown_rules(),
            # Reviews partitions held at a review a newer release wrote (docs/review.md,
            # "Rollbacks"): partition -> its offset, the review's version and this one's.
            HELD_REVIEWS: {str(p): {"topic": t, "offset": o, "version": v,
                                    "reads": REVIEW_SCHEMA_VERSION}
                           for p, (t, o, v) in sorted(self.held.items())},
        }
        info.update(run_info or {})
        info[UPGRADE_NOTE] = skew_note(info)  # the counts' line, for the dashboard's model
        rollups = write_rollups(self.folder, self.cp.rollup, self.settings, info,
                                self.reviews)
        self._run = rollups.run
        self.heartbeat(info)
        if report:
            notify(self.on_rollup, rollups, self.folder)
        return rollups.run

    def heartbeat(self, run_info: Mapping[str, object] | None = None,
                  stopped: bool = False) -> list[str]:
        """Rewrite status.csv (freshness, lag, versions) from the last rollup refresh."""
        lag = (run_info or {}).get("lag_messages")
        now = wall_now()  # one reading for the beat and the last write's stamp on it
        return write_status(self.folder, self._run, self._last_write.at(now),
                            lag if isinstance(lag, int) else None,
                            heartbeat=now.isoformat(), stopped=stopped)

    def stopped(self, run_info: Mapping[str, object] | None = None) -> list[str]:
        """Rewrite status.csv as the last row of a loop that ended cleanly (`stopped_at`
        now, the lag last known, minutes behind unknown: `sink.status`)."""
        return self.heartbeat(run_info, stopped=True)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
        if self._scored is not None:
            self._scored.close()
        self._reviews_log.close()
        self._days.close()
        if self._rejected is not None:
            self._rejected.close()


def _saved_watermark(folder: Path, data: Any) -> Watermark:
    try:
        return Watermark.from_json(data, 1)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise st.SinkStateError(f"{shown(folder / st.STATE_FILE)} is unreadable (its day "
                                f"watermark: {exc}); move the folder aside") from exc


def _saved_clock(folder: Path, data: Any, whole: Watermark) -> StreamClock:
    """The partitions' watermarks as saved; a checkpoint without them (`data` None, of a
    version with one watermark for the topic) gives `whole`'s value as the stream's."""
    try:
        return StreamClock.from_json(data, whole)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise st.SinkStateError(f"{shown(folder / st.STATE_FILE)} is unreadable (its "
                                f"partitions' watermarks: {exc}); move the folder aside"
                                ) from exc
