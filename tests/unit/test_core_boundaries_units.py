"""The detection core's pieces called directly at their edges (found by mutation testing,
docs/mutation.md): reason wording, the minimum history, the night window across midnight,
the travel rule's shares, state bounds, fit points, reason order, snapshot fields."""

from __future__ import annotations

import math
import pickle
import zlib
from datetime import datetime, timedelta

import numpy as np
import pytest

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.features import Observation, event_seconds, observe
from detector.core.geo import CENTROIDS, distance_km
from detector.core.knobs import Knobs
from detector.core.model import FeatureSample, fit, is_fit_point, next_fit_point
from detector.core.reasons import top_reasons
from detector.core.rules import (
    RULES,
    apply_rules,
    duration,
    high_amount,
    impossible_travel,
    needed_seconds,
    new_country,
    odd_hour,
    ordinal,
    quoted,
)
from detector.core.state import CustomerState, Population, bump
from detector.core.surprise import TERMS
from detector.core.table import CustomerTable
from shared.schemas import Transaction

CONFIG = CoreConfig()
KNOBS = Knobs(CONFIG)
T0 = datetime(2025, 3, 3, 12, 0)


def _tx(at: datetime = T0, amount: float = 50.0, country: str = "CH",
        category: str = "grocery", channel: str = "app", device: str = "mobile",
        i: int = 1, customer: str = "c1") -> Transaction:
    return Transaction(transaction_id=str(i), customer_id=customer, timestamp=at,
                       amount=amount, country=country, channel=channel, device=device,
                       merchant_category=category)


def _obs(**values: float | int | str | None) -> Observation:
    """An observation of an established home customer with nothing unusual."""
    o = Observation()
    defaults: dict[str, object] = {
        "history": 30, "category": "grocery", "country": "CH", "prev_country": "CH",
        "country_seen": 30, "country_recent": 0.0, "hop_rate": 0.0, "novel_rate": 0.0,
        "amount_z": 0.0,
        "amount_ratio": 1.0, "over_max": 0.0, "hour": 12, "night_total": 30,
        "night_count": 0, "night_share": 0.0, "dup_age_s": None, "burst_count": 1,
        "burst_span_s": 0.0, "travel_km": 0.0, "travel_dt_s": 3600.0,
    }
    for name, value in {**defaults, **values}.items():
        setattr(o, name, value)
    return o


# --- reason wording ---------------------------------------------------------------------------

