"""The hour term's test of a change of habit (`hour_change_prior`, issue 13 item 5): the
recent hours' evidence weighed against the long habit, at its edges."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from detector.core.config import CoreConfig
from detector.core.hourtail import (
    KERNEL,
    UNDER_WAY,
    change_weight,
    changed,
    hour_tail,
    night_mass,
    recent_profile,
)
from detector.core.knobs import Knobs
from detector.core.state import CustomerState, Population
from tests.unit.test_core_hourtail import _day_customer  # 600 purchases at 11-13 h

PRIOR = CoreConfig().hour_change_prior
KNOBS = Knobs(CoreConfig())


def _near(state: CustomerState, pop: Population) -> list[float]:
    """The long habit spread +-1 h, as `hour_tail` builds it (`_profile`)."""
    k = KNOBS.prior_weight / (pop.total + 24.0)
    d = sum(state.hours) + KNOBS.prior_weight
    q = [(state.hours[i] + k * (pop.hours[i] + 1.0)) / d for i in range(24)]
    return [q[i - 1] + q[i] + q[(i + 1) % 24] for i in range(24)]


def _reference_weight(near: list[float], recent: list[int], prior: float) -> float:
    """`change_weight` by its definition, with numpy: each recent hour's likelihood under
    half the mass moved to the others' kernel, against the long habit's."""
    kernel = np.zeros(24)
    for step, w in enumerate(KERNEL):
        kernel[(step - 2) % 24] = w
    m = len(recent)
    llr = 0.0
    for j, h in enumerate(recent):
        others = sum(kernel[(h - g) % 24] for i, g in enumerate(recent) if i != j) / (m - 1)
        llr += np.log(0.5 + 0.5 * others / (near[h] / 3))
    return float(1 / (1 + np.exp(-(np.log(prior / (1 - prior)) + llr))))


def test_the_recent_profile_spreads_each_hour_over_two_hours_either_side() -> None:
    """One recent hour at 23 h: 21 h .. 01 h (across midnight) carry the kernel, 02 h and
    20 h only the pseudo-event's share, spread as the long habit; all sums to 1."""
    base = [1 / 48] * 12 + [3 / 48] * 12  # a distribution: more mass in the afternoon
    r = recent_profile([23], base)
    assert sum(r) == pytest.approx(1.0)
    assert r[23] == pytest.approx((base[23] + 3 / 9) / 2)
    assert r[1] == pytest.approx((base[1] + 1 / 9) / 2)  # two hours after, across midnight
    assert r[21] == pytest.approx((base[21] + 1 / 9) / 2)  # two hours before
    assert r[2] == pytest.approx(base[2] / 2)  # three hours after: nothing of it
    assert r[20] == pytest.approx(base[20] / 2)


def test_a_day_of_habitual_purchases_makes_no_other_hour_likely() -> None:
    """A customer who buys at any hour from 08 to 20 h, whose last eight purchases fell
    within 11-13 h (an active customer's day): they agree with each other better than the
    broad habit predicts (a change is likely), yet the mixture gives a night hour no more
    than the long habit does: the pseudo-event is spread as the long habit, not evenly
    (spread evenly, 03 h became many times likelier than alone)."""
    pop = Population()
    recent = [12, 11, 13, 12, 11, 13, 12, 12]
    broad = _day_customer(recent)
    broad.hours = bytearray([50 if 8 <= h <= 20 else 0 for h in range(24)])
    assert change_weight(_near(broad, pop), recent, PRIOR) > 0.9
    alone = _day_customer([])
    alone.hours = broad.hours
    assert hour_tail(broad, pop, 3, KNOBS) <= hour_tail(alone, pop, 3, KNOBS)


@given(recent=st.lists(st.integers(0, 23), min_size=2, max_size=12),
       near=st.lists(st.floats(1e-6, 1.0), min_size=24, max_size=24),
       prior=st.floats(0.001, 0.999))
def test_the_change_weight_is_its_definition(recent: list[int], near: list[float],
                                             prior: float) -> None:
    assert change_weight(near, recent, prior) == pytest.approx(
        _reference_weight(near, recent, prior), rel=1e-9, abs=1e-300)


