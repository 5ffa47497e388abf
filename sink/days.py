"""Scored rows by event day: `scored/transactions_scored_YYYY-MM-DD.csv`.

Power BI's incremental refresh over files filters them by the date in their name, so each
day's rows live in their own file (with the header): appended until the day closes, then
left alone. A day closes once the stream's watermark (`sink.clock`: per partition, the
latest event time `EXPORTS_WATERMARK_CUSTOMERS` customers have reached, so one stray row
dated 2100 closes nothing) is `CLOSE_AFTER` past its end; a row of a closed day that still
arrives (a late row: its day closed by its partition's watermark or the stream's as they
stood before that row) is appended to that day's file and counted, so run.json can say
which closed days changed. The sink
checkpoints each day file's length like any appended file (`sink.state`); `score` writes
its day files aside and moves them in when the run is whole (`DayWriter`).

What is a day file (and what only looks like one) is `shared.dayfiles`' rule: every reader
here lists `day_files`, so a copy such as `transactions_scored_2025-01-01 - Copy.csv` is
never counted, cut, appended to or deleted (`check_strangers` names it once at start).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import logging
import os
import shutil
import stat
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

from shared.atomic import atomic_writer, fsync_dir
from shared.columns import SCORED_INDEX
from shared.dayfiles import PREFIX as PREFIX  # the rule's names, used from here too
from shared.dayfiles import SCORED_DIR as SCORED_DIR
from shared.dayfiles import day_files as day_files
from shared.dayfiles import day_of as day_of
from shared.dayfiles import file_name, strangers
from shared.errors import UsageError
from shared.exports_folder import SCORED_STAGING
from shared.names import shown
from shared.outputs import open_append, open_regular, refuse_irregular
from sink.clock import EventTime as EventTime
from sink.clock import StreamClock
from sink.csvfmt import SCORED_HEADER, encode_rows
from sink.state import SinkStateError
from sink.watermark import EarliestMark, RowQuorum, Watermark, time_key

log = logging.getLogger(__name__)

#: Where `score` writes its day files until the run is whole (beside `scored/`, not in
#: it: no reader of `scored/` ever lists a half-written run).
STAGING = SCORED_STAGING
_TS = SCORED_INDEX["timestamp"]
_CUSTOMER = SCORED_INDEX["customer_id"]
_FLAG = SCORED_INDEX["is_flag"]
#: How long after midnight a day still takes rows before they count as late.
CLOSE_AFTER = timedelta(hours=1)


def day_file(day: str) -> str:
    """The folder-relative name of a day's file (`day` is `YYYY-MM-DD`)."""
    return f"{SCORED_DIR}/{file_name(day)}"


def check_scored_folder(folder: Path) -> None:
    """`UsageError` (exit 2) unless `folder`'s scored/ is missing or a folder itself: through
    a symbolic link the day files would be written, cut and deleted in another folder. (The
    exports folder itself may be a link: point that at another disk instead.)"""
    refuse_not_a_folder(Path(folder) / SCORED_DIR, "the day files are written, cut and "
                        "deleted only in a folder of the exports folder's own (to keep them "
                        "on another disk, link the exports folder itself)")


def refuse_not_a_folder(path: Path, why: str) -> None:
    """`UsageError` (exit 2, `why` it must be one) if `path` is there as something other
    than a folder itself (a symbolic link, even to a folder, a file)."""
    try:
        folder = stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return
    if not folder:
        raise UsageError(f"{shown(path)} is a symbolic link or a file, not a folder: {why}; "
                         "move it away and run again")


def check_strangers(folder: Path) -> list[Path]:
    """The entries of `folder`'s scored/ named like day files that are none
    (`shared.dayfiles.strangers`: a copy, `..._2025-1-1.csv`), named in one warning: they
    are left alone, but an older dashboard loads them. A folder or symbolic link at a day
    file's very name is `SinkStateError`: the day's rows would be written through it."""
    found = strangers(folder)
    if blocking := [p for p in found if day_of(p.name)]:
        raise not_a_day_file(blocking[0])
    if found:
        log.warning(
            "%d file(s) in %s named like day files but not day files, left alone (never "
            "read, counted or deleted; an older dashboard would load them): %s", len(found),
            Path(folder) / SCORED_DIR, ", ".join(p.name for p in found))
    return found


