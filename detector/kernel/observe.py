"""`features.observe` and `rules.apply_rules` over a customer's slot
(`slots.CustomerSlots`), the population's arrays (`population.PopulationArrays`) and the
knobs (`knobs.KernelKnobs`), to the bit (tests/unit/test_kernel_observe.py).

An observation is a float64 array `obs` of `FIELDS` (its indices the module's constants,
e.g. `obs[NIGHT_SHARE]`): the numbers of `features.Observation`, its strings as their codes
(`country`, `prev_country`, `category`, `channel`; `device` and `ipnet` stay the shell's,
`ipnet` being a string operation), `dup_age_s`'s None as NaN, `hour_counts` the slot's own
`hours[c]` (observe copies nothing), ints as floats (exact below 2^53). `observe` fills every
field: the amount part with `amounts.category_offset` and `amounts.observe_amount`, the
night mass with `hours.counted_night_mass` (each tested against the core in its own module),
travel with `geo.distance_km`.

The rules are a bitmask (`rules`, bit `i` the rule `RULE_NAMES[i]`, `rules.RULES`' order);
their reasons are formatted in Python (`rule_reasons`) from the mask and the observation,
with the core's words: every number a reason quotes is in the observation.

Status: `observe` and the rules equal to the core's row by row on realistic rows and
edge-case streams, every rule at its thresholds (tests/unit/test_kernel_observe.py); not yet
called by an engine (docs/kernel.md step 7). Measured in a jitted loop (load ~1.5):
`observe` ~0.95 us a call (~0.66 us with `inline="always"`), `rules` ~40 ns; most of it is
reference counting of the state tuples' arrays (the loop's code holds ~216 increfs and
~429 decrefs), not the arithmetic: the amount part, the haversine and the night mass each
removed left it unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from detector.core.knobs import Knobs
from detector.core.rules import RULES, duration, ordinal, quoted
from detector.kernel.amounts import category_offset, observe_amount
from detector.kernel.clock import needed_s
from detector.kernel.geo import distance_km
from detector.kernel.hold import block
from detector.kernel.hours import counted_night_mass, recent_hours
from detector.kernel.jit import jit
from shared.columns import RULE_NAMES as COLUMN_RULES

#: The observation's fields, in `obs` order (`features.Observation`'s names; the strings
#: as codes).
FIELDS = ("history", "gap_s", "burst_count", "burst_span_s", "dup_age_s", "hour",
          "night_total", "night_count", "night_share", "hour_change", "country",
          "prev_country", "country_seen", "country_recent", "country_rarity", "hop_rate",
          "novel_rate", "travel_km", "travel_dt_s", "category", "category_rarity", "channel",
          "amount", "log_amount", "amount_z", "amount_ratio", "amount_dev", "amount_scale",
          "over_max", "round_extra")
(HISTORY, GAP_S, BURST_COUNT, BURST_SPAN_S, DUP_AGE_S, HOUR, NIGHT_TOTAL, NIGHT_COUNT,
 NIGHT_SHARE, HOUR_CHANGE, COUNTRY, PREV_COUNTRY, COUNTRY_SEEN, COUNTRY_RECENT,
 COUNTRY_RARITY, HOP_RATE, NOVEL_RATE, TRAVEL_KM, TRAVEL_DT_S, CATEGORY, CATEGORY_RARITY,
 CHANNEL, AMOUNT, LOG_AMOUNT, AMOUNT_Z, AMOUNT_RATIO, AMOUNT_DEV, AMOUNT_SCALE, OVER_MAX,
 ROUND_EXTRA) = range(30)
SIZE = len(FIELDS)
#: The rules in their bit order (`rules.RULES`' order, `shared.columns.RULE_NAMES`').
RULE_NAMES = ("high_amount", "odd_hour", "duplicate", "burst", "impossible_travel",
              "new_country")
(HIGH_AMOUNT, ODD_HOUR, DUPLICATE, BURST, IMPOSSIBLE_TRAVEL, NEW_COUNTRY) = (
    1 << i for i in range(len(RULE_NAMES)))
if (tuple(RULES), COLUMN_RULES) != (RULE_NAMES, RULE_NAMES):
    raise ImportError(f"detector.kernel.observe's rules differ from the core's: {tuple(RULES)}")


def empty() -> np.ndarray:
    """An observation's array (zeros)."""
    return np.zeros(SIZE, np.float64)


