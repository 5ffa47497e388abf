"""bench/category_whatif.py's distance of a new category: a conformal surprise, calibrated
when first purchases in a category are exchangeable, past rows only, none on a known
category; its weight, omega squared of earlier amounts between categories: the textbook
value at its bounds, past rows only, about 0 where amounts ignore categories."""

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


def textbook_omega_squared(groups: list[list[float]]) -> float:
    """Omega squared from the groups' values, written out (Hays): the reference."""
    values = np.concatenate([np.asarray(g, dtype=float) for g in groups])
    grand = values.mean()
    between = sum(len(g) * (np.mean(g) - grand) ** 2 for g in groups)
    within = sum(float(((np.asarray(g) - np.mean(g)) ** 2).sum()) for g in groups)
    ms_within = within / (len(values) - len(groups))
    return float((between - (len(groups) - 1) * ms_within) / (between + within + ms_within))


def omega_of(groups: list[list[float]]) -> float:
    return category_whatif.omega_squared([len(g) for g in groups], [sum(g) for g in groups],
                                         [sum(v * v for v in g) for g in groups])


def test_omega_squared_is_the_textbook_value_clamped_to_0_and_1() -> None:
    groups = [[1.0, 2.0, 3.5], [4.0, 6.0, 5.5], [2.5, 3.0, 1.0, 1.5]]  # 0.616
    assert omega_of(groups) == pytest.approx(textbook_omega_squared(groups))
    assert 0.0 < omega_of([[1.0, 2.0], [5.0, 6.0]]) < 1.0
    # means closer than chance puts them: the textbook value is negative, the weight 0
    close = [[1.0, 5.0], [1.1, 5.1], [0.9, 4.9]]
    assert textbook_omega_squared(close) < 0.0
    assert omega_of(close) == 0.0
    # no spread within the categories, some between: all of it is theirs
    assert omega_of([[1.0, 1.0], [3.0, 3.0]]) == 1.0
    assert omega_of([[2.0, 2.0], [2.0, 2.0]]) == 0.0  # no spread at all


def test_omega_squared_needs_two_categories_and_a_row_more_than_categories() -> None:
    assert omega_of([[1.0, 2.0, 3.0]]) == 0.0  # one category
    assert omega_of([[1.0], [5.0]]) == 0.0  # rows == categories: no within spread known
    three = [[1.0, 1.5], [5.0]]  # one row more than categories: counted
    assert omega_of(three) == pytest.approx(textbook_omega_squared(three))
    assert omega_of(three) > 0.9
    assert category_whatif.omega_squared([], [], []) == 0.0


@pytest.mark.parametrize("kind", category_whatif.WEIGHTS)
def test_a_rows_weight_is_omega_squared_of_the_earlier_rows_only(kind: str) -> None:
    names, amounts, cats = stream(40, 15, seed=5)
    weight = category_whatif.category_weight(names, amounts, cats, kind)
    logs = np.log(amounts)
    for i in (0, 1, 2, 41, 300, len(names) - 1):
        groups: dict[str, list[float]] = {}
        for j in range(i):
            earlier = [logs[m] for m in range(j) if names[m] == names[j]]
            if kind == "eta":
                groups.setdefault(cats[j], []).append(float(logs[j]))
            elif earlier:
                groups.setdefault(cats[j], []).append(float(logs[j] - np.mean(earlier)))
        values = list(groups.values())
        rows = sum(len(g) for g in values)
        expected = (min(1.0, max(0.0, textbook_omega_squared(values)))
                    if len(values) >= 2 and rows > len(values) else 0.0)
        assert weight[i] == pytest.approx(expected, abs=1e-9), i
    changed = amounts.copy()
    changed[300:] *= np.exp(np.linspace(0.0, 3.0, len(names) - 300))
    cut = category_whatif.category_weight(names, changed, cats, kind)
    assert np.array_equal(weight[:301], cut[:301])  # row 300's weight reads rows 0-299
    assert not np.array_equal(weight[301:], cut[301:])


def test_the_within_weight_skips_each_customers_first_row() -> None:
    names = [f"c{i}" for i in range(200)]
    rng = np.random.default_rng(6)
    cats = [CATEGORIES[i % 2] for i in range(200)]
    amounts = np.exp(np.where(np.arange(200) % 2 == 0, 2.0, 5.0) + rng.normal(0, 0.1, 200))
    assert category_whatif.category_weight(names, amounts, cats, "eta")[-1] > 0.9
    assert not category_whatif.category_weight(names, amounts, cats, "within").any()


def flat_stream(customers: int, per: int, seed: int) -> tuple[list[str], np.ndarray, list[str]]:
    """As `stream`, but each amount ignores its category (the reference recipe's way)."""
    names, _, cats = stream(customers, per, seed)
    rng = np.random.default_rng(seed + 100)
    level = rng.normal(4.0, 0.7, customers)
    amounts = np.exp(np.array([level[int(c[1:])] for c in names])
                     + rng.normal(0.0, 0.35, len(names)))
    return names, amounts, cats


@pytest.mark.parametrize("kind", category_whatif.WEIGHTS)
def test_where_amounts_do_not_follow_categories_the_weight_is_about_0_and_the_term_with_it(
        kind: str) -> None:
    names, amounts, cats = flat_stream(300, 30, seed=7)
    weight = category_whatif.category_weight(names, amounts, cats, kind)
    half = len(names) // 2
    assert weight[half:].max() < 0.005
    term, done = category_whatif.distance_terms(names, amounts, cats, "amount_up")
    assert term[done].max() > 5.0  # the unweighed term is large somewhere
    assert (weight * term)[half:].max() < 0.05
    # the same customers whose amounts follow their categories: a weight that counts
    names, amounts, cats = stream(300, 30, seed=7)
    assert category_whatif.category_weight(names, amounts, cats, kind)[half:].min() > 0.2


def test_variants_name_a_distance_and_perhaps_a_weight() -> None:
    assert category_whatif.parse_variant("amount_up") == ("amount_up", None)
    assert category_whatif.parse_variant("amount_up*within") == ("amount_up", "within")
    with pytest.raises(ValueError, match="weight 'median' not in"):
        category_whatif.parse_variant("amount*median")
    with pytest.raises(ValueError, match="mode 'far' not in"):
        category_whatif.parse_variant("far*eta")
    with pytest.raises(ValueError, match="weight 'x' not in"):
        category_whatif.category_weight(["c"], np.array([1.0]), ["a"], "x")
