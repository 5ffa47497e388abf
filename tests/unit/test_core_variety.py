"""Variety (detector/core/variety.py): too many different categories among the last few
purchases, folded into the activity term; exact tail, window edges, k tested, shrinkage."""

from __future__ import annotations

import itertools
import math
import random
from datetime import datetime, timedelta

import pytest

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.knobs import Knobs
from detector.core.state import CustomerState, Population
from detector.core.surprise import TERMS, _fold
from detector.core.variety import (
    SPANS,
    _by_presence,
    _by_repeats,
    distinct_tail,
    shares,
    surely_common,
    variety,
)
from shared.schemas import Transaction

HOUR = 3600.0
#: Variety on, and no floor: every value (and its reason) visible.
ON = Knobs(CoreConfig(variety_window_s=HOUR, surprise_floor=0.0))
CATS = ("grocery", "fuel", "fashion", "travel", "restaurant", "electronics")


def _brute(d: int, m: int, pis: list[float], rest: float) -> float:
    """P(at least d different among m draws) by enumerating every sequence of draws; the
    mass `rest` as a category of its own that counts once per draw (as the module does)."""
    cells = [*range(len(pis)), -1]
    weights = [*pis, rest]
    total = 0.0
    for seq in itertools.product(cells, repeat=m):
        p = math.prod(weights[c] for c in seq)
        different = len({c for c in seq if c >= 0}) + sum(1 for c in seq if c < 0)
        total += p if different >= d else 0.0
    return total


@pytest.mark.parametrize(("pis", "rest", "m"), [
    ([0.5, 0.3, 0.2], 0.0, 4), ([0.6, 0.2, 0.1], 0.1, 5), ([0.25] * 4, 0.0, 3),
    ([0.9], 0.1, 4)])
