"""`status.csv`: one row saying how fresh the exports are ("data as of ..., N minutes behind").

Written (atomically) with every rollup refresh and, while the sink is idle, every rollup
interval as a heartbeat, so a reader can tell a quiet stream from a stopped sink:

- `data_as_of`: how far the exports' event time has got: run.json's `event_watermark`, the
  latest event time `EXPORTS_WATERMARK_CUSTOMERS` customers reached (`sink.watermark`: one
  row dated 2100 does not make it 2100), or while fewer customers were seen, the latest
  event time (`event_time_max`);
- `last_row_written_at`: when rows were last made durable (a checkpoint that added rows),
  on the wall clock as it runs when the row is written: a step of the host's clock (NTP,
  a VM's clock set on resume, `date -s`) moves it with the step (`LastWrite`), so its age,
  which `minutes_behind` and the health check's stall are, is the real time since;
- `heartbeat_at`: when this row was written (the sink was alive then); empty from a sink's
  start until its loop first turns (`mark_starting`), so the row an earlier run left, whose
  heartbeat may be seconds old, never vouches for a sink that has only just restarted;
- `rows`, `lag_messages`: rows in the folder and messages waiting in the topic (empty when
  unknown; 0 for `score`);
- `minutes_behind`: 0 when nothing waits, else minutes since rows were last written (how
  long the exports have been behind the stream); empty once the sink has stopped;
- the versions: auditstream, librdkafka (sink only) and the models that scored the rows;
- `stopped_at`: empty while the sink runs; when its loop ended cleanly (SIGTERM, Ctrl-C,
  `--once` or `--until-idle` done: `SinkWriter.stopped`), also its last `heartbeat_at`, with
  `lag_messages` as measured at the stop and `minutes_behind` empty: from then on the stream
  goes on without it, so "0 minutes behind" would be a claim nothing checks any more. A
  sink stopped during its start-up, before its loop turned, sets it alone (`mark_stopped`);
  `score` sets it at the end of its run;
- `source`: which program wrote the folder, as run.json says (`shared.columns.SOURCE_SINK`,
  `SOURCE_SCORE`): a batch run's row is read as "scored by a batch run at T (no live
  stream)", never as a sink that stopped (`shared.freshness.describe`); empty in a sink's
  row until its first rollup, and in an older release's.

A row whose heartbeat is older than `shared.freshness.STALE_S` claims no lag to a reader
that knows when it reads: its sink was killed or is stuck.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.atomic import atomic_write_bytes
from shared.columns import STATUS_COLUMNS
from shared.csv_lines import MAX_LINE_CHARS
from shared.errors import UsageError
from shared.exports_folder import STATUS_FILE as STATUS_FILE
from shared.outputs import read_regular
from sink.csvfmt import encode_rows, number, text


def now_utc() -> str:
    """Wall-clock time as naive UTC ISO text (the exports' timestamp format)."""
    return _stamp(wall_now())


#: A disagreement of the wall clock with the steady one since the last write beyond this
#: (s) is a step of the wall clock; less is NTP's slewing and rounding, left as it is, so
#: an unchanged clock's rows name the same last write.
STEP_TOLERANCE_S = 2.0
#: The steady clock: CLOCK_BOOTTIME where there is one, which counts a host's suspend (the
#: stream went on meanwhile, the exports fell behind); CLOCK_MONOTONIC does not.
_STEADY = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)


def steady() -> float:
    """Seconds on a clock no one sets (`_STEADY`)."""
    return time.clock_gettime(_STEADY)


_TOLERANCE = timedelta(seconds=STEP_TOLERANCE_S)


def _ahead(stamp: str, now: datetime) -> bool:
    """Whether `stamp` is over the tolerance ahead of `now`; a stamp that is no time (a
    hand-edited checkpoint) is left to its readers, as before."""
    try:
        at = datetime.fromisoformat(stamp)
        at = at if at.tzinfo is None else at.astimezone(UTC).replace(tzinfo=None)
        return at - now > _TOLERANCE
    except (ValueError, OverflowError):
        return False


