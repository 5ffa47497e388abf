"""The hour-of-day term and the night share (`detector.core.hourtail`, with the hour parts
of `features.observe`, `surprise.terms` and `habits.learn_habits`) in kernel form, to the bit.

Arrays, not objects: the customer's hour counts `hours` uint8[24] (`CustomerState.hours`),
the population's `common` int64[24] (`Population.hours`) and its event count `total`
(`Population.total`), the recent hours `recent` int64[m] (`recent_hours`: the context ring's
hours oldest first, then the held events' in `pending` order: the order is part of parity,
`change_weight` sums floats over it), knobs as scalars (`w` = `prior_weight`, `prior` =
`hour_change_prior`), the night as `night` int64[n] **in `Knobs.night_hours` order** (the
night mass is a float sum over it: a night across midnight, 22..04 h, adds 22 h first, so
a mask walked from 0 h would not do) and `mask` uint8[24] (`Knobs.night_mask`, for counts).
A core function returning None (no mixture) returns an empty array here; one returning a
list of 24 floats returns float64[24].

Same operations in the same order as the core (docs/kernel.md "Parity"): no `**` and no
lgamma here; integer `%` on negative operands (`(h + step - 2) % 24`, `(h - r) % 24`)
follows Python's sign rule in numba (tested); sums left to right from 0.0; `sorted` as
`np.sort` (no NaN, no negative zero: equal values are equal floats).

Status (2026-12-03, branch `khours`): every function of `hourtail` ported, with the
observe-time night share (`night_share`), the hour term's neighbour count (`near_hour`)
and the hour learning (`learn_hour`, `count_hour`); each compared with the core's to the
bit in tests/unit/test_kernel_hours.py on random inputs and on the engine's own calls over
generated rows (recorded from the Python core, replayed here). Not wired into the engine
(docs/kernel.md step 7). Measured on a loaded machine: `counted_hour_tail` on a mixture
(nine recent hours) ~1.4 us a call inside a kernel, against ~9.3 us for the mypyc core's.
The row kernel calls the allocation-free forms (`counted_hour_tail_into`,
`recent_hours_into`: the same operations in the same order, into the caller's scratch):
its six or so small arrays a row were ~0.7 us of `score_segment`'s ~7 (docs/benchmarks.md,
"Issue 14: inside the compiled kernel").
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from detector.kernel.jit import jit

#: As `hourtail.BROKE`, `UNDER_WAY`, `LOG_HALF`, `_TIE` (the tests check them).
BROKE = math.exp(-3.0)
UNDER_WAY = 0.5
LOG_HALF = math.log(0.5)
TIE = 1e-12
#: As `hourtail.KERNEL`: a recent hour's weights over -2 h .. +2 h.
KERNEL = np.array([1 / 9, 2 / 9, 3 / 9, 2 / 9, 1 / 9], np.float64)
#: `change_weight`'s weight of another recent hour `gap = (h - other) % 24` hours from
#: this one: `KERNEL`'s within 2 h either side, else 0.0 (so a table look-up, not a branch
#: the data decides; adding 0.0 to a sum that is never -0.0 leaves it as it is).
NEAR_WEIGHT = np.array([KERNEL[2], KERNEL[3], KERNEL[4]] + [0.0] * 19 + [KERNEL[0], KERNEL[1]],
                       np.float64)


@jit
def near(q: Any) -> Any:  # pragma: no cover - compiled
    """`hourtail._near`: each hour's mass with its neighbours ((previous + own) + next)."""
    out = np.empty(len(q), np.float64)
    near_into(q, out)
    return out


@jit
def near_into(q: Any, out: Any) -> None:  # pragma: no cover - compiled
    """`near` of `q` into `out[:len(q)]` (not `q` itself)."""
    n = len(q)
    prev = q[n - 1]
    for i in range(n):
        own = q[i]
        out[i] = prev + own + q[i + 1 if i + 1 < n else 0]
        prev = own


