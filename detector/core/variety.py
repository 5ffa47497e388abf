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
    among the categories (n_c each), of prod p_c^n_c / n_c!, kept per number of draws
    used and of categories present (capped at d)."""
    if d <= 1:
        return 1.0
    if d > m:
        return 0.0
    width = d + 1
    f = [0.0] * ((m + 1) * width)  # f[j * width + c]: j draws used, c present (max d)
    f[0] = 1.0
    for i in range(len(pis) + 1):
        p = pis[i] if i < len(pis) else rest
        if p <= 0.0:
            continue
        g = list(f)  # this category drawn 0 times
        for j in range(m):
            for c in range(width):
                base = f[j * width + c]
                if base == 0.0:
                    continue
                weight = 1.0  # p^n / n!
                for n in range(1, m - j + 1):
                    weight *= p / n
                    # a new category per draw of `rest`; one per known category drawn
                    present = c + (n if i == len(pis) else 1)
                    g[(j + n) * width + (present if present < d else d)] += base * weight
        f = g
    tail = f[m * width + d] * math.exp(math.lgamma(m + 1))
    return tail if tail > _TINY else _TINY


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
    for k in tested:
        while done < k:
            seen.add(aged[done][1])
            done += 1
        d = len(seen)
        p = distinct_tail(d, k + 1, pis, rest)
        s = -math.log(p)
        s = (s if s < cap else cap) - tests
        if s > best:
            best, best_k, best_d, best_span = s, k, d, aged[k - 1][0]
    if best_k and best > cfg.surprise_floor:
        reasons["variety"] = (f"{best_k + 1} purchases in {best_d} different categories "
                              f"within {duration(best_span)}")
    return best
