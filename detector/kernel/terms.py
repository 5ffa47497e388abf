"""`surprise.terms` whole, as one kernel function over a customer's slot
(`slots.CustomerSlots` `s`, `c`), the population's arrays (`population.PopulationArrays`
`p`), the kernel's observation (`observe.observe`'s `obs`) and the knobs
(`knobs.KernelKnobs` `k`), to the bit.

`terms` fills `raw` (float64[12], `calibration.TERMS` order), sets `obs[ROUND_EXTRA]` (the
core's `o.round_extra`, which `fold_round` and the rules read), fills `why` (float64[`WHY`]:
the numbers every reason needs, indices below) and returns the wake. It is an assembly of
the ported modules, in the core's order and under the core's conditions: the amount block
(`amounts.amount_terms`), the five novelty terms (`novelty.novelty`: network beyond
country), the hour (`hours.recent_hours`, `near_hour`, `counted_hour_tail`, the max with
the context's neighbours), the activity (`clock.rate`, where `n` and the population's gaps
>= 100) with variety folded in (`variety.variety`, `clock.fold`, where `variety_window_s`
> 0 and `n`), the repetition terms (`amounts.match_weights`, `repeat` where `n` and
amount > 0, `over_days` where also `days_s` > 0 and z > 0), dormancy and travel
(`clock.dormancy`, `clock.travel`) and the round amounts (`amounts.round_level`,
`round_surprise`, where `round_amounts`). Nothing is re-ported here.

`terms_reasons` is the core's `kept` dict (same keys, order and words) from `raw`, `why`
and `obs`, with each module's formatter (`clock.rate_reason`, `fold_reason`,
`dormancy_reason`, `variety.variety_reason`, `amounts.repeat_reason`,
`similar_amounts_reason`, `round_reason`, `novelty.novelty_reason`); the texts `_reason`
words from the observation alone (amounts, hour, travel) are `_reason`'s own, copied here.

Arguments beyond the state: the row's `t`, the codes of its `device` and `ipnet` (the
observation holds the other strings' codes), `cat_rank` (`variety.category_ranks` of the
encoder's strings), the tables `ex` (`amounts.EXPONENTS`), `comb` (`amounts.COMB`),
`lgamma` (`tails.LGAMMA`), `spans` (`variety.SPANS`): passed in, never read as globals
(docs/kernel.md (g)), and `work` float64[6, >= max(amount_history, context_size, window)]
scratch (`scratch`).

Status (2026-12-03, branch `kterms`): equal to the core's `terms` row by row on realistic
rows, every term above the floor on some rows, with the reasons dict, the wake and
`round_extra` (tests/unit/test_kernel_terms.py: default knobs, round amounts off,
`similar_window_s` 0, a wide variety window, late rows, the extended anomaly mix, runs of
round amounts, new networks, amounts of 0). Not yet called by an engine (docs/kernel.md
step 7). Measured (2,836 generated rows' stored states, the final population, load ~1.5):
~8.5-10 us a row in a jitted loop against ~17 us for the mypyc core's `terms`; of it
`novelty` ~3.4 us, the hour ~1.0, `travel` ~0.9 and `dormancy` ~0.7 (mostly the call's
reference counts of `s`'s and `p`'s arrays), `rate`, `variety`, the amount block ~0.2-0.3
each. With `novelty`, `rate`, `dormancy`, `travel` and `terms` itself `inline="always"`:
~6.9 us, the same floats. `terms_reasons` (Python) ~12 us a row: call it only for rows
whose reasons are written.

The engine words a segment's rows at once (`rows_reasons`, of which `terms_reasons` is the
one-row case): a term at a time over the rows that keep it, each reading only the fields it
quotes, as lists (a numpy scalar read costs ~100 ns). Measured over bench/core_bench.py's
68,621 rows (2026-12-03, branch `kfast`): ~1.2 us a row against ~3.6 for `terms_reasons` and
`rule_reasons` row by row on numpy rows, the same words (tests/unit/test_kernel_terms.py
compares both with the core's).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detector.core.calibration import TERMS
from detector.core.knobs import Knobs
from detector.core.rules import duration, quoted
from detector.kernel.amounts import (
    amount_terms,
    match_weights,
    over_days,
    repeat,
    repeat_reason,
    round_level,
    round_reason,
    round_surprise,
    similar_amounts_reason,
)
from detector.kernel.clock import (
    dormancy,
    dormancy_reason,
    fold,
    fold_reason,
    rate,
    rate_reason,
    travel,
)
from detector.kernel.hold import block
from detector.kernel.hours import counted_hour_tail_into, near_hour, recent_hours_into
from detector.kernel.jit import jit
from detector.kernel.novelty import NAMES, novelty, novelty_reason
from detector.kernel.observe import (
    AMOUNT,
    AMOUNT_RATIO,
    AMOUNT_SCALE,
    AMOUNT_Z,
    CATEGORY,
    CHANNEL,
    COUNTRY,
    HOP_RATE,
    HOUR,
    HOUR_CHANGE,
    LOG_AMOUNT,
    NIGHT_TOTAL,
    PREV_COUNTRY,
    ROUND_EXTRA,
    TRAVEL_DT_S,
    TRAVEL_KM,
)
from detector.kernel.tails import bits
from detector.kernel.variety import variety, variety_reason

#: `why`'s fields: the numbers the reasons need (`terms_reasons`).
WHY_FIELDS = (
    "rate_v", "rate_k", "rate_span", "rate_pace",  # clock.rate (before the fold)
    "var_v", "var_k", "var_d", "var_span",  # variety.variety
    "rep_exact", "rep_k", "rep_low", "rep_high",  # amounts.repeat
    "days_k", "days_low", "days_high",  # amounts.over_days (k 0: repeat's reason stands)
    "dorm_kind", "dorm_s",  # clock.dormancy
    "seen_country", "seen_device", "seen_ipnet", "seen_channel", "seen_category",
    "learnt", "device", "ipnet",
    "round_bits", "round_level", "round_k", "round_m", "round_seen", "round_counted",
    "pop_round_level", "pop_round_all",
)
(RATE_V, RATE_K, RATE_SPAN, RATE_PACE, VAR_V, VAR_K, VAR_D, VAR_SPAN, REP_EXACT, REP_K,
 REP_LOW, REP_HIGH, DAYS_K, DAYS_LOW, DAYS_HIGH, DORM_KIND, DORM_S, SEEN, _S1, _S2, _S3,
 _S4, LEARNT, DEVICE, IPNET, ROUND_BITS, ROUND_LEVEL, ROUND_K, ROUND_M, ROUND_SEEN,
 ROUND_COUNTED, POP_ROUND_LEVEL, POP_ROUND_ALL) = range(len(WHY_FIELDS))
WHY = len(WHY_FIELDS)
#: `raw`'s order: the core's `TERMS`, the novelty terms `novelty.NAMES`' (checked at import).
ORDER = ("amount_high", "amount_low", *NAMES, "hour", "rate", "repeat", "dormancy", "travel")
if ORDER != TERMS:
    raise ImportError(f"detector.kernel.terms' order differs from the core's TERMS: {ORDER}")


def scratch(s: Any) -> np.ndarray:
    """`terms`' scratch for the slots `s` (rows: the amounts' and context's sort, the
    activity's ages, `repeat`'s gaps and amounts, `over_days`' chances and amounts)."""
    width = max(s.amt.shape[1], s.ctx_la.shape[1], s.win_t.shape[1], s.days_t.shape[1], 24)
    return np.empty((6, width), np.float64)


