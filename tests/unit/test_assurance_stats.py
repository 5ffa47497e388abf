"""The assurance formulas (`sink.assurance`) against from-scratch computations."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sink.assurance import Stratum, implied_recall, miss_rate, wilson

Z = 1.959963984540054


def _score_test_bounds(k: float, n: float) -> tuple[float, float]:
    """The Wilson interval by its definition: every p whose score test |p^ - p| /
    sqrt(p (1 - p) / n) <= z accepts, found by bisection (no closed form used)."""
    phat = k / n

    def accepts(p: float) -> bool:
        if p <= 0.0 or p >= 1.0:
            return phat == p
        return abs(phat - p) <= Z * math.sqrt(p * (1 - p) / n)

    def edge(inside: float, outside: float) -> float:
        for _ in range(200):
            mid = (inside + outside) / 2
            inside, outside = (mid, outside) if accepts(mid) else (inside, mid)
        return inside

    centre = min(max(phat, 1e-12), 1 - 1e-12)
    return edge(centre, 0.0), edge(centre, 1.0)


@given(n=st.integers(1, 5_000), data=st.data())
def test_wilson_equals_the_score_test_inversion(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    p, lo, hi = wilson(k, n)  # type: ignore[misc]
    want_lo, want_hi = _score_test_bounds(k, n)
    assert p == k / n
    assert lo == pytest.approx(0.0 if k == 0 else want_lo, abs=1e-9)
    assert hi == pytest.approx(1.0 if k == n else want_hi, abs=1e-9)
    assert lo <= p <= hi


def test_wilson_of_nothing_is_unknown_and_a_textbook_value_holds() -> None:
    assert wilson(0, 0) is None
    # Newcombe (1998), table I: 81 of 263 -> 0.2553 .. 0.3662
    _p, lo, hi = wilson(81, 263)  # type: ignore[misc]
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)


def test_wilson_covers_about_95_percent() -> None:
    rng = random.Random(3)
    hits = 0
    for _ in range(2_000):
        true = rng.choice((0.02, 0.1, 0.4))
        n = rng.choice((30, 100, 400))
        k = sum(rng.random() < true for _ in range(n))
        _p, lo, hi = wilson(k, n)  # type: ignore[misc]
        hits += lo <= true <= hi
    assert 0.93 <= hits / 2_000 <= 0.97


@given(st.lists(st.tuples(st.integers(1, 10_000), st.integers(1, 60), st.data()),
                min_size=1, max_size=8))
def test_miss_rate_equals_the_stratified_formula_from_scratch(
    strata: list[tuple[int, int, st.DataObject]],
) -> None:
    rows = [(pop, n, data.draw(st.integers(0, n))) for pop, n, data in strata]
    got = miss_rate([Stratum(pop, n, x) for pop, n, x in rows])
    total = sum(pop for pop, _n, _x in rows)
    p = sum(pop / total * x / n for pop, n, x in rows)
    var_factor = sum((pop / total) ** 2 / n for pop, n, _x in rows)
    n_eff = 1 / var_factor
    lo, hi = _score_test_bounds(p * n_eff, n_eff)
    assert got is not None
    assert got[0] == pytest.approx(p, abs=1e-12)
    assert got[3] == pytest.approx(n_eff, rel=1e-12)
    assert got[1] == pytest.approx(0.0 if p == 0 else lo, abs=1e-9)
    assert got[2] == pytest.approx(1.0 if p == 1 else hi, abs=1e-9)


def test_one_stratum_is_the_plain_wilson_interval_and_strata_without_reviews_are_left_out(
) -> None:
    assert miss_rate([Stratum(5_000, 200, 3), Stratum(7_000, 0, 0)])[:3] == wilson(3, 200)  # type: ignore[index]
    assert miss_rate([Stratum(5_000, 0, 0)]) is None
    # proportional allocation: the pooled Wilson interval
    got = miss_rate([Stratum(1_000, 10, 1), Stratum(3_000, 30, 0)])
    assert got is not None and got[0] == pytest.approx(0.025)
    assert got[3] == pytest.approx(40.0)


def test_implied_recall_combines_the_bounds_the_conservative_way() -> None:
    # 1,000 flagged rows, 80% precise: 800 found; 99,000 unflagged, 0.2% missed: 198.
    got = implied_recall(1_000, (0.8, 0.7, 0.9), 99_000, (0.002, 0.001, 0.004))
    assert got is not None
    assert got[0] == pytest.approx(800 / (800 + 198))
    assert got[1] == pytest.approx(700 / (700 + 396))
    assert got[2] == pytest.approx(900 / (900 + 99))
    assert implied_recall(1_000, None, 99_000, (0.0, 0.0, 0.01)) is None
    assert implied_recall(1_000, (0.8, 0.7, 0.9), 99_000, (0.0, 0.0, 0.01))[0] == 1.0  # type: ignore[index]