@jit
def spread(hours: Any, common: Any, k: float, d: float) -> Any:  # pragma: no cover
    """`hourtail._spread`: `near` of q[i] = (hours[i] + k * (common[i] + 1.0)) / d."""
    out = np.empty(24, np.float64)
    spread_into(hours, common, k, d, out)
    return out


@jit
def spread_into(hours: Any, common: Any, k: float, d: float,
                out: Any) -> None:  # pragma: no cover - compiled
    """`spread` into `out[:24]`."""
    first = (hours[0] + k * (common[0] + 1.0)) / d
    prev = (hours[23] + k * (common[23] + 1.0)) / d
    own = first
    for i in range(1, 24):
        nxt = (hours[i] + k * (common[i] + 1.0)) / d
        out[i - 1] = prev + own + nxt
        prev = own
        own = nxt
    out[23] = prev + own + first


@jit
def rank(near: Any, hour: int) -> tuple[float, float]:  # pragma: no cover - compiled
    """`hourtail._rank`: this hour's tail under `near` / 3, and the value below which an
    hour's tail is at most `BROKE` (inf if none)."""
    ranked = np.sort(near)
    mine = near[hour]
    start = last = ranked[0]
    top = start + TIE
    acc = start / 3.0
    tail = -1.0
    edge = math.inf
    over = False
    for j in range(1, 24):
        x = ranked[j]
        if x > top:
            if not over and acc > BROKE:
                edge = start
                over = True
            if tail < 0.0 and mine <= last:
                tail = acc
                if over:
                    return tail, edge
            start = x
            top = x + TIE
        acc += x / 3.0
        last = x
    if not over and acc > BROKE:
        edge = start
    if tail < 0.0:
        tail = acc
    return tail, edge


@jit
def tail_of(near: Any, hour: int) -> float:  # pragma: no cover - compiled
    """`hourtail._tail_of`: the mass of `near` / 3 on the hours within `TIE` of this one's
    or below, added in hour order from 0.0."""
    top = near[hour] + TIE
    acc = 0.0
    for i in range(len(near)):
        x = near[i]
        if x <= top:
            acc += x / 3.0
    return acc


@jit
def tail(q: Any, hour: int) -> float:  # pragma: no cover - compiled
    """`hourtail._tail`: `tail_of` the +-1 h profile of `q`."""
    return tail_of(near(q), hour)


@jit
def recent_hours(ctx_hour: Any, ctx_len: int, ctx_head: int, held_hour: Any,
                 held_len: int) -> Any:  # pragma: no cover - compiled
    """`hourtail.recent_hours`: the context ring's hours from its oldest (`ctx_head`, the
    ring `ctx_hour` of capacity len(ctx_hour)), then the held events' (`state.held_hour`
    of each `pending` entry, in order: `held_hour[:held_len]`), as int64."""
    return recent_hours_into(ctx_hour, ctx_len, ctx_head, held_hour, held_len,
                             np.empty(ctx_len + held_len, np.int64))


@jit
def recent_hours_into(ctx_hour: Any, ctx_len: int, ctx_head: int, held_hour: Any,
                      held_len: int, out: Any) -> Any:  # pragma: no cover - compiled
    """`recent_hours` into `out` (at least `ctx_len + held_len` long): that part of it."""
    cap = len(ctx_hour)
    for i in range(ctx_len):
        j = ctx_head + i
        out[i] = ctx_hour[j - cap if j >= cap else j]
    for i in range(held_len):
        out[ctx_len + i] = held_hour[i]
    return out[:ctx_len + held_len]


@jit
def counts(hours: Any) -> int:  # pragma: no cover - compiled
    """`hourtail._counts`' sum (the copy is the array itself): the customer's hour count."""
    hn = 0
    for i in range(24):
        hn += hours[i]
    return hn


