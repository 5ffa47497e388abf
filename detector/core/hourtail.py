"""The hour-of-day term's tail: the share of a customer's hours at most as common as this one.

The customer's hour profile is spread +-1 h (a purchase at 01 h and one at 03 h make 02 h
likely too), and the tail is the mass *of that spread profile* on the hours at most as
common in it: ranking and mass come from one distribution, so the tail is a valid p-value
under it (tests/unit/test_core_boundaries_props.py). It used to rank by the spread profile
but sum the unspread counts, so an hour between used hours, ranked below them, counted
almost nothing: 02 h after nights at 00, 01, 03 and 04 h scored about e^-10.

Split from `detector.core.surprise`. Faster routes sum the same values in the same order
(one scan of the sorted spread profile finds this hour's tail and which recent hours broke
the habit), so they give the same floats to the last bit as the plain sort and sum
(tests/unit/test_core_exact_speedups.py, bench/core_parity.py).
"""

from __future__ import annotations

import math
from typing import Final

from detector.core.knobs import Knobs
from detector.core.state import CustomerState, Population, held_hour

#: A recent event whose hour had at most this tail under the long habit broke it.
BROKE: Final = math.exp(-3.0)
#: Weights of a recent purchase's hour spread over its neighbours (-2 h .. +2 h). Typed
#: as a tuple of any length: compiled, a tuple of five floats is a native struct, and a
#: read at a variable index boxed it anew (a tuple and five floats) each time.
KERNEL: Final[tuple[float, ...]] = (1 / 9, 2 / 9, 3 / 9, 2 / 9, 1 / 9)
#: The odd-hour rule reads the mixture's night once a change is more likely than not.
UNDER_WAY: Final = 0.5
#: ln 1/2: the likelihood ratio of a recent hour no other recent event backs (`change_weight`).
LOG_HALF: Final = math.log(0.5)
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


def _spread(hours: bytes, common: list[int], k: float, d: float) -> list[float]:
    """`_near` of the profile q[i] = (hours[i] + k * (common[i] + 1.0)) / d without
    building q: each q[i] by that same expression, so the same floats."""
    first = (hours[0] + k * (common[0] + 1.0)) / d
    prev = (hours[23] + k * (common[23] + 1.0)) / d
    own = first
    near: list[float] = []
    for i in range(1, 24):
        nxt = (hours[i] + k * (common[i] + 1.0)) / d
        near.append(prev + own + nxt)
        prev = own
        own = nxt
    near.append(prev + own + first)
    return near


def _rank(near: list[float], hour: int) -> tuple[float, float]:
    """This hour's tail under the +-1 h profile (`near` / 3), and the value below which
    an hour's tail is at most `BROKE` (the hours that broke the habit: `near[h] < edge`).

    The tail of an hour is the mass of the hours at most as common: the hours are taken
    in increasing order of `near`; a group is an hour and the next ones within `_TIE` of
    it, and each hour of a group gets the cumulative mass (summed in that order) up to
    the group's end. The values alone are sorted (a native float sort): equal values are
    equal floats (no negative zeros: the masses are sums of non-negative terms), so the
    sums are those in hour order on ties, and an hour's group is its value's. The mass at
    the groups' ends never decreases, so the groups with a tail at most `BROKE` come
    first: `edge` is the first value of the first group beyond (inf if none)."""
    ranked = sorted(near)
    mine = near[hour]
    start = last = ranked[0]  # the group's first and last values
    top = start + _TIE
    acc = start / 3.0  # the running sum, first term as is (itertools.accumulate's)
    tail = -1.0  # not found yet
    edge = math.inf
    over = False  # a group with a tail beyond BROKE found
    for j in range(1, 24):
        x = ranked[j]
        if x > top:  # the group ends at `last`, and `x` starts the next
            if not over and acc > BROKE:
                edge = start
                over = True
            if tail < 0.0 and mine <= last:
                tail = acc
                if over:
                    return tail, edge
            start = x
            top = x + _TIE
        acc += x / 3.0
        last = x
    if not over and acc > BROKE:
        edge = start
    if tail < 0.0:
        tail = acc
    return tail, edge


def _tail_of(near: list[float], hour: int) -> float:
    """`_tail` given `near`: added in hour order as `sum` adds floats on Python 3.11
    (plainly, from 0)."""
    top = near[hour] + _TIE
    acc = 0.0
    for x in near:
        if x <= top:
            acc += x / 3.0
    return acc


def _tail(q: list[float], hour: int) -> float:
    """The mass of the +-1 h profile (`_near` / 3) on the hours within `_TIE` of this
    one's or below, summed in hour order."""
    return _tail_of(_near(q), hour)


