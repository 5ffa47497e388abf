"""The hour-of-day term's tail: the share of a customer's hours at most as common as this one.

The customer's hour profile is spread +-1 h (a purchase at 01 h and one at 03 h make 02 h
likely too), and the tail is the mass *of that spread profile* on the hours at most as
common in it: ranking and mass come from one distribution, so the tail is a valid p-value
under it (tests/unit/test_core_boundaries_props.py). It used to rank by the spread profile
but sum the unspread counts, so an hour between used hours, ranked below them, counted
almost nothing: 02 h after nights at 00, 01, 03 and 04 h scored about e^-10.

Split from `detector.core.surprise`. A faster route sums the same values in the same order
(a cumulative sum in the order of the spread profile), so it gives the same floats to the
last bit (tests/unit/test_core_exact_speedups.py, bench/core_parity.py).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Final

from detector.core.knobs import Knobs
from detector.core.state import CustomerState, Population

#: A recent event whose hour had at most this tail under the long habit broke it.
BROKE: Final = math.exp(-3.0)
#: Weights of a recent purchase's hour spread over its neighbours (-2 h .. +2 h).
KERNEL: Final = (1 / 9, 2 / 9, 3 / 9, 2 / 9, 1 / 9)
#: Hours whose values are within this of the first of their group tie.
_TIE: Final = 1e-12


def _near(q: list[float]) -> list[float]:
    """Each hour's mass with its neighbours ((previous + own) + next)."""
    n = len(q)
    prev = q[n - 1]
    near: list[float] = []
    for i in range(n):
        own = q[i]
        near.append(prev + own + q[i + 1 if i + 1 < n else 0])
        prev = own
    return near


def _tails(q: list[float], wanted: list[int]) -> list[float]:
    """For each hour of `wanted`: the mass of the +-1 h profile (`_near` / 3) on the hours
    at most as common in it.

    Hours are taken in increasing order of `_near` (index order on equal values); a group
    is an hour and the next ones within `_TIE` of it, and each hour of a group gets the
    cumulative mass (summed in that order) up to the group's end."""
    near = _near(q)
    order = sorted(range(24), key=near.__getitem__)
    ranked: list[float] = []
    cums: list[float] = []
    rank = [0] * 24  # each hour's position in `order`
    acc = 0.0
    apart = True  # every two consecutive values more than 2 _TIE apart
    for r in range(24):
        h = order[r]
        x = near[h]
        # the running sum, first term as is (itertools.accumulate's floats)
        acc = x / 3.0 if r == 0 else acc + x / 3.0
        if r and x - ranked[r - 1] <= 2 * _TIE:
            apart = False
        ranked.append(x)
        cums.append(acc)
        rank[h] = r
    # Values are at most 3 (q is a distribution), so consecutive ones more than 2e-12
    # apart are never within _TIE of each other after rounding: every group is one hour.
    if ranked[-1] < 1e3 and apart:
        return [cums[rank[h]] for h in wanted]
    starts: list[int] = []
    i = 0
    while i < 24:  # the groups: each runs to the last value within _TIE of its first
        starts.append(i)
        i = bisect_right(ranked, ranked[i] + _TIE, i + 1)
    starts.append(24)
    return [cums[starts[bisect_right(starts, rank[h])] - 1] for h in wanted]


def _tail(q: list[float], hour: int) -> float:
    near = _near(q)
    edge = near[hour] + _TIE
    return sum([x / 3.0 for x in near if x <= edge])


def hour_tail(st: CustomerState, pop: Population, hour: int, cfg: Knobs) -> float:
    """Share of the customer's hours, spread +-1 h, at most as common as this one there.

    A change under way counts: when at least two of the last learnt events broke the long
    habit (each had a tail below e^-3 there: two of eight happen by chance to about one
    customer in twenty), the hours are a mixture of the long habit and the recent events'
    hours, weighted by the share of recent events that broke it. The recent hours are few,
    so their profile spreads each over +-2 h and keeps one pseudo-event spread over the
    whole day (a new regime's shape is unknown): a new night shift is learnt after a few
    nights."""
    hours = st.hours
    hn = sum(hours)
    if hn == 0:
        return 1.0
    w = cfg.prior_weight
    k = w / (pop.total + 24.0)
    d = hn + w
    common = pop.hours
    q = [(hours[i] + k * (common[i] + 1.0)) / d for i in range(24)]
    ctx = st.context
    if len(ctx) >= 2:
        wanted = [c[5] for c in ctx]
        wanted.append(hour)
        tails = _tails(q, wanted)
        mine = tails.pop()
        wanted.pop()
        broke = [h for h, tail in zip(wanted, tails, strict=True) if tail <= BROKE]
        if len(broke) >= 2:
            share = len(broke) / len(ctx)
            spread = share / (len(broke) + 1.0)
            mix = [(1.0 - share) * x + spread / 24.0 for x in q]
            for h in broke:
                for step, weight in enumerate(KERNEL):
                    mix[(h + step - 2) % 24] += spread * weight
            return _tail(mix, hour)
        return mine
    return _tail(q, hour)