def test_a_lone_odd_hour_counts_against_a_change() -> None:
    """Habitual recent hours and one at 02 h: no other recent event near it, so its ratio
    is 1/2, and the habitual ones are no better explained by each other: the weight falls
    below the prior, and the hour term judges by the long habit alone."""
    pop = Population()
    state = _day_customer([12, 11, 13, 12, 2])
    near = _near(state, pop)
    assert change_weight(near, [12, 11, 13, 12, 2], PRIOR) < PRIOR
    assert hour_tail(state, pop, 3, KNOBS) == hour_tail(_day_customer([]), pop, 3, KNOBS)


@pytest.mark.parametrize(("recent", "supports"), [
    ([2, 4], True),    # exactly two hours apart: each in the other's kernel
    ([2, 5], False),   # three hours apart: neither
    ([23, 1], True),   # two hours apart across midnight
    ([22, 1], False),  # three hours apart across midnight
])
def test_two_odd_hours_make_a_change_only_within_two_hours_of_each_other(
        recent: list[int], supports: bool) -> None:
    pop = Population()
    near = _near(_day_customer(recent), pop)
    assert (change_weight(near, recent, PRIOR) > PRIOR) is supports


def test_each_consistent_night_raises_the_weight() -> None:
    """A day customer's recent events turning into nights one by one: the first night
    alone lowers the weight (a lone odd hour), from the second on it grows with each and
    is nearly certain after three."""
    pop = Population()
    base = [12, 11, 13, 12, 11, 13, 12, 11]
    weights = []
    for nights in range(5):
        recent = base[nights:] + [2, 3, 1, 2][:nights]
        weights.append(change_weight(_near(_day_customer(recent), pop), recent, PRIOR))
    assert weights[1] < min(weights[0], PRIOR)
    assert PRIOR < weights[2] < weights[3] < weights[4]
    assert weights[3] > 0.99


def test_a_night_shift_under_way_makes_its_nights_ordinary() -> None:
    """Three recent nights at 01-03 h: 02 h is no longer rare (tail above e^-1), while
    07 h, between the old habit and the new nights, stays rare (below e^-2)."""
    pop = Population()
    state = _day_customer([12, 11, 13, 12, 11, 1, 2, 3])
    plain = hour_tail(_day_customer([]), pop, 2, KNOBS)
    assert plain < math.exp(-5)
    assert hour_tail(state, pop, 2, KNOBS) > math.exp(-1)
    assert hour_tail(state, pop, 7, KNOBS) < math.exp(-2)


def test_the_mixture_starts_exactly_where_the_weight_reaches_its_least() -> None:
    """`changed` gives the long habit alone up to `least`, a distribution just above it."""
    pop = Population()
    recent = [12, 11, 2, 3]
    state = _day_customer(recent)
    near = _near(state, pop)
    lam = change_weight(near, recent, PRIOR)
    k = KNOBS.prior_weight / (pop.total + 24.0)
    d = sum(state.hours) + KNOBS.prior_weight
    args = (bytes(state.hours), pop.hours, k, d, near, recent, PRIOR)
    assert changed(*args, math.nextafter(lam, 1.0)) is None
    assert changed(*args, lam) is None
    mix = changed(*args, math.nextafter(lam, 0.0))
    assert mix is not None
    assert sum(mix) == pytest.approx(1.0)


def _prior_for(weight: float, near: list[float], recent: list[int]) -> float:
    """The prior that gives `change_weight` = `weight` on these hours."""
    at_half = change_weight(near, recent, 0.5)  # prior odds 1: the likelihood ratio alone
    llr = math.log(at_half / (1 - at_half))
    x = math.log(weight / (1 - weight)) - llr
    return 1 / (1 + math.exp(-x))