def recent_hours(st: CustomerState) -> list[int]:
    """The hours of the customer's recent events: the last learnt ones and those on hold.
    A purchase on hold has not taught the habits (`habits.learn`), but where it happened in
    the day is a fact about the customer's day now: a purchase at 03 h twenty minutes
    after one at 03 h is no news about the hour (the first was)."""
    hours = [c[5] for c in st.context]
    for _, e in st.pending:
        hours.append(held_hour(e))
    return hours


def _profile(st: CustomerState, pop: Population, cfg: Knobs
             ) -> tuple[bytes, float, float, list[float]]:
    """The customer's hours (a copy), the prior's weight per population count, the
    denominator, and the profile spread +-1 h (`_spread`)."""
    hours, hn = _counts(st)
    return _counted_profile(hours, hn, pop, cfg)


def _counts(st: CustomerState) -> tuple[bytes, int]:
    """The customer's hour counts (a copy: mypyc indexes bytes natively, a bytearray
    generically) and their sum."""
    hours = bytes(st.hours)
    hn = 0
    for i in range(len(hours)):
        hn += hours[i]
    return hours, hn


def _counted_profile(hours: bytes, hn: int, pop: Population, cfg: Knobs
                     ) -> tuple[bytes, float, float, list[float]]:
    """`_profile` given the customer's hours (a copy) and their sum `hn`."""
    w = cfg.prior_weight
    k = w / (pop.total + 24.0)
    d = hn + w
    return hours, k, d, (_spread(hours, pop.hours, k, d) if hn else [])


def _habit(hours: bytes, common: list[int], k: float, d: float) -> list[float]:
    """The long habit: q[i] = (hours[i] + k * (common[i] + 1.0)) / d, the customer's hour
    counts shrunk to the population's (`_profile`'s weights); `_spread` spreads the same."""
    return [(hours[i] + k * (common[i] + 1.0)) / d for i in range(24)]


def _mixture(hours: bytes, common: list[int], k: float, d: float, recent: list[int],
             broke: list[int]) -> list[float]:
    """The long habit mixed with the recent hours that broke it (see `hour_tail`)."""
    q = _habit(hours, common, k, d)
    share = len(broke) / len(recent)
    spread = share / (len(broke) + 1.0)
    mix = [(1.0 - share) * x + spread / 24.0 for x in q]
    for h in broke:
        for step, weight in enumerate(KERNEL):
            mix[(h + step - 2) % 24] += spread * weight
    return mix


def hour_tail(st: CustomerState, pop: Population, hour: int, cfg: Knobs) -> float:
    """Share of the customer's hours, spread +-1 h, at most as common as this one there.

    A change under way counts. With `hour_change_prior` p > 0: once the recent hours
    (`recent_hours`) favour a change of habit (they agree with each other on hours the
    long habit finds rare, `change_weight`), the profile is the long habit mixed with the
    recent hours' own profile (`recent_profile`: each spread +-2 h, and one pseudo-event
    spread as the long habit), weighted by the posterior
    probability of that change from prior odds p / (1 - p): a new night shift is learnt
    after a few nights. With p = 0 (the older test): when at least two of the recent events
    broke the long habit (each had a tail below e^-3 there: two of eight happen by chance
    to about one customer in twenty), the hours are a mixture of the long habit and the
    recent events that broke it, weighted by their share of the recent events."""
    hours, hn = _counts(st)
    return counted_hour_tail(st, pop, hour, cfg, hours, hn)


def counted_hour_tail(st: CustomerState, pop: Population, hour: int, cfg: Knobs,
                      hours: bytes, hn: int, weight: float = -1.0,
                      recent: list[int] | None = None) -> float:
    """`hour_tail` given the customer's hour counts (`hours`, a copy of `st.hours`) and
    their sum `hn`, as `features.observe` found them (`Observation.hour_counts`,
    `night_total`): `terms` does not copy and add them again; and `weight`, the change
    weight `night_mass` found from the same counts and recent hours
    (`Observation.hour_change`; negative: not found, computed here when needed); and
    `recent`, the customer's `recent_hours` if `terms` listed them in its walk of the
    context (None: listed here)."""
    hours, k, d, near = _counted_profile(hours, hn, pop, cfg)
    if not near:
        return 1.0
    if recent is None:
        recent = recent_hours(st)
    if len(recent) < 2:
        return _tail_of(near, hour)
    prior = cfg.hour_change_prior
    if prior > 0.0:
        lam = weight if weight >= 0.0 else change_weight(near, recent, prior)
        mixed = weighed(hours, pop.hours, k, d, recent, lam, prior)
        return _tail_of(near, hour) if mixed is None else _tail(mixed, hour)
    mine, edge = _rank(near, hour)
    mix = _under_way(hours, pop, k, d, near, recent, edge)
    return mine if mix is None else _tail(mix, hour)