@jit
def weights(hn: int, total: int, w: float) -> tuple[float, float]:  # pragma: no cover
    """`hourtail._counted_profile`'s prior weight per population count `k` and the
    denominator `d` (its profile: `spread(hours, common, k, d)` when `hn` is not 0)."""
    k = w / (total + 24.0)
    d = hn + w
    return k, d


@jit
def counted_profile(hours: Any, hn: int, common: Any, total: int, w: float
                    ) -> tuple[float, float, Any]:  # pragma: no cover - compiled
    """`hourtail._counted_profile`: `k`, `d` (`weights`) and the profile spread +-1 h
    (`spread`; empty when `hn` is 0). The hours themselves are the caller's array."""
    k, d = weights(hn, total, w)
    return k, d, (spread(hours, common, k, d) if hn else np.empty(0, np.float64))


@jit
def profile(hours: Any, common: Any, total: int, w: float
            ) -> tuple[float, float, Any]:  # pragma: no cover - compiled
    """`hourtail._profile`: `counted_profile` from the customer's own counts."""
    return counted_profile(hours, counts(hours), common, total, w)


@jit
def habit(hours: Any, common: Any, k: float, d: float) -> Any:  # pragma: no cover
    """`hourtail._habit`: q[i] = (hours[i] + k * (common[i] + 1.0)) / d."""
    q = np.empty(24, np.float64)
    habit_into(hours, common, k, d, q)
    return q


@jit
def habit_into(hours: Any, common: Any, k: float, d: float,
               q: Any) -> None:  # pragma: no cover - compiled
    """`habit` into `q[:24]`."""
    for i in range(24):
        q[i] = (hours[i] + k * (common[i] + 1.0)) / d


@jit
def mixture(hours: Any, common: Any, k: float, d: float, recent: Any, broke: Any
            ) -> Any:  # pragma: no cover - compiled
    """`hourtail._mixture`: the long habit mixed with the recent hours that broke it."""
    q = habit(hours, common, k, d)
    share = len(broke) / len(recent)
    spread_ = share / (len(broke) + 1.0)
    mix = np.empty(24, np.float64)
    for i in range(24):
        mix[i] = (1.0 - share) * q[i] + spread_ / 24.0
    for b in range(len(broke)):
        h = broke[b]
        for step in range(5):
            i = (h + step - 2) % 24
            mix[i] += spread_ * KERNEL[step]
    return mix


@jit
def recent_profile(recent: Any, base: Any) -> Any:  # pragma: no cover - compiled
    """`hourtail.recent_profile`: each recent hour spread +-2 h by `KERNEL`, and one
    pseudo-event spread as `base`; sums to 1."""
    r = base.copy()
    for j in range(len(recent)):
        h = recent[j]
        for step in range(5):
            i = (h + step - 2) % 24
            r[i] = r[i] + KERNEL[step]
    m = len(recent) + 1.0
    out = np.empty(len(r), np.float64)
    for i in range(len(r)):
        out[i] = r[i] / m
    return out


@jit
def change_weight(near: Any, recent: Any, prior: float) -> float:  # pragma: no cover
    """`hourtail.change_weight`: the posterior probability that the recent hours (at
    least two) come from a new regime."""
    m = len(recent)
    llr = 0.0
    for j in range(m):
        h = recent[j]
        others = 0.0  # the others' weights, in order (`NEAR_WEIGHT`)
        for i in range(j):
            others += NEAR_WEIGHT[(h - recent[i]) % 24]
        for i in range(j + 1, m):
            others += NEAR_WEIGHT[(h - recent[i]) % 24]
        base = near[h] / 3.0
        if base == 0.0:
            if others > 0.0:
                return 1.0
            llr += LOG_HALF
            continue
        llr += math.log(0.5 + 0.5 * (others / (m - 1.0)) / base)
    x = math.log(prior / (1.0 - prior)) + llr
    if x < -700.0:
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))


