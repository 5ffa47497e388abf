"""Every rule at its threshold and one unit either side; late events; zoned timestamps."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.features import Observation
from detector.core.geo import distance_km
from detector.core.knobs import Knobs
from detector.core.rules import high_amount, impossible_travel
from tests.unit.test_core_rules import CONFIG, after, fired, habits, last_verdict, tx


@pytest.mark.parametrize(("delta", "fires"), [(-1, True), (0, True), (1, False)])
def test_burst_counts_a_purchase_exactly_burst_window_s_earlier(delta: int, fires: bool) -> None:
    rows = habits()
    w = CONFIG.burst_window_s
    offsets = (0.0, 10.0, 20.0, w + delta)  # the 4th is `w + delta` after the 1st
    quick = [tx(90 + k, after(rows, hours=2, seconds=s), amount=5.0 + k)
             for k, s in enumerate(offsets)]
    assert ("burst" in fired(last_verdict([*rows, *quick]))) is fires


@pytest.mark.parametrize(("count", "fires"), [(3, False), (4, True), (5, True)])
def test_burst_fires_from_exactly_burst_min_count(count: int, fires: bool) -> None:
    rows = habits()
    quick = [tx(90 + k, after(rows, hours=2, seconds=20 * k), amount=5.0 + k)
             for k in range(count)]
    assert ("burst" in fired(last_verdict([*rows, *quick]))) is fires


@pytest.mark.parametrize(("delta", "fires"), [(-1, True), (0, True), (1, False)])
def test_duplicate_exactly_duplicate_window_s_later(delta: int, fires: bool) -> None:
    rows = habits()
    w = CONFIG.duplicate_window_s
    first = tx(98, after(rows, hours=3), amount=77.7, category="fashion")
    twin = tx(99, after(rows, hours=3, seconds=w + delta), amount=77.7, category="fashion")
    assert ("duplicate" in fired(last_verdict([*rows, first, twin]))) is fires


@pytest.mark.parametrize(("at", "fires"), [
    ((23, 59, 59), False), ((0, 0, 0), True), ((4, 59, 59), True), ((5, 0, 0), False),
])
def test_night_window_edges(at: tuple[int, int, int], fires: bool) -> None:
    rows = habits()
    h, m, s = at
    when = (rows[-1].timestamp + timedelta(days=1)).replace(hour=h, minute=m, second=s)
    assert ("odd_hour" in fired(last_verdict([*rows, tx(99, when)]))) is fires


@pytest.mark.parametrize(("n", "fires"), [(22, False), (23, True), (24, True)])
def test_odd_hour_at_the_smoothed_night_share_threshold(n: int, fires: bool) -> None:
    """(0 night + 1) / (n + 2) <= 4% first holds at n = 23 earlier purchases."""
    rows = habits(n=n)
    night = rows[-1].timestamp.replace(hour=3) + timedelta(days=1)
    assert ("odd_hour" in fired(last_verdict([*rows, tx(99, night)]))) is fires


@pytest.mark.parametrize(("n", "fires"), [(14, False), (15, True), (16, True)])
def test_odd_hour_needs_exactly_min_history(n: int, fires: bool) -> None:
    config = CONFIG.model_copy(update={"odd_hour_max_share": 1.0})
    rows = habits(n=n)
    night = rows[-1].timestamp.replace(hour=3) + timedelta(days=1)
    assert ("odd_hour" in fired(last_verdict([*rows, tx(99, night)], config))) is fires


@pytest.mark.parametrize(("n", "fires"), [(9, False), (10, True), (11, True)])
def test_new_country_needs_exactly_min_history(n: int, fires: bool) -> None:
    rows = habits(n=n)
    row = last_verdict([*rows, tx(99, after(rows, days=1), country="NL")])
    assert ("new_country" in fired(row)) is fires


@pytest.mark.parametrize(("delta", "fires"), [(-60, True), (-1, True), (0, False), (60, False)])
def test_impossible_travel_at_the_needed_flight_time(delta: int, fires: bool) -> None:
    rows = habits()
    km = distance_km("CH", "CN", CONFIG.travel_unknown_km)
    needed = (km - CONFIG.travel_slack_km) / CONFIG.travel_speed_kmh * 3600.0
    row = last_verdict([*rows, tx(99, after(rows, seconds=needed + delta), country="CN")])
    assert ("impossible_travel" in fired(row)) is fires


def test_high_amount_needs_both_ratios() -> None:
    rows = habits()  # amounts 40-62, median ~50, largest 61
    big = last_verdict([*rows, tx(99, after(rows, days=1), amount=600.0)])
    merely = last_verdict([*rows, tx(99, after(rows, days=1), amount=110.0)])
    assert "high_amount" in fired(big)
    assert "high_amount" not in fired(merely)


def test_a_late_event_is_judged_by_its_absolute_gap_and_never_moves_the_clock() -> None:
    rows = habits()
    end = after(rows, hours=5)
    first = tx(98, end, amount=77.7, category="fashion")
    late = tx(99, end - timedelta(minutes=5), amount=77.7, category="fashion")
    engine = PartitionEngine(CONFIG)
    out = engine.process([*rows, first, late])
    assert "duplicate" in fired(out[-1])  # 5 minutes away, before or after
    state = dict(engine._state()[0].items())["c1"]
    assert state.last_t == (end - datetime(1970, 1, 1)).total_seconds()
    # A later event in another far country is measured from the real last event.
    hop = tx(100, end + timedelta(minutes=40), country="CN")
    assert "impossible_travel" in fired(engine.process([hop])[0])


def test_a_late_event_scores_the_same_in_any_batch_cut() -> None:
    rows = habits()
    end = after(rows, hours=5)
    tail = [tx(98, end, 80.0), tx(99, end - timedelta(hours=2), 81.0),
            tx(100, end + timedelta(minutes=1), 82.0)]
    whole = PartitionEngine(CONFIG).process([*rows, *tail])
    cut = PartitionEngine(CONFIG)
    parts = cut.process([*rows, tail[0]]) + cut.process(tail[1:])
    assert [r.model_dump() for r in parts] == [r.model_dump() for r in whole]


@pytest.mark.parametrize(("local", "zone_h", "utc_hour", "night"), [
    ((3, 30), 5, 22, False),   # 03:30+05:00 is 22:30 UTC: evening, not night
    ((5, 30), 5, 0, True),     # 05:30+05:00 is 00:30 UTC: night
    ((23, 30), -3, 2, True),   # 23:30-03:00 is 02:30 UTC the next day
])
def test_zoned_timestamps_are_judged_in_utc(local: tuple[int, int], zone_h: int,
                                            utc_hour: int, night: bool) -> None:
    rows = habits()
    day = (rows[-1].timestamp + timedelta(days=2)).date()
    zone = timezone(timedelta(hours=zone_h))
    at = datetime(day.year, day.month, day.day, *local, tzinfo=zone)
    row = last_verdict([*rows, tx(99, at)])
    assert row.timestamp.tzinfo is None
    assert row.timestamp == at.astimezone(UTC).replace(tzinfo=None)
    assert row.timestamp.hour == utc_hour
    assert ("odd_hour" in fired(row)) is night


def test_rules_are_unmoved_by_surprise_knobs() -> None:
    """The rules are thresholds of their own: changing how surprises add up changes no
    rule column."""
    rows = habits()
    probe = [*rows, tx(98, after(rows, minutes=35), country="CN"),
             tx(99, after(rows, days=1, hours=-20), amount=900.0)]
    other = CoreConfig(surprise_floor=0.5, score_half=3.0, rule_surprise=0.0)
    a = PartitionEngine(CONFIG).process(probe)
    b = PartitionEngine(other).process(probe)
    assert [r.rule_flags for r in a] == [r.rule_flags for r in b]
    assert [r.score for r in a] != [r.score for r in b]


def _observation(**values: float | int | str) -> Observation:
    o = Observation()
    for name, value in {"history": 30, "category": "grocery", "country": "CN",
                        "prev_country": "CH", "country_seen": 0, "country_recent": 0.0,
                        "hop_rate": 0.0, "amount_z": 0.0, **values}.items():
        setattr(o, name, value)
    return o


@pytest.mark.parametrize(("ratio", "fires"), [(4.999, False), (5.0, True), (5.001, True)])
def test_high_amount_exactly_at_the_ratio(ratio: float, fires: bool) -> None:
    o = _observation(amount_ratio=ratio, over_max=math.log(3.0))
    assert (high_amount(o, Knobs(CONFIG)) is not None) is fires


@pytest.mark.parametrize(("over", "fires"), [(1.999, False), (2.0, True), (2.001, True)])
def test_high_amount_exactly_at_twice_the_largest(over: float, fires: bool) -> None:
    o = _observation(amount_ratio=20.0, over_max=math.log(over))
    assert (high_amount(o, Knobs(CONFIG)) is not None) is fires


@pytest.mark.parametrize(("dt", "fires"), [(3599.0, True), (3600.0, False), (3601.0, False)])
def test_impossible_travel_exactly_at_the_flight_time(dt: float, fires: bool) -> None:
    """With no slack and a speed of `km` per hour the flight takes exactly 3,600 s."""
    km = 1234.5
    config = CONFIG.model_copy(update={"travel_slack_km": 0.0, "travel_speed_kmh": km})
    o = _observation(travel_km=km, travel_dt_s=dt)
    assert (impossible_travel(o, Knobs(config)) is not None) is fires


def test_a_late_event_hours_earlier_is_no_duplicate_or_burst() -> None:
    """Windows use the absolute time between events: a purchase two hours before the
    last one (arriving late) is not within minutes of it."""
    rows = habits()
    end = after(rows, hours=5)
    first = tx(98, end, amount=77.7, category="fashion")
    late = tx(99, end - timedelta(hours=2), amount=77.7, category="fashion")
    quick = [tx(100 + k, end + timedelta(seconds=10 * k), amount=5.0 + k) for k in range(2)]
    out = PartitionEngine(CONFIG).process([*rows, first, late])
    assert "duplicate" not in fired(out[-1])
    early = [tx(110 + k, end - timedelta(hours=3, seconds=10 * k), amount=9.0 + k)
             for k in range(3)]
    out = PartitionEngine(CONFIG).process([*rows, first, *quick, *early])
    assert "burst" not in fired(out[-1])
