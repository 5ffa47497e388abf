"""The core's faster routes give the very floats of the plain ones they replaced (issue 14).

Each reference below is the code as it was before the speed-up, kept here verbatim; the
fast route must agree with it to the last bit (==, never approx), ties and near-ties
included. bench/core_parity.py checks the same on whole streams (every verdict's digest).
"""

from __future__ import annotations

import math
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from detector.core.hourtail import _tail, _tails
from detector.core.state import Population


def reference_tails(q: list[float]) -> list[float]:
    near = [a + b + c for a, b, c in zip([q[-1], *q[:-1]], q, [*q[1:], q[0]], strict=True)]
    order = sorted(range(24), key=near.__getitem__)
    tails = [0.0] * 24
    acc, i = 0.0, 0
    while i < 24:
        j, edge = i, near[order[i]] + 1e-12
        while j < 24 and near[order[j]] <= edge:
            acc += near[order[j]] / 3.0
            j += 1
        for m in range(i, j):
            tails[order[m]] = acc
        i = j
    return tails


def reference_tail(q: list[float], hour: int) -> float:
    near = [a + b + c for a, b, c in zip([q[-1], *q[:-1]], q, [*q[1:], q[0]], strict=True)]
    mine = near[hour] + 1e-12
    return sum([y / 3.0 for y in near if y <= mine])


def reference_unused(pop: Population, table: str, known: dict[str, int]) -> float:
    counts = pop.tables[table]
    used = sum(counts.get(k, 0) for k in known)
    once = sum(1 for v in counts.values() if v == 1)
    return min(1.0, (once + 1.0) / (pop.total + 1.0) + max(0.0, 1.0 - used / (pop.total + 1.0)))


def _hours(counts: list[int], jitter: list[int], total: int) -> list[float]:
    """A smoothed hour distribution as `hour_tail` builds it, with near-ties (jitter of a
    few 1e-13, across the 1e-12 tie tolerance) and exact ties (equal counts)."""
    d = sum(counts) + 3.0
    k = 3.0 / (total + 24.0)
    return [(c + k) / d + j * 1e-13 for c, j in zip(counts, jitter, strict=True)]


hours_q = st.builds(
    _hours,
    st.lists(st.integers(0, 4), min_size=24, max_size=24),
    st.lists(st.sampled_from([0, 0, 0, 5, 10, 20, 30]), min_size=24, max_size=24),
    st.integers(0, 10_000),
)


@settings(max_examples=400, deadline=None)
@given(hours_q, st.lists(st.integers(0, 23), min_size=1, max_size=9))
def test_hour_tails_are_bit_identical_to_the_plain_sort_and_sum(
        q: list[float], wanted: list[int]) -> None:
    full = reference_tails(q)
    assert _tails(q, wanted) == [full[h] for h in wanted]
    for h in wanted:
        assert _tail(q, h) == reference_tail(q, h)


def test_hour_tails_group_values_within_the_tolerance_of_a_group_start() -> None:
    # 24 equal hours but for steps of 0.6e-12: chained ties the fast route must not take
    q = [1 / 24 + i * 6e-13 for i in range(24)]
    assert _tails(q, list(range(24))) == reference_tails(q)
    assert len(set(reference_tails(q))) < 24  # the case has ties (it tests something)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from("abcdefghij"), st.integers(1, 50), max_size=10),
       st.dictionaries(st.sampled_from("abcdefghijklm"), st.integers(1, 9), max_size=6),
       st.booleans())
def test_unused_mass_is_bit_identical_to_the_plain_sum(
        counts: dict[str, int], known: dict[str, int], singles_known: bool) -> None:
    pop = Population()
    pop.tables["device"] = counts
    pop.total = sum(counts.values()) + 3
    if singles_known:
        pop.singles["device"] = sum(1 for v in counts.values() if v == 1)
    got = pop.unused_mass("device", known)
    assert got == reference_unused(pop, "device", known)
    assert not math.isnan(got)


def test_hour_tails_without_near_ties_take_the_route_without_groups() -> None:
    """Every value of the +-1 h profile apart from the others (distinct counts, as a
    customer with a long, uneven history has): the route that skips the grouping gives
    the plain sort-and-sum's floats for every hour."""
    counts = [i * i + 1 for i in range(24)]
    q = [c / sum(counts) for c in counts]
    near = sorted(a + b + c for a, b, c in zip([q[-1], *q[:-1]], q, [*q[1:], q[0]],
                                                strict=True))
    assert min(b - a for a, b in pairwise(near)) > 2e-12  # no near-tie
    assert _tails(q, list(range(24))) == reference_tails(q)
