"""The duplicate check's event minutes by batch (`event_minutes`) are `event_minute`'s."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from detector.dedupe import _I32, event_minute, event_minutes

ZONES = st.sampled_from([None, UTC, timezone(timedelta(hours=5, minutes=45)),
                         timezone(-timedelta(hours=14))])
stamps = st.datetimes(timezones=ZONES) | st.sampled_from(
    [datetime.min, datetime.max, datetime(1970, 1, 1), datetime(1969, 12, 31, 23, 59, 59, 999999),
     datetime(1970, 1, 1, 0, 0, 59, 999999)])


@settings(max_examples=300, deadline=None)
@given(st.lists(stamps, max_size=12))
def test_event_minutes_are_event_minute_of_each(times: list[datetime]) -> None:
    txs = [SimpleNamespace(timestamp=t) for t in times]
    assert event_minutes(txs) == [event_minute(t) for t in txs]


def test_event_minutes_clamp_at_the_32_bit_bounds_and_one_either_side() -> None:
    high = datetime(1970, 1, 1) + timedelta(minutes=_I32[1])
    times = [high - timedelta(minutes=1), high, high + timedelta(minutes=1), datetime.max]
    txs = [SimpleNamespace(timestamp=t) for t in times]
    assert event_minutes(txs) == [_I32[1] - 1, _I32[1], _I32[1], _I32[1]]
    assert event_minutes(txs) == [event_minute(t) for t in txs]