def test_the_tail_is_the_multinomials_exactly(pis: list[float], rest: float, m: int) -> None:
    for d in range(0, m + 2):
        assert distinct_tail(d, m, pis, rest) == pytest.approx(
            max(_brute(d, m, pis, rest), 1e-300), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(("pis", "rest", "m"), [
    ([0.5, 0.3, 0.2], 0.0, 4), ([0.6, 0.2, 0.1], 0.1, 5), ([0.7, 0.3], 0.0, 3)])
def test_both_ways_of_counting_give_the_same_tail(pis: list[float], rest: float, m: int
                                                  ) -> None:
    """By repeats (up to m - d) and by categories present (up to d): the same sum."""
    for d in range(2, m + 1):
        exact = _brute(d, m, pis, rest) / math.factorial(m)
        assert _by_repeats(m - d, m, pis, rest) == pytest.approx(exact, rel=1e-9)
        assert _by_presence(d, m, pis, rest) == pytest.approx(exact, rel=1e-9)


@pytest.mark.parametrize("m", [3, 5])
def test_a_category_of_share_zero_changes_nothing(m: int) -> None:
    """A share of 0 (among the others, or the rest) is skipped, not the end of the
    categories: both ways of counting, and the tail, as without it."""
    for d in range(2, m + 1):
        for pis, rest in (([0.5, 0.0, 0.3], 0.2), ([0.0, 0.6, 0.4], 0.0)):
            kept = [p for p in pis if p > 0.0]
            assert _by_repeats(m - d, m, pis, rest) == pytest.approx(
                _by_repeats(m - d, m, kept, rest), rel=1e-12)
            assert _by_presence(d, m, pis, rest) == pytest.approx(
                _by_presence(d, m, kept, rest), rel=1e-12)
            assert distinct_tail(d, m, pis, rest) == pytest.approx(
                _brute(d, m, kept, rest), rel=1e-9)


def test_the_cheap_test_never_spares_a_tail_below_its_level() -> None:
    """`surely_common` (Cantelli) says "at least `level`" only where the exact tail is."""
    rng = random.Random(7)
    spared = 0
    for _ in range(400):
        raw = [rng.random() ** 2 for _ in range(rng.randint(1, 6))]
        rest = rng.choice((0.0, 0.05, 0.2))
        pis = [(1 - rest) * w / sum(raw) for w in raw]
        m = rng.randint(2, 12)
        d = rng.randint(2, m)
        level = rng.choice((0.02, 0.05, 0.2))
        if surely_common(d, m, pis, rest, level):
            spared += 1
            assert distinct_tail(d, m, pis, rest) >= level
    assert spared > 50


@pytest.mark.parametrize(("d", "m", "pis", "rest", "level"), [
    (2, 3, [1 / 3] * 3, 0.0, 0.9),  # tail 0.889: just below a level near 1 (floor near 0)
    (2, 3, [0.94, 0.01], 0.05, 0.2),  # nearly one category: tail 0.170
])
def test_the_cheap_test_does_not_spare_a_tail_just_below_its_level(
        d: int, m: int, pis: list[float], rest: float, level: float) -> None:
    assert distinct_tail(d, m, pis, rest) < level
    assert not surely_common(d, m, pis, rest, level)


@pytest.mark.parametrize("m", [2, 5])
def test_a_certain_count_is_spared(m: int) -> None:
    """Where D cannot vary the bound is exact: every draw new (a customer without known
    categories: D = m), or a single category that takes every draw (D = 1)."""
    for level in (0.99, 1.0):  # 1: a floor of 0 and one span tested
        assert surely_common(m, m, [], 1.0, level)
        assert surely_common(1, m, [1.0], 0.0, level)


def test_one_category_is_certain_and_more_than_the_draws_impossible() -> None:
    assert distinct_tail(1, 5, [0.5, 0.5], 0.0) == 1.0
    assert distinct_tail(6, 5, [0.2] * 5, 0.0) == 0.0
    assert distinct_tail(5, 5, [0.2] * 5, 0.0) == pytest.approx(math.factorial(5) * 0.2 ** 5)


@pytest.mark.parametrize("m", [2, 4, 8])
def test_at_most_one_category_is_exactly_certain(m: int) -> None:
    """d = 0 and 1 are 1 exactly (any draw is a category), not a sum of m! terms that
    rounds below 1; from d = 2 the tail."""
    pis = [0.1, 0.2, 0.7]
    assert distinct_tail(0, m, pis, 0.0) == 1.0
    assert distinct_tail(1, m, pis, 0.0) == 1.0
    assert distinct_tail(2, m, pis, 0.0) == pytest.approx(_brute(2, m, pis, 0.0), rel=1e-9)


@pytest.mark.parametrize("m", [3, 5, 6])
def test_without_known_categories_every_count_is_certain_and_never_above_one(m: int) -> None:
    """A customer with no category yet (`shares` gives ([], 1.0)): each draw is a new
    category, so any count up to m is certain: 1 exactly, though m! (by `lgamma`) times
    the sum rounds above it."""
    for d in (2, m - 1, m):
        assert distinct_tail(d, m, [], 1.0) == 1.0


def test_an_impossible_count_is_the_smallest_probability_not_zero() -> None:
    """Two categories from one that takes every draw: the sum is 0 (or underflows), and
    the tail is 1e-300, so its surprise stays finite (-log 0 is an error)."""
    assert distinct_tail(2, 3, [1.0], 0.0) == 1e-300
    assert distinct_tail(3, 3, [1.0 - 1e-200, 1e-200], 0.0) == 1e-300  # underflow


def test_shares_are_shrunk_to_the_populations() -> None:
    """(count + w x population share) / (events + w); the rest goes to other categories."""
    st, pop = CustomerState(), Population()
    pop.tables["category"].update({"grocery": 60, "fuel": 40})
    pop.total = 100
    st.categories = {"grocery": 9}
    pis, rest = shares(st, pop, 3.0)
    assert pis == [pytest.approx((9 + 3 * 60.5 / 101) / 12)]
    assert rest == pytest.approx(1 - pis[0])
    st.categories = {}  # no history: the population's shares alone
    assert shares(st, pop, 3.0) == ([], 1.0)


def _state(window: list[tuple[float, str]], counts: dict[str, int]
           ) -> tuple[CustomerState, Population]:
    st, pop = CustomerState(), Population()
    st.categories = dict(counts)
    st.window = [(t, 20.0, c, "app") for t, c in window]
    pop.tables["category"].update(dict.fromkeys(CATS, 100))
    pop.total = 600
    return st, pop


@pytest.mark.parametrize(("delta", "counted"), [(-1, True), (0, True), (1, False)])
def test_an_earlier_purchase_exactly_at_the_window_edge_counts(delta: int, counted: bool
                                                                ) -> None:
    t = 10 * HOUR
    near = [(t - 60.0 * i, CATS[i]) for i in range(1, 4)]
    edge = (t - HOUR - delta, CATS[4])
    st, pop = _state([edge, *near], {"grocery": 50, "fuel": 2, "fashion": 2, "travel": 2,
                                     "restaurant": 2, "electronics": 2})
    reasons: dict[str, str] = {}
    value = variety(t, CATS[5], st, pop, ON, reasons)
    assert value > 0
    assert ("5 purchases in 5 different categories" in reasons["variety"]) is counted


def test_only_the_spans_with_enough_purchases_are_tested() -> None:
    """Three earlier purchases: k = 1 and 2 are tested (ln 2 of surprise), not 4."""
    t = 10 * HOUR
    counts = {"grocery": 50, "fuel": 2, "fashion": 2, "travel": 2}
    st, pop = _state([(t - 300.0, "fuel"), (t - 200.0, "fashion"), (t - 100.0, "travel")],
                     counts)
    reasons: dict[str, str] = {}
    value = variety(t, "grocery", st, pop, ON, reasons)
    pis, rest = shares(st, pop, ON.prior_weight)
    best = max(-math.log(distinct_tail(k + 1, k + 1, pis, rest)) for k in (1, 2))
    assert value == pytest.approx(best - math.log(2.0))
    assert reasons["variety"].startswith("3 purchases in 3 different categories within")
    assert [k for k in SPANS if k <= 3] == [1, 2]


def test_the_same_purchases_vary_more_for_a_customer_of_one_category() -> None:
    """The customer's own shares decide: four categories in four purchases surprise one
    who nearly always buys groceries, much less one who buys everything; and a short
    history is judged nearer the population's shares."""
    t = 10 * HOUR
    window = [(t - 300.0, "fuel"), (t - 200.0, "fashion"), (t - 100.0, "travel")]
    narrow = variety(t, "grocery", *_state(window, {"grocery": 97, "fuel": 1, "fashion": 1,
                                                     "travel": 1}), ON, {})
    broad = variety(t, "grocery", *_state(window, dict.fromkeys(CATS, 20)), ON, {})
    short = variety(t, "grocery", *_state(window, {"grocery": 3}), ON, {})
    assert narrow > short > broad


def test_off_at_a_window_of_zero_and_without_earlier_purchases() -> None:
    t = 10 * HOUR
    st, pop = _state([(t - 100.0, "fuel")], {"grocery": 10})
    assert variety(t, "grocery", st, pop, Knobs(CoreConfig(variety_window_s=0.0)), {}) == 0.0
    st.window = []
    assert variety(t, "grocery", st, pop, ON, {}) == 0.0


def test_folded_into_rate_it_adds_what_a_term_of_its_own_would() -> None:
    """The larger of the two plus the other's excess over the floor: the combined surprise
    gains each one's excess, and both reasons are given."""
    knobs = Knobs(CoreConfig(variety_window_s=HOUR))
    floor = knobs.surprise_floor
    reasons = {"rate": "5 purchases within 9 min", "variety": "5 purchases in 5 categories"}
    assert _fold(5.0, 3.5, reasons, knobs) == pytest.approx(5.0 + 3.5 - floor)
    assert reasons == {"rate": "5 purchases within 9 min; 5 purchases in 5 categories"}
    reasons = {"variety": "4 purchases in 4 categories"}
    assert _fold(0.5, 4.0, reasons, knobs) == 4.0
    assert reasons == {"rate": "4 purchases in 4 categories"}
    assert _fold(1.0, floor, {}, knobs) == 1.0  # at the floor: the term as it was
    assert _fold(1.0, floor + 0.25, {}, knobs) == floor + 0.25  # just above: it counts
    assert _fold(11.0, 9.0, {}, knobs) == knobs.surprise_cap


def test_shares_beyond_one_leave_no_negative_rest() -> None:
    """Categories the population has not seen get its smoothing share (0.5 of an event
    each), so a customer's shrunk shares can sum above 1: the rest is then 0."""
    st = CustomerState()
    st.categories = {"a": 1, "b": 1, "c": 1}
    pis, rest = shares(st, Population(), 3.0)
    assert sum(pis) > 1.0 and rest == 0.0


def test_a_fold_without_a_variety_reason_adds_none() -> None:
    knobs = Knobs(CoreConfig(variety_window_s=HOUR))
    reasons: dict[str, str] = {}
    assert _fold(5.0, 3.5, reasons, knobs) == pytest.approx(5.0 + 3.5 - knobs.surprise_floor)
    assert reasons == {}


@pytest.mark.parametrize(("window_s", "on"), [(0.0, False), (0.5, True), (1.0, True),
                                              (2.0, True)])
def test_any_positive_window_is_on_and_zero_is_off(window_s: float, on: bool) -> None:
    """Purchases in the same second and half a second earlier: counted by any window
    above 0 (even under a second); a window of 0 is off, not "the same second"."""
    t = 10 * HOUR
    st, pop = _state([(t, "fuel"), (t - 0.5, "fashion")], {"grocery": 50})
    reasons: dict[str, str] = {}
    value = variety(t, "grocery", st, pop, Knobs(CoreConfig(variety_window_s=window_s)),
                    reasons)
    assert (value > 0.0) is on and ("variety" in reasons) is on


def test_a_capped_tail_is_the_cap_less_the_tests_and_the_first_span_to_reach_it() -> None:
    """A customer of one category buying in eight others within minutes: k = 4 and
    k = 8 both reach the cap; the value is cap - ln 4 (k = 1, 2, 4, 8 tested) and the
    reason the first span that reached it."""
    t = 10 * HOUR
    others = ["fuel", "fashion", "travel", "restaurant", "electronics", "c7", "c8", "c9"]
    st, pop = _state([(t - 60.0 * (i + 1), c) for i, c in enumerate(others)],
                     {"grocery": 1000})
    knobs = Knobs(CoreConfig(variety_window_s=HOUR))
    reasons: dict[str, str] = {}
    assert variety(t, "grocery", st, pop, knobs, reasons) == pytest.approx(
        knobs.surprise_cap - math.log(4.0))
    assert reasons["variety"] == "5 purchases in 5 different categories within 4 min"


def test_variety_at_or_below_the_floor_gives_no_reason() -> None:
    """Its reason only above the floor: with the floor at the value, none."""
    t = 10 * HOUR
    st, pop = _state([(t - 60.0, "fuel"), (t - 120.0, "fashion")],
                     {"grocery": 30, "fuel": 2, "fashion": 2})
    value = variety(t, "grocery", st, pop, ON, {})
    assert value > 0.0
    for floor, said in ((value, False), (value * 1.01, False), (value * 0.99, True)):
        reasons: dict[str, str] = {}
        knobs = Knobs(CoreConfig(variety_window_s=HOUR, surprise_floor=floor))
        assert variety(t, "grocery", st, pop, knobs, reasons) == pytest.approx(value)
        assert ("variety" in reasons) is said


def test_the_cheap_test_is_asked_about_the_draws_judged() -> None:
    """One earlier purchase (k = 1): two draws, judged exactly, not spared by a bound on
    more draws (three: a rare category after a common one is no longer unlikely)."""
    t = 10 * HOUR
    counts = {"grocery": 1, "fuel": 11, "fashion": 71, "travel": 114, "restaurant": 1,
              "electronics": 1}
    st, pop = _state([(t - 1800.0, "travel")], counts)
    knobs = Knobs(CoreConfig(variety_window_s=HOUR, surprise_floor=0.5))
    pis, rest = shares(st, pop, knobs.prior_weight)
    value = variety(t, "grocery", st, pop, knobs, {})
    assert value == pytest.approx(-math.log(distinct_tail(2, 2, pis, rest)))
    assert value > 0.5


def test_variety_is_a_calibrated_tail_probability() -> None:
    """On purchases whose categories are drawn from the customer's own shares, the share
    of rows with variety above s is at most about e^-s."""
    rng = random.Random(5)
    values = []
    for _ in range(3000):
        weights = [rng.random() ** 2 for _ in CATS]
        total = sum(weights)
        counts = {c: max(1, round(200 * w / total)) for c, w in zip(CATS, weights, strict=True)}
        cats, ws = list(counts), list(counts.values())
        t = 10 * HOUR
        k = rng.choice((1, 3, 5, 8))
        window = [(t - rng.uniform(0, HOUR), c) for c in rng.choices(cats, ws, k=k)]
        st, pop = _state(window, counts)
        knobs = Knobs(CoreConfig(variety_window_s=HOUR))
        values.append(variety(t, rng.choices(cats, ws)[0], st, pop, knobs, {}))
    for s in (1.0, 2.0, 3.0):
        assert sum(v > s for v in values) / len(values) <= 1.2 * math.exp(-s)


def _tx(i: int, at: datetime, category: str) -> Transaction:
    return Transaction(transaction_id=f"c-{i}", customer_id="c1", timestamp=at, amount=30.0,
                       country="CH", channel="app", device="mobile", merchant_category=category,
                       ip="192.168.1.7")


def test_a_hop_through_every_category_raises_the_activity_term() -> None:
    """Through the engine: a regular grocery buyer's six purchases in six categories,
    ten minutes apart, score a higher `rate` with variety on (judged at the 4th earlier
    purchase: k in `SPANS`)."""
    start = datetime(2025, 3, 3)
    rows = [_tx(i, start + timedelta(hours=7 * i), "grocery" if i % 10 else "fuel")
            for i in range(200)]
    end = rows[-1].timestamp + timedelta(days=1)
    rows += [_tx(300 + j, end + timedelta(minutes=10 * j), c) for j, c in enumerate(CATS)]

    def last_rate(config: CoreConfig) -> tuple[float, list[str]]:
        engine = PartitionEngine(config)
        engine.tap = []
        engine.process(rows)
        raw, _, reasons, _ = engine.tap[-1]
        return raw[TERMS.index("rate")], [reasons.get("rate", "")]

    off, _ = last_rate(CoreConfig(variety_window_s=0.0))
    on, why = last_rate(CoreConfig(variety_window_s=HOUR))
    assert on > off
    assert "5 purchases in 5 different categories within 40 min" in why[0]


def test_through_the_engine_a_window_under_a_second_is_on() -> None:
    """`terms` folds variety in for any positive window: six categories within half a
    second are judged with a window of one second (and of half a second)."""
    start = datetime(2025, 3, 3)
    rows = [_tx(i, start + timedelta(hours=7 * i), "grocery" if i % 10 else "fuel")
            for i in range(200)]
    end = rows[-1].timestamp + timedelta(days=1)
    rows += [_tx(300 + j, end + timedelta(milliseconds=100 * j), c)
             for j, c in enumerate(CATS)]
    for window_s in (0.5, 1.0):
        engine = PartitionEngine(CoreConfig(variety_window_s=window_s))
        engine.tap = []
        engine.process(rows)
        _, _, reasons, _ = engine.tap[-1]
        assert "different categories" in reasons.get("rate", "")