def recent_profile(recent: list[int], base: list[float]) -> list[float]:
    """The recent hours' profile: each hour spread over +-2 h by `KERNEL`, and one
    pseudo-event spread as `base` (the long habit, a distribution: a new regime's shape is
    unknown beyond its recent hours, and a day of purchases close in time must not make
    every other hour likely); sums to 1."""
    r = list(base)
    for h in recent:
        for step in range(5):
            i = (h + step - 2) % 24
            r[i] = r[i] + KERNEL[step]  # `+=` on a list's item is a generic add compiled
    m = len(recent) + 1.0
    return [x / m for x in r]


def change_weight(near: list[float], recent: list[int], prior: float) -> float:
    """Posterior probability that the recent hours come from a new regime: prior odds
    `prior` / (1 - `prior`) times the likelihood ratio of the recent hours under a habit
    that moved half its mass to where the *other* recent events are (each spread +-2 h by
    `KERNEL`) against the long habit's +-1 h profile (`near` / 3). A lone odd hour has no
    other recent event near it and counts against a change (a ratio of 1/2): only recent
    events that agree with each other on hours the long habit finds rare make one."""
    m = len(recent)
    llr = 0.0
    for j in range(m):
        h = recent[j]
        others = 0.0
        for i in range(m):
            if i != j:
                gap = (h - recent[i]) % 24
                if gap <= 2:
                    others += KERNEL[2 + gap]
                elif gap >= 22:
                    others += KERNEL[gap - 22]
        base = near[h] / 3.0
        if base == 0.0:  # impossible under the long habit (a prior weight that underflows)
            if others > 0.0:
                return 1.0  # another recent event backs it: infinite evidence of a change
            llr += LOG_HALF  # none does: the lone odd hour's 1/2, as for any other
            continue
        llr += math.log(0.5 + 0.5 * (others / (m - 1.0)) / base)
    x = math.log(prior / (1.0 - prior)) + llr
    if x < -700.0:
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))


def changed(hours: bytes, common: list[int], k: float, d: float, near: list[float],
            recent: list[int], prior: float, least: float) -> list[float] | None:
    """The long habit mixed with the recent hours' profile by `change_weight` (see
    `hour_tail`); None unless that weight exceeds `least` (the long habit alone): the
    hour term mixes once the recent hours favour a change (`least` = the prior)."""
    return weighed(hours, common, k, d, recent, change_weight(near, recent, prior), least)


def weighed(hours: bytes, common: list[int], k: float, d: float, recent: list[int],
            lam: float, least: float) -> list[float] | None:
    """`changed` given the change weight `lam` (`change_weight`), found once a row."""
    if lam <= least:
        return None
    q = _habit(hours, common, k, d)
    r = recent_profile(recent, q)
    return [(1.0 - lam) * q[i] + lam * r[i] for i in range(24)]


def _under_way(hours: bytes, pop: Population, k: float, d: float, near: list[float],
               recent: list[int], edge: float) -> list[float] | None:
    """The mixture `hour_tail` judges by when a change is under way (at least two recent
    hours below `edge`, the e^-3 tail's, in the long profile `near`); None when none is."""
    broke = [h for h in recent if near[h] < edge]
    if len(broke) < 2:
        return None
    return _mixture(hours, pop.hours, k, d, recent, broke)


def night_mass(st: CustomerState, pop: Population, night: tuple[int, ...], cfg: Knobs
               ) -> float:
    """`counted_night_mass` from the customer's own counts: the share alone."""
    hours, hn = _counts(st)
    return counted_night_mass(st, pop, night, cfg, hours, hn)[0]


def counted_night_mass(st: CustomerState, pop: Population, night: tuple[int, ...],
                       cfg: Knobs, hours: bytes, hn: int) -> tuple[float, float]:
    """The share of the night hours in the profile `hour_tail` judges an hour by while a
    change is under way (its mixture; with `hour_change_prior` > 0 once the change is more
    likely than not, above `UNDER_WAY`); 0 when none is (the long habit's own share is the
    rule's smoothed count). A night worker's evenings that broke the habit make the night
    next to them likely too, as they do for the hour term. `hours` and `hn` are the
    customer's hour counts (a copy) and their sum (`features.observe`'s). With the share,
    the change weight it found (`change_weight`; -1.0 if none was computed), which the
    hour term takes instead of computing it again (`counted_hour_tail`)."""
    hours, k, d, near = _counted_profile(hours, hn, pop, cfg)
    recent = recent_hours(st)
    if not near or len(recent) < 2:
        return 0.0, -1.0
    prior = cfg.hour_change_prior
    lam = -1.0
    if prior > 0.0:
        lam = change_weight(near, recent, prior)
        mix = weighed(hours, pop.hours, k, d, recent, lam, UNDER_WAY)
    else:
        mix = _under_way(hours, pop, k, d, near, recent, _rank(near, 0)[1])
    if mix is None:
        return 0.0, lam
    mass = 0.0
    for h in night:
        mass += mix[h]
    return mass, lam
