"""status.csv's heartbeat read by a reader whose clock is not the sink's, or in a form the
sink does not write (probe of 2026-12-06): a heartbeat more than `STALE_S` ahead of the
reader's clock vouches for nothing (a sink killed on a host an hour ahead showed its last
lag as current for that hour), a heartbeat with a zone is a time like any other (it was a
TypeError traceback in the health check and report.html), and a `minutes_behind` that is
no finite number is a damaged file (an OverflowError traceback)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from dashboard.report import read_status
from shared.columns import STATUS_COLUMNS
from shared.errors import UsageError
from shared.freshness import STALE_S, describe
from sink import health as sink_health
from sink.status import STATUS_FILE

BEAT = datetime(2026, 12, 6, 5, 0, 0)
ROW = {"data_as_of": "2026-12-06T04:50:00", "heartbeat_at": BEAT.isoformat(),
       "minutes_behind": "3", "stopped_at": "", "lag_messages": "0",
       "last_row_written_at": "2026-12-06T04:59:30"}


def _status(folder: Path, **cells: str) -> None:
    row = ROW | cells
    (folder / STATUS_FILE).write_text(
        ",".join(STATUS_COLUMNS) + "\n" + ",".join(row.get(c, "") for c in STATUS_COLUMNS)
        + "\n", "utf-8")


@pytest.mark.parametrize("ahead", [0, 1, STALE_S])
def test_a_heartbeat_up_to_the_staleness_ahead_keeps_its_lag(tmp_path: Path, ahead: int
                                                              ) -> None:
    now = BEAT - timedelta(seconds=ahead)
    assert describe(ROW, now) == "data as of 2026-12-06 04:50, 3 minutes behind the stream"
    _status(tmp_path)
    assert sink_health.check(tmp_path, now) == (True, "caught up (0 messages waiting)")


@pytest.mark.parametrize("ahead", [STALE_S + 1, 3600])
def test_a_heartbeat_further_ahead_vouches_for_nothing(tmp_path: Path, ahead: int) -> None:
    now = BEAT - timedelta(seconds=ahead)
    assert describe(ROW, now) == ("data as of 2026-12-06 04:50, heartbeat 2026-12-06 05:00 "
                                  "ahead of the reader's clock, lag unknown")
    _status(tmp_path)
    assert sink_health.check(tmp_path, now) == (
        False, f"heartbeat 2026-12-06T05:00:00 is {ahead} s ahead of this clock (bound "
               "120 s): the clocks disagree, so its age is unknown; 0 messages were waiting "
               "then")


@pytest.mark.parametrize(("beat", "age"), [
    ("2026-12-06T05:00:00+00:00", STALE_S), ("2026-12-06T05:00:00Z", STALE_S),
    ("2026-12-06T07:00:00+02:00", STALE_S), ("2026-12-06T00:00:00-05:00", STALE_S),
    ("2026-12-06T05:00:00.999+00:00", STALE_S)])
def test_a_heartbeat_with_a_zone_is_read_as_its_utc_time(tmp_path: Path, beat: str,
                                                         age: int) -> None:
    _status(tmp_path, heartbeat_at=beat)
    fresh, stale = BEAT + timedelta(seconds=age), BEAT + timedelta(seconds=age + 1)
    assert describe(ROW | {"heartbeat_at": beat}, fresh).endswith(", 3 minutes behind the "
                                                                  "stream")
    assert describe(ROW | {"heartbeat_at": beat}, stale).endswith(
        ", sink not heard from since 2026-12-06 05:00")
    assert read_status(tmp_path, fresh)["freshness"].endswith("3 minutes behind the stream")
    assert sink_health.check(tmp_path, fresh).healthy
    assert not sink_health.check(tmp_path, stale).healthy


@pytest.mark.parametrize("behind", ["inf", "-inf", "1e400", "nan", "three"])
def test_a_minutes_behind_that_is_no_number_is_a_damaged_file(tmp_path: Path, behind: str
                                                               ) -> None:
    _status(tmp_path, minutes_behind=behind)
    with pytest.raises(UsageError, match=r"^cannot read .*status\.csv: a time or count"):
        read_status(tmp_path, BEAT)


@pytest.mark.parametrize(("column", "value"), [
    ("heartbeat_at", "9999-12-31T23:00:00-05:00"), ("heartbeat_at", "0001-01-01T00:00:00+05:00"),
    ("data_as_of", "9999-12-31T23:00:00-05:00"), ("stopped_at", "0001-01-01T00:00:00+01:00")])
def test_a_time_whose_utc_is_off_the_calendar_is_a_damaged_file(
        tmp_path: Path, column: str, value: str) -> None:
    """Converted to UTC, year 9999 late in the day west of Greenwich (or year 1 east of
    it) is past the calendar: an OverflowError traceback, not a damaged file."""
    _status(tmp_path, **{column: value})
    with pytest.raises(UsageError, match=r"^cannot read .*status\.csv: a time or count"):
        read_status(tmp_path, BEAT)
    if column != "data_as_of":  # the health check reads no data_as_of
        verdict = sink_health.check(tmp_path, BEAT)
        assert not verdict.healthy, verdict
        assert "does not read as the sink writes it" in verdict.reason, verdict
