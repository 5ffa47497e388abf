"""The low side of the amount term: a customer's rate of amounts this far below their level,
shrunk to the population's (a conformal p-value over counted deviations), so that amounts
spread additively (bounded below by zero: a heavy low tail in log terms) are calibrated."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import numpy as np
import pytest

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.features import Observation
from detector.core.knobs import Knobs
from detector.core.lowtail import amount_z, low_rate
from detector.core.state import LOW_BINS, LOW_RANGE, CustomerState, Population
from shared.schemas import Transaction
from tests.unit.test_core_surprise import START, habitual_stream, scored_terms, tx

CONFIG = CoreConfig()
KNOBS = Knobs(CONFIG)


def additive_stream(customers: int = 40, per_customer: int = 200, seed: int = 5
                    ) -> list[Transaction]:
    """Customers whose amounts are their level plus normal noise (a third of the level,
    folded at zero, as many real amounts are: a fee, a partial payment), everything else
    habitual: one category, channel, device and network, daytime hours."""
    rng = random.Random(seed)
    rows = []
    for c in range(customers):
        level = rng.uniform(40, 400)
        hours = [rng.randint(8, 20) for _ in range(4)]
        t = START + timedelta(hours=rng.uniform(0, 24))
        for i in range(per_customer):
            t += timedelta(hours=rng.expovariate(1 / 11.0))
            at = t.replace(hour=rng.choice(hours), minute=rng.randrange(60))
            amount = max(0.01, round(abs(rng.gauss(level, level / 3.0)), 2))
            rows.append(tx(i, at, amount, customer=f"a{c}"))
    rows.sort(key=lambda r: r.timestamp)
    return rows


def _established(rows: list[Transaction], terms: list[dict[str, float]], after: int = 40
                 ) -> list[dict[str, float]]:
    count: dict[str, int] = {}
    kept = []
    for row, values in zip(rows, terms, strict=True):
        count[row.customer_id] = count.get(row.customer_id, 0) + 1
        if count[row.customer_id] > after:
            kept.append(values)
    return kept


def test_low_amounts_spread_additively_are_calibrated() -> None:
    """Amounts ~ Normal(level, level/3): in log terms their low tail is far heavier than a
    logistic's (1/10 of the level is ~1 in 300, which the logistic calls ~e^-12). The share
    of established rows with amount_low above s is about e^-s, deep in the tail too."""
    rows = additive_stream()
    kept = _established(rows, scored_terms(rows))
    low = np.array([k["amount_low"] for k in kept])
    for s in (3.0, 4.0, 5.0, 6.0):
        share = float((low > s).mean())
        assert 0.3 * math.exp(-s) <= share <= 1.5 * math.exp(-s), (s, share)


def test_log_normal_amounts_keep_their_calibration() -> None:
    """Amounts that are log-logistic around the level (the term's own model): the low
    side stays calibrated (the population's share only ever adds probability)."""
    rows = habitual_stream()
    kept = _established(rows, scored_terms(rows))
    low = np.array([k["amount_low"] for k in kept])
    for s in (1.0, 2.0, 3.0, 4.0):
        share = float((low > s).mean())
        assert 0.5 * math.exp(-s) <= share <= 1.5 * math.exp(-s), (s, share)


# --- the population's counted deviations: a conformal p-value -----------------------------


def test_without_counted_amounts_the_population_tells_nothing() -> None:
    assert Population().low_share(-8.0) == 1.0


def test_an_amount_above_its_level_is_counted_but_in_no_bin() -> None:
    pop = Population()
    pop.learn_low(0.5)
    pop.learn_low(0.0)
    assert pop.low_n == 2 and sum(pop.low) == 0
    assert pop.low_share(-0.01) == pytest.approx(1 / 3)


@pytest.mark.parametrize("z", [-0.0, 0.0, 0.3, 7.0])
def test_at_or_above_the_level_the_share_is_one(z: float) -> None:
    """1 exactly at the level (either zero's sign), not the share of all the counted
    amounts' bins (10 of 11 here: one amount above its level is counted in none)."""
    pop = Population()
    for _ in range(10):
        pop.learn_low(-2.0)
    pop.learn_low(0.5)
    assert pop.low_share(z) == 1.0


@pytest.mark.parametrize(("value", "counted"), [
    (-0.9999, False),  # one bin up (-1.0, -0.75]: above the query's bin
    (-1.0, True),      # the query's bin (-1.25, -1.0], its upper edge: counted (conservative)
    (-1.2499, True),   # the same bin, below the query
    (-1.25, True),     # the next bin down
])
def test_a_deviation_counts_for_every_z_of_its_bin_and_above_it(value: float, counted: bool
                                                                 ) -> None:
    pop = Population()
    pop.learn_low(value)
    for _ in range(9):
        pop.learn_low(1.0)
    assert pop.low_share(-1.1) == pytest.approx((1 + counted) / 11)


def test_the_conformal_share_counts_every_deviation_at_least_as_low_plus_one() -> None:
    pop = Population()
    for z in (-0.1, -2.0, -3.0, -3.1, -6.0):
        pop.learn_low(z)
    assert pop.low_share(-3.0) == pytest.approx((3 + 1) / (5 + 1))
    assert pop.low_share(-6.0) == pytest.approx((1 + 1) / (5 + 1))
    assert pop.low_share(-6.25) == pytest.approx(1 / 6)  # lower than all: 1 / (n + 1)


def test_deviations_beyond_the_range_share_the_last_bin() -> None:
    pop = Population()
    pop.learn_low(-LOW_RANGE - 10.0)
    pop.learn_low(-LOW_RANGE - 0.1)
    assert pop.low[-1] == 2
    assert pop.low_share(-LOW_RANGE * 3.0) == pytest.approx(3 / 3)
    assert len(pop.low) == LOW_BINS * LOW_RANGE + 1


@pytest.mark.parametrize(("before", "halved"), [(19_999, False), (20_000, True)])
def test_the_counts_halve_exactly_at_the_window(before: int, halved: bool) -> None:
    pop = Population()
    pop.low_n, pop.low[8] = before, 7
    pop.learn_low(-2.0)  # bin 8
    assert pop.low_n == (before // 2 + 1 if halved else before + 1)
    assert pop.low[8] == (7 // 2 + 1 if halved else 8)


def test_the_share_is_a_valid_p_value_on_exchangeable_deviations() -> None:
    """For deviations drawn alike (here with a heavy low tail), P(share <= a) <= a: the
    share is never more confident than the counted data allow, and not far less."""
    rng = np.random.default_rng(11)

    def draw(n: int) -> np.ndarray:
        return -rng.exponential(1.5, n) + rng.normal(0.0, 0.5, n)

    pop = Population()
    for z in draw(4000).tolist():
        pop.learn_low(z)
    shares = np.array([pop.low_share(z) for z in draw(20_000).tolist()])
    for a in (0.005, 0.02, 0.1):
        got = float((shares <= a).mean())
        assert 0.4 * a <= got <= 1.2 * a, (a, got)


# --- the customer's rate, shrunk to the population's -------------------------------------


def _observation(log_amount: float) -> Observation:
    o = Observation()
    o.log_amount = log_amount
    return o


def _population(low: float, rest: int) -> Population:
    pop = Population()
    pop.learn_low(low)
    for _ in range(rest):
        pop.learn_low(1.0)
    return pop


def test_the_customers_own_low_amounts_shrunk_to_the_populations_rate() -> None:
    st = CustomerState()
    st.amounts = [1.0, 2.0, 3.0, 4.0, 5.0]
    pop = _population(-6.0, 98)
    k = CONFIG.new_value_prior
    p = pop.low_share(-6.0)
    assert p == pytest.approx(2 / 100)
    # amounts at or below this one count (2.0 is equal): 2 of the customer's 5
    assert low_rate(st, pop, _observation(2.0), -6.0, KNOBS) == pytest.approx(
        (2 + k * p) / (5 + k))
    assert low_rate(st, pop, _observation(1.999), -6.0, KNOBS) == pytest.approx(
        (1 + k * p) / (5 + k))


@pytest.mark.parametrize("history", [2, 32])
def test_not_having_made_such_a_purchase_is_no_evidence_against_it(history: int) -> None:
    """Below every kept amount, short or long history: the population's rate, not less."""
    st = CustomerState()
    st.amounts = [5.0] * history
    pop = _population(-6.0, 98)
    assert low_rate(st, pop, _observation(1.0), -6.0, KNOBS) == pop.low_share(-6.0)


def test_own_low_amounts_never_make_it_rarer_than_the_population_says() -> None:
    st = CustomerState()
    st.amounts = [1.0] + [5.0] * 31  # 1 of 32: (1 + 30 p) / 62 < p when p is large
    pop = _population(-1.0, 1)
    assert pop.low_share(-1.0) == pytest.approx(2 / 3)
    assert low_rate(st, pop, _observation(1.0), -1.0, KNOBS) == pop.low_share(-1.0)


# --- what the population counts ---------------------------------------------------------


def _ordinary(n: int, customer: str = "c1") -> list[Transaction]:
    return [tx(i, START + timedelta(days=i, hours=12), 50.0 + i % 5, customer=customer)
            for i in range(n)]


def test_a_customers_first_purchase_is_not_counted() -> None:
    engine = PartitionEngine(CONFIG)
    engine.process([tx(0, START, 50.0)])
    assert engine._state()[1].low_n == 0
    engine.process([tx(1, START + timedelta(days=1), 52.0)])
    assert engine._state()[1].low_n == 1


def test_a_low_amount_ordinary_otherwise_is_counted_one_odd_otherwise_is_not() -> None:
    rows = _ordinary(30)
    end = rows[-1].timestamp + timedelta(days=1)
    plain = PartitionEngine(CONFIG)
    plain.process([*rows, tx(99, end, 3.0)])
    odd = PartitionEngine(CONFIG)
    odd.process([*rows, tx(99, end, 3.0, country="BR", device="emulator", channel="web",
                           ip="81.2.3.4")])
    low_bins = slice(4 * LOW_BINS, None)  # four robust z and lower
    assert sum(plain._state()[1].low[low_bins]) == 1
    assert sum(odd._state()[1].low[low_bins]) == 0
    assert plain._state()[1].low_n == odd._state()[1].low_n + 1


def test_the_same_low_amount_is_judged_by_the_populations_low_tail() -> None:
    """The same 1/10 purchase of a customer with a narrow habit: amid customers whose low
    amounts are rare (log-logistic) it stays very surprising; amid customers whose amounts
    are spread additively (1/10 of the usual happens) it is about their rate of it."""
    def probe_after(crowd: list[Transaction]) -> float:
        end = crowd[-1].timestamp + timedelta(days=1)
        mine = [tx(500 + i, end + timedelta(hours=5 * i), 100.0 + i % 3, customer="n1")
                for i in range(20)]
        probe = tx(599, mine[-1].timestamp + timedelta(hours=5), 10.0, customer="n1")
        # without the repetition over days: equal prices are left out over days, but the
        # customer's three (1% apart, closer than the amount scale's floor of 0.15 says)
        # read as similar amounts, and it holds them
        return scored_terms([*crowd, *mine, probe],
                            CoreConfig(similar_window_s=0.0))[-1]["amount_low"]

    light = probe_after(habitual_stream())
    heavy = probe_after(additive_stream(customers=30, per_customer=160))
    assert light > 8.0
    assert 3.0 < heavy < 7.0


@pytest.mark.parametrize(("kept", "prior", "factor"), [
    (0, 0.0, 2.0),          # no amount, no prior: the level is a guess as wide as one amount
    (0, 3.0, 1.25),         # the prior's pseudo-amounts narrow it
    (1, 3.0, 1.2),
    (32, 3.0, 1 + 1 / 36),  # many kept amounts: hardly widened
])
def test_the_amount_scale_is_widened_for_a_level_from_few_amounts(
        kept: int, prior: float, factor: float) -> None:
    """The scale of a new amount around a level from `kept` amounts and the prior's
    pseudo-amounts is widened like a prediction's: variance x (1 + 1 / (kept + prior + 1));
    the deviation itself (z x scale) is unchanged."""
    st = CustomerState()
    st.amounts = [4.0] * kept
    o = Observation()
    o.amount_scale, o.amount_z = 0.5, -3.0
    z, scale = amount_z(st, o, Knobs(CONFIG.model_copy(update={"prior_weight": prior})))
    assert scale == pytest.approx(0.5 * math.sqrt(factor))
    assert z * scale == pytest.approx(-3.0 * 0.5)
