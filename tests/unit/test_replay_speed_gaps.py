"""`replay --speed` over a gap in event time no one means to wait out (hostile probe of
time, 2026-12-06, sixteenth).

`--speed X` sends each row X times faster than event time, from the first row. The schema
takes any time from 1970 to 2100, and replay sorts a file that is not in time order: one row
with a mistyped year (1970 for 2025) came first and made the next row due 55 years / 60 =
0.9 years later, so `replay --speed 60` sent one row and then nothing, without a word, for
most of a year; a row dated 2100 held the file's end as long. A row due over
`MAX_WAIT_S` (an hour) after the one before it is sent at once and the pacing goes on from
it; a warning names the gap.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest

from producer import pacing
from producer.pacing import Pacer

T0 = datetime(2025, 1, 1)


def test_a_stray_row_dated_1970_first_does_not_hold_the_replay(
        caplog: pytest.LogCaptureFixture) -> None:
    pacer = Pacer(speed=60)
    assert pacer.delay(0, datetime(1970, 1, 1), now=0.0) == 0.0
    with caplog.at_level(logging.WARNING, logger="producer.pacing"):
        assert pacer.delay(1, T0, now=0.5) == 0.0
    assert "1970-01-01 00:00:00 to 2025-01-01 00:00:00" in caplog.text
    # the pace goes on from the row after the gap: one hour of data a minute
    assert pacer.delay(2, T0 + timedelta(hours=1), now=0.5) == pytest.approx(60.0)


def test_a_stray_row_dated_2100_last_is_sent_at_once() -> None:
    pacer = Pacer(speed=60)
    assert pacer.delay(0, T0, now=0.0) == 0.0
    assert pacer.delay(1, T0 + timedelta(minutes=30), now=0.0) == pytest.approx(30.0)
    assert pacer.delay(2, datetime(2100, 12, 31), now=30.0) == 0.0


@pytest.mark.parametrize(("over", "waited"), [(-1, True), (0, True), (1, False)])
def test_the_bound_is_an_hour_of_wall_time(over: int, waited: bool) -> None:
    """A gap waited up to `MAX_WAIT_S` inclusive, skipped one second over it."""
    speed = 60
    gap = timedelta(seconds=(pacing.MAX_WAIT_S + over) * speed)
    pacer = Pacer(speed=speed)
    assert pacer.delay(0, T0, now=0.0) == 0.0
    wait = pacer.delay(1, T0 + gap, now=0.0)
    assert wait == (pytest.approx(pacing.MAX_WAIT_S + over) if waited else 0.0)


def test_a_gap_met_late_is_judged_from_the_time_it_is_met() -> None:
    """A row met late (the sender was busy) waits what is left of its gap, and only a wait
    left over the bound is cut: slow sending is never a gap."""
    pacer = Pacer(speed=60)
    assert pacer.delay(0, T0, now=0.0) == 0.0
    due = T0 + timedelta(hours=61)  # 3,660 s of wall time after the first row
    assert pacer.delay(1, due, now=100.0) == pytest.approx(3560.0)


def test_the_warning_names_the_gap_the_wait_left_and_the_bound(
        caplog: pytest.LogCaptureFixture) -> None:
    """The wait named is what was left when the row was met (100 s after the first)."""
    pacer = Pacer(speed=60)
    pacer.delay(0, datetime(1970, 1, 1), now=0.0)
    with caplog.at_level(logging.WARNING, logger="producer.pacing"):
        assert pacer.delay(1, T0, now=100.0) == 0.0
    wait = (T0 - datetime(1970, 1, 1)).total_seconds() / 60 - 100  # 28,928,060 s
    assert caplog.messages == [
        f"event time jumps from 1970-01-01 00:00:00 to 2025-01-01 00:00:00: {wait:.0f} s to "
        "wait at --speed 60, over 3600 s; sent at once, the pacing going on from it"]
