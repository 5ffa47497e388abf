"""status.csv's `last_row_written_at` and `minutes_behind` when the sink's host clock is
stepped (NTP correcting a drifted clock, a VM's clock set on resume, an admin's `date -s`).

Both are read as ages: `minutes_behind` from the last write to the heartbeat, the health
check's stall (`sink.health`) from the last write to its own time. A last write stamped
before a step back of an hour looked an hour in the future: "0 minutes behind" and healthy
while nothing was written for the whole hour; a step forward made a sink that wrote 10 s
ago "60 minutes behind" and stalled. The time since the last write is measured on a
steady clock (`sink.status.steady`) and the stamp moved with the step (hostile probe of
time, 2026-12-06).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

import sink.status as status
from shared.codec import encode
from sink.health import check
from sink.settings import ExportSettings
from sink.status import STATUS_FILE
from sink.writer import SinkWriter
from tests.unit.test_rollup_pandas import random_scored

WRITE = datetime(2026, 12, 6, 12, 0, 0)


class _Clocks:
    """The host's wall clock (naive UTC) and its steady clock (s), set by the test."""

    def __init__(self) -> None:
        self.wall = WRITE
        self.steady = 1000.0

    def after(self, seconds: float, step: timedelta = timedelta(0)) -> datetime:
        """`seconds` of real time since the write, the wall clock stepped by `step`."""
        self.steady = 1000.0 + seconds
        self.wall = WRITE + timedelta(seconds=seconds) + step
        return self.wall


@pytest.fixture
def clocks(monkeypatch: pytest.MonkeyPatch) -> _Clocks:
    c = _Clocks()

    class _Wall(datetime):
        @classmethod
        def now(cls, tz: object = None) -> _Wall:
            assert tz is UTC
            t = c.wall.replace(tzinfo=UTC)
            return cls(t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond,
                       tzinfo=UTC)

    monkeypatch.setattr(status, "datetime", _Wall)
    monkeypatch.setattr(status, "steady", lambda: c.steady, raising=False)
    return c


def _row(folder: Path) -> dict[str, str]:
    frame = pd.read_csv(folder / STATUS_FILE, dtype=str, keep_default_na=False)
    return dict(frame.iloc[0])


def _written(folder: Path) -> SinkWriter:
    w = SinkWriter(folder, "transactions.scored", ExportSettings())
    w.add([(0, i, encode(tx)) for i, tx in enumerate(random_scored(50, seed=4))])
    w.checkpoint()  # rows made durable at WRITE
    w.write_rollups({"lag_messages": 0}, report=False)
    return w


@pytest.mark.parametrize("step", [timedelta(hours=-1), timedelta(hours=1),
                                  timedelta(days=-400), timedelta(0)])
@pytest.mark.parametrize(("silent", "healthy", "behind"),
                         [(10, True, "0"), (120, True, "2"), (121, False, "2")])
def test_a_stall_is_timed_from_the_last_write_whatever_the_wall_clock_did(
        tmp_path: Path, clocks: _Clocks, step: timedelta, silent: int, healthy: bool,
        behind: str) -> None:
    w = _written(tmp_path)
    assert _row(tmp_path)["last_row_written_at"] == WRITE.isoformat()
    now = clocks.after(silent, step)
    w.checkpoint()  # no new row: nothing written since
    w.heartbeat({"lag_messages": 5})  # messages wait, the sink writes none
    row = _row(tmp_path)
    assert row["heartbeat_at"] == now.isoformat()
    assert row["last_row_written_at"] == (now - timedelta(seconds=silent)).isoformat()
    assert row["minutes_behind"] == behind
    verdict = check(tmp_path, now)
    assert verdict.healthy is healthy, verdict.line()
    if not healthy:
        assert f"no progress for {silent} s" in verdict.line()


