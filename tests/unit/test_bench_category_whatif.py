"""bench/category_whatif.py's distance of a new category: a conformal surprise, calibrated
when first purchases in a category are exchangeable, past rows only, none on a known
category."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import category_whatif

CATEGORIES = ("a", "b", "c", "d", "e", "f", "g", "h")
LEVELS = np.linspace(-1.0, 1.5, len(CATEGORIES))


def stream(customers: int, per: int, seed: int) -> tuple[list[str], np.ndarray, list[str]]:
    """Customers in turn, each buying from their own random categories (drawn from a
    Dirichlet) at a lognormal amount around their level x the category's price level."""
    rng = np.random.default_rng(seed)
    shares = rng.dirichlet(np.full(len(CATEGORIES), 0.6), size=customers)
    level = rng.normal(4.0, 0.7, customers)
    names, amounts, cats = [], [], []
    for _ in range(per):
        for j in range(customers):
            k = int(rng.choice(len(CATEGORIES), p=shares[j]))
            names.append(f"c{j}")
            cats.append(CATEGORIES[k])
            amounts.append(math.exp(level[j] + LEVELS[k] + rng.normal(0.0, 0.35)))
    return names, np.array(amounts), cats


def test_conformal_counts_ties_as_at_least_as_far() -> None:
    ref = [0.1, 0.5, 0.5, 0.9]
    assert category_whatif.conformal(ref, 0.5) == pytest.approx(-math.log(4 / 5))  # 0.5, 0.5, 0.9
    assert category_whatif.conformal(ref, 0.50001) == pytest.approx(-math.log(2 / 5))
    assert category_whatif.conformal(ref, 0.49999) == pytest.approx(-math.log(4 / 5))
    assert category_whatif.conformal(ref, 2.0) == pytest.approx(math.log(5))  # none: 1 / 5
    assert category_whatif.conformal([], 2.0) == 0.0


@pytest.mark.parametrize("mode", category_whatif.MODES)
def test_on_new_categories_drawn_from_the_customers_own_habits_the_share_above_s_is_at_most_about_e_minus_s(  # noqa: E501
        mode: str) -> None:
    """600 customers, 60 purchases each: among the rows in a category new to their
    customer, the share whose term exceeds s is below 1.15 e^-s for s = 1..3 (a conformal
    p-value is valid; ties make it conservative) and, for the continuous `amount`
    distances, not far below (0.6 e^-s)."""
    names, amounts, cats = stream(600, 60, seed=1)
    term, done = category_whatif.distance_terms(names, amounts, cats, mode)
    assert done.sum() > 1000
    for s in (1.0, 2.0, 3.0):
        share = float(np.mean(term[done] > s))
        assert share < 1.15 * math.exp(-s), (s, share)
        if mode.startswith("amount"):
            assert share > 0.6 * math.exp(-s), (s, share)


@pytest.mark.parametrize("mode", category_whatif.MODES)
def test_a_rows_term_reads_no_later_row(mode: str) -> None:
    names, amounts, cats = stream(50, 20, seed=2)
    full, done = category_whatif.distance_terms(names, amounts, cats, mode)
    changed = amounts.copy()
    changed[600:] *= 9.0
    cut, cut_done = category_whatif.distance_terms(names, changed, cats, mode)
    assert np.array_equal(full[:600], cut[:600])
    assert np.array_equal(done, cut_done)
    assert not np.array_equal(full[600:], cut[600:])


def test_only_a_category_new_to_its_customer_gets_a_term() -> None:
    names, amounts, cats = stream(50, 20, seed=3)
    term, done = category_whatif.distance_terms(names, amounts, cats, "mean")
    seen: dict[str, set[str]] = {}
    for i, (c, k) in enumerate(zip(names, cats, strict=True)):
        if done[i]:
            assert k not in seen.get(c, set())
        if k in seen.get(c, set()) or c not in seen:
            assert not done[i] and term[i] == 0.0
        seen.setdefault(c, set()).add(k)


def test_a_dearer_move_surprises_more_than_a_nearby_one() -> None:
    """After a population of customers who take their new categories near their own, a
    customer of the cheapest category whose first new one is the dearest is far in the
    reference; one who moves to the next cheapest is not."""
    names, amounts, cats = stream(300, 30, seed=4)
    base = len(names)
    extra_names = ["x", "x", "y", "y"]
    extra_cats = ["a", "h", "a", "b"]
    extra_amounts = np.exp(4.0 + LEVELS[[0, 7, 0, 1]])
    term, done = category_whatif.distance_terms(
        names + extra_names, np.concatenate([amounts, extra_amounts]), cats + extra_cats,
        "mean_up")
    assert done[base + 1] and done[base + 3]
    assert term[base + 1] > 3.0 > 1.0 > term[base + 3], (term[base + 1], term[base + 3])


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="not in"):
        category_whatif.distance_terms(["c"], np.array([1.0]), ["a"], "far")
