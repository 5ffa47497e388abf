"""Properties of the surprise terms and of learning (not their constants, which are tuned
elsewhere): tails are probabilities, monotone and capped; the combined surprise counts only
the excess over the floor; a suspicious event is held exactly `quarantine_s`; the habits
stay bounded. Found by mutation testing (docs/mutation.md)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hyp

from detector.core.config import CoreConfig
from detector.core.features import event_seconds, ipnet, observe
from detector.core.habits import learn, release
from detector.core.knobs import Knobs
from detector.core.state import CustomerState, Population
from detector.core.surprise import (
    TERMS,
    Recalibration,
    categorical,
    combine,
    hour_tail,
    poisson_tail,
    tail_pdf,
    tail_sf,
    terms,
    to_score,
)
from shared.schemas import Transaction

CONFIG = CoreConfig()
KNOBS = Knobs(CONFIG)
T0 = datetime(2025, 3, 3, 12, 0)


def _tx(at: datetime, amount: float = 50.0, device: str = "mobile", country: str = "CH",
        ip: str = "10.1.2.3") -> Transaction:
    return Transaction(transaction_id="t", customer_id="c", timestamp=at, amount=amount,
                       country=country, channel="app", device=device,
                       merchant_category="grocery", ip=ip)


# --- tails --------------------------------------------------------------------------------

def test_tail_sf_is_a_decreasing_symmetric_survival_function() -> None:
    zs = [-30.0, -3.0, -1.0, -0.1, 0.0, 0.1, 1.0, 3.0, 30.0]
    values = [tail_sf(z) for z in zs]
    assert values == sorted(values, reverse=True)
    assert all(0.0 < v <= 1.0 for v in values) and 0.0 < values[4] < 1.0
    for z in zs:
        assert tail_sf(z) + tail_sf(-z) == pytest.approx(1.0)
    assert tail_sf(30.0) < 1e-15  # exponential tail, computed without overflow
    assert tail_sf(-800.0) == pytest.approx(1.0) and tail_sf(800.0) >= 0.0


def test_tail_pdf_is_the_density_of_tail_sf() -> None:
    for z in (-2.0, -0.5, 0.0, 0.7, 2.5):
        h = 1e-5
        slope = (tail_sf(z - h) - tail_sf(z + h)) / (2 * h)
        assert tail_pdf(z) == pytest.approx(slope, rel=1e-4)
        assert tail_pdf(z) == pytest.approx(tail_pdf(-z))


@pytest.mark.parametrize("mu", [0.05, 0.7, 3.0, 12.0])
def test_poisson_tail_matches_the_exact_sum_and_is_monotone(mu: float) -> None:
    previous = 1.0
    for k in range(0, 40):
        exact = math.fsum(math.exp(-mu + i * math.log(mu) - math.lgamma(i + 1))
                          for i in range(k, k + 200))
        value = poisson_tail(k, mu)
        assert value == pytest.approx(max(exact, 1e-300), rel=1e-6, abs=1e-300)
        assert value <= previous
        previous = value
    assert poisson_tail(3, 2.0) < poisson_tail(3, 2.5)  # more expected, likelier


@pytest.mark.parametrize("k", [0, 1, 20, 45, 70])
def test_poisson_tail_of_a_large_mean_is_not_truncated(k: int) -> None:
    mu = 50.0  # most of its mass lies beyond k + 60 for a small k
    exact = math.fsum(math.exp(-mu + i * math.log(mu) - math.lgamma(i + 1))
                      for i in range(k, k + 400))
    assert poisson_tail(k, mu) == pytest.approx(exact, rel=1e-6)


def test_poisson_tail_edges() -> None:
    assert poisson_tail(-1, 2.0) == 1.0 == poisson_tail(0, 0.0)
    assert poisson_tail(1, 0.0) == 0.0 == poisson_tail(1, -1.0)
    assert 0.0 < poisson_tail(200, 0.001) <= 1e-300 * 1.0001  # floored, never 0


def test_the_combined_surprise_counts_only_the_excess_over_the_floor() -> None:
    cfg = CoreConfig(surprise_floor=2.0)
    assert combine([0.0, 1.0, 2.0], Knobs(cfg)) == 0.0  # at the floor: nothing
    assert combine([2.5, 7.0, 1.9], Knobs(cfg)) == pytest.approx(0.5 + 5.0)
    assert combine([], Knobs(cfg)) == 0.0


def test_the_score_is_an_increasing_map_of_the_combined_surprise_to_0_1() -> None:
    cfg = CoreConfig(score_half=8.0)
    assert to_score(0.0, Knobs(cfg)) == 0.0 == to_score(-3.0, Knobs(cfg))
    totals = [0.1, 1.0, 8.0, 24.0, 1e6]
    scores = [to_score(s, Knobs(cfg)) for s in totals]
    assert scores == sorted(scores) and all(0.0 < s < 1.0 for s in scores)
    assert to_score(8.0, Knobs(cfg)) == pytest.approx(0.5)
    assert to_score(24.0, Knobs(cfg)) == pytest.approx(0.75)


# --- categorical novelty and hours ----------------------------------------------------------

def _channels() -> Population:
    pop = Population()
    pop.tables["channel"] = {"app": 500, "web": 300, "atm": 50, "kiosk": 10}
    pop.total = 860
    return pop


def test_categorical_surprise_orders_values_by_how_common_they_are() -> None:
    pop = _channels()
    table = {"app": 20, "web": 5, "atm": 1}

    def surprise(key: str, learnt: int = 26, recent: int = 0) -> float:
        return categorical(table, key, learnt, 26.0, pop, "channel", recent, KNOBS)

    assert 0.0 <= surprise("app") < surprise("atm") < surprise("kiosk") <= CONFIG.surprise_cap
    assert surprise("app") == pytest.approx(0.0, abs=1e-9)  # the most common value: P = 1
    # nothing learnt yet: a new value for sure, judged by everybody's (kiosk: 10 of 860
    # events, plus the Good-Turing mass of values nobody used, 1 / 861; app: every value)
    assert categorical({}, "kiosk", 0, 0.0, pop, "channel", 0, KNOBS) == pytest.approx(
        -math.log(11 / 861))
    assert categorical({}, "app", 0, 0.0, pop, "channel", 0, KNOBS) == 0.0
    # ... and where 9 of 19 first purchases brought a channel nobody used against 1 that
    # chance predicts, 8 / 20 of new customers bring their own: a mixture
    pop.novelty["first:channel"] = [9.0, 1.0, 19.0]
    own = 8 / 20
    assert categorical({}, "kiosk", 0, 0.0, pop, "channel", 0, KNOBS) == pytest.approx(
        -math.log(own + (1 - own) * 11 / 861))
    assert categorical({}, "zz", 0, 0.0, pop, "channel", 0, KNOBS) == pytest.approx(
        -math.log(own + (1 - own) * 1 / 861))
    assert surprise("kiosk", recent=8) <= -math.log(CONFIG.context_weight) + 1e-9


@pytest.mark.parametrize("order", [("web", "atm", "app"), ("app", "atm", "web")])
def test_a_customers_rate_of_new_values_counts_all_their_values_seen_once(
        order: tuple[str, ...]) -> None:
    """web and atm once, app 3 times (in either order of the table): 2 values seen once,
    so the rate of new values is (2 + k x r) / (explore + k), r the established customers'
    rate of new values, (15 + 5) / (45 + 5) = 0.4 (`new_rate`). A new value (kiosk: 10 of
    860 events, + 1 / 861 nobody used) is that rate times its mass; a known one (web, once)
    is a new value's chance plus the rest times the share of the customer's events at most
    as common (web and atm: 2 of 5)."""
    counts = {"web": 1, "atm": 1, "app": 3}
    table = {key: counts[key] for key in order}
    k, explore = CONFIG.new_value_prior, 26.0
    pop = _channels()
    pop.novelty["channel"] = [15.0, 45.0]
    rate = (2 + k * 0.4) / (explore + k)
    assert categorical(table, "kiosk", 26, explore, pop, "channel", 0, KNOBS) == (
        pytest.approx(-math.log(rate * 11 / 861)))
    p_new = rate * (1 / 861 + 11 / 861)  # unused: nobody's, and the 11 of 861 of kiosk
    assert categorical(table, "web", 26, explore, pop, "channel", 0, KNOBS) == (
        pytest.approx(-math.log(p_new + (1 - p_new) * 2 / 5)))


@pytest.mark.parametrize("key", ["web", "kiosk"])  # a new value, one of the customer's
def test_a_chance_of_a_new_value_above_1_counts_as_1_never_less_than_no_surprise(
        key: str) -> None:
    """Where established customers take new values 5 times per unit of unused mass
    ((45 + 5) / (5 + 5)), this one's rate, (2 + k x 5) / (4 + k), is above 1: the chance
    of a new value (web: rate x 301 / 861; kiosk's p_new: rate x 802 / 861) is capped at 1,
    so the term is 0 (kiosk: 1 + 0 x 2 / 4), never negative; also where the chance is
    between 1 and 2."""
    pop = _channels()
    pop.novelty["channel"] = [45.0, 5.0]
    table = {"kiosk": 1, "atm": 1, "zz": 2}
    assert (2 + CONFIG.new_value_prior * 5) / (4 + CONFIG.new_value_prior) * 301 / 861 > 1
    assert categorical(table, key, 4, 4.0, pop, "channel", 0, KNOBS) == 0.0
    # at 1.5 ((10 + 5) / (5 + 5)): kiosk's p_new, (2 + 45) / 34 x 802 / 861 = 1.29, still
    # counts as 1; web's chance, (2 + 45) / 34 x 301 / 861 = 0.48, is judged as it is
    pop.novelty["channel"] = [10.0, 5.0]
    rate = (2 + CONFIG.new_value_prior * 1.5) / (4 + CONFIG.new_value_prior)
    assert categorical(table, key, 4, 4.0, pop, "channel", 0, KNOBS) == (
        0.0 if key == "kiosk" else pytest.approx(-math.log(rate * 301 / 861)))


@pytest.mark.parametrize("key", ["web", "kiosk"])  # a value of the customer's, a new one
def test_a_full_population_table_judges_values_as_if_all_its_mass_were_unused(
        key: str) -> None:
    """Once a population table holds `max_population_keys` values it stops counting new
    ones, so its counts no longer say which share a customer has not used: a value is then
    judged with all the mass unused, the same whatever the population holds. Below that
    bound the same two populations judge differently (a control)."""
    table = {"app": 20, "web": 5}
    fillers = {f"v{i}": 1 for i in range(12)}
    mine_common = {"app": 500, "web": 300, "atm": 1, "kiosk": 1, **fillers}
    mine_rare = {"app": 1, "web": 1, "atm": 500, "kiosk": 300, **fillers}

    def surprise(counts: dict[str, int], max_keys: int) -> float:
        pop = Population()
        pop.tables["channel"], pop.total = dict(counts), sum(counts.values())
        cfg = CONFIG.model_copy(update={"max_population_keys": max_keys})
        return categorical(table, key, 25, 25.0, pop, "channel", 0, Knobs(cfg))

    assert len(mine_common) == len(mine_rare) == 16
    assert surprise(mine_common, 16) == surprise(mine_rare, 16)
    # all the mass unused: a new value's chance is the customer's rate of new values
    # itself, (0 seen once + k) / (25 + k); web (5 of 25 events at most as common) adds
    # the rest times 5 / 25
    rate = CONFIG.new_value_prior / (25.0 + CONFIG.new_value_prior)
    assert surprise(mine_common, 16) == pytest.approx(
        -math.log(rate if key == "kiosk" else rate + (1 - rate) * 5 / 25))
    assert surprise(mine_common, 17) != surprise(mine_rare, 17)


def test_hour_tail_is_one_for_the_usual_hour_and_small_for_a_never_seen_one() -> None:
    st = CustomerState()
    pop = Population()
    assert hour_tail(st, pop, 3, KNOBS) == 1.0  # no hours learnt
    for h in (11, 12, 12, 13) * 10:
        st.hours[h] += 1
    usual = hour_tail(st, pop, 12, KNOBS)
    odd = hour_tail(st, pop, 3, KNOBS)
    assert usual == pytest.approx(1.0, abs=1e-9)
    assert 0.0 < odd < 0.1 < usual
    assert hour_tail(st, pop, 10, KNOBS) > odd  # next to the habit


@pytest.mark.parametrize(("habit", "before", "after"), [(23, 22, 0), (0, 23, 1)])
def test_the_hours_next_to_a_habit_across_midnight_are_its_neighbours(
        habit: int, before: int, after: int) -> None:
    st, pop = CustomerState(), Population()
    st.hours[habit] = 40
    assert hour_tail(st, pop, before, KNOBS) == pytest.approx(hour_tail(st, pop, after, KNOBS))
    assert hour_tail(st, pop, after, KNOBS) > 0.5 > hour_tail(st, pop, (habit + 12) % 24,
                                                             KNOBS)


def _smoothed(st: CustomerState, pop: Population) -> list[float]:
    """The hour distribution `hour_tail` judges by: the customer's profile spread +-1 h."""
    d = sum(st.hours) + CONFIG.prior_weight
    k = CONFIG.prior_weight / (pop.total + 24.0)
    q = [(c + k * (p + 1.0)) / d for c, p in zip(st.hours, pop.hours, strict=True)]
    return [(q[h - 1] + q[h] + q[(h + 1) % 24]) / 3.0 for h in range(24)]


def test_an_hour_between_two_used_hours_is_as_likely_as_its_smoothed_share() -> None:
    """Night purchases at 00, 01, 03 and 04 h, none yet at 02 h: 02 h is judged by the
    same +-1 h profile its rank comes from (its tail at least its own smoothed share), not
    as if it never happened (the tail used to sum the unsmoothed counts of the hours
    ranked at most as common: 02 h and empty day hours, ~e^-10)."""
    st, pop = CustomerState(), Population()
    for h in range(9, 18):
        st.hours[h] = 10
    st.hours[0] = st.hours[4] = 2
    st.hours[1] = st.hours[3] = 1
    smoothed = _smoothed(st, pop)
    tail = hour_tail(st, pop, 2, KNOBS)
    assert tail >= smoothed[2] > 0.005
    assert tail == pytest.approx(sum(p for p in smoothed if p <= smoothed[2] + 1e-12))
    assert hour_tail(st, pop, 6, KNOBS) < tail  # no purchase within +-1 h of 06 h: rarer


@settings(max_examples=200, deadline=None)
@given(hyp.lists(hyp.integers(0, 30), min_size=24, max_size=24).filter(any))
def test_the_hour_tail_is_a_valid_p_value_under_the_smoothed_profile(counts: list[int]) -> None:
    """For an hour X drawn from the smoothed profile, P(tail(X) <= tail(h)) <= tail(h)."""
    st, pop = CustomerState(), Population()
    st.hours[:] = bytes(counts)
    smoothed = _smoothed(st, pop)
    tails = [hour_tail(st, pop, h, KNOBS) for h in range(24)]
    for h in range(24):
        assert sum(p for p, t in zip(smoothed, tails, strict=True) if t <= tails[h]) <= (
            tails[h] + 1e-9)


def test_rarer_mass_is_the_unseen_mass_plus_unknown_values_at_most_as_common() -> None:
    pop = Population()
    for country in ["CH"] * 6 + ["FR"] * 3 + ["DE"]:
        pop.observe(country, "grocery", "app", "mobile", 3.0, 4096)
    unseen = 2 / 11  # Good-Turing: (values seen once + 1) / (events + 1)
    assert pop.unseen_mass("country") == pytest.approx(unseen)
    known = {"CH": 4}
    assert pop.rarer_mass("country", known, "XX") == pytest.approx(unseen)  # nobody's value
    assert pop.rarer_mass("country", known, "DE") == pytest.approx(unseen + 1 / 11)
    assert pop.rarer_mass("country", known, "FR") == pytest.approx(unseen + 4 / 11)
    assert pop.rarer_mass("country", {}, "CH") == 1.0  # capped at 1


# --- recalibration --------------------------------------------------------------------------

def test_recalibration_scales_a_term_that_surprises_too_often_down_never_up() -> None:
    cal = Recalibration(12.0)
    assert cal.apply([1.0] * len(TERMS)) == [1.0] * len(TERMS)
    noisy = [8.0] + [0.5] * (len(TERMS) - 1)  # the first term is always 8: far too often
    for _ in range(Recalibration.MIN_ROWS - 1):
        cal.learn(noisy)
    assert cal.scales == [1.0] * len(TERMS)  # not before MIN_ROWS / EVERY
    while cal.total % Recalibration.EVERY:
        cal.learn(noisy)
    assert 1 / 3 <= cal.scales[0] < 1.0
    assert cal.scales[1:] == [1.0] * (len(TERMS) - 1)
    assert cal.apply(noisy)[0] < 8.0
    extreme = Recalibration(12.0)
    for _ in range(Recalibration.EVERY * 2):
        extreme.learn([12.0] * len(TERMS))
    assert extreme.scales == pytest.approx([1 / 3] * len(TERMS))  # at most 3x down
    # its map's first piece, (0, 0) to (12, 3), is steeper down than a third: the third
    # holds on it too (6 -> 2, not 1.5)
    assert extreme.shapes[0] == [[pytest.approx(12.0), 3.0]]
    assert extreme.apply([6.0] * len(TERMS)) == pytest.approx([2.0] * len(TERMS))


@pytest.mark.parametrize("value", [3.1, 3.2])  # an odd and an even bin of the histogram
def test_recalibration_maps_the_quantile_of_its_level_exactly_to_the_level(value: float
                                                                          ) -> None:
    cal = Recalibration(12.0)
    rows = 2 * Recalibration.EVERY  # the first rescale at or after MIN_ROWS
    for i in range(rows):  # one row in ten at `value`: far more often than e^-3 (5%)
        cal.learn([value if i % 10 == 0 else 0.5] + [0.0] * (len(TERMS) - 1))
    assert cal.total == rows >= Recalibration.MIN_ROWS
    assert cal.shapes[0] == [[pytest.approx(value), 3.0]]  # e^-4 edge is the same value
    assert cal.apply([value] + [0.0] * (len(TERMS) - 1))[0] == pytest.approx(3.0)
    assert cal.shapes[1:] == [[]] * (len(TERMS) - 1)


def test_recalibration_state_round_trips() -> None:
    cal = Recalibration(12.0)
    cal.learn([1.0] * len(TERMS))
    copy = Recalibration(1.0)  # every field comes from the state
    copy.__setstate__(cal.__getstate__())
    assert (copy.hist, copy.scales, copy.total) == (cal.hist, cal.scales, cal.total)


# --- learning --------------------------------------------------------------------------------

def test_ip_networks() -> None:
    assert ipnet("192.168.1.77") == "192.168.1"
    assert ipnet("2001:db8:1:2::5") == "2001:db8:1"
    assert ipnet("") == ""
    assert ipnet("host.local") == "host.local"  # not an IPv4 address: kept whole


def _learn(st: CustomerState, pop: Population, tx: Transaction, surprise: float,
           cfg: CoreConfig = CONFIG) -> None:
    t, knobs = event_seconds(tx), Knobs(cfg)
    release(st, pop, knobs, t)
    o = observe(tx, t, st, pop, knobs)
    learn(t, st, pop, knobs, o, surprise, 0.0)


@pytest.mark.parametrize(("surprise", "held"), [(2.999, False), (3.0, True), (3.001, True)])
def test_an_event_is_held_from_exactly_quarantine_above(surprise: float, held: bool) -> None:
    st, pop = CustomerState(), Population()
    _learn(st, pop, _tx(T0, device="tablet"), surprise)
    assert ("tablet" in st.devices) is (not held)
    assert len(st.pending) == int(held)
    assert st.n == 1  # the clock learns at once either way


@pytest.mark.parametrize(("delta", "learnt"), [(-1, False), (0, True), (1, True)])
def test_a_held_event_is_learnt_exactly_quarantine_s_later(delta: int, learnt: bool) -> None:
    st, pop = CustomerState(), Population()
    _learn(st, pop, _tx(T0, device="tablet"), 10.0)
    later = T0 + timedelta(seconds=CONFIG.quarantine_s + delta)
    _learn(st, pop, _tx(later), 0.0)
    assert ("tablet" in st.devices) is learnt


def test_a_late_event_neither_moves_the_clock_back_nor_shortens_a_hold() -> None:
    st, pop = CustomerState(), Population()
    _learn(st, pop, _tx(T0, country="CH"), 0.0)
    _learn(st, pop, _tx(T0 - timedelta(hours=1), country="FR", device="tablet"), 10.0)
    assert st.last_t == event_seconds(_tx(T0)) and st.last_country == "CH"
    assert st.pending[0][0] == event_seconds(_tx(T0)) + CONFIG.quarantine_s
    assert st.n == 2 and st.hops == 1


def test_the_hold_is_bounded_and_the_oldest_is_learnt_first() -> None:
    st, pop = CustomerState(), Population()
    for i in range(20):
        _learn(st, pop, _tx(T0 + timedelta(seconds=i), device=f"d{i}"), 10.0)
    assert len(st.pending) == 16
    assert set(st.devices) == {"d0", "d1", "d2", "d3"}


def test_no_hold_when_quarantine_is_off() -> None:
    st, pop = CustomerState(), Population()
    cfg = CoreConfig(quarantine_s=0.0)
    _learn(st, pop, _tx(T0, device="tablet"), 10.0, cfg)
    assert "tablet" in st.devices and not st.pending


def test_habits_stay_bounded_and_recent_context_is_the_last_learnt() -> None:
    cfg = CoreConfig(amount_history=4, context_size=3, max_seen=2)
    st, pop = CustomerState(), Population()
    for i in range(300):
        before = list(st.amounts)
        _learn(st, pop, _tx(T0 + timedelta(hours=i * 24), amount=10.0 + i, device=f"d{i % 3}"),
               0.0, cfg)
        # the last amounts, oldest first: a new one pushes out the oldest, not another
        assert st.amounts[:-1] == (before[1:] if len(before) == 4 else before)
    assert len(st.amounts) == 4
    assert [c[1] for c in st.context] == ["d0", "d1", "d2"]  # devices of events 297-299
    assert len(st.devices) == 2
    assert max(st.hours) <= 255 and sum(st.hours) > 0
    assert st.learnt == 300 == st.n
    assert len(st.recent) <= 2 * cfg.burst_min_count + 8 and len(st.window) <= 32


@pytest.mark.parametrize("before", [254, 255])
def test_an_hour_count_at_255_halves_every_hour_before_counting(before: int) -> None:
    """The hour histogram holds bytes: an hour already at 255 halves every hour (rounding
    down) before the new event counts; at 254 nothing is halved."""
    st, pop = CustomerState(), Population()
    st.hours[12], st.hours[13], st.hours[3] = before, 7, 1
    _learn(st, pop, _tx(T0), 0.0)  # T0 is 12 h
    halved = before == 255
    assert (st.hours[12], st.hours[13], st.hours[3]) == (
        (before >> 1) + 1 if halved else before + 1, 3 if halved else 7, 0 if halved else 1)


def test_novel_countries_and_hops_are_counted_once_each() -> None:
    st, pop = CustomerState(), Population()
    for i, country in enumerate(["CH", "CH", "FR", "CH", "DE", "DE"]):
        _learn(st, pop, _tx(T0 + timedelta(days=i), country=country), 0.0)
    assert st.novel == 2  # FR and DE (the first event aside)
    assert st.hops == 3  # CH->FR, FR->CH, CH->DE
    assert st.countries == {"CH": 3, "FR": 1, "DE": 2}


def _terms_of(st: CustomerState, pop: Population, tx: Transaction) -> dict[str, float]:
    t = event_seconds(tx)
    o = observe(tx, t, st, pop, KNOBS)
    values, _, _ = terms(t, st, pop, o, KNOBS)
    return dict(zip(TERMS, values, strict=True))


def _home_customer(n: int = 12) -> tuple[CustomerState, Population]:
    st, pop = CustomerState(), Population()
    for i in range(n):
        _learn(st, pop, _tx(T0 + timedelta(days=i, minutes=i), amount=40.0 + 3 * (i % 5)), 0.0)
    return st, pop


def test_repeating_the_same_purchase_surprises_more_than_a_similar_amount() -> None:
    st, pop = _home_customer()
    first = T0 + timedelta(days=12)
    _learn(st, pop, _tx(first, amount=44.0), 0.0)
    same = _terms_of(st, pop, _tx(first + timedelta(minutes=20), amount=44.0))
    similar = _terms_of(st, pop, _tx(first + timedelta(minutes=20), amount=44.4))
    assert same["repeat"] > similar["repeat"] + 1.0 > 1.0


def test_an_impossible_hop_is_rare_for_a_customer_who_never_made_one() -> None:
    """P(a too-fast hop) for a customer with none in n events is below 1/n."""
    st, pop = _home_customer(20)
    hop = _terms_of(st, pop, _tx(T0 + timedelta(days=19, minutes=50), country="CN"))
    assert hop["travel"] >= math.log(20)
    near = _terms_of(st, pop, _tx(T0 + timedelta(days=19, minutes=50), country="FR"))
    assert near["travel"] == 0.0  # within the slack


def test_recent_events_stay_bounded_in_a_long_burst() -> None:
    st, pop = CustomerState(), Population()
    for i in range(40):
        _learn(st, pop, _tx(T0 + timedelta(seconds=i), amount=10.0 + i), 0.0)
    assert len(st.recent) == 2 * CONFIG.burst_min_count + 8
    assert st.recent[-1][1] == 49.0  # the newest kept


def test_established_customers_teach_the_population_each_attributes_novelty() -> None:
    st, pop = CustomerState(), Population()
    for i in range(10):
        _learn(st, pop, _tx(T0 + timedelta(days=i), ip=f"10.0.{i}.1", device="mobile"), 0.0)
    # From the 6th learnt event on: every network was new, the device never.
    assert pop.novelty["ipnet"][0] == 5.0 and pop.novelty["device"][0] == 0.0
    assert pop.new_rate("ipnet") > pop.new_rate("device")


@pytest.mark.parametrize(("km", "dt_s", "fast"), [
    (1400.0, 3600.0, False),  # (1400 - 600 km slack) at 800 km/h: exactly one hour needed
    (1400.0, 3599.0, True),
    (600.0, 1.0, False),  # within the slack no time is too short
    (601.0, 1.0, True),
])
def test_a_hop_counts_as_too_fast_exactly_below_the_flight_time(km: float, dt_s: float,
                                                               fast: bool) -> None:
    st, pop = CustomerState(), Population()
    _learn(st, pop, _tx(T0), 0.0)
    tx = _tx(T0 + timedelta(seconds=dt_s), country="FR")
    t = event_seconds(tx)
    o = observe(tx, t, st, pop, KNOBS)
    o.travel_km, o.travel_dt_s = km, dt_s
    learn(t, st, pop, KNOBS, o, 0.0, 0.0)
    assert st.fast == int(fast) and pop.fast[0] == int(fast)


def test_the_clock_keeps_running_means_of_the_gaps_and_counts_each_repeat_and_fast_hop(
        ) -> None:
    st, pop = CustomerState(), Population()
    at = T0
    for gap, amount in ((0, 10.0), (60, 10.0), (120, 12.0), (180, 10.0)):
        at += timedelta(seconds=gap)
        _learn(st, pop, _tx(at, amount=amount), 0.0)
    assert (st.gaps, pop.gaps) == (3, 3)
    assert st.gap_mean == pytest.approx(120.0) == pop.gap_mean
    assert st.gap_log == pytest.approx(math.log(60 * 120 * 180) / 3) == pop.gap_log
    assert st.exact == 2  # the 2nd and 4th repeat an amount of the last day; the 3rd not
    for i, country in enumerate(("CN", "CH")):  # two hops of thousands of km in minutes
        _learn(st, pop, _tx(at + timedelta(minutes=5 * (i + 1)), country=country), 0.0)
    assert st.fast == 2 and st.hops == 2


@pytest.mark.parametrize(("before", "weight"), [(48, 49), (49, 50), (50, 50)])
def test_the_running_means_of_the_gaps_weigh_a_new_gap_at_least_one_fiftieth(
        before: int, weight: int) -> None:
    """The customer's means of the gap and its log are moving averages over their last 50
    gaps (the population's over its last 5,000): the 49th, 50th and 51st gap from means
    of 0 move them by 1/49, 1/50 and 1/50 of a gap of 1000 s."""
    st, pop = CustomerState(), Population()
    _learn(st, pop, _tx(T0), 0.0)
    st.gaps, st.gap_log, st.gap_mean = before, 0.0, 0.0
    pop.gaps, pop.gap_log, pop.gap_mean = 5000 - 50 + before, 0.0, 0.0
    _learn(st, pop, _tx(T0 + timedelta(seconds=1000)), 0.0)
    assert st.gaps == before + 1
    assert st.gap_log == pytest.approx(math.log(1000.0) / weight)
    assert st.gap_mean == pytest.approx(1000.0 / weight)
    assert pop.gap_log == pytest.approx(math.log(1000.0) / (5000 - 50 + weight))
    assert pop.gap_mean == pytest.approx(1000.0 / (5000 - 50 + weight))


@pytest.mark.parametrize(("seconds", "learnt"), [(0.0, 1.0), (0.5, 1.0), (1.0, 1.0), (1.5, 1.5)])
def test_a_gap_under_one_second_is_learnt_as_one_second(seconds: float, learnt: float) -> None:
    st, pop = CustomerState(), Population()
    _learn(st, pop, _tx(T0), 0.0)
    _learn(st, pop, _tx(T0 + timedelta(seconds=seconds)), 0.0)
    assert st.gap_log == pytest.approx(math.log(learnt)) == pop.gap_log
    assert st.gap_mean == pytest.approx(learnt) == pop.gap_mean


def test_of_two_events_in_the_same_second_the_later_arrival_is_the_last_country() -> None:
    st, pop = CustomerState(), Population()
    _learn(st, pop, _tx(T0, country="CH"), 0.0)
    _learn(st, pop, _tx(T0, country="FR"), 0.0)
    assert st.last_country == "FR" and st.last_t == event_seconds(_tx(T0))


def _judge_and_learn(st: CustomerState, pop: Population, tx: Transaction
                     ) -> tuple[dict[str, float], dict[str, str]]:
    """The engine's order: terms of `tx` against the past, then `tx` learnt (with its
    dormancy surprise, which a return from silence remembers)."""
    t = event_seconds(tx)
    release(st, pop, KNOBS, t)
    o = observe(tx, t, st, pop, KNOBS)
    values, reasons, wake = terms(t, st, pop, o, KNOBS)
    learn(t, st, pop, KNOBS, o, 0.0, wake)
    return dict(zip(TERMS, values, strict=True)), reasons


@pytest.mark.parametrize("amount", [0.0, -25.0])
def test_a_zero_or_refund_amount_after_purchases_in_the_hour_repeats_nothing(
        amount: float) -> None:
    st, pop = _home_customer()
    last = T0 + timedelta(days=12)
    _learn(st, pop, _tx(last, amount=44.0), 0.0)
    _learn(st, pop, _tx(last + timedelta(minutes=5), amount=amount), 0.0)
    values, _ = _judge_and_learn(st, pop, _tx(last + timedelta(minutes=10), amount=amount))
    assert values["repeat"] == 0.0


@pytest.mark.parametrize(("known_gaps", "judged"), [(99, False), (100, True)])
def test_the_pace_is_judged_once_the_population_knows_100_gaps(known_gaps: int,
                                                               judged: bool) -> None:
    st, pop = _home_customer()
    burst = T0 + timedelta(days=12)
    for i in range(5):
        _learn(st, pop, _tx(burst + timedelta(seconds=20 * i), amount=30.0 + 7 * i), 0.0)
    pop.gaps = known_gaps
    values, reasons = _judge_and_learn(st, pop, _tx(burst + timedelta(seconds=100),
                                                    amount=99.0))
    assert (values["rate"] > CONFIG.surprise_floor) is judged
    assert ("rate" in reasons) is judged
    if judged:  # the 4th back (SPANS), against the customer's pace shrunk to everybody's
        w = CONFIG.prior_weight
        rate = math.exp(-(st.gaps * st.gap_log + w * pop.gap_log) / (st.gaps + w))
        assert reasons["rate"] == (f"5 purchases within 80 s (about {1 + rate * 80:.1f} at "
                                   "this customer's pace)")


def test_events_soon_after_a_return_from_silence_share_its_surprise_and_say_so() -> None:
    st, pop = _home_customer()
    back = T0 + timedelta(days=90)
    first, first_reasons = _judge_and_learn(st, pop, _tx(back))
    assert first["dormancy"] > 2 * CONFIG.surprise_floor
    assert first_reasons["dormancy"].startswith("first purchase after")
    later, reasons = _judge_and_learn(st, pop, _tx(back + timedelta(hours=1)))
    assert later["dormancy"] == pytest.approx(first["dormancy"] / 2)
    assert reasons["dormancy"] == "60 min after a return from silence"


@pytest.mark.parametrize(("after", "shared", "said"), [
    (0.0, True, "0 s"), (CONFIG.wake_s, True, "24 h"), (CONFIG.wake_s + 1, False, "")])
def test_a_return_from_silence_is_shared_from_the_same_second_to_exactly_wake_s_after(
        after: float, shared: bool, said: str) -> None:
    st, pop = _home_customer()
    back = T0 + timedelta(days=90)
    first, _ = _judge_and_learn(st, pop, _tx(back))
    later, reasons = _judge_and_learn(st, pop, _tx(back + timedelta(seconds=after)))
    if shared:
        assert later["dormancy"] == pytest.approx(first["dormancy"] / 2)
        assert reasons["dormancy"] == f"{said} after a return from silence"
    else:
        assert later["dormancy"] < first["dormancy"] / 2
        assert "return from silence" not in reasons.get("dormancy", "")  # its own gap


def test_population_novelty_is_a_moving_average_halved_from_20000_units_of_exposure() -> None:
    pop = Population()
    for i in range(20_000):
        pop.learn_novelty("country", i % 4 == 0)
    assert pop.novelty["country"] == [5000.0, 20000.0]  # not halved before reaching it
    pop.learn_novelty("country", True)
    assert pop.novelty["country"] == [2501.0, 10001.0]
    assert pop.new_rate("country") == pytest.approx(0.25, abs=0.01)


@pytest.mark.parametrize(("events", "halved"), [(19_999.0, False), (20_000.0, True)])
def test_the_population_fast_hop_rate_is_a_moving_average_from_20000_events(
        events: float, halved: bool) -> None:
    st, pop = CustomerState(), Population()
    _learn(st, pop, _tx(T0), 0.0)
    pop.fast = [200.0, events]
    _learn(st, pop, _tx(T0 + timedelta(minutes=5), country="CN"), 0.0)  # a fast hop
    assert pop.fast == ([101.0, 10_001.0] if halved else [201.0, events + 1])


def test_tail_pdf_far_out_is_zero_without_overflow() -> None:
    for z in (-1000.0, 1000.0):
        assert 0.0 <= tail_pdf(z) < 1e-300


def test_a_new_country_and_its_new_network_count_once() -> None:
    """Only the network's surprise beyond the country's is news."""
    st, pop = _home_customer()
    at = T0 + timedelta(days=13)
    at_home = _terms_of(st, pop, _tx(at, ip="200.1.2.3"))  # a new network, home country
    abroad = _terms_of(st, pop, _tx(at, country="BR", ip="200.1.2.3"))
    assert at_home["country"] < 1e-9 < CONFIG.surprise_floor < abroad["country"]
    assert at_home["ip_network"] > 0.0
    assert abroad["ip_network"] == pytest.approx(
        max(0.0, at_home["ip_network"] - abroad["country"]))


@pytest.mark.parametrize(("amount", "reason"), [
    (44.0, "repeats an amount of 44 within 60 min"),
    (44.2, "2 similar amounts within 60 min: 44.00 to 44.20, this one 44.20"),
    (46.2, "2 similar amounts within 60 min: 44.00 to 46.20, this one 46.20"),
    (44.004, "2 purchases of 44.00 each within 60 min"),  # half a cent apart: equal
])
def test_a_repeat_says_whether_the_amount_was_the_same_or_close(amount: float,
                                                                reason: str) -> None:
    st, pop = _home_customer()
    first = T0 + timedelta(days=12)
    _learn(st, pop, _tx(first, amount=44.0), 0.0)
    _, reasons = _judge_and_learn(st, pop, _tx(first + timedelta(minutes=20),
                                               amount=amount))
    assert reasons["repeat"] == reason


def test_a_repeats_range_is_that_of_the_amounts_it_compared_not_of_the_whole_hour() -> None:
    """The reason shows the amounts the count is about (this one and its nearest ones), so
    an auditor can check them; a purchase of the hour too far off to count is not in it.
    It said "3 purchases within 1% of 44 in 60 min" (a tolerance, no amount seen)."""
    st, pop = _home_customer()
    first = T0 + timedelta(days=12)
    for minutes, amount in ((0, 44.0), (5, 300.0), (10, 45.0)):
        _learn(st, pop, _tx(first + timedelta(minutes=minutes), amount=amount), 0.0)
    values, reasons = _judge_and_learn(st, pop, _tx(first + timedelta(minutes=20),
                                                    amount=44.5))
    assert values["repeat"] > CONFIG.surprise_floor
    assert reasons["repeat"] == ("3 similar amounts within 60 min: 44.00 to 45.00, this "
                                 "one 44.50")


def test_recalibration_is_piecewise_linear_through_its_levels_and_beyond_the_last() -> None:
    cal = Recalibration(12.0)
    for i in range(2 * Recalibration.EVERY):  # 3% of rows at 5.0, 10% at 3.5
        value = 5.0 if i % 100 < 3 else 3.5 if i % 100 < 13 else 0.5
        cal.learn([value] + [0.0] * (len(TERMS) - 1))
    assert cal.shapes[0] == [[pytest.approx(3.5), 3.0], [pytest.approx(5.0), 4.0]]
    rest = [0.0] * (len(TERMS) - 1)
    assert cal.apply([1.75, *rest])[0] == pytest.approx(1.5)  # on the first piece
    assert cal.apply([4.25, *rest])[0] == pytest.approx(3.5)  # halfway along the second
    assert cal.apply([6.5, *rest])[0] == pytest.approx(5.0)  # its slope (2/3) beyond


def test_recalibration_maps_a_term_below_1_on_its_first_piece_too() -> None:
    """The first piece runs from 0: a small term is scaled like a large one (0.7 -> 0.6,
    exactly 1 -> 6/7), and only 0 stays 0."""
    cal = Recalibration(12.0)
    for i in range(2 * Recalibration.EVERY):  # 3% of rows at 5.0, 10% at 3.5
        value = 5.0 if i % 100 < 3 else 3.5 if i % 100 < 13 else 0.5
        cal.learn([value] + [0.0] * (len(TERMS) - 1))
    rest = [0.0] * (len(TERMS) - 1)
    assert cal.apply([0.7, *rest])[0] == pytest.approx(0.6)
    assert cal.apply([1.0, *rest])[0] == pytest.approx(6 / 7)
    assert cal.apply([0.0, *rest])[0] == 0.0


def test_a_return_from_silence_is_shared_only_when_half_of_it_beats_the_events_own() -> None:
    st, pop = _home_customer()
    tx = _tx(T0 + timedelta(days=14))
    own = _terms_of(st, pop, tx)["dormancy"]
    assert own > 0.0
    t = event_seconds(tx)
    st.wake = (t - 3600.0, own)  # half of it is less than the event's own
    assert _terms_of(st, pop, tx)["dormancy"] == pytest.approx(own)
    st.wake = (t - 3600.0, 2 * own + 0.2)
    assert _terms_of(st, pop, tx)["dormancy"] == pytest.approx(own + 0.1)
    st.wake = (t - CONFIG.wake_s - 1.0, 10 * own)  # too long ago
    assert _terms_of(st, pop, tx)["dormancy"] == pytest.approx(own)


def test_a_new_network_surprises_alike_however_common_it_is_elsewhere() -> None:
    """Networks are per household: a new one is judged by the customer's unused mass, not
    by how many other customers use it."""
    pop = Population()
    for i in range(200):
        pop.observe("CH", "grocery", "app", "mobile", 3.0, 4096, "10.9.9" if i % 2 else
                    f"10.0.{i}")
    table = {"10.1.1": 12}

    def surprise(key: str) -> float:
        return categorical(table, key, 12, 12.0, pop, "ipnet", 0, KNOBS)

    assert surprise("10.9.9") == pytest.approx(surprise("172.16.0"))
    assert surprise("10.9.9") > 0.0


def test_learning_an_event_first_learns_the_holds_that_are_due() -> None:
    st, pop = CustomerState(), Population()
    _learn(st, pop, _tx(T0 - timedelta(days=1)), 0.0)
    _learn(st, pop, _tx(T0, device="tablet"), 10.0)
    assert "tablet" not in st.devices
    tx = _tx(T0 + timedelta(seconds=CONFIG.quarantine_s))
    t = event_seconds(tx)
    learn(t, st, pop, KNOBS, observe(tx, t, st, pop, KNOBS), 0.0, 0.0)  # no release
    assert "tablet" in st.devices and not st.pending
    assert st.learnt == 3 and sum(st.explore) > 0.0  # learnt against the population


def test_the_models_rarity_features_are_minus_log_the_smoothed_population_share() -> None:
    pop = Population()
    for i in range(100):
        pop.observe("CH" if i else "FR", "grocery" if i else "travel", "app", "mobile", 3.0,
                    4096)
    st = CustomerState()

    def rarity(country: str, category: str) -> tuple[float, float]:
        tx = Transaction(transaction_id="t", customer_id="c", timestamp=T0, amount=50.0,
                         country=country, channel="app", device="mobile",
                         merchant_category=category)
        o = observe(tx, event_seconds(tx), st, pop, KNOBS)
        return o.country_rarity, o.category_rarity

    common, rare, unseen = rarity("CH", "grocery"), rarity("FR", "travel"), rarity("XX", "zoo")
    for i, (x, y, z) in enumerate(zip(common, rare, unseen, strict=True)):
        assert 0.0 <= x < y < z, i
        assert (x, y, z) == pytest.approx((-math.log(99.5 / 101), -math.log(1.5 / 101),
                                           -math.log(0.5 / 101)))


@pytest.mark.parametrize("too_fast", [1.0, 1.5, 2.0, 4.0])
def test_the_travel_term_grows_with_log2_of_how_much_too_fast_full_from_twice(
        too_fast: float) -> None:
    st, pop = _home_customer(20)
    tx = _tx(T0 + timedelta(days=19, minutes=50), country="CN")
    t = event_seconds(tx)
    o = observe(tx, t, st, pop, KNOBS)

    def travel(ratio: float) -> float:
        o.travel_km = CONFIG.travel_slack_km + CONFIG.travel_speed_kmh * 2.0  # 2 h needed
        o.travel_dt_s = 7200.0 / ratio
        values, _, _ = terms(t, st, pop, o, KNOBS)
        return values[TERMS.index("travel")]

    full = travel(8.0)
    assert full >= math.log(20)
    assert travel(too_fast) == pytest.approx(full * min(1.0, math.log2(too_fast)))