@jit
def observe(s: Any, c: int, p: Any, t: float, hour: int, amount: float, country: int,
            category: int, channel: int, centroids: Any, k: Any, ex: Any, work: Any,
            obs: Any) -> None:  # pragma: no cover - compiled
    """`features.observe` of a purchase at `t` (its `hour`, `amount` and codes) into
    `obs`. `centroids` is `geo.centroid_table`'s, `ex` `amounts.EXPONENTS` (run-time
    exponents), `work` float64[>= amount_history] scratch; `p`'s by-code arrays hold the
    codes (`population.grow_codes`)."""
    w = k.prior_weight
    n = s.n[c]
    obs[HISTORY] = n
    obs[AMOUNT] = amount
    obs[ROUND_EXTRA] = 0.0
    obs[COUNTRY] = country
    obs[CATEGORY] = category
    obs[CHANNEL] = channel
    gap = abs(t - s.last_t[c]) if n else math.inf
    obs[GAP_S] = gap

    burst = 1
    dup_age = math.nan  # None
    span = 0.0
    burst_s = k.burst_window_s
    duplicate_s = k.duplicate_window_s
    for j in range(s.rec_len[c]):
        age = abs(t - s.rec_t[c, j])
        if age <= burst_s:
            burst += 1
            span = age if age > span else span  # max(span, age)
        if age <= duplicate_s and s.rec_amt[c, j] == amount and s.rec_cat[c, j] == category \
                and s.rec_chan[c, j] == channel \
                and (math.isnan(dup_age) or age < dup_age):  # dup_age = min(dup_age, age)
            dup_age = age
    obs[BURST_COUNT] = burst
    obs[BURST_SPAN_S] = span
    obs[DUP_AGE_S] = dup_age

    la, scale, z, ratio, dev, over = observe_amount(
        amount, category_offset(p.off_index, p.off_val, category), s.amt[c], s.amt_head[c],
        s.amt_len[c], p.amount_center[0], p.amount_scale[0], w, k.min_history, ex, work)
    obs[LOG_AMOUNT] = la
    obs[AMOUNT_SCALE] = scale
    obs[AMOUNT_Z] = z
    obs[AMOUNT_RATIO] = ratio
    obs[AMOUNT_DEV] = dev
    obs[OVER_MAX] = over

    obs[HOUR] = hour
    hn = 0
    night = 0
    for i in range(24):
        hn += s.hours[c, i]
    for i in range(k.night_hours.shape[0]):
        night += s.hours[c, k.night_hours[i]]
    obs[NIGHT_TOTAL] = hn
    obs[HOUR_CHANGE] = -1.0
    obs[NIGHT_COUNT] = night
    share = (night + 1) / (hn + 2)
    mask = k.night_mask
    recent_nights = 0
    ctx_here = 0
    held_here = 0
    cap = s.ctx_la.shape[1]
    e = s.ctx_head[c] % cap if cap else 0  # then (head + j) % cap, without a division each
    for _ in range(s.ctx_len[c]):
        h = s.ctx_hour[c, e]
        recent_nights += 0 <= h < 24 and mask[h] != 0  # in_night
        ctx_here += s.ctx_code[c, e, 0] == country
        e = e + 1 if e + 1 < cap else 0
    b = block(s, c)
    for j in range(s.pend_len[c]):
        h = s.pend_hour[b, j]
        recent_nights += 0 <= h < 24 and mask[h] != 0
        held_here += s.pend_code[b, j, 0] == country
    recent_n = s.ctx_len[c] + s.pend_len[c]
    if recent_n:
        x = recent_nights / recent_n
        share = x if x > share else share  # max(night_share, x)
    if (0 <= hour < 24 and mask[hour] != 0) and hn >= k.odd_hour_min_history \
            and share <= k.odd_hour_max_share:
        # hours changing (the hour term's mixture): the night share it expects now
        recent = recent_hours(s.ctx_hour[c], s.ctx_len[c], s.ctx_head[c], s.pend_hour[b],
                              s.pend_len[c])
        mass, change = counted_night_mass(s.hours[c], hn, p.hours, p.total[0], w,
                                          k.hour_change_prior, k.night_hours, recent)
        obs[HOUR_CHANGE] = change
        share = mass if mass > share else share  # max(night_share, mass)
    obs[NIGHT_SHARE] = share

    seen = 0
    for j in range(s.tab_len[c, 0]):  # countries.get(country, 0)
        if s.tab_code[c, 0, j] == country:
            seen = s.tab_count[c, 0, j]
            break
    obs[COUNTRY_SEEN] = seen + held_here
    obs[COUNTRY_RECENT] = (ctx_here + held_here) / recent_n if recent_n else 0.0
    total = p.total[0] + 1.0
    obs[COUNTRY_RARITY] = -math.log((p.tab_count[0, country] + 0.5) / total)
    obs[HOP_RATE] = (s.hops[c] + w * 0.1) / (n + w)
    obs[NOVEL_RATE] = (s.novel[c] + w * 0.1) / (n + w)
    last = s.last_country[c]
    obs[PREV_COUNTRY] = last
    if n and last != country:
        obs[TRAVEL_KM] = distance_km(last, country, k.travel_unknown_km, centroids, ex[2])
    else:
        obs[TRAVEL_KM] = 0.0
    obs[TRAVEL_DT_S] = gap
    obs[CATEGORY_RARITY] = -math.log((p.tab_count[1, category] + 0.5) / total)