def int_scratch(s: Any) -> np.ndarray:
    """`terms`' integer scratch for the slots `s` (rows: the recent hours, the five codes,
    their counts seen)."""
    return np.empty((3, max(s.ctx_la.shape[1] + s.pend_hour.shape[1], 5)), np.int64)


@jit
def terms(s: Any, c: int, p: Any, obs: Any, t: float, device: int, ipnet: int,
          cat_rank: Any, k: Any, ex: Any, comb: Any, lgamma: Any, spans: Any, work: Any,
          iwork: Any, raw: Any, why: Any) -> float:  # pragma: no cover - compiled
    """`surprise.terms` of the purchase at `t` that `observe` measured as `obs`: every
    term into `raw` (`TERMS` order), `obs[ROUND_EXTRA]`, the reasons' numbers into `why`;
    returns the wake. `work`, `iwork`: `scratch`'s and `int_scratch`'s (nothing is
    allocated a row)."""
    cap = k.surprise_cap
    w_ctx = k.context_weight
    size = k.context_size
    floor = k.surprise_floor
    n = s.n[c]
    amount = obs[AMOUNT]
    category = int(obs[CATEGORY])
    channel = int(obs[CHANNEL])
    for i in range(why.shape[0]):
        why[i] = 0.0
    # --- amount: logistic tails on the robust z, against the long and the recent level ----
    high, low, z, scale, zr, w_recent = amount_terms(
        n, obs[LOG_AMOUNT], obs[AMOUNT_SCALE], obs[AMOUNT_Z], s.amt[c], s.amt_head[c],
        s.amt_len[c], p.low, p.low_n[0], s.ctx_la[c], s.ctx_head[c], s.ctx_len[c],
        k.prior_weight, k.new_value_prior, w_ctx, cap, work[0])
    raw[0] = high
    raw[1] = low
    # --- novelty of each attribute, and the hour ------------------------------------------
    keys = iwork[1]
    keys[0] = int(obs[COUNTRY])
    keys[1] = device
    keys[2] = ipnet
    keys[3] = channel
    keys[4] = category
    novel = raw[2:7]
    seen = iwork[2]
    novelty(s, c, p, keys, k, novel, seen)
    for i in range(5):
        why[SEEN + i] = seen[i]
    why[LEARNT] = s.learnt[c]
    why[DEVICE] = device
    why[IPNET] = ipnet
    hour = int(obs[HOUR])
    recent = recent_hours_into(s.ctx_hour[c], s.ctx_len[c], s.ctx_head[c],
                               s.pend_hour[block(s, c)], s.pend_len[c], iwork[0])
    near = near_hour(recent, hour)
    tail = counted_hour_tail_into(s.hours[c], int(obs[NIGHT_TOTAL]), p.hours, p.total[0],
                                  k.prior_weight, k.hour_change_prior, hour, recent,
                                  obs[HOUR_CHANGE], work[1:4])  # rows used later only
    share = w_ctx * near / size
    raw[7] = bits(share if share > tail else tail, cap)  # max(tail, share)
    # --- activity, with variety folded in ---------------------------------------------------
    rate_v = 0.0
    if n and p.gaps[0] >= 100:
        rate_v, best_k, span, pace = rate(s, c, p, t, k, lgamma, work[1])
        why[RATE_V] = rate_v
        why[RATE_K] = best_k
        why[RATE_SPAN] = span
        why[RATE_PACE] = pace
    if k.variety_window_s > 0.0 and n:
        varied, vk, vd, vspan = variety(
            t, category, s.tab_code[c, 1], s.tab_count[c, 1], s.tab_len[c, 1], s.win_t[c],
            s.win_cat[c], s.win_len[c], p.tab_count[1], p.total[0], cat_rank,
            k.variety_window_s, k.prior_weight, cap, floor, spans, lgamma)
        why[VAR_V] = varied
        why[VAR_K] = vk
        why[VAR_D] = vd
        why[VAR_SPAN] = vspan
        rate_v = fold(rate_v, varied, floor, cap)
    raw[8] = rate_v
    # --- repetition: the short window, then over days ---------------------------------------
    repeat_v = 0.0
    if n and amount > 0:
        same, other_w = match_weights(
            category, channel, s.tab_code[c, 1], s.tab_count[c, 1], s.tab_len[c, 1],
            s.tab_code[c, 2], s.tab_count[c, 2], s.tab_len[c, 2], p.tab_count[1],
            p.tab_count[2], p.total[0], k.prior_weight)
        repeat_v, exact, closest, lo, hi = repeat(
            amount, category, channel, t, s.win_t[c], s.win_amt[c], s.win_cat[c],
            s.win_chan[c], s.win_len[c], s.exact[c], n, z, scale, same, other_w,
            k.repeat_window_s, k.prior_weight, cap, lgamma, ex, work[2], work[3])
        why[REP_EXACT] = exact
        why[REP_K] = closest
        why[REP_LOW] = lo
        why[REP_HIGH] = hi
        if k.days_s > 0.0 and z > 0.0:
            repeat_v, dk, dlo, dhi = over_days(
                repeat_v, amount, category, channel, t, s.days_t[c], s.days_amt[c],
                s.days_cat[c], s.days_chan[c], s.days_len[c], z, zr, w_recent, scale, same,
                other_w, k.similar_window_s, cap, lgamma, work[4], work[5])
            why[DAYS_K] = dk
            why[DAYS_LOW] = dlo
            why[DAYS_HIGH] = dhi
    raw[9] = repeat_v
    # --- a long silence, and travel faster than a flight ------------------------------------
    wake, dorm, kind, seconds = dormancy(s, c, p, t, k)
    raw[10] = dorm
    why[DORM_KIND] = kind
    why[DORM_S] = seconds
    raw[11] = travel(s, c, p, obs[TRAVEL_KM], obs[TRAVEL_DT_S], obs[HOP_RATE], k)
    # --- round amounts (their excess joins amount_high after the recalibration) -------------
    if k.round_amounts:
        level = round_level(amount)
        rb, rk, rm = round_surprise(level, t, s.win_t[c], s.win_amt[c], s.win_len[c],
                                    s.rounds[c], p.rounds, k.prior_weight, cap, comb, ex)
        if rb > floor:
            obs[ROUND_EXTRA] = rb - floor
            why[ROUND_BITS] = rb
            why[ROUND_LEVEL] = level
            why[ROUND_K] = rk
            why[ROUND_M] = rm
            why[ROUND_SEEN] = s.rounds[c, level]
            why[ROUND_COUNTED] = s.rounds[c, 0]
            why[POP_ROUND_LEVEL] = p.rounds[level]
            why[POP_ROUND_ALL] = p.rounds[0]
    return wake