@pytest.mark.parametrize(("scale", "mixed"), [(0.999, False), (1.001, True)])
def test_the_odd_hour_rule_reads_the_mixture_once_a_change_is_more_likely_than_not(
        scale: float, mixed: bool) -> None:
    """`night_mass` is 0 while the weight of a change is at most `UNDER_WAY` (one half),
    the mixture's night share above it: the prior set just below and just above the one
    that puts the weight exactly there."""
    pop = Population()
    recent = [12, 11, 13, 22, 23]
    state = _day_customer(recent)
    near = _near(state, pop)
    prior = _prior_for(UNDER_WAY, near, recent) * scale
    assert (change_weight(near, recent, prior) > UNDER_WAY) is mixed
    knobs = Knobs(CoreConfig(hour_change_prior=prior))
    mass = night_mass(state, pop, knobs.night_hours, knobs)
    assert (mass > 0.0) is mixed
    if mixed:
        lam = change_weight(near, recent, prior)
        k = knobs.prior_weight / (pop.total + 24.0)
        d = sum(state.hours) + knobs.prior_weight
        q = [(state.hours[i] + k * (pop.hours[i] + 1.0)) / d for i in range(24)]
        r = recent_profile(recent, q)
        assert mass == pytest.approx(
            sum((1 - lam) * q[h] + lam * r[h] for h in knobs.night_hours))


def _reference_tail(state: CustomerState, pop: Population, hour: int) -> float:
    """`hour_tail` with a change of hours weighed as evidence, by its definition: the long
    habit q, the weight w from `_reference_weight`, the mixture (1 - w) q + w r once w
    exceeds the prior, and the mass of the +-1 h profile on the hours at most as common."""
    k = KNOBS.prior_weight / (pop.total + 24.0)
    d = sum(state.hours) + KNOBS.prior_weight
    q = [(state.hours[i] + k * (pop.hours[i] + 1.0)) / d for i in range(24)]
    near = [q[i - 1] + q[i] + q[(i + 1) % 24] for i in range(24)]
    recent = [c[5] for c in state.context]
    profile = q
    if len(recent) >= 2:
        w = _reference_weight(near, recent, PRIOR)
        if w > PRIOR:
            r = [q[i] for i in range(24)]
            for h in recent:
                for step, kw in enumerate(KERNEL):
                    r[(h + step - 2) % 24] += kw
            r = [x / (len(recent) + 1) for x in r]
            profile = [(1 - w) * q[i] + w * r[i] for i in range(24)]
    spread = [profile[i - 1] + profile[i] + profile[(i + 1) % 24] for i in range(24)]
    return sum(x / 3 for x in spread if x <= spread[hour] + 1e-12)


@given(hours=st.lists(st.sampled_from([0, 0, 0, 1, 2, 7, 40, 200]), min_size=24,
                      max_size=24).filter(any),
       recent=st.lists(st.integers(0, 23), max_size=10), hour=st.integers(0, 23))