@pytest.mark.parametrize(("n", "text"), [
    (1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (9, "9th"), (10, "10th"), (11, "11th"),
    (12, "12th"), (13, "13th"), (20, "20th"), (21, "21st"), (22, "22nd"), (23, "23rd"),
    (101, "101st"), (110, "110th"), (111, "111th"), (112, "112th"), (113, "113th"),
    (120, "120th"), (121, "121st"), (1011, "1011th"), (1002, "1002nd"),
])
def test_ordinals_as_written_in_english(n: int, text: str) -> None:
    assert ordinal(n) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (0.4, "0 s"), (119.0, "119 s"), (120.0, "2 min"), (5399.0, "90 min"), (5400.0, "2 h"),
    (2 * 86400 - 1, "48 h"), (2 * 86400, "2 days"), (10 * 86400, "10 days"),
])
def test_durations_switch_unit_exactly_at_each_edge(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_quoted_cuts_a_value_only_beyond_40_characters() -> None:
    assert quoted("x" * 40) == "x" * 40
    assert quoted("x" * 41) == "x" * 40 + "…"


def test_every_rule_reason_in_words() -> None:
    cfg = CONFIG
    assert high_amount(_obs(amount_ratio=18.2, over_max=math.log(3.0)), Knobs(cfg)) == (
        "amount 18x this customer's usual for grocery")
    assert high_amount(_obs(history=0, amount_ratio=9.6, amount_z=7.0), Knobs(cfg)) == (
        "amount 10x the usual amount (new customer)")
    assert odd_hour(_obs(hour=3, night_total=30, night_count=0, night_share=0.03), Knobs(cfg)) == (
        "03 h purchase; 0 of 30 earlier ones at night")
    fired = apply_rules(_obs(dup_age_s=300.0, burst_count=4, burst_span_s=0.2), Knobs(cfg))
    assert fired == {
        "duplicate": "same amount, category and channel as a purchase 5 min earlier",
        "burst": "4th purchase in 1 s",  # a span under a second reads as 1 s
    }
    assert list(apply_rules(_obs(dup_age_s=1.0, burst_count=5, burst_span_s=90.0,
                                 country="NL", country_seen=0), Knobs(cfg))) == [
        "duplicate", "burst", "new_country"]  # RULES order, whatever fires
    assert new_country(_obs(country="NL", country_seen=0, history=12), Knobs(cfg)) == (
        "NL never seen for this customer (12 earlier purchases)")
    o = _obs(country="CN", prev_country="CH", country_seen=0, travel_km=8000.0,
             travel_dt_s=2100.0)
    assert impossible_travel(o, Knobs(cfg)) == "CN 35 min after a purchase in CH"
    assert list(RULES) == ["high_amount", "odd_hour", "duplicate", "burst",
                           "impossible_travel", "new_country"]


# --- rules at their thresholds ------------------------------------------------------------------

@pytest.mark.parametrize(("history", "established"), [(4, False), (5, True), (6, True)])
def test_high_amount_judges_exactly_min_history_customers_by_their_own_amounts(
        history: int, established: bool) -> None:
    """Below `min_history` only the population z counts; from it, the largest amount."""
    own = _obs(history=history, amount_ratio=20.0, over_max=math.log(3.0), amount_z=1.0)
    population = _obs(history=history, amount_ratio=20.0, over_max=0.0, amount_z=9.0)
    assert (high_amount(own, KNOBS) is not None) is established
    assert (high_amount(population, KNOBS) is not None) is (not established)


@pytest.mark.parametrize(("z", "fires"), [(5.999, False), (6.0, True), (6.001, True)])
def test_high_amount_for_a_new_customer_exactly_at_the_population_z(z: float,
                                                                    fires: bool) -> None:
    o = _obs(history=0, amount_ratio=10.0, amount_z=z)
    assert (high_amount(o, KNOBS) is not None) is fires
    # ... and never below the ratio, however far the z.
    assert high_amount(_obs(history=0, amount_ratio=4.99, amount_z=50.0), KNOBS) is None


@pytest.mark.parametrize(("share", "fires"), [(0.039, True), (0.04, True), (0.041, False)])
def test_odd_hour_exactly_at_the_night_share(share: float, fires: bool) -> None:
    assert (odd_hour(_obs(hour=2, night_share=share), KNOBS) is not None) is fires


@pytest.mark.parametrize(("hour", "night"), [
    (20, False), (21, False), (22, True), (23, True), (0, True), (4, True), (5, False),
    (6, False), (12, False),
])
def test_a_night_window_across_midnight(hour: int, night: bool) -> None:
    cfg = CONFIG.model_copy(update={"night_start_hour": 22, "night_end_hour": 5})
    assert (odd_hour(_obs(hour=hour), Knobs(cfg)) is not None) is night


@pytest.mark.parametrize(("hour", "night"), [(0, False), (1, True), (4, True), (5, False)])
def test_a_night_window_not_starting_at_midnight(hour: int, night: bool) -> None:
    cfg = CONFIG.model_copy(update={"night_start_hour": 1, "night_end_hour": 5})
    assert (odd_hour(_obs(hour=hour), Knobs(cfg)) is not None) is night


@pytest.mark.parametrize(("rate", "fires"), [(0.149, True), (0.15, True), (0.151, False)])
def test_impossible_travel_exactly_at_the_hop_rate(rate: float, fires: bool) -> None:
    o = _obs(country="CN", country_seen=0, travel_km=8000.0, travel_dt_s=600.0, hop_rate=rate)
    assert (impossible_travel(o, KNOBS) is not None) is fires


@pytest.mark.parametrize(("seen", "fires"), [(5, True), (6, False), (7, False)])
def test_impossible_travel_exactly_at_the_familiar_share(seen: int, fires: bool) -> None:
    """6 of 40 earlier events is exactly 15%: a familiar destination passes."""
    o = _obs(history=40, country="CN", country_seen=seen, travel_km=8000.0, travel_dt_s=600.0)
    assert (impossible_travel(o, KNOBS) is not None) is fires


@pytest.mark.parametrize(("recent", "fires"), [(0.149, True), (0.15, False), (0.151, False)])
def test_impossible_travel_passes_a_destination_familiar_among_recent_events(
        recent: float, fires: bool) -> None:
    """A new home (15% of the last learnt and held events) is familiar, however rare it
    is in the long history; below the share it is not."""
    o = _obs(history=200, country="ZA", country_seen=3, country_recent=recent,
             travel_km=8000.0, travel_dt_s=600.0)
    assert (impossible_travel(o, KNOBS) is not None) is fires


def test_country_recent_counts_the_last_learnt_and_the_held_events() -> None:
    """Two of the last 8 learnt events and one held of 2 in ZA: 3 of 10."""
    st = _state([50.0] * 10, n=10)
    st.last_t, st.last_country = 1000.0, "DE"
    st.countries = {"DE": 10}
    za = ("ZA", "mobile", "1.2.3", "app", "grocery", 12, 3.9)
    de = ("DE", "mobile", "1.2.3", "app", "grocery", 12, 3.9)
    st.context = [de] * 6 + [za] * 2
    st.pending = [(9e9, za), (9e9, de)]
    o = observe(_tx(country="ZA"), 2000.0, st, Population(), KNOBS)
    assert o.country_recent == pytest.approx(3 / 10)
    assert o.country_seen == 1
    assert observe(_tx(country="FR"), 2000.0, st, Population(), KNOBS).country_recent == 0.0
    st.context, st.pending = [], []
    assert observe(_tx(country="ZA"), 2000.0, st, Population(), KNOBS).country_recent == 0.0


def test_impossible_travel_needs_a_real_distance_and_handles_no_history() -> None:
    assert impossible_travel(_obs(travel_km=0.0, travel_dt_s=0.0), KNOBS) is None
    assert impossible_travel(_obs(travel_km=-1.0, travel_dt_s=0.0), KNOBS) is None
    fresh = _obs(history=0, country="CN", country_seen=0, travel_km=8000.0, travel_dt_s=60.0)
    assert impossible_travel(fresh, KNOBS) is not None


def test_needed_seconds_grants_the_slack_and_never_goes_negative() -> None:
    cfg = CoreConfig(travel_slack_km=600.0, travel_speed_kmh=800.0)
    assert needed_seconds(_obs(travel_km=1400.0), Knobs(cfg)) == pytest.approx(3600.0)
    assert needed_seconds(_obs(travel_km=300.0), Knobs(cfg)) == 0.0


@pytest.mark.parametrize(("rate", "fires"), [(0.049, True), (0.05, True), (0.051, False)])
def test_new_country_exactly_at_the_customers_rate_of_new_countries(rate: float,
                                                                     fires: bool) -> None:
    o = _obs(country="NL", country_seen=0, novel_rate=rate)
    assert (new_country(o, KNOBS) is not None) is fires
    assert new_country(_obs(country="NL", country_seen=1, novel_rate=0.0), KNOBS) is None


# --- features ---------------------------------------------------------------------------------

def _state(amounts: list[float] | None = None, n: int = 0) -> CustomerState:
    st = CustomerState()
    st.amounts = [math.log1p(a) for a in (amounts or [])]
    st.n = n
    return st


def test_observe_uses_the_median_of_an_even_history_and_the_largest_amount() -> None:
    st = _state([10.0, 20.0, 40.0, 80.0, 160.0, 320.0], n=6)
    o = observe(_tx(amount=640.0), 0.0, st, Population(), KNOBS)
    med = 0.5 * (math.log1p(40.0) + math.log1p(80.0))
    assert o.amount_ratio == pytest.approx(math.exp(math.log1p(640.0) - med))
    assert o.over_max == pytest.approx(math.log1p(640.0) - math.log1p(320.0))
    assert o.history == 6 and o.amount == 640.0


@pytest.mark.parametrize(("k", "has_max"), [(4, False), (5, True)])
def test_the_largest_amount_counts_from_exactly_min_history_amounts(k: int,
                                                                    has_max: bool) -> None:
    st = _state([50.0] * k, n=k)
    o = observe(_tx(amount=500.0), 0.0, st, Population(), KNOBS)
    assert (o.over_max > 0) is has_max


def test_a_new_customer_is_measured_against_the_population() -> None:
    pop = Population()
    o = observe(_tx(amount=99.0), 0.0, CustomerState(), pop, KNOBS)
    assert o.over_max == 0.0 and o.history == 0
    assert o.amount_z == pytest.approx((math.log1p(99.0) - pop.amount_center) / pop.amount_scale)
    assert o.amount_ratio == pytest.approx(math.exp(math.log1p(99.0) - pop.amount_center))
    assert o.gap_s == math.inf and o.travel_km == 0.0
    assert o.hop_rate == pytest.approx(0.1) and o.novel_rate == pytest.approx(0.1)


def test_a_short_history_is_shrunk_towards_the_population_spread() -> None:
    """Fewer than 4 amounts: the population's spread stands in for the customer's."""
    pop = Population()
    st = _state([50.0, 50.0, 50.0], n=3)
    o = observe(_tx(amount=50.0), 0.0, st, pop, KNOBS)
    assert o.amount_scale == pytest.approx(pop.amount_scale)
    flat = _state([50.0] * 8, n=8)  # no spread of its own: floored, never 0
    assert observe(_tx(amount=50.0), 0.0, flat, pop, KNOBS).amount_scale >= 0.15


@pytest.mark.parametrize("late", [False, True])
def test_windows_count_the_absolute_time_to_each_recent_event(late: bool) -> None:
    st = _state([50.0] * 6, n=6)
    t = 10_000.0
    sign = -1.0 if late else 1.0
    w = CONFIG.burst_window_s
    # Recent events at exactly the burst window, inside it and outside it (before or after).
    st.recent = [(t - sign * w, 5.0, "fuel", "web"), (t - sign * 10.0, 7.0, "fuel", "web"),
                 (t - sign * (w + 1), 9.0, "fuel", "web"),
                 (t - sign * 600.0, 50.0, "grocery", "app")]
    st.last_t = t - sign * 10.0
    o = observe(_tx(amount=50.0), t, st, Population(), KNOBS)
    assert (o.burst_count, o.burst_span_s) == (3, w)
    assert o.dup_age_s == 600.0
    assert o.gap_s == 10.0


def test_the_nearest_twin_gives_the_duplicate_age() -> None:
    st = _state([50.0] * 6, n=6)
    t = 10_000.0
    st.recent = [(t - 800.0, 50.0, "grocery", "app"), (t - 120.0, 50.0, "grocery", "app"),
                 (t - 60.0, 50.0, "grocery", "web"), (t - 30.0, 50.0, "fuel", "app"),
                 (t - 20.0, 51.0, "grocery", "app"), (t - 900.0, 50.0, "grocery", "app")]
    assert observe(_tx(amount=50.0), t, st, Population(), KNOBS).dup_age_s == 120.0


def test_night_counts_and_the_recent_night_habit() -> None:
    st = _state([50.0] * 6, n=6)
    st.hours[0], st.hours[4], st.hours[5], st.hours[23], st.hours[12] = 2, 1, 7, 4, 10
    o = observe(_tx(at=T0.replace(hour=3)), 0.0, st, Population(), KNOBS)
    assert (o.hour, o.night_total, o.night_count) == (3, 24, 3)
    assert o.night_share == pytest.approx(4 / 26)
    # Three of the last four learnt events at night (04 h) outweigh the long habit.
    st.context = [("CH", "m", "n", "app", "grocery", h, 1.0) for h in (4, 12, 4, 4)]
    assert observe(_tx(at=T0.replace(hour=3)), 0.0, st, Population(), KNOBS).night_share \
        == pytest.approx(0.75)


def test_travel_is_measured_from_the_last_country_with_the_gap() -> None:
    st = _state([50.0] * 6, n=6)
    st.last_t, st.last_country = 1000.0, "CH"
    st.countries = {"CH": 6}
    st.hops, st.novel = 2, 1
    o = observe(_tx(country="CN"), 1000.0 + 1800.0, st, Population(), KNOBS)
    km = distance_km("CH", "CN", CONFIG.travel_unknown_km)
    assert (o.prev_country, o.travel_km, o.travel_dt_s) == ("CH", km, 1800.0)
    assert o.hop_rate == pytest.approx((2 + 0.3) / 9) and o.novel_rate == pytest.approx(1.3 / 9)
    assert o.country_seen == 0
    home = observe(_tx(country="CH"), 2800.0, st, Population(), KNOBS)
    assert (home.travel_km, home.travel_dt_s) == (0.0, 1800.0)
    assert home.country_seen == 6


def test_geo_distance_is_symmetric_case_blind_and_defaults_for_unknown_countries() -> None:
    assert distance_km("CH", "CH", 2500.0) == 0.0
    assert distance_km("ch", "FR", 2500.0) == distance_km("FR", "CH", 2500.0)
    assert 400 < distance_km("CH", "FR", 2500.0) < 500
    assert 7000 < distance_km("CH", "CN", 2500.0) < 8000
    assert distance_km("CH", "XX", 1234.0) == 1234.0 == distance_km("XX", "CH", 1234.0)
    assert all(-90 <= a <= 90 and -180 <= b <= 180 for a, b in CENTROIDS.values())


def test_event_seconds_counts_from_1970_naive() -> None:
    assert event_seconds(_tx(at=datetime(1970, 1, 2, 0, 0, 1))) == 86401.0


# --- state ------------------------------------------------------------------------------------

def test_bump_evicts_the_least_counted_oldest_key_when_full() -> None:
    table: dict[str, int] = {}
    for key in ("a", "b", "b", "c"):
        bump(table, key, 3)
    assert table == {"a": 1, "b": 2, "c": 1}
    bump(table, "d", 3)  # full: 'a' (1, oldest) goes
    assert table == {"b": 2, "c": 1, "d": 1}
    bump(table, "b", 3)
    assert table == {"b": 3, "c": 1, "d": 1}


def test_customer_table_is_lru_bounded_and_expires_exactly_after_the_ttl() -> None:
    cfg = CoreConfig(max_customers=2, customer_ttl_s=100.0)
    table = CustomerTable(cfg)
    a = table.get("a", 0.0)
    a.last_t = 0.0
    b = table.get("b", 0.0)
    b.last_t = 50.0
    assert table.get("a", 50.0) is a  # touched: 'b' is now the least recent
    table.get("c", 50.0).last_t = 50.0
    assert [k for k, _ in table.items()] == ["a", "c"] and table.evicted == 1
    a = table.get("a", 100.0)
    a.last_t = 100.0
    table.get("c", 150.0).last_t = 150.0  # idle exactly the ttl: kept
    assert [k for k, _ in table.items()] == ["a", "c"] and table.evicted == 1
    fresh = table.get("a", 200.5)  # 'a' idle 100.5 s: dropped, starts afresh
    assert fresh is not a and fresh.n == 0
    assert [k for k, _ in table.items()] == ["c", "a"] and table.evicted == 2


def test_population_shares_offsets_and_hours() -> None:
    pop = Population()
    assert pop.share("country", "CH") == pytest.approx(0.5)
    assert pop.category_offset("fuel") == 0.0
    for _ in range(4):
        pop.observe("CH", "fuel", "app", "mobile", 1.0, 16, ipnet="10.0.0")
    assert pop.total == 4
    assert pop.share("country", "CH") == pytest.approx(4.5 / 5)
    assert pop.share("country", "FR") == pytest.approx(0.5 / 5)
    assert pop.tables["ipnet"] == {"10.0.0": 4}
    for deviation in (1.0, 2.0, 9.0):  # 9 is clipped to 3
        pop.learn_offset("fuel", deviation, 16)
    assert pop.offsets["fuel"] == pytest.approx([3.0, 2.0])
    assert pop.category_offset("fuel") == pytest.approx(2.0 * 3 / 23)


def test_population_tables_stop_growing_at_max_keys() -> None:
    pop = Population()
    for i in range(20):
        pop.observe(f"C{i}", "fuel", "app", "mobile", 1.0, 16)
        pop.learn_offset(f"cat{i}", 1.0, 16)
    assert len(pop.tables["country"]) == 16 and pop.tables["country"]["C0"] == 1
    assert len(pop.offsets) == 16 and "cat16" not in pop.offsets
    pop.observe("C0", "fuel", "app", "mobile", 1.0, 16)
    assert pop.tables["country"]["C0"] == 2


def test_a_population_restored_without_its_count_of_singles_counts_them_from_its_table(
        ) -> None:
    """A snapshot older than `singles` restores a population without it: the unseen mass
    then counts the values seen exactly once from the table, the same as the live count."""
    live = Population()
    for country in ["CH"] * 5 + ["FR", "DE", "IT"] + ["ES"] * 2:
        live.observe(country, "fuel", "app", "m", 1.0, 64)
    old = Population()
    old.tables["country"], old.total = dict(live.tables["country"]), live.total
    assert "country" in live.singles and "country" not in old.singles
    # Good-Turing: (3 values seen once + 1) / (10 events + 1)
    assert old.unseen_mass("country") == live.unseen_mass("country") == (3 + 1) / (10 + 1)


def test_population_amount_level_is_the_median_and_robust_spread() -> None:
    pop = Population()
    values = [float(i % 8) for i in range(32)]
    for v in values:
        pop.observe("CH", "fuel", "app", "m", v, 16)
    ordered = sorted(values)
    assert pop.amount_center == ordered[16]
    assert pop.amount_scale == pytest.approx((ordered[24] - ordered[8]) / 1.349)


def test_a_snapshot_of_a_customer_restores_every_field_and_refuses_a_foreign_layout() -> None:
    st = CustomerState()
    st.n, st.last_country, st.hops = 7, "CH", 2
    copy = CustomerState.__new__(CustomerState)
    copy.__setstate__(st.__getstate__())
    assert copy.__getstate__() == st.__getstate__()
    with pytest.raises(ValueError):
        CustomerState.__new__(CustomerState).__setstate__(st.__getstate__()[:-1])
    pop = Population()
    pop.total = 5
    again = Population.__new__(Population)
    again.__setstate__(pop.__getstate__())
    assert again.__getstate__() == pop.__getstate__()
    with pytest.raises(ValueError):
        Population.__new__(Population).__setstate__(pop.__getstate__()[1:])


# --- model fit points and sample ------------------------------------------------------------

@pytest.mark.parametrize(("position", "fit", "next_fit"), [
    (0, False, 2000), (1999, False, 2000), (2000, True, 2000), (2001, False, 52_000),
    (51_999, False, 52_000), (52_000, True, 52_000), (52_001, False, 102_000),
])
def test_fit_points_at_first_fit_after_and_every_refit_after(position: int, fit: bool,
                                                             next_fit: int) -> None:
    assert is_fit_point(position, CONFIG) is fit
    assert next_fit_point(position, CONFIG) == next_fit


def test_the_sample_keeps_the_most_recent_rows_oldest_first() -> None:
    sample = FeatureSample(4, 2)
    assert sample.view().shape == (0, 2)
    for i in range(3):
        sample.add((float(i), -float(i)))
    np.testing.assert_array_equal(sample.view()[:, 0], [0, 1, 2])
    sample.extend([(float(i), 0.0) for i in range(3, 10)])  # more than the ring holds
    assert sample.count == 10
    np.testing.assert_array_equal(sample.view()[:, 0], [6, 7, 8, 9])
    sample.extend([(10.0, 0.0), (11.0, 0.0), (12.0, 0.0)])  # wraps round the end
    np.testing.assert_array_equal(sample.view()[:, 0], [9, 10, 11, 12])


# --- engine: reasons and flags -------------------------------------------------------------

def test_top_reasons_rules_first_then_terms_by_surprise_then_the_model() -> None:
    values = [0.0] * len(TERMS)
    reasons: dict[str, str] = {}
    for name, value in (("device", 7.5), ("channel", 2.0), ("hour", 4.0), ("rate", 9.0),
                        ("amount_low", 3.0)):
        values[TERMS.index(name)] = value
        reasons[name] = f"{name} odd"
    fired = {"odd_hour": "03 h purchase", "burst": "4th purchase in 1 s"}
    # 'hour' and 'rate' grade fired rules; 'channel' is at the floor, not above it.
    assert top_reasons(fired, values, reasons, "model says", 2.0) == [
        "03 h purchase", "4th purchase in 1 s", "device odd (surprise 7.5)"]
    assert top_reasons({}, values, reasons, "model says", 2.0) == [
        "rate odd (surprise 9.0)", "device odd (surprise 7.5)", "hour odd (surprise 4.0)"]
    assert top_reasons({}, values, {"amount_low": "low"}, "model says", 2.0) == [
        "low (surprise 3.0)", "model says"]
    assert top_reasons({"duplicate": "same"}, values, {}, None, 2.0) == ["same"]


def test_terms_of_equal_surprise_give_their_reasons_in_term_order() -> None:
    """Ties keep the order of TERMS, not of the reasons' wording (here reversed)."""
    values = [0.0] * len(TERMS)
    values[TERMS.index("amount_high")] = values[TERMS.index("country")] = 5.0
    reasons = {"amount_high": "amount far above usual", "country": "new country"}
    assert top_reasons({}, values, reasons, None, 2.0) == [
        "amount far above usual (surprise 5.0)", "new country (surprise 5.0)"]


def test_the_models_reason_comes_after_every_term_whatever_the_floor() -> None:
    """A floor below 1 (any floor >= 0 is valid) lets terms under 1 give reasons."""
    values = [0.0] * len(TERMS)
    values[TERMS.index("device")] = 0.7
    assert top_reasons({}, values, {"device": "device new"}, "model says", 0.5) == [
        "device new (surprise 0.7)", "model says"]


def test_an_engine_row_carries_its_flags_and_position() -> None:
    engine = PartitionEngine(CONFIG, partition=3)
    rows = [_tx(at=T0 + timedelta(days=i), amount=50.0 + i, i=i) for i in range(12)]
    rows.append(_tx(at=T0 + timedelta(days=12, hours=1), amount=5000.0, i=99))
    out = engine.process(rows)
    assert [r.source_offset for r in out] == list(range(13))
    assert {r.source_partition for r in out} == {3}
    assert engine.processed == 13 and engine.customers == 1
    last = out[-1]
    assert last.triggered_rules == ["high_amount"] and last.is_rule_flag and last.is_flag
    assert last.rule_flags == {name: name == "high_amount" for name in RULES}
    assert last.model_score is None and not last.is_ml_flag
    assert last.model_version == "rules-only" == engine.model_version
    assert last.reasons_top3[0] == "amount 89x this customer's usual for grocery"
    assert out[0].score is not None and last.score is not None
    assert 0 <= out[0].score < last.score <= 1
    quiet = out[5]
    assert quiet.triggered_rules == [] and not quiet.is_rule_flag and not quiet.is_flag
    assert PartitionEngine(CONFIG).process(rows)[-1].source_offset is None


def test_a_snapshot_of_another_format_is_refused_naming_its_format() -> None:
    old = zlib.compress(pickle.dumps({"format": 1, "customers": None}))
    with pytest.raises(ValueError, match=r"^unsupported snapshot format 1$"):
        PartitionEngine.restore(old, CONFIG)
    none = zlib.compress(pickle.dumps({"customers": None}))
    with pytest.raises(ValueError, match=r"^unsupported snapshot format None$"):
        PartitionEngine.restore(none, CONFIG)


def test_the_forest_has_the_configured_trees_and_rows_carry_its_verdict() -> None:
    cfg = CoreConfig(first_fit_after=64, sample_size=64, n_trees=9, max_samples=32,
                     ml_threshold=0.0, refit_delay=0)
    sample = FeatureSample(64, 3)
    for i in range(64):
        sample.add((float(i % 7), float(i % 5), 1.0))
    assert len(fit(sample, 1, cfg).forest.estimators_) == 9
    rows = [_tx(at=T0 + timedelta(hours=7 * i), amount=20.0 + (i * 37) % 90, i=i,
                customer=f"c{i % 5}") for i in range(70)]
    out = PartitionEngine(cfg).process(rows)
    fitted = out[64:]
    assert all(r.model_version == "if-v1" and r.model_score is not None for r in fitted)
    for r in fitted:
        assert r.model_score is not None and r.is_ml_flag and r.is_flag
        assert r.model_score == round(r.model_score, 6)  # six decimals, as exported
        assert "unusual combination of habits (model)" in r.reasons_top3
    assert all(r.model_score is None and not r.is_ml_flag for r in out[:64])


@pytest.mark.parametrize(("km", "fires"), [(0.0, False), (0.5, True), (1.0, True)])
def test_impossible_travel_counts_any_distance_without_slack(km: float, fires: bool) -> None:
    """With no slack and a walking speed, half a kilometre in a minute is too fast."""
    cfg = CONFIG.model_copy(update={"travel_slack_km": 0.0, "travel_speed_kmh": 1.0})
    o = _obs(country="FR", country_seen=0, travel_km=km, travel_dt_s=60.0)
    assert (impossible_travel(o, Knobs(cfg)) is not None) is fires


def test_scored_rows_are_complete_pydantic_objects_with_six_decimal_scores() -> None:
    rows = [_tx(at=T0 + timedelta(hours=5 * i), amount=20.0 + (i * 37) % 90, i=i)
            for i in range(30)]
    out = PartitionEngine(CONFIG).process(rows)
    for row in out:
        assert row.score is not None and row.score == round(row.score, 6)
        assert row.model_fields_set == set(type(row).model_fields)
        assert row.model_dump(exclude_unset=True) == row.model_dump()
        assert row == type(row).model_validate(row.model_dump())


@pytest.mark.parametrize(("weight", "valid"), [(0.0, False), (1e-9, True), (1.0, True)])
def test_the_population_prior_needs_some_weight(weight: float, valid: bool) -> None:
    """`prior_weight` 0 divided by zero on a customer's first purchase (ZeroDivisionError in
    `observe`): it is refused as a setting instead; any positive weight scores."""
    if not valid:
        with pytest.raises(ValueError, match="prior_weight"):
            CoreConfig(prior_weight=weight)
        return
    rows = [_tx(at=T0 + timedelta(days=i), amount=50.0 + i, i=i) for i in range(8)]
    out = PartitionEngine(CoreConfig(prior_weight=weight)).process(rows)
    assert len(out) == 8 and all(r.score is not None and 0.0 <= r.score <= 1.0 for r in out)