def _amount_high(ratio: float, category: str) -> str:
    return f"amount {ratio:.1f}x this customer's usual for {quoted(category)}"


def _amount_low(ratio: float) -> str:
    return f"amount 1/{1 / max(ratio, 1e-9):.0f} of this customer's usual"


def _hour(hour: int) -> str:
    return f"{hour:02d} h is unusual for this customer"


def _travel(country: str, seconds: float, before: str) -> str:
    return f"{quoted(country)} {duration(seconds)} after a purchase in {quoted(before)}"


def terms_reasons(raw: np.ndarray, why: np.ndarray, obs: np.ndarray,
                  values: list[str] | tuple[str, ...], cfg: Knobs) -> dict[str, str]:
    """`terms`' `kept`: the reason of every term above the floor (and of amount_high where
    a round amount's excess joins it), in `TERMS` order, with the core's words, from
    `terms`' `raw`, `why` and `obs` (`values`: the encoder's strings by code). One row of
    `rows_reasons`."""
    return rows_reasons(raw[None], why[None], obs[None], values, cfg).get(0, {})


def rows_reasons(raw: np.ndarray, why: np.ndarray, obs: np.ndarray,
                 values: list[str] | tuple[str, ...], cfg: Knobs) -> dict[int, dict[str, str]]:
    """`terms_reasons` of every row of `raw`, `why` and `obs` (2-D: a row each), by row,
    for the rows with any term kept. Worded a term at a time, each reading only the fields
    it quotes (as lists: far cheaper than reading numpy arrays field by field)."""
    floor = cfg.surprise_floor
    kept = raw > floor
    kept[:, 0] |= obs[:, ROUND_EXTRA] > 0.0
    out: dict[int, dict[str, str]] = {i: {} for i in np.flatnonzero(kept.any(axis=1)).tolist()}
    for j, name in enumerate(TERMS):
        rows = np.flatnonzero(kept[:, j])
        if not rows.size:
            continue
        texts: list[str]
        if j == 0:
            texts = _amount_high_rows(rows, raw, why, obs, values, floor)
        elif j == 1:
            texts = [_amount_low(r) for r in obs[rows, AMOUNT_RATIO].tolist()]
        elif j < 7:
            k = j - 2
            codes = (obs[rows, COUNTRY], why[rows, DEVICE], why[rows, IPNET], obs[rows, CHANNEL],
                     obs[rows, CATEGORY])[k]
            seen, learnt = _ints(why, rows, (SEEN + k, LEARNT))
            texts = [novelty_reason(name, values[c], m, n) for c, m, n in zip(
                codes.astype(np.int64).tolist(), seen, learnt, strict=True)]
        elif j == 7:
            texts = [_hour(h) for h in obs[rows, HOUR].astype(np.int64).tolist()]
        elif j == 8:
            texts = _rate_rows(rows, why, floor)
        elif j == 9:
            texts = _repeat_rows(rows, why, obs, cfg)
        elif j == 10:
            kind, = _ints(why, rows, (DORM_KIND,))
            texts = [dormancy_reason(d, s) or _missing(name) for d, s in zip(
                kind, why[rows, DORM_S].tolist(), strict=True)]
        else:
            country, before = _ints(obs, rows, (COUNTRY, PREV_COUNTRY))
            texts = [_travel(values[c], s, values[b]) for c, s, b in zip(
                country, obs[rows, TRAVEL_DT_S].tolist(), before, strict=True)]
        for i, text in zip(rows.tolist(), texts, strict=True):
            out[i][name] = text
    return out


