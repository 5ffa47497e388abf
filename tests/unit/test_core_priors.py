"""Issue 13, gap 3: the population's rate of new values a short history is shrunk to is
tracked per band of learnt events (`CoreConfig.prior_bands`), so a sparse customer is
not judged by the most active customers' habits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.habits import learn_habits
from detector.core.knobs import Knobs
from detector.core.state import BANDED, CustomerState, Population, history_band
from shared.schemas import Transaction
from tests.unit.test_core_surprise import START, scored_terms, tx

CATEGORIES = ("books", "fashion", "travel", "garden", "toys", "music", "sports", "beauty")


@pytest.mark.parametrize(("learnt", "band"), [
    (0, 0), (1, 0), (5, 0), (6, 1), (20, 1), (21, 2), (100, 2), (101, 3), (10**6, 3)])
def test_a_band_holds_its_upper_bound_and_the_last_band_is_open(learnt: int, band: int
                                                                 ) -> None:
    assert history_band(learnt, (5, 20, 100)) == band


def test_without_bands_there_is_no_band() -> None:
    assert history_band(3, ()) == -1


@pytest.mark.parametrize("bands", [(20, 5), (0, 5), (5, 5)])
def test_bands_must_be_increasing_counts_of_at_least_one(bands: tuple[int, ...]) -> None:
    with pytest.raises(ValidationError):
        CoreConfig(prior_bands=bands)


def test_a_band_rate_is_shrunk_to_the_established_rate_and_falls_back_to_it() -> None:
    """Established customers take a new value on 1 in 10 units of unused mass; the first
    band on 9 in 10: its rate is (45 + 5 x pooled) / (50 + 5), the pooled one stays
    (10 + 5) / (100 + 5), and a band nobody counted (or a snapshot older than bands) is
    the pooled rate."""
    pop = Population()
    for i in range(100):
        pop.learn_novelty("category", i % 10 == 0, 1.0, 3, True)
    for i in range(50):
        pop.learn_novelty("category", i % 10 != 0, 1.0, 0, False)
    pooled = (10 + 5.0) / (100 + 5.0)
    assert pop.new_rate("category") == pytest.approx(pooled)
    assert pop.new_rate("category", 0) == pytest.approx((45 + 5 * pooled) / 55)
    assert pop.new_rate("category", 1) == pytest.approx(pooled)
    del pop.novelty[BANDED["category"][0]]
    assert pop.new_rate("category", 0) == pytest.approx(pooled)


def test_a_short_history_teaches_its_band_but_not_the_established_rate() -> None:
    """A customer's 2nd learnt event (learnt 1: not yet established, `min_history` 5)
    counts in the first band only; without bands it counts nowhere (as before)."""
    held = ("CH", "mobile", "10.0.0", "app", "books", 12, 3.9)
    for bands, counted in (((5, 20, 100), True), ((), False)):
        st, pop = CustomerState(), Population()
        knobs = Knobs(CoreConfig(prior_bands=bands))
        learn_habits(st, pop, knobs, ("CH", "mobile", "10.0.0", "app", "grocery", 12, 3.9))
        learn_habits(st, pop, knobs, held)
        assert "category" not in pop.novelty
        assert (BANDED["category"][0] in pop.novelty) is counted
        if counted:
            assert pop.novelty[BANDED["category"][0]][0] == 1.0  # books was new


def _mixed_population() -> list[Transaction]:
    """Sparse customers who try a new category at most of their few purchases, and three
    very active ones who always buy groceries (they make most of the events)."""
    rows = []
    for c in range(40):
        for i in range(8):
            rows.append(tx(1000 * c + i, START + timedelta(days=3 * i, hours=c % 9 + 9),
                           45.0, customer=f"s{c}", category=CATEGORIES[(c + i) % 8]))
    for c in range(3):
        for i in range(400):
            rows.append(tx(90000 + 1000 * c + i, START + timedelta(hours=i * 0.5 + c),
                           45.0, customer=f"a{c}"))
    return rows


def _probe_term(term: str, days: tuple[int, ...], categories: tuple[str, ...]
                ) -> tuple[float, float]:
    """A new sparse customer's purchases (of 45.00, `days` after the mixed population's
    last day, in `categories`) after `_mixed_population`: `term` of the last one with the
    default bands and without bands (pooled)."""
    base = _mixed_population()
    end = max(r.timestamp for r in base) + timedelta(days=1)
    probe = [tx(5000 + i, end + timedelta(days=d), 45.0, customer="z", category=c)
             for i, (d, c) in enumerate(zip(days, categories, strict=True))]
    rows = sorted([*base, *probe], key=lambda r: r.timestamp)
    return (scored_terms(rows)[-1][term],
            scored_terms(rows, CoreConfig(prior_bands=()))[-1][term])


def test_a_sparse_customer_is_judged_by_short_histories_not_by_the_most_active() -> None:
    """A sparse customer's 3rd purchase, in a category new to them: with one established
    rate (the active customers' events: nobody explores) it is a surprise; against the
    first band's rate (sparse customers' first purchases: exploring is usual) it is not
    worth a flag."""
    banded, pooled = _probe_term("category", (0, 3, 6), ("garden", "garden", "music"))
    assert pooled > 3.0
    assert banded < pooled - 1.5


def test_a_gap_prior_is_its_band_mean_shrunk_to_the_pooled_one() -> None:
    pop = Population()
    pop.gap_mean = 3600.0
    assert pop.gap_prior(0) == pop.gap_prior(-1) == 3600.0  # no band counted yet
    for _ in range(50):
        pop.learn_gap(1, 86400.0)
    assert pop.gap_bands[0] == [0.0, 0.0]
    assert pop.gap_prior(1) == pytest.approx((50 * 86400.0 + 50 * 3600.0) / 100)
    assert pop.gap_prior(2) == 3600.0


def test_a_gap_is_counted_in_the_band_of_the_gaps_before_it() -> None:
    """Eight purchases make seven gaps; with bands (5,) the first six (0 to 5 gaps
    before them) count in band 0, the seventh in band 1."""
    engine = PartitionEngine(CoreConfig(prior_bands=(5,)))
    engine.process([tx(i, START + timedelta(days=i)) for i in range(8)])
    counts = [c for c, _ in engine._state()[1].gap_bands]
    assert counts == [6.0, 1.0]
    off = PartitionEngine(CoreConfig(prior_bands=()))
    off.process([tx(i, START + timedelta(days=i)) for i in range(8)])
    assert off._state()[1].gap_bands == []


def test_a_sparse_customers_silence_is_judged_by_short_histories_gaps() -> None:
    """Sparse customers buy every 3 days, three very active ones every half hour (most
    gaps). A sparse customer's 10-day silence after one 3-day gap: against the pooled
    gap (the active customers') it is dormancy; against the gaps of customers with as
    short a history, much less."""
    banded, pooled = _probe_term("dormancy", (0, 3, 13), ("garden",) * 3)
    assert pooled > 3.0
    assert banded < pooled - 1.0


def test_a_band_gap_is_a_running_mean() -> None:
    """Gaps of 10, 20 and 60 s: the band's mean is their mean, 30 s (each gap weighs one
    over the count so far)."""
    pop = Population()
    for gap in (10.0, 20.0, 60.0):
        pop.learn_gap(0, gap)
    assert pop.gap_bands == [[3.0, pytest.approx(30.0)]]


@pytest.mark.parametrize(("gaps", "count", "mean"), [
    (4999, 4999.0, 100.0 + 5000.0 / 4999.0),
    (5000, 5000.0, 100.0 + 5000.0 / 5000.0),
    (5001, 5000.0, 100.0 + 5000.0 / 5000.0)])
def test_a_band_gap_mean_moves_by_one_5000th_from_its_5000th_gap(
        gaps: int, count: float, mean: float) -> None:
    """`gaps` - 1 gaps of 100 s, then one of 5100 s: up to 5000 gaps the last one weighs
    one over the count (a mean), beyond that the count stays 5000 (a moving average)."""
    pop = Population()
    for _ in range(gaps - 1):
        pop.learn_gap(0, 100.0)
    pop.learn_gap(0, 5100.0)
    assert pop.gap_bands[0] == [count, pytest.approx(mean, rel=1e-12)]


def test_the_first_bands_gap_prior_is_its_mean_shrunk_to_the_pooled_one() -> None:
    """Band 0 (the shortest histories) is a band like the others, not "no band"."""
    pop = Population()
    pop.gap_mean = 3600.0
    for _ in range(25):
        pop.learn_gap(0, 86400.0)
    assert pop.gap_prior(0) == pytest.approx((25 * 86400.0 + 50 * 3600.0) / 75)
    assert pop.gap_prior(-1) == 3600.0


def test_without_established_data_the_rate_is_one_and_a_band_is_shrunk_to_one() -> None:
    """Nobody established yet: a customer draws values as everybody does (rate 1), and a
    band's rate is shrunk to that: 2 new of 10 units -> (2 + 5 x 1) / (10 + 5)."""
    pop = Population()
    assert pop.new_rate("device") == 1.0 and pop.new_rate("device", 0) == 1.0
    for i in range(10):
        pop.learn_novelty("device", i < 2, 1.0, 0, False)
    assert "device" not in pop.novelty
    assert pop.new_rate("device") == 1.0
    assert pop.new_rate("device", 0) == pytest.approx(7.0 / 15.0)