def test_the_hour_tail_with_a_change_weighed_is_its_definition(
        hours: list[int], recent: list[int], hour: int) -> None:
    """Every route (fewer than two recent hours, evidence against a change, a mixture)
    against the plain definition above, for any habit and recent hours."""
    pop = Population()
    state = _day_customer(recent)
    state.hours = bytearray(hours)
    assert hour_tail(state, pop, hour, KNOBS) == pytest.approx(
        _reference_tail(state, pop, hour), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(("log_odds", "floored"), [
    (-720.0, True),   # far below: exp(720) would overflow, the floor answers first
    (-701.0, True),   # one unit below the floor's -700
    (-700.0, False),  # at it: still the logistic
    (-699.0, False),  # one unit above
])
def test_the_change_weight_is_zero_below_log_odds_of_minus_700(
        log_odds: float, floored: bool) -> None:
    """Recent hours whose likelihood ratio is exactly 1 (two at 05 h, a flat profile of
    1 there: each is explained by the other as well as by the habit), so the posterior
    log-odds are the prior's: 0.0 below -700, the logistic from -700 up (no overflow)."""
    prior = math.exp(log_odds)
    assert math.log(prior / (1 - prior)) == pytest.approx(log_odds, abs=1e-3)
    if log_odds > -708:  # normal floats: exact
        assert math.log(prior / (1 - prior)) == log_odds
    w = change_weight([1.0] * 24, [5, 5], prior)
    if floored:
        assert w == 0.0
    else:
        assert w == pytest.approx(prior, rel=1e-12)
        assert w > 0.0


@pytest.mark.parametrize(("weight", "mixed"), [(0.49, False), (0.5, False), (0.51, True)])
def test_the_odd_hour_rule_needs_a_change_more_likely_than_not(weight: float,
                                                               mixed: bool) -> None:
    """`UNDER_WAY` is one half, not any level: a weight of a change of 0.49 or 0.5 leaves
    the odd-hour rule on the long habit (0), 0.51 gives it the mixture's night."""
    pop = Population()
    recent = [12, 11, 13, 22, 23]
    state = _day_customer(recent)
    near = _near(state, pop)
    prior = _prior_for(weight, near, recent)
    assert change_weight(near, recent, prior) == pytest.approx(weight, abs=1e-9)
    knobs = Knobs(CoreConfig(hour_change_prior=prior))
    assert (night_mass(state, pop, knobs.night_hours, knobs) > 0.0) is mixed


@pytest.mark.parametrize("count", [0, 1, 2])
def test_the_mixture_smooths_by_the_populations_hours(count: int) -> None:
    """The long habit in the mixture is smoothed by the population's hour counts plus one
    (k (c + 1)), as `_profile` smooths it: a population with 0, 1 and 2 purchases at
    every hour (with counts of 0 a product and a quotient by c + 1 agree)."""
    pop = Population()
    pop.hours = [count * (1 + h % 3) for h in range(24)]
    pop.total = sum(pop.hours)
    recent = [12, 11, 2, 3]
    state = _day_customer(recent)
    k = KNOBS.prior_weight / (pop.total + 24.0)
    d = sum(state.hours) + KNOBS.prior_weight
    q = [(state.hours[i] + k * (pop.hours[i] + 1.0)) / d for i in range(24)]
    near = [q[i - 1] + q[i] + q[(i + 1) % 24] for i in range(24)]
    mix = changed(bytes(state.hours), pop.hours, k, d, near, recent, PRIOR, PRIOR)
    assert mix is not None
    lam = change_weight(near, recent, PRIOR)
    r = recent_profile(recent, q)
    assert mix == pytest.approx([(1 - lam) * q[i] + lam * r[i] for i in range(24)],
                                rel=1e-12)
    assert sum(mix) == pytest.approx(1.0)


TINY = Knobs(CoreConfig(prior_weight=5e-324))  # valid: its share of an hour underflows to 0


@pytest.mark.parametrize(("recent", "hour"), [
    ([3, 3], 3),        # two nights agree on an hour the long habit holds impossible
    ([12, 3], 3),       # a lone night among day purchases (no other recent event near it)
    ([12, 12, 3], 12),  # and judged at a habitual hour
])
def test_an_hour_the_long_habit_holds_impossible_is_weighed_not_divided_by(
        recent: list[int], hour: int) -> None:
    """With the default prior, a prior weight whose share of an hour underflows (5e-324,
    as test_core_exact_speedups' exact zeros under the older test) left `near[h]` = 0 and
    `change_weight` divided by it: ZeroDivisionError mid-stream (found probing the knobs,
    2026-12-03). An hour impossible under the long habit that another recent event backs is
    infinite evidence of a change (weight 1); one no other backs counts 1/2, as always."""
    st = _day_customer(recent)
    got = hour_tail(st, Population(), hour, TINY)
    assert 0.0 <= got <= 1.0
    near = [0.0 if h not in (10, 11, 12, 13, 14) else 1.0 for h in range(24)]
    w = change_weight(near, recent, PRIOR)
    backed = recent.count(3) >= 2
    assert (w == 1.0) if backed else (w < PRIOR)


def test_an_hour_just_possible_under_the_long_habit_is_weighed_as_before() -> None:
    """One unit above the impossible hour (near / 3 the smallest positive double, 5e-324;
    near = 5e-324 itself still divides to 0): as defined."""
    near = [1.5e-323 if h == 3 else 1.0 for h in range(24)]
    assert near[3] / 3.0 == 5e-324 and 5e-324 / 3.0 == 0.0
    for recent in ([3, 3], [12, 3]):
        with np.errstate(over="ignore"):  # the reference's ratio overflows to inf (weight 1)
            want = _reference_weight(near, recent, PRIOR)
        assert change_weight(near, recent, PRIOR) == pytest.approx(want, rel=1e-12)