@jit
def weighed(hours: Any, common: Any, k: float, d: float, recent: Any, lam: float,
            least: float) -> Any:  # pragma: no cover - compiled
    """`hourtail.weighed`: (1 - lam) x the long habit + lam x `recent_profile`; empty (the
    core's None) when `lam` <= `least`."""
    if lam <= least:
        return np.empty(0, np.float64)
    q = habit(hours, common, k, d)
    r = recent_profile(recent, q)
    out = np.empty(24, np.float64)
    for i in range(24):
        out[i] = (1.0 - lam) * q[i] + lam * r[i]
    return out


@jit
def changed(hours: Any, common: Any, k: float, d: float, near: Any, recent: Any,
            prior: float, least: float) -> Any:  # pragma: no cover - compiled
    """`hourtail.changed`: `weighed` by `change_weight`; empty when None."""
    return weighed(hours, common, k, d, recent, change_weight(near, recent, prior), least)


@jit
def under_way(hours: Any, common: Any, k: float, d: float, near: Any, recent: Any,
              edge: float) -> Any:  # pragma: no cover - compiled
    """`hourtail._under_way`: the mixture when at least two recent hours are below
    `edge` in `near`; empty (None) otherwise."""
    broke = np.empty(len(recent), np.int64)
    nb = 0
    for j in range(len(recent)):
        h = recent[j]
        if near[h] < edge:
            broke[nb] = h
            nb += 1
    if nb < 2:
        return np.empty(0, np.float64)
    return mixture(hours, common, k, d, recent, broke[:nb])


@jit
def counted_hour_tail(hours: Any, hn: int, common: Any, total: int, w: float,
                      prior: float, hour: int, recent: Any, weight: float
                      ) -> float:  # pragma: no cover - compiled
    """`hourtail.counted_hour_tail` given `recent` (`recent_hours`) and `weight` (the
    change weight `counted_night_mass` found, negative: none)."""
    return counted_hour_tail_into(hours, hn, common, total, w, prior, hour, recent, weight,
                                  np.empty((3, 24), np.float64))


@jit
def counted_hour_tail_into(hours: Any, hn: int, common: Any, total: int, w: float,
                           prior: float, hour: int, recent: Any, weight: float,
                           work: Any) -> float:  # pragma: no cover - compiled
    """`counted_hour_tail` with `work` (3 rows of at least 24 floats) for its profiles
    where `prior` is positive (the default): the same operations in the same order
    (`spread`, `change_weight`, `weighed`'s `habit` and `recent_profile`, `tail`), none
    of them allocating."""
    if hn == 0:
        return 1.0
    k, d = weights(hn, total, w)
    nr = work[0, :24]
    spread_into(hours, common, k, d, nr)
    if len(recent) < 2:
        return tail_of(nr, hour)
    if prior > 0.0:
        lam = weight if weight >= 0.0 else change_weight(nr, recent, prior)
        if lam <= prior:  # `weighed`'s None
            return tail_of(nr, hour)
        q = work[1, :24]
        habit_into(hours, common, k, d, q)
        r = work[2, :24]  # `recent_profile(recent, q)`, then `weighed`'s mixture, in place
        for i in range(24):
            r[i] = q[i]
        for j in range(len(recent)):
            h = recent[j]
            for step in range(5):
                i = (h + step - 2) % 24
                r[i] = r[i] + KERNEL[step]
        m = len(recent) + 1.0
        for i in range(24):
            r[i] = r[i] / m
        for i in range(24):
            r[i] = (1.0 - lam) * q[i] + lam * r[i]
        near_into(r, q)  # `tail(mixed, hour)`
        return tail_of(q, hour)
    mine, edge = rank(nr, hour)
    mix = under_way(hours, common, k, d, nr, recent, edge)
    return mine if len(mix) == 0 else tail(mix, hour)


@jit
def hour_tail(hours: Any, common: Any, total: int, w: float, prior: float, hour: int,
              recent: Any) -> float:  # pragma: no cover - compiled
    """`hourtail.hour_tail`: `counted_hour_tail` from the customer's own counts."""
    return counted_hour_tail(hours, counts(hours), common, total, w, prior, hour, recent,
                             -1.0)


