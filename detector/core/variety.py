"""Variety: too many different merchant categories among a customer's last few purchases.

Under the customer's habit each purchase's category is a draw from their shares (each
shrunk to the population's share, `prior_weight` events; the mass of categories they have
not used goes to the population's other categories). Among this purchase and the k
earlier ones within `variety_window_s` (k in `SPANS`), D different categories is judged
by P(D' >= D) for k + 1 such draws, the strongest k, less ln(number of k tested)
(Bonferroni, as `rate` does). The tail is the multinomial's, exact but for one bound: a
draw outside the customer's categories counts as a new different one each time (two new
draws may share a category), so the tail is never below the true one (conservative).
A Poisson-binomial of independent presences, 1 - (1 - pi)^m each, was 3-6x too large at
the top of the tail (all m different) and allowed more categories than draws. The chance
of the categories being *new* is the novelty terms' evidence; this counts how many
differ, known or new.
"""

from __future__ import annotations

import math
from typing import Final

from detector.core.knobs import Knobs
from detector.core.rules import duration
from detector.core.state import CustomerState, Population

#: The k-th earlier purchase tested by the activity, repetition and variety terms (a
#: geometric set: each test costs ln(number tested) of surprise, Bonferroni).
SPANS: Final[tuple[int, ...]] = (1, 2, 4, 8, 16, 32)
_TINY: Final = 1e-300


def shares(st: CustomerState, pop: Population, w: float) -> tuple[list[float], float]:
    """The customer's category shares, each shrunk to the population's (`w` events), and
    the mass left for categories they have not used."""
    cats = st.categories
    total = 0
    for v in cats.values():
        total += v
    out: list[float] = []
    used = 0.0
    for key, v in cats.items():
        p = (v + w * pop.share("category", key)) / (total + w)
        out.append(p)
        used += p
    rest = 1.0 - used
    return out, rest if rest > 0.0 else 0.0


def distinct_tail(d: int, m: int, pis: list[float], rest: float) -> float:
    """P(at least `d` different categories among `m` draws) from shares `pis`, the mass
    `rest` of other categories counted as a new one per draw (see the module docstring).
    Exact for the multinomial otherwise: m! x the sum, over the ways of splitting m draws
    among the categories (n_c each), of prod p_c^n_c / n_c!, kept per number of draws used
    and, whichever is cheaper, of repeats up to the m - d the tail allows (`_by_repeats`:
    a run of different categories, the case that matters) or of categories present up to
    d (`_by_presence`)."""
    if d <= 1:
        return 1.0
    if d > m:
        return 0.0
    r = m - d
    if (r + 1) * (r + 2) <= 2 * (d + 1) * m:
        tail = _by_repeats(r, m, pis, rest)
    else:
        tail = _by_presence(d, m, pis, rest)
    tail *= math.exp(math.lgamma(m + 1))
    tail = tail if tail < 1.0 else 1.0
    return tail if tail > _TINY else _TINY


def _by_repeats(r: int, m: int, pis: list[float], rest: float) -> float:
    """The sum (before m!) over splittings with at most `r` repeats (draws of a category
    already drawn: m - D in all)."""
    width = r + 1
    f = [0.0] * ((m + 1) * width)  # f[j * width + e]: j draws used, e repeats
    f[0] = 1.0
    known = len(pis)
    for i in range(known + 1):
        p = pis[i] if i < known else rest
        if p <= 0.0:
            continue
        g = list(f)  # this category drawn 0 times
        for j in range(m):
            for e in range(width):
                base = f[j * width + e]
                if base == 0.0:
                    continue
                # n draws of a known category: n - 1 repeats; of `rest`: none
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


def _by_presence(d: int, m: int, pis: list[float], rest: float) -> float:
    """The sum (before m!) over splittings with at least `d` categories present."""
    width = d + 1
    f = [0.0] * ((m + 1) * width)  # f[j * width + c]: j draws used, c present (max d)
    f[0] = 1.0
    known = len(pis)
    for i in range(known + 1):
        p = pis[i] if i < known else rest
        if p <= 0.0:
            continue
        g = list(f)  # this category drawn 0 times
        for j in range(m):
            for c in range(width):
                base = f[j * width + c]
                if base == 0.0:
                    continue
                weight = base
                for n in range(1, m - j + 1):
                    weight *= p / n
                    # one present per known category drawn; a new one per draw of `rest`
                    present = c + (n if i == known else 1)
                    g[(j + n) * width + (present if present < d else d)] += weight
        f = g
    return f[m * width + d]


def surely_common(d: int, m: int, pis: list[float], rest: float, level: float) -> bool:
    """Whether P(at least `d` different among `m` draws) is at least `level` by Cantelli's
    bound alone: D's mean mu and a bound on its variance (the presences and the count of
    new draws are negatively associated: at most the sum of their variances), and
    P(D <= d - 1) <= var / (var + (mu - d + 1)^2) below the mean. A cheap test that
    spares the exact tail where it could not matter."""
    mu = m * rest
    var = m * rest * (1.0 - rest)
    for p in pis:
        q = 1.0 - (1.0 - p) ** m
        mu += q
        var += q * (1.0 - q)
    t = mu - (d - 1)
    if t <= 0.0:
        return False
    return 1.0 - var / (var + t * t) >= level


def variety(t: float, category: str, st: CustomerState, pop: Population, cfg: Knobs,
            reasons: dict[str, str]) -> float:
    """The variety surprise of a purchase in `category` at event time `t` (0 when
    `variety_window_s` is 0: off), its reason in `reasons["variety"]` above the floor."""
    horizon = cfg.variety_window_s
    if horizon <= 0.0:
        return 0.0
    aged = sorted([(abs(t - r[0]), r[2]) for r in st.window if abs(t - r[0]) <= horizon])
    tested = [k for k in SPANS if k <= len(aged)]
    if not tested:
        return 0.0
    pis, rest = shares(st, pop, cfg.prior_weight)
    tests = math.log(float(len(tested)))
    cap = cfg.surprise_cap
    seen = {category}
    best, best_k, best_d, best_span = 0.0, 0, 0, 0.0
    done = 0
    common = math.exp(-(cfg.surprise_floor + tests))  # never above the floor: not needed
    for k in tested:
        while done < k:
            seen.add(aged[done][1])
            done += 1
        d = len(seen)
        if surely_common(d, k + 1, pis, rest, common):
            continue
        p = distinct_tail(d, k + 1, pis, rest)
        s = -math.log(p)
        s = (s if s < cap else cap) - tests
        if s > best:
            best, best_k, best_d, best_span = s, k, d, aged[k - 1][0]
    if best_k and best > cfg.surprise_floor:
        reasons["variety"] = (f"{best_k + 1} purchases in {best_d} different categories "
                              f"within {duration(best_span)}")
    return best