@jit
def rules(obs: Any, k: Any) -> int:  # pragma: no cover - compiled
    """`rules.apply_rules` as a bitmask: bit `i` where `RULE_NAMES[i]` fires. The reasons'
    numbers are the observation's (`rule_reasons`)."""
    fired = 0
    history = obs[HISTORY]
    # high_amount
    if not obs[AMOUNT_RATIO] < k.high_amount_ratio:
        if history >= k.min_history:
            if obs[OVER_MAX] >= math.log(k.high_amount_over_max):
                fired |= HIGH_AMOUNT
        elif obs[AMOUNT_Z] >= k.high_amount_z:
            fired |= HIGH_AMOUNT
    # odd_hour
    hour = int(obs[HOUR])
    if (0 <= hour < 24 and k.night_mask[hour] != 0) \
            and obs[NIGHT_TOTAL] >= k.odd_hour_min_history \
            and obs[NIGHT_SHARE] <= k.odd_hour_max_share:
        fired |= ODD_HOUR
    # duplicate
    if not math.isnan(obs[DUP_AGE_S]):
        fired |= DUPLICATE
    # burst
    if obs[BURST_COUNT] >= k.burst_min_count:
        fired |= BURST
    # impossible_travel
    km = obs[TRAVEL_KM]
    if not (km <= 0 or obs[TRAVEL_DT_S] >= needed_s(km, k.travel_slack_km,
                                                     k.travel_speed_kmh)) \
            and not obs[HOP_RATE] > k.travel_max_hop_rate:
        familiar = False
        if history:
            a = obs[COUNTRY_SEEN] / history
            b = obs[COUNTRY_RECENT]
            familiar = (b if b > a else a) >= k.travel_familiar_share  # max(a, b)
        if not familiar:
            fired |= IMPOSSIBLE_TRAVEL
    # new_country
    if obs[COUNTRY_SEEN] == 0 and history >= k.new_country_min_history \
            and obs[NOVEL_RATE] <= k.new_country_max_rate:
        fired |= NEW_COUNTRY
    return fired


def rule_reasons(fired: int, obs: np.ndarray | Sequence[float], values: Sequence[str],
                 cfg: Knobs) -> dict[str, str]:
    """`rules.apply_rules`' reasons from `rules`' mask and the observation (its array, or
    its `tolist()`: cheaper to read field by field; `values`: the encoder's strings by
    code), by rule name in `RULES` order, with the core's words."""
    out: dict[str, str] = {}
    if not fired:
        return out
    history = int(obs[HISTORY])
    if fired & HIGH_AMOUNT:
        ratio = float(obs[AMOUNT_RATIO])
        out["high_amount"] = (
            f"amount {ratio:.0f}x this customer's usual for "
            f"{quoted(values[int(obs[CATEGORY])])}" if history >= cfg.min_history
            else f"amount {ratio:.0f}x the usual amount (new customer)")
    if fired & ODD_HOUR:
        out["odd_hour"] = (f"{int(obs[HOUR]):02d} h purchase; {int(obs[NIGHT_COUNT])} of "
                           f"{int(obs[NIGHT_TOTAL])} earlier ones at night")
    if fired & DUPLICATE:
        out["duplicate"] = ("same amount, category and channel as a purchase "
                            f"{duration(float(obs[DUP_AGE_S]))} earlier")
    if fired & BURST:
        span = float(obs[BURST_SPAN_S])
        out["burst"] = (f"{ordinal(int(obs[BURST_COUNT]))} purchase in "
                        f"{duration(max(span, 1.0))}")
    if fired & IMPOSSIBLE_TRAVEL:
        out["impossible_travel"] = (
            f"{quoted(values[int(obs[COUNTRY])])} {duration(float(obs[TRAVEL_DT_S]))} after "
            f"a purchase in {quoted(values[int(obs[PREV_COUNTRY])])}")
    if fired & NEW_COUNTRY:
        out["new_country"] = (f"{quoted(values[int(obs[COUNTRY])])} never seen for this "
                              f"customer ({history} earlier purchases)")
    return out