def test_a_step_after_the_write_is_kept_in_the_checkpoint(tmp_path: Path,
                                                          clocks: _Clocks) -> None:
    """The moved stamp is the one saved: a restart reads it on the clock as it now runs."""
    w = _written(tmp_path)
    now = clocks.after(30, timedelta(hours=-1))
    w.heartbeat({"lag_messages": 5})
    w.checkpoint()
    assert w.cp.extra["last_row_written_at"] == (now - timedelta(seconds=30)).isoformat()


@pytest.mark.parametrize("off", [-3, -2, 0, 2, 3])
def test_a_drift_within_the_tolerance_leaves_the_stamp_as_written(
        tmp_path: Path, clocks: _Clocks, off: int) -> None:
    """NTP's slewing and the second's rounding do not move the stamp from one heartbeat to
    the next: an unchanged clock's rows say the same last write each time; one second past
    the tolerance is a step."""
    w = _written(tmp_path)
    now = clocks.after(60, timedelta(seconds=off))
    w.heartbeat({"lag_messages": 5})
    moved = abs(off) > status.STEP_TOLERANCE_S
    assert _row(tmp_path)["last_row_written_at"] == (
        now - timedelta(seconds=60) if moved else WRITE).isoformat()


@pytest.mark.parametrize(("step", "moved"), [(timedelta(hours=-1), True),
                                             (timedelta(seconds=-3), True),
                                             (timedelta(seconds=-2), False)])
def test_a_restart_after_a_step_back_reads_no_write_in_the_future(
        tmp_path: Path, clocks: _Clocks, step: timedelta, moved: bool) -> None:
    """The clock stepped back while the sink was stopped: the saved stamp, ahead of the
    clock now, is taken as now (no steady clock reaches back to it), so a restarted sink
    that writes nothing while messages wait is unhealthy 121 s on, not an hour on."""
    _written(tmp_path).close()
    start = clocks.after(30, step - timedelta(seconds=30))  # the clock: WRITE + step
    w = SinkWriter(tmp_path, "transactions.scored", ExportSettings())
    w.heartbeat({"lag_messages": 5})
    assert _row(tmp_path)["last_row_written_at"] == (start if moved else WRITE).isoformat()
    now = clocks.after(30 + 121, step - timedelta(seconds=30))
    w.heartbeat({"lag_messages": 5})
    verdict = check(tmp_path, now)
    assert verdict.healthy is not moved, verdict.line()


@pytest.mark.parametrize("saved", ["", "not a time", "9999-12-31T23:59:59-05:00"])
def test_a_saved_stamp_that_is_no_time_is_left_to_its_readers(saved: str) -> None:
    """A hand-edited checkpoint's stamp is passed on as before (status.csv's readers name
    it), never a traceback in the sink's heartbeat."""
    assert status.LastWrite(saved).at(WRITE) == saved


def test_a_write_never_made_is_no_stamp() -> None:
    assert status.LastWrite().at(WRITE) == ""


@pytest.fixture
def kolkata(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The sink's host in a zone ahead of UTC (UTC+05:30): the stamps are UTC all the
    same; a local reading of them would be hours off."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(("saved", "ahead"), [
    ("2026-12-06T12:00:03", True),  # naive: UTC, 3 s ahead of the clock
    ("2026-12-06T12:00:02", False),  # at the tolerance
    ("2026-12-06T12:00:00+00:00", False),  # UTC, as the clock
    ("2026-12-06T17:30:03+05:30", True),  # 12:00:03 UTC
    ("2026-12-06T12:00:03+05:30", False),  # 06:30:03 UTC
])
def test_a_saved_stamp_is_read_as_utc_whatever_the_hosts_zone(
        kolkata: None, clocks: _Clocks, saved: str, ahead: bool) -> None:
    """`now` is naive UTC, as every stamp: one ahead (the clock stepped back while the sink
    was stopped) is taken as now, one not ahead is passed on as it is."""
    assert time.localtime(0).tm_gmtoff == 5 * 3600 + 1800
    assert status.LastWrite(saved).at(WRITE) == (WRITE.isoformat() if ahead else saved)
