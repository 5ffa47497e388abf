"""The clock (docs/kernel.md step 2): the activity, dormancy and travel terms, and the
clock's learning (`habits._learn_clock`), over a customer's slot (`slots.CustomerSlots`),
the population's arrays (`population.PopulationArrays`) and the knobs
(`knobs.KernelKnobs`), to the bit (tests/unit/test_kernel_clock.py).

What `_learn_clock` also calls on the population and is ported elsewhere stays the
caller's, in the core's order after `learn_clock`: `Population.learn_first` (a first
purchase), `Population.observe`. Reasons are formatted in Python from the numbers these
functions return (`rate_reason`, `dormancy_reason`), with the core's words.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from detector.core.habits import GAP_CAP_S, MAX_WINDOW, WINDOW_S
from detector.core.rules import duration
from detector.core.state import OFFSET_CLIP
from detector.core.variety import SPANS
from detector.kernel.jit import jit
from detector.kernel.tails import bits, poisson_tail


@jit
def history_band(learnt: int, bounds: Any) -> int:  # pragma: no cover - compiled
    """`state.history_band`: the band of `learnt` among `bounds` (-1 without bounds)."""
    if bounds.shape[0] == 0:
        return -1
    band = 0
    for i in range(bounds.shape[0]):
        if learnt <= bounds[i]:
            return band
        band += 1
    return band


@jit
def gap_prior(p: Any, band: int) -> float:  # pragma: no cover - compiled
    """`Population.gap_prior`."""
    if band < 0 or band >= p.gap_bands_len[0]:
        return float(p.gap_mean[0])
    count = p.gap_bands[band, 0]
    mean = p.gap_bands[band, 1]
    return float((count * mean + 50.0 * p.gap_mean[0]) / (count + 50.0))


@jit
def learn_gap(p: Any, band: int, gap: float) -> None:  # pragma: no cover - compiled
    """`Population.learn_gap`."""
    while p.gap_bands_len[0] <= band:
        p.gap_bands[p.gap_bands_len[0], 0] = 0.0
        p.gap_bands[p.gap_bands_len[0], 1] = 0.0
        p.gap_bands_len[0] += 1
    x = p.gap_bands[band, 0] + 1.0
    p.gap_bands[band, 0] = 5000.0 if x > 5000.0 else x  # min(x, 5000.0)
    p.gap_bands[band, 1] = p.gap_bands[band, 1] + (gap - p.gap_bands[band, 1]) \
        / p.gap_bands[band, 0]


@jit
def learn_offset(p: Any, category: int, deviation: float,
                 max_keys: int) -> None:  # pragma: no cover - compiled
    """`Population.learn_offset` (`p.off_index` holds `category`'s code: `grow_codes`)."""
    j = p.off_index[category]
    if j < 0:
        if p.off_len[0] >= max_keys:
            return
        j = p.off_len[0]
        p.off_keys[j] = category
        p.off_val[j, 0] = 0.0
        p.off_val[j, 1] = 0.0
        p.off_index[category] = j
        p.off_len[0] += 1
    x = p.off_val[j, 0] + 1.0
    p.off_val[j, 0] = 5000.0 if x > 5000.0 else x  # min(x, 5000.0)
    d = deviation if deviation < OFFSET_CLIP else OFFSET_CLIP  # min(OFFSET_CLIP, deviation)
    d = d if d > -OFFSET_CLIP else -OFFSET_CLIP  # max(-OFFSET_CLIP, d)
    p.off_val[j, 1] = p.off_val[j, 1] + (d - p.off_val[j, 1]) / p.off_val[j, 0]


@jit
def needed_s(travel_km: float, slack_km: float,
             speed_kmh: float) -> float:  # pragma: no cover - compiled
    """`rules.needed_seconds`: the shortest plausible trip."""
    x = travel_km - slack_km
    return (x if x > 0.0 else 0.0) / speed_kmh * 3600.0  # max(0.0, x)


@jit
def rate(s: Any, c: int, p: Any, t: float, k: Any, lgamma: Any,
         ages: Any) -> tuple[float, int, float, float]:  # pragma: no cover - compiled
    """`surprise._rate` (call only where the core does: `n` and the population's gaps
    at least 100): the term, the k and span behind it (0, 0.0 if none), the customer's
    pace (the reason's numbers). `ages`: scratch of `MAX_WINDOW` floats."""
    g = s.gaps[c]
    w = k.prior_weight
    typical = (g * s.gap_log[c] + w * p.gap_log[0]) / (g + w)
    pace = math.exp(-typical)
    horizon = k.rate_horizon_s
    na = 0
    for j in range(s.win_len[c]):
        a = abs(t - s.win_t[c, j])
        if a <= horizon:  # insertion: `sorted`'s ascending order (no NaN)
            q = na
            while q > 0 and ages[q - 1] > a:
                ages[q] = ages[q - 1]
                q -= 1
            ages[q] = a
            na += 1
    tested = 0
    for kk in SPANS:
        if kk <= na:
            tested += 1
    best = 0.0
    best_k = 0
    best_span = 0.0
    if tested:
        tests = math.log(float(tested))
        for kk in SPANS:
            if kk > na:
                break
            span = ages[kk - 1]
            span = 1.0 if span < 1.0 else span
            v = bits(poisson_tail(kk, pace * span, lgamma), k.surprise_cap) - tests
            if v > best:
                best = v
                best_k = kk
                best_span = span
    return (best if best > 0.0 else 0.0), best_k, best_span, pace  # max(best, 0.0)


def rate_reason(best_k: int, span: float, pace: float) -> str:
    """`_rate`'s reason from `rate`'s numbers (where the term is above the floor)."""
    return (f"{best_k + 1} purchases within {duration(span)} "
            f"(about {1 + pace * span:.1f} at this customer's pace)")


@jit
def fold(rate_v: float, varied: float, floor: float,
         cap: float) -> float:  # pragma: no cover - compiled
    """`surprise._fold`: the activity term with variety folded in (unchanged unless variety
    is above the floor; then the larger plus the other's excess over the floor, capped)."""
    if varied <= floor:
        return rate_v
    high = rate_v if rate_v >= varied else varied
    low = varied if rate_v >= varied else rate_v
    folded = high + (low - floor if low > floor else 0.0)
    return folded if folded < cap else cap


def fold_reason(rate_why: str | None, variety_why: str | None) -> str | None:
    """`_fold`'s reasons: variety's joins the activity's (where variety is above the
    floor; otherwise the activity's alone)."""
    if not variety_why:
        return rate_why
    return f"{rate_why}; {variety_why}" if rate_why else variety_why


@jit
def dormancy(s: Any, c: int, p: Any, t: float,
             k: Any) -> tuple[float, float, int, float]:  # pragma: no cover - compiled
    """`terms`' silence: the return's surprise (`wake`), the term, and its reason's kind
    and seconds (0: none; 1: since a return from silence; 2: the gap of silence). Zeros
    where the core computes none (no gap yet, or a late row)."""
    if not (s.gaps[c] and t >= s.last_t[c]):
        return 0.0, 0.0, 0, 0.0
    w = k.prior_weight
    g = s.gaps[c]
    prior = gap_prior(p, history_band(g, k.prior_bands))
    mean = (g * s.gap_mean[c] + w * prior) / (g + w)
    alpha = k.dormancy_alpha
    gap = t - s.last_t[c]
    m = mean if mean > 60.0 else 60.0  # max(mean, 60.0)
    wake = bits((1.0 + gap / (alpha * m)) ** -alpha, k.surprise_cap)
    since = s.wake_t[c]
    before = s.wake_s[c]
    floor = k.surprise_floor
    if 0 <= t - since <= k.wake_s and before * 0.5 > wake:
        term = before * 0.5
        return wake, term, (1 if term > floor else 0), t - since
    return wake, wake, (2 if wake > floor else 0), gap


def dormancy_reason(kind: int, seconds: float) -> str | None:
    """`terms`' dormancy reason from `dormancy`'s kind and seconds."""
    if kind == 1:
        return f"{duration(seconds)} after a return from silence"
    if kind == 2:
        return f"first purchase after {duration(seconds)} of silence"
    return None


@jit
def travel(s: Any, c: int, p: Any, travel_km: float, travel_dt_s: float, hop_rate: float,
           k: Any) -> float:  # pragma: no cover - compiled
    """`terms`' travel faster than a flight (0 where the core computes none)."""
    if not (travel_km > 0 and s.n[c]):
        return 0.0
    need = needed_s(travel_km, k.travel_slack_km, k.travel_speed_kmh)
    dt = travel_dt_s if travel_dt_s > 60.0 else 60.0  # max(travel_dt_s, 60.0)
    ratio = need / dt
    if not ratio > 1.0:
        return 0.0
    weight = k.new_value_prior
    fast_rate = (p.fast[0] + 1.0) / (p.fast[1] + 100.0)  # Population.fast_rate
    p_fast = (s.fast[c] + weight * fast_rate) / (s.n[c] + weight)
    x = math.log(ratio) / math.log(2.0)
    return bits(hop_rate if hop_rate > p_fast else p_fast, k.surprise_cap) * (
        x if x < 1.0 else 1.0)  # min(1.0, x)


@jit
def _keep(t_: Any, amt: Any, cat: Any, chan: Any, n: int, c: int, t: float,
          horizon: float, keep: int, amount: float, category: int,
          channel: int) -> tuple[int, bool]:  # pragma: no cover - compiled
    """`habits._kept` in place on one slot's events (`n` of them): those within
    `horizon` of `t` in arrival order, then this one, the last `keep`; the new length,
    and whether a kept one repeats `amount` exactly (the day's window's `exact`)."""
    kept = 0
    repeated = False
    for j in range(n):
        if abs(t - t_[c, j]) <= horizon:
            if kept != j:
                t_[c, kept] = t_[c, j]
                amt[c, kept] = amt[c, j]
                cat[c, kept] = cat[c, j]
                chan[c, kept] = chan[c, j]
            repeated = repeated or amt[c, kept] == amount
            kept += 1
    drop = kept + 1 - keep
    if drop > 0:
        for j in range(drop, kept):
            t_[c, j - drop] = t_[c, j]
            amt[c, j - drop] = amt[c, j]
            cat[c, j - drop] = cat[c, j]
            chan[c, j - drop] = chan[c, j]
        kept -= drop
    t_[c, kept] = t
    amt[c, kept] = amount
    cat[c, kept] = category
    chan[c, kept] = channel
    return kept + 1, repeated


@jit
def learn_clock(s: Any, c: int, p: Any, t: float, amount: float, country: int,
                category: int, channel: int, travel_km: float, travel_dt_s: float,
                wake: float, k: Any) -> None:  # pragma: no cover - compiled
    """`habits._learn_clock`, but for its population calls the caller makes after it
    (`learn_first` on a first purchase, `observe`), and with `hours` and `learn_offset`'s
    inputs left to `learn_clock_population`."""
    if s.n[c]:
        raw_gap = abs(t - s.last_t[c])
        gap = 1.0 if raw_gap < 1.0 else raw_gap
        lg = math.log(gap)
        capped = GAP_CAP_S if gap > GAP_CAP_S else gap  # min(gap, GAP_CAP_S)
        band = history_band(s.gaps[c], k.prior_bands)
        if band >= 0:
            learn_gap(p, band, capped)
        s.gaps[c] += 1
        g = s.gaps[c]
        s.gap_log[c] += (lg - s.gap_log[c]) / (g if g < 50 else 50)  # min(gaps, 50)
        s.gap_mean[c] += (capped - s.gap_mean[c]) / (g if g < 50 else 50)
        p.gaps[0] += 1
        pg = p.gaps[0]
        p.gap_log[0] += (lg - p.gap_log[0]) / (pg if pg < 5000 else 5000)
        p.gap_mean[0] += (capped - p.gap_mean[0]) / (pg if pg < 5000 else 5000)
        s.hops[c] += country != s.last_country[c]
        fast = travel_km > 0 and travel_dt_s < needed_s(travel_km, k.travel_slack_km,
                                                        k.travel_speed_kmh)
        s.fast[c] += fast
        if p.fast[1] >= 20_000:  # a moving average beyond this
            p.fast[0] *= 0.5
            p.fast[1] *= 0.5
        p.fast[0] = p.fast[0] + (1.0 if fast else 0.0)
        p.fast[1] = p.fast[1] + 1.0
    if wake > k.surprise_floor and t >= s.last_t[c]:
        s.wake_t[c] = t
        s.wake_s[c] = wake
    s.rec_len[c], _ = _keep(s.rec_t, s.rec_amt, s.rec_cat, s.rec_chan, s.rec_len[c], c, t,
                            k.recent_horizon_s, k.recent_keep, amount, category, channel)
    s.win_len[c], repeated = _keep(s.win_t, s.win_amt, s.win_cat, s.win_chan, s.win_len[c],
                                   c, t, WINDOW_S, MAX_WINDOW, amount, category, channel)
    s.exact[c] += repeated
    if k.days_s > 0.0:  # the repetition over days keeps its own, longer window
        s.days_len[c], _ = _keep(s.days_t, s.days_amt, s.days_cat, s.days_chan,
                                 s.days_len[c], c, t, k.days_s, MAX_WINDOW, amount,
                                 category, channel)
    if t >= s.last_t[c]:
        s.last_t[c] = t
        s.last_country[c] = country
    s.n[c] += 1


@jit
def learn_clock_population(p: Any, hour: int, category: int, amount_dev: float,
                           max_keys: int) -> None:  # pragma: no cover - compiled
    """The end of `habits._learn_clock`, after `Population.observe`: the hour counted, the
    category's offset learnt."""
    p.hours[hour] += 1
    learn_offset(p, category, amount_dev, max_keys)


def scratch() -> Any:
    """`rate`'s scratch array."""
    return np.empty(MAX_WINDOW, np.float64)