def not_a_day_file(path: Path) -> SinkStateError:
    """The one-line refusal (exit 2) of an entry at a day file's name that is no regular file."""
    return SinkStateError(
        f"{shown(path)} is not a regular file (a folder, symbolic link, FIFO or device) but has a "
        f"day file's name, where that day's rows are written: move it out of {SCORED_DIR}/")


def open_day(path: Path) -> int:
    """A descriptor of the day file `path` (listed by `day_files`) open to read, still a
    regular file at its name (`open_regular`): one swapped since the listing for a FIFO
    (a plain `open` waited on it for ever) or a link (read through, another folder's rows)
    is `not_a_day_file`, as when the listing finds it. `FileNotFoundError` if removed."""
    try:
        return open_regular(path, os.O_RDONLY)
    except UsageError:
        raise not_a_day_file(path) from None


@dataclass
class DayChunk:
    """Rows of one day in a batch: CSV bytes (no header) and count."""

    csv: bytes
    rows: int


def split_by_day(cells: Sequence[Sequence[str]]) -> dict[str, DayChunk]:
    """Formatted rows grouped by the date of their timestamp cell, order kept within a day."""
    if cells and cells[0][_TS][:10] == cells[-1][_TS][:10] and all(
            row[_TS][:10] == cells[0][_TS][:10] for row in cells):
        groups: dict[str, Sequence[Sequence[str]]] = {cells[0][_TS][:10]: cells}
    else:
        groups = {}
        for row in cells:
            groups.setdefault(row[_TS][:10], []).append(row)  # type: ignore[attr-defined]
    return {day: DayChunk(encode_rows(rows), len(rows)) for day, rows in groups.items()}


def event_times(cells: Sequence[Sequence[str]]) -> list[EventTime]:
    """Each row's (customer id, timestamp) cells, in stream order."""
    return [(row[_CUSTOMER], row[_TS]) for row in cells]


def count_late(clock: StreamClock, times: Sequence[EventTime], partitions: Sequence[int],
               days: Collection[str], waiting: Collection[int] = ()) -> dict[str, int]:
    """Rows per day of `times` (rows of `days`, in stream order; `partitions[i]` the
    partition of `times[i]`) whose day was closed as the clock stood before that row (by
    its partition's watermark or the stream's, `sink.clock`); the clock takes every row.
    `waiting`: the partitions with rows still to read after these. Row by row, so the counts
    do not depend on how the stream is cut into batches (or worker slices)."""
    return clock.take(times, partitions, {day: close_key(day) for day in days}, waiting)


def read_watermarks(folder: Path, quorum: int, floor: str,
                    flagged_floor: str) -> tuple[Watermark, Watermark]:
    """The watermarks of every row, and of the flagged rows (the case book's), over a
    folder's day files, for a checkpoint written before the quorum (it kept the latest
    times only, `floor` and `flagged_floor`): the customers a sink that read the rows kept
    (a watermark's state does not depend on the rows' order), so the folder continues as
    one written by this version, and what it closed stays closed."""
    rows, flagged = Watermark(quorum, floor), Watermark(quorum, flagged_floor)
    for row in _day_rows(folder):
        rows.see(row[_CUSTOMER], row[_TS])
        if row[_FLAG] == "True":
            flagged.see(row[_CUSTOMER], row[_TS])
    return rows, flagged


def read_marks(folder: Path, quorum: int) -> tuple[EarliestMark, RowQuorum]:
    """The earliest-time mark and the row marks of every row of a folder's day files, for a
    rollup saved before them (`sink.rollup`): the marks a sink that read the rows would hold
    (they do not depend on the rows' order), so the folder continues as one written by this
    version."""
    mark, rows = EarliestMark(quorum), RowQuorum(quorum)
    for path in day_files(folder):  # a file's times at once: a folder's could fill memory
        times: list[str] = []
        for row in _file_rows(path):
            mark.see(row[_CUSTOMER], row[_TS])
            times.append(time_key(row[_TS]))
        rows.see_keys(times)
    return mark, rows