def _ints(a: np.ndarray, rows: np.ndarray, fields: tuple[int, ...]) -> list[list[int]]:
    """The `fields` of `a`'s `rows` as ints (`int()` of the floats: they hold ints)."""
    return a[rows[:, None], fields].astype(np.int64).T.tolist()  # type: ignore[no-any-return]


def _floats(a: np.ndarray, rows: np.ndarray, fields: tuple[int, ...]) -> list[list[float]]:
    return a[rows[:, None], fields].T.tolist()  # type: ignore[no-any-return]


def _missing(name: str) -> str:
    """No reason where `terms` keeps the term: the core's `_reason` raises."""
    raise KeyError(name)


def _amount_high_rows(rows: np.ndarray, raw: np.ndarray, why: np.ndarray, obs: np.ndarray,
                      values: list[str] | tuple[str, ...], floor: float) -> list[str]:
    """amount_high's reasons; where a round amount's excess joins it, the round reason
    (after the amount's own where amount_high is above the floor itself)."""
    category, = _ints(obs, rows, (CATEGORY,))
    texts = [_amount_high(r, values[c]) for r, c in zip(
        obs[rows, AMOUNT_RATIO].tolist(), category, strict=True)]
    for x in np.flatnonzero(obs[rows, ROUND_EXTRA] > 0.0).tolist():
        i = rows[x]
        level, k, m, seen, counted, pop_level, pop_all = (int(why[i, f]) for f in (
            ROUND_LEVEL, ROUND_K, ROUND_M, ROUND_SEEN, ROUND_COUNTED, POP_ROUND_LEVEL,
            POP_ROUND_ALL))
        rounds = [0] * (level + 1)
        rounds[0], rounds[level] = counted, seen
        pop_rounds = [0] * (level + 1)
        pop_rounds[0], pop_rounds[level] = pop_all, pop_level
        said = round_reason(float(obs[i, AMOUNT]), level, k, m, rounds, pop_rounds)
        texts[x] = texts[x] + "; " + said if raw[i, 0] > floor else said
    return texts