def _stamp(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


class LastWrite:
    """When rows were last made durable, as status.csv's `last_row_written_at`: the wall
    time of the write, moved by any step of the wall clock since (measured against
    `steady`), so now minus it is the time since the write. A stamp read from a checkpoint
    (an earlier run's, `saved`) is taken as it is, no steady clock reaching back to it, but
    never ahead of the clock reading it: one ahead (the clock stepped back while the sink
    was stopped) is taken as the time it is first read, so a stall is seen from then."""

    __slots__ = ("_at", "_steady", "saved")

    def __init__(self, saved: str = "") -> None:
        self.saved = saved
        self._at: datetime | None = None
        self._steady = 0.0

    def mark(self) -> None:
        """Rows were made durable now."""
        self._at, self._steady = wall_now(), steady()
        self.saved = _stamp(self._at)

    def at(self, now: datetime) -> str:
        """The stamp on the wall clock whose reading is `now` (ISO text, "" for none)."""
        if self._at is None:
            if not self.saved or not _ahead(self.saved, now):
                return self.saved
            # ahead of the clock: it was stepped back since (the sink stopped meanwhile)
            self._at, self._steady = now, steady()
            self.saved = _stamp(now)
            return self.saved
        since = steady() - self._steady
        drift = now - (self._at + timedelta(seconds=since))
        if abs(drift.total_seconds()) > STEP_TOLERANCE_S:  # the wall clock was stepped
            self._at += drift
            self.saved = _stamp(self._at)
        return self.saved


def wall_now() -> datetime:
    """Wall-clock time as naive UTC, to the second."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def minutes_behind(lag: int | None, last_written: str, heartbeat: str) -> float | None:
    """0 when nothing waits; else whole minutes from the last written rows to `heartbeat`."""
    if lag is None:
        return None
    if lag == 0 or not last_written:
        return 0 if lag == 0 else None
    delta = datetime.fromisoformat(heartbeat) - datetime.fromisoformat(last_written)
    return max(0, int(delta.total_seconds() // 60))


def status_cells(run: Mapping[str, Any], last_written: str, lag: int | None,
                 heartbeat: str | None = None, stopped: bool = False) -> list[str]:
    """The one status row from run.json's content and what only the writer knows; if
    `stopped`, the row of a sink whose loop ended at `heartbeat`."""
    beat = heartbeat or now_utc()
    models = run.get("model_versions") or {}
    behind = None if stopped else minutes_behind(lag, last_written, beat)
    return [
        text(run.get("event_watermark") or run.get("event_time_max") or ""),
        last_written,
        beat,
        number(int(run.get("rows", 0))),
        number(lag),
        number(behind),
        text(str(run.get("auditstream_version", ""))),
        text(str(run.get("librdkafka_version", ""))),
        text(";".join(f"{k}:{v}" for k, v in sorted(models.items()))),
        beat if stopped else "",
        text(str(run.get("source", ""))),
    ]


def write_status(folder: Path, run: Mapping[str, Any], last_written: str, lag: int | None,
                 heartbeat: str | None = None, stopped: bool = False) -> list[str]:
    """Replace `status.csv` in `folder`; return the row written."""
    cells = status_cells(run, last_written, lag, heartbeat, stopped)
    atomic_write_bytes(Path(folder) / STATUS_FILE, encode_rows([cells], STATUS_COLUMNS))
    return cells


#: The most a status.csv the sink rewrites at its start may hold (bytes): a header and a row,
#: each within the CSV line bound (ASCII, as the sink writes them). A damaged one with a
#: 1 GB line was read whole, and decoded and split besides.
STATUS_MOST_BYTES = 2 * MAX_LINE_CHARS

#: The cells that only a running loop knows: blank from a sink's start until it turns (a
#: starting sink has not stopped either).
LIVE_COLUMNS = ("heartbeat_at", "lag_messages", "minutes_behind", "stopped_at")


def starting_row(data: bytes, stopped_at: str = "") -> bytes | None:
    """status.csv as `data` with its live cells blank (a sink starting, its lag unknown) but
    `stopped_at` (a sink that stopped before its loop turned), the rest (data as of, last
    write, rows, versions) as the earlier run left it, by column name (an older release's
    columns too, and the live columns it lacks added). None when `data` is not a header and
    one row."""
    try:  # utf-8-sig: a BOM (Excel's "CSV UTF-8") is no part of the first column's name
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    except (UnicodeDecodeError, csv.Error):
        return None
    if len(rows) != 2 or len(rows[0]) != len(rows[1]):
        return None
    # an older release's header gains the live columns it lacks: without `stopped_at` a
    # stop had no cell to go in, and the row said "starting" for good
    header = rows[0] + [name for name in LIVE_COLUMNS if name not in rows[0]]
    live = dict.fromkeys(LIVE_COLUMNS, "") | {"stopped_at": stopped_at}
    padded = rows[1] + [""] * (len(header) - len(rows[1]))
    cells = [live.get(name, cell) for name, cell in zip(header, padded, strict=True)]
    return encode_rows([cells], header)


def mark_starting(folder: Path) -> None:
    """Blank the live cells of the status.csv an earlier run left in `folder` (the sink's
    own, locked): until this run's loop turns, the health check says "not started" and the
    dashboard "lag unknown", not the earlier run's "caught up". A folder without one, or
    with one that is not a header and one row (or no regular file), is left as it is: the
    check calls neither healthy, and the loop's first write replaces it."""
    _rewrite(Path(folder) / STATUS_FILE, "")


def mark_stopped(folder: Path) -> None:
    """The status.csv of a sink in `folder` that stopped before its loop turned (SIGTERM or
    Ctrl-C during its start-up): `stopped_at` now, the live cells blank (this run measured
    no lag), so no reader is left with "starting" for good. Left as it is where
    `mark_starting` leaves it."""
    _rewrite(Path(folder) / STATUS_FILE, now_utc())


def _rewrite(path: Path, stopped_at: str) -> None:
    try:  # never waits on a FIFO at the name; no more than a header and a row may hold
        data = read_regular(path, STATUS_MOST_BYTES + 1)
    except (OSError, UsageError):  # none, or not readable: the loop's first write replaces it
        return
    if len(data) > STATUS_MOST_BYTES:  # not a header and a row: left as `starting_row` does
        return
    row = starting_row(data, stopped_at)
    if row is not None and row != data:
        atomic_write_bytes(path, row)