def _day_rows(folder: Path) -> Iterator[list[str]]:
    """The rows (cells, no header) of a folder's day files, file by file."""
    for path in day_files(folder):
        yield from _file_rows(path)


def _file_rows(path: Path) -> Iterator[list[str]]:
    """The rows (cells, no header) of one listed day file, opened as a regular file."""
    with open(open_day(path), newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        yield from reader


def single_file_bytes(cells: Sequence[Sequence[str]], days: Mapping[str, DayChunk]) -> bytes:
    """The rows in stream order: the one day's bytes when they all fall on one day (nearly
    every batch), so the compatibility copy costs no second encoding then."""
    if len(days) == 1:
        return next(iter(days.values())).csv
    return encode_rows(cells)


def closes_at(day: str) -> str:
    """The event time (ISO text, compared as text) from which `day` is closed."""
    end = date.fromisoformat(day) + timedelta(days=1)
    hours, rest = divmod(int(CLOSE_AFTER.total_seconds()), 3600)
    return f"{end.isoformat()}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def close_key(day: str) -> str:
    """`closes_at` as a `time_key`."""
    return time_key(closes_at(day))


def is_closed(day: str, watermark: str) -> bool:
    """Whether `day` is closed by `watermark` (ISO text, "" for none yet)."""
    return bool(watermark) and time_key(watermark) >= close_key(day)


class DayAppender:
    """The sink's open day files: appended in batches, synced at each checkpoint.

    A day file is appended to only while it is as the sink left it: reopened, it must have
    the length the checkpoint recorded (`recorded`), and at each sync an open one must still
    be the file at its name, of the length written. A file deleted, cut or edited while the
    sink ran stops it (`SinkStateError`, the checkpoint not moved): it was started again
    with a header and the new rows only, or appended to after a torn line, and the next
    checkpoint took the damage for its own (a hostile probe)."""

    def __init__(self, folder: Path,
                 recorded: Callable[[], Mapping[str, int]] = dict) -> None:
        self.folder = Path(folder)
        self._recorded = recorded
        self._open: dict[str, IO[bytes]] = {}
        #: Each open file's length as this sink made it (its `tell()` follows the file's
        #: end, with O_APPEND, whoever moved it).
        self._length: dict[str, int] = {}
        self._created = False
        #: scored/ as opened at the first day file: every day file is opened in it, and it
        #: must still be at its name at each sync (`_scored`).
        self._dir: int | None = None

    def write(self, chunks: Mapping[str, DayChunk]) -> None:
        for day, chunk in chunks.items():
            fh = self._handle(day)
            fh.flush()  # then its size is what this sink made it, unless someone cut it
            self._as_left(day, fh)
            fh.write(chunk.csv)
            self._length[day] += len(chunk.csv)

    def _as_left(self, day: str, fh: IO[bytes], *, by_name: bool = False) -> None:
        check_as_left(self.folder / day_file(day), fh, self._length[day], by_name=by_name)

    def _handle(self, day: str) -> IO[bytes]:
        fh = self._open.get(day)
        if fh is None:
            path = self.folder / day_file(day)
            fh = open_append(path, dir_fd=self._scored())  # kept open across batches
            expected, size = self._recorded().get(day_file(day), 0), fh.tell()
            if size != expected:
                fh.close()
                raise _changed(path, f"has {size} bytes, the checkpoint recorded {expected}")
            self._length[day] = expected
            if size == 0:  # a new day: its header (cut with the file if not checkpointed)
                fh.write(SCORED_HEADER)
                self._length[day] += len(SCORED_HEADER)
                self._created = True
            self._open[day] = fh
        return fh

    def sync(self) -> dict[str, int]:
        """Flush and fsync every open day file; return their lengths by folder-relative name.

        Files of days other than the newest are closed afterwards (a year of days is never
        held open); a later row of such a day reopens its file.
        """
        lengths = {}
        if self._open:
            self._still_scored()
        for day, fh in self._open.items():
            fh.flush()
            os.fsync(fh.fileno())
            self._as_left(day, fh, by_name=True)
            lengths[day_file(day)] = self._length[day]
        if self._created:  # a new file's name is durable only with its folder's entry
            fsync_dir(self.folder / SCORED_DIR)
            fsync_dir(self.folder)
            self._created = False
        if self._open:
            newest = max(self._open)
            for day in [d for d in self._open if d != newest]:
                self._open.pop(day).close()
                del self._length[day]
        return lengths

    def _scored(self) -> int:
        """scored/ opened (created if missing) as a folder itself, never through a link put
        at its name since the start (`check_scored_folder`'s refusal, exit 2)."""
        if self._dir is None:
            scored = self.folder / SCORED_DIR
            with contextlib.suppress(FileExistsError):  # a link to nothing: refused below
                scored.mkdir(exist_ok=True)
            try:
                self._dir = os.open(scored, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                                    | os.O_CLOEXEC)
            except OSError as exc:
                if exc.errno in (errno.ENOTDIR, errno.ELOOP):  # a file or a link there
                    check_scored_folder(self.folder)  # raises, saying which
                raise
        return self._dir

    def _still_scored(self) -> None:
        """`SinkStateError` unless the folder the day files were opened in still is scored/
        (moved away, or a link or another folder put at its name while the sink ran): the
        checkpoint must never record day files that are not in scored/."""
        assert self._dir is not None
        scored = self.folder / SCORED_DIR
        try:
            same = os.path.samestat(os.lstat(scored), os.fstat(self._dir))
        except FileNotFoundError:
            same = False
        if not same:
            raise SinkStateError(
                f"{scored} was moved away or replaced (by a link or another folder) while "
                "the sink ran; the sink stopped without recording its last rows: put the "
                "folder back at its name and start again (exactly once), or --reset")

    def close(self) -> None:
        for fh in self._open.values():
            fh.close()
        self._open.clear()
        self._length.clear()
        if self._dir is not None:
            os.close(self._dir)
            self._dir = None


def check_as_left(path: Path, fh: IO[bytes], made: int, *, by_name: bool = False) -> None:
    """Raise `SinkStateError` unless the open file `fh` (flushed) has the length `made` the
    sink made it and, `by_name`, is still the file at `path`: one the sink appends to, cut,
    edited, deleted or replaced while it ran (a day file, or `sink.writer`'s others)."""
    held = os.fstat(fh.fileno())
    if by_name:
        try:
            if not os.path.samestat(os.lstat(path), held):  # a link to it is not it
                raise _changed(path, "was replaced")
        except FileNotFoundError:
            raise _changed(path, "was deleted") from None
    if held.st_size != made:
        raise _changed(path, f"has {held.st_size} bytes, the sink made it {made}")


def _changed(path: Path, what: str) -> SinkStateError:
    return SinkStateError(
        f"{shown(path)} {what}: it was changed while the sink ran (deleted, cut or edited); the "
        "sink stopped without recording it: put it back as it was, or start again with "
        "--reset")


def remove_unrecorded(folder: Path, lengths: Mapping[str, int]) -> list[str]:
    """Delete day files the checkpoint does not know (created after it, before a crash);
    a file that is no day file (`shared.dayfiles`) is not the sink's, and stays."""
    removed = []
    for path in day_files(folder):
        name = f"{SCORED_DIR}/{path.name}"
        if name not in lengths:
            path.unlink()
            removed.append(name)
            log.info("removed %s: created after the last checkpoint", name)
    return removed


def remove_all(folder: Path) -> None:
    """Delete the day files (`--reset`); files that are no day file stay."""
    for path in day_files(folder):
        path.unlink()


class DayWriter:
    """`score`'s day files, written into `STAGING` and moved into `scored/` only when the
    whole run is written (an interrupted or abandoned run leaves the folder's earlier day
    files as they were, never some of each run). Rows come in event-time order, so a day is
    done when `MAX_OPEN` later days have started (its file closed, fsynced); a day that
    comes back after that is appended to. Day files of an earlier run that this one has no
    rows for are removed at the end."""

    MAX_OPEN = 32

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.staging = self.folder / STAGING
        self._open: dict[str, tuple[AbstractContextManager[IO[bytes]], IO[bytes]]] = {}
        self._done: set[str] = set()
        self._also: list[str] = []

    def __enter__(self) -> DayWriter:
        check_scored_folder(self.folder)
        (self.folder / SCORED_DIR).mkdir(parents=True, exist_ok=True)
        check_strangers(self.folder)
        refuse_not_a_folder(self.staging, "score stages its day files in a folder of that "
                            "name, which it removes and creates again")
        # left by a run killed before its end (the folder's lock is this run's now)
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir()
        return self

    def _staged(self, day: str) -> Path:
        return self.staging / file_name(day)

    def also(self, name: str) -> Path:
        """Where to write another file of the run (`name`, in the folder's root) so that
        `publish` moves it in with the day files."""
        self._also.append(name)
        return self.staging / name

    def write(self, chunks: Mapping[str, DayChunk]) -> None:
        for day, chunk in chunks.items():
            if day in self._done:  # rare: a day seen again after its file was closed
                with open_append(self._staged(day)) as late:
                    late.write(chunk.csv)
                    late.flush()
                    os.fsync(late.fileno())
                continue
            if day not in self._open:
                if len(self._open) >= self.MAX_OPEN:
                    self._finish(min(self._open))
                manager = atomic_writer(self._staged(day))
                fh = manager.__enter__()
                fh.write(SCORED_HEADER)
                self._open[day] = (manager, fh)
            self._open[day][1].write(chunk.csv)

    def _finish(self, day: str) -> None:
        manager, _fh = self._open.pop(day)
        manager.__exit__(None, None, None)
        self._done.add(day)

    def __exit__(self, *exc: Any) -> None:
        """Every day file whole and fsynced in `STAGING` (`publish` moves them in); on an
        exception, none (`discard`)."""
        if exc[0] is not None:
            self._abandon(*exc)
            return
        try:
            for day in sorted(self._open):
                self._finish(day)
        except BaseException as failed:  # a full disk at a file's last flush: the rest too
            self._abandon(type(failed), failed, failed.__traceback__)
            raise

    def _abandon(self, *exc: Any) -> None:
        """Close every open day file on the exception `exc`, its temporary file removed,
        and `discard` the staged ones. A close that fails too (its buffer flushed to the same
        full disk) raises a second OSError: the first stays the run's and every other file
        is still closed (before, one such failure left the rest open to the garbage
        collector: an "Exception ignored" traceback each after the run's error line)."""
        for manager, _fh in self._open.values():
            with contextlib.suppress(OSError):
                manager.__exit__(*exc)
        self._open.clear()
        self.discard()

    def check_targets(self, also: Sequence[str] = ()) -> None:
        """`UsageError` if a name `publish` moves a file to (or `also`, in the folder's root)
        is something other than a regular file: a folder, a link or a FIFO someone put there
        while the run was written. Checked before the run's rollups are written, so a
        refusal leaves the folder the earlier run's."""
        refuse_irregular([*(self.folder / day_file(day) for day in sorted(self._done)),
                          *(self.folder / name for name in [*self._also, *also])])

    def publish(self, remove: Sequence[str] = ()) -> None:
        """Move the run's day files into `scored/` (renames only), remove the earlier run's
        days this one has no rows for and the files `remove` names in the folder's root,
        then move the `also` files in, in the order they were named."""
        for day in sorted(self._done):
            os.replace(self._staged(day), self.folder / day_file(day))
        for path in day_files(self.folder):
            if day_of(path.name) not in self._done:
                path.unlink()
        for name in remove:
            (self.folder / name).unlink(missing_ok=True)
        for name in self._also:
            os.replace(self.staging / name, self.folder / name)
        fsync_dir(self.folder / SCORED_DIR)
        if self._also or remove:  # renamed into (or removed from) the folder itself
            fsync_dir(self.folder)
        self.discard()

    def discard(self) -> None:
        """Remove what the run staged: the folder's day files stay as they were."""
        shutil.rmtree(self.staging, ignore_errors=True)
