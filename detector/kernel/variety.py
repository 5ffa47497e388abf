"""The variety term (`detector.core.variety`) in kernel form, to the bit.

The customer's category table is `tab_code`/`tab_count` (insertion order, `tab_len` used),
their day window `win_t`/`win_cat` (arrival order, `win_len` used), the population's
category counts `pop_cat` indexed by code (0 for a category it has not counted) and its
event count `pop_total`. The term returns, besides its value, the numbers its reason needs
(k, d, span), which `variety_reason` words in Python as the core does.

Parity (docs/kernel.md "Parity"): `shares` sums in the table's order; `surely_common`'s
`(1 - p) ** m` takes `m` as a run-time float, so the C library's `pow` is called as CPython
calls it (numba's integer power, a product, differed on 79 % of 200,000 random (p, m));
`exp(lgamma(m + 1))` reads CPython's lgamma table (`tails.LGAMMA`). The core sorts
the window's `(age, category)` tuples, so two purchases of the same age are ordered by
their category *strings*, and which of them falls among the k nearest decides D: the
kernel orders them by `cat_rank`, each code's rank among the strings in sorted order
(`category_ranks`, filled by the shell); outputs otherwise depend on codes only through
their equality.

Status: `shares`, `distinct_tail` (`_by_repeats`, `_by_presence`), `surely_common` and
`variety` ported and equal to the core's to the bit on hypothesis inputs and on every call
the engine makes over generated rows, read from `slots` and `population` arrays too
(tests/unit/test_kernel_variety.py); `variety_reason` words the reason as the core. Not
yet called by an engine (docs/kernel.md step 7).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from detector.core import variety as core
from detector.core.rules import duration
from detector.kernel.jit import jit
from detector.kernel.tails import TINY as TINY

#: `variety.SPANS`, an array the kernel takes as an argument.
SPANS = np.array(core.SPANS, np.int64)


def category_ranks(values: Sequence[str]) -> np.ndarray:
    """Each code's rank among `values` (an encoder's strings, by code) in Python's string
    order: the core breaks ties of age by comparing category strings."""
    ranks = np.empty(len(values), np.int64)
    for rank, code in enumerate(sorted(range(len(values)), key=values.__getitem__)):
        ranks[code] = rank
    return ranks


@jit
def shares(tab_code: np.ndarray, tab_count: np.ndarray, tab_len: int, pop_cat: np.ndarray,
           pop_total: int, w: float, out: np.ndarray) -> float:  # pragma: no cover
    """`variety.shares`: the shares into `out[:tab_len]` (table order), the rest returned."""
    total = 0
    for i in range(tab_len):
        total += tab_count[i]
    used = 0.0
    for i in range(tab_len):
        share = (pop_cat[tab_code[i]] + 0.5) / (pop_total + 1.0)  # `Population.share`
        p = (tab_count[i] + w * share) / (total + w)
        out[i] = p
        used += p
    rest = 1.0 - used
    return rest if rest > 0.0 else 0.0


@jit
def _by_repeats(r: int, m: int, pis: np.ndarray, rest: float) -> float:  # pragma: no cover
    """`variety._by_repeats`."""
    width = r + 1
    f = np.zeros((m + 1) * width)
    f[0] = 1.0
    known = len(pis)
    for i in range(known + 1):
        p = pis[i] if i < known else rest
        if p <= 0.0:
            continue
        g = f.copy()
        for j in range(m):
            for e in range(width):
                base = f[j * width + e]
                if base == 0.0:
                    continue
                top = m - j if i == known else min(m - j, r - e + 1)
                weight = base
                for n in range(1, top + 1):
                    weight *= p / n
                    g[(j + n) * width + (e if i == known else e + n - 1)] += weight
        f = g
    total = 0.0
    for e in range(width):
        total += f[m * width + e]
    return total


@jit
def _by_presence(d: int, m: int, pis: np.ndarray, rest: float) -> float:  # pragma: no cover
    """`variety._by_presence`."""
    width = d + 1
    f = np.zeros((m + 1) * width)
    f[0] = 1.0
    known = len(pis)
    for i in range(known + 1):
        p = pis[i] if i < known else rest
        if p <= 0.0:
            continue
        g = f.copy()
        for j in range(m):
            for c in range(width):
                base = f[j * width + c]
                if base == 0.0:
                    continue
                weight = base
                for n in range(1, m - j + 1):
                    weight *= p / n
                    present = c + (n if i == known else 1)
                    g[(j + n) * width + (present if present < d else d)] += weight
        f = g
    tail: float = f[m * width + d]
    return tail


@jit
def distinct_tail(d: int, m: int, pis: np.ndarray, rest: float,
                  lgamma: np.ndarray) -> float:  # pragma: no cover
    """`variety.distinct_tail` over the shares `pis` (all of the array); `lgamma` is
    `tails.LGAMMA` (m at most 63)."""
    if d <= 1:
        return 1.0
    if d > m:
        return 0.0
    r = m - d
    if (r + 1) * (r + 2) <= 2 * (d + 1) * m:
        tail = _by_repeats(r, m, pis, rest)
    else:
        tail = _by_presence(d, m, pis, rest)
    tail *= math.exp(lgamma[m + 1])
    tail = tail if tail < 1.0 else 1.0
    return tail if tail > TINY else TINY


@jit
def surely_common(d: int, m: int, pis: np.ndarray, rest: float,
                  level: float) -> bool:  # pragma: no cover
    """`variety.surely_common`; `** m` with `m` a float, so the C library's `pow` is called
    (an integer power is a product in numba, docs/kernel.md "Parity")."""
    fm = float(m)
    mu = m * rest
    var = m * rest * (1.0 - rest)
    for i in range(len(pis)):
        q = 1.0 - (1.0 - pis[i]) ** fm
        mu += q
        var += q * (1.0 - q)
    t = mu - (d - 1)
    if t <= 0.0:
        return False
    return 1.0 - var / (var + t * t) >= level


@jit
def variety(t: float, category: int, tab_code: np.ndarray, tab_count: np.ndarray,
            tab_len: int, win_t: np.ndarray, win_cat: np.ndarray, win_len: int,
            pop_cat: np.ndarray, pop_total: int, cat_rank: np.ndarray, horizon: float,
            prior_weight: float, cap: float, floor: float, spans: np.ndarray,
            lgamma: np.ndarray) -> tuple[float, int, int, float]:  # pragma: no cover
    """`variety.variety` of a purchase in category code `category` at time `t`: (the term,
    k, d, span), the last three the reason's (`variety_reason`; k = 0 when none was
    tested). `horizon` is `variety_window_s`, `cap` `surprise_cap`, `floor`
    `surprise_floor`, `spans` `SPANS`, `lgamma` `tails.LGAMMA`, `cat_rank` the codes'
    string order (`category_ranks`)."""
    if horizon <= 0.0:
        return 0.0, 0, 0, 0.0
    # the window's (age, category) within the horizon, sorted as the core sorts its tuples
    age = np.empty(win_len)
    cat = np.empty(win_len, np.int64)
    n = 0
    for i in range(win_len):
        a = abs(t - win_t[i])
        if a <= horizon:
            c = win_cat[i]
            j = n
            while j > 0 and (age[j - 1] > a
                             or (age[j - 1] == a and cat_rank[cat[j - 1]] > cat_rank[c])):
                age[j] = age[j - 1]
                cat[j] = cat[j - 1]
                j -= 1
            age[j] = a
            cat[j] = c
            n += 1
    tested = 0
    for s in range(len(spans)):
        if spans[s] <= n:
            tested += 1
    if tested == 0:
        return 0.0, 0, 0, 0.0
    pis = np.empty(tab_len)
    rest = shares(tab_code, tab_count, tab_len, pop_cat, pop_total, prior_weight, pis)
    tests = math.log(float(tested))
    seen = np.empty(n + 1, np.int64)
    seen[0] = category
    d = 1
    best, best_k, best_d, best_span = 0.0, 0, 0, 0.0
    done = 0
    common = math.exp(-(floor + tests))
    for s in range(len(spans)):
        k = spans[s]
        if k > n:
            continue
        while done < k:
            c = cat[done]
            new = True
            for i in range(d):
                if seen[i] == c:
                    new = False
                    break
            if new:
                seen[d] = c
                d += 1
            done += 1
        if surely_common(d, k + 1, pis, rest, common):
            continue
        p = distinct_tail(d, k + 1, pis, rest, lgamma)
        v = -math.log(p)
        v = (v if v < cap else cap) - tests
        if v > best:
            best, best_k, best_d, best_span = v, k, d, age[k - 1]
    return best, best_k, best_d, best_span


def variety_reason(best: float, k: int, d: int, span: float, floor: float) -> str | None:
    """The reason `variety.variety` writes in `reasons["variety"]` for the kernel's
    (term, k, d, span), or None where it writes none."""
    if k and best > floor:
        return f"{k + 1} purchases in {d} different categories within {duration(span)}"
    return None