def _rate_rows(rows: np.ndarray, why: np.ndarray, floor: float) -> list[str]:
    """The activity's reasons: the rate's (where above the floor) with variety's folded in."""
    best, var_k, var_d = _ints(why, rows, (RATE_K, VAR_K, VAR_D))
    rate_v, span, pace, var_v, var_span = _floats(why, rows, (RATE_V, RATE_SPAN, RATE_PACE,
                                                               VAR_V, VAR_SPAN))
    texts = []
    for x, k in enumerate(best):
        rate_why = rate_reason(k, span[x], pace[x]) if k and rate_v[x] > floor else None
        texts.append(fold_reason(rate_why, variety_reason(var_v[x], var_k[x], var_d[x],
                                                          var_span[x], floor))
                     or _missing("rate"))
    return texts


def _repeat_rows(rows: np.ndarray, why: np.ndarray, obs: np.ndarray, cfg: Knobs) -> list[str]:
    """The repetition's reasons: over days where it found similar amounts, else the short
    window's."""
    days_k, exact, rep_k = _ints(why, rows, (DAYS_K, REP_EXACT, REP_K))
    days_low, days_high, rep_low, rep_high = _floats(why, rows, (DAYS_LOW, DAYS_HIGH,
                                                                 REP_LOW, REP_HIGH))
    amounts = obs[rows, AMOUNT].tolist()
    return [similar_amounts_reason(a, days_k[x], days_low[x], days_high[x],
                                   cfg.similar_window_s) if days_k[x]
            else repeat_reason(a, exact[x], rep_k[x], rep_low[x], rep_high[x],
                               cfg.repeat_window_s)
            for x, a in enumerate(amounts)]