@jit
def counted_night_mass(hours: Any, hn: int, common: Any, total: int, w: float,
                       prior: float, night: Any, recent: Any
                       ) -> tuple[float, float]:  # pragma: no cover - compiled
    """`hourtail.counted_night_mass`: the night hours' share of the mixture while a change
    is under way (0.0 when none is), and the change weight found (-1.0: none)."""
    if hn == 0 or len(recent) < 2:
        return 0.0, -1.0
    k, d = weights(hn, total, w)
    nr = spread(hours, common, k, d)
    lam = -1.0
    if prior > 0.0:
        lam = change_weight(nr, recent, prior)
        mix = weighed(hours, common, k, d, recent, lam, UNDER_WAY)
    else:
        mix = under_way(hours, common, k, d, nr, recent, rank(nr, 0)[1])
    if len(mix) == 0:
        return 0.0, lam
    mass = 0.0
    for j in range(len(night)):
        mass += mix[night[j]]
    return mass, lam


@jit
def night_mass(hours: Any, common: Any, total: int, w: float, prior: float, night: Any,
               recent: Any) -> float:  # pragma: no cover - compiled
    """`hourtail.night_mass`: `counted_night_mass`'s share from the customer's counts."""
    return counted_night_mass(hours, counts(hours), common, total, w, prior, night,
                              recent)[0]


@jit
def night_share(hours: Any, hour: int, night: Any, mask: Any, recent: Any,
                min_history: int, max_share: float, common: Any, total: int, w: float,
                prior: float) -> tuple[float, int, int, float]:  # pragma: no cover
    """`features.observe`'s hour part: the customer's smoothed night share (its
    `Observation.night_share`), the hour count `hn` (`night_total`), the night count
    (`night_count`) and the change weight (`hour_change`, -1.0: none). `recent` is
    `recent_hours` (the context's, then the held events': observe counts the same hours
    through `features._held`); `min_history`, `max_share` are `odd_hour_min_history`,
    `odd_hour_max_share`."""
    hn = 0
    nights = 0
    for i in range(24):
        hn += hours[i]
    for j in range(len(night)):
        nights += hours[night[j]]
    share = (nights + 1) / (hn + 2)
    recent_nights = 0
    for j in range(len(recent)):
        h = recent[j]
        if 0 <= h < 24 and mask[h] != 0:  # features.in_night
            recent_nights += 1
    recent_n = len(recent)
    if recent_n:
        x = recent_nights / recent_n
        share = x if x > share else share  # max(share, x)
    change = -1.0
    if 0 <= hour < 24 and mask[hour] != 0 and hn >= min_history and share <= max_share:
        mass, change = counted_night_mass(hours, hn, common, total, w, prior, night, recent)
        share = mass if mass > share else share  # max(share, mass)
    return share, hn, nights, change


@jit
def near_hour(recent: Any, hour: int) -> int:  # pragma: no cover - compiled
    """`surprise.terms`' count of the recent hours within 1 h of this one
    (`(h - hour) % 24 in (0, 1, 23)`)."""
    count = 0
    for j in range(len(recent)):
        g = (recent[j] - hour) % 24
        if g == 0 or g == 1 or g == 23:
            count += 1
    return count


@jit
def learn_hour(hours: Any, hour: int) -> None:  # pragma: no cover - compiled
    """`habits.learn_habits`' hour: every count halved when this hour's is at 255, then
    this hour's counted (`hours` uint8[24], in place)."""
    if hours[hour] == 255:
        for i in range(24):
            hours[i] >>= 1
    hours[hour] += 1


@jit
def count_hour(common: Any, hour: int) -> None:  # pragma: no cover - compiled
    """`habits._learn_clock`'s population hour count (`Population.hours`, in place)."""
    common[hour] = common[hour] + 1
