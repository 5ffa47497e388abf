"""`rowloop.score_rows` as one compiled loop over a batch segment (docs/kernel.md step 7):
each row, in arrival order, against the rows before it. A fresh customer's slot reset,
its due held events released, the row observed, its terms, their recalibration, round
amounts and combination, the rules as a bitmask, then the learning (`learning.learn_row`).

Per row it writes the numbers the shell needs and nothing else: the observation, the raw
and recalibrated terms, the reasons' numbers (`terms.WHY_FIELDS`), the combined surprise,
the fired rules, the customer's learnt events before the row (the tap's), and the model
vector (the recalibrated terms, then the country's and category's rarity: `rowloop.
MODEL_FEATURES`). Reasons are worded in Python, only for the rows that have one
(`detector.kernel.rows`).
"""

from __future__ import annotations

from typing import Any

from detector.kernel import calibration, learning, prefetch
from detector.kernel import hold as khold
from detector.kernel import observe as ko
from detector.kernel import terms as kterms
from detector.kernel import total as ktotal
from detector.kernel.jit import jit


@jit
def reset(s: Any, c: int, empty: int) -> None:  # pragma: no cover - compiled
    """Slot `c` as a new customer's (`slots.reset`: every field zero but `last_t` and
    the wake's time, -inf, and `last_country`, the empty string's code `empty`)."""
    s.n[c] = 0
    s.amt[c] = 0.0
    s.amt_head[c] = 0
    s.amt_len[c] = 0
    s.last_t[c] = -float("inf")
    s.last_country[c] = empty
    s.rec_t[c] = 0.0
    s.rec_amt[c] = 0.0
    s.rec_cat[c] = 0
    s.rec_chan[c] = 0
    s.rec_len[c] = 0
    s.win_t[c] = 0.0
    s.win_amt[c] = 0.0
    s.win_cat[c] = 0
    s.win_chan[c] = 0
    s.win_len[c] = 0
    s.days_t[c] = 0.0
    s.days_amt[c] = 0.0
    s.days_cat[c] = 0
    s.days_chan[c] = 0
    s.days_len[c] = 0
    s.hours[c] = 0
    s.tab_code[c] = 0
    s.tab_count[c] = 0
    s.tab_len[c] = 0
    s.gap_log[c] = 0.0
    s.gap_mean[c] = 0.0
    s.gaps[c] = 0
    s.hops[c] = 0
    s.novel[c] = 0
    s.learnt[c] = 0
    s.exact[c] = 0
    s.fast[c] = 0
    s.ctx_code[c] = 0
    s.ctx_hour[c] = 0
    s.ctx_la[c] = 0.0
    s.ctx_head[c] = 0
    s.ctx_len[c] = 0
    khold.free(s, c)  # its block of the hold pool back, `pend_len` 0
    s.wake_t[c] = -float("inf")
    s.wake_s[c] = 0.0
    s.explore[c] = 0.0
    s.rounds[c] = 0


@jit
def score_segment(s: Any, p: Any, cal: Any, k: Any, due: Any, slot: Any, fresh: Any,
                  t: Any, hour: Any, amount: Any, codes: Any, empty: int, centroids: Any,
                  ranks: Any, ex: Any, comb: Any, lgamma: Any, spans: Any, work: Any,
                  iwork: Any, keys: Any, none: Any, held: Any, obs: Any, raw: Any, why: Any,
                  values: Any, total: Any, rules: Any, learnt: Any,
                  vectors: Any) -> None:  # pragma: no cover - compiled
    """Every row of the columns (`slot`, `fresh`: `lru.lru_pass`'s; `codes[i]` the row's
    country, device, IP network, channel and category, `Held` order) scored and learnt, in
    order, its outputs into row `i` of `obs` .. `vectors`. `work`, `iwork` are
    `terms.scratch`'s and `int_scratch`'s, `keys`, `none` `learning.scratch`'s, `held`
    int32[5]."""
    floor = k.surprise_floor
    cap = k.surprise_cap
    terms_n = raw.shape[1]
    rows = slot.shape[0]
    for i in range(rows):
        c = slot[i]
        if i + 1 < rows:  # the next row's customer asked of memory while this one is scored
            prefetch.slot(s, slot[i + 1])
        if fresh[i]:
            reset(s, c, empty)
        now = t[i]
        learning.release(s, c, p, now, due, k, keys)
        o = obs[i]
        row = codes[i]
        ko.observe(s, c, p, now, hour[i], amount[i], row[0], row[4], row[3], centroids, k,
                   ex, work[0], o)
        wake = kterms.terms(s, c, p, o, now, row[1], row[2], ranks, k, ex, comb, lgamma,
                            spans, work, iwork, raw[i], why[i])
        v = values[i]
        calibration.apply(raw[i], v, cal.shapes, cal.shape_len, cal.scales)
        ktotal.fold_round(v, o[ko.ROUND_EXTRA], floor, cap)
        surprise = ktotal.combine(v, floor)
        total[i] = surprise
        learnt[i] = s.learnt[c]
        rules[i] = ko.rules(o, k)
        for j in range(terms_n):
            vectors[i, j] = v[j]
        vectors[i, terms_n] = o[ko.COUNTRY_RARITY]
        vectors[i, terms_n + 1] = o[ko.CATEGORY_RARITY]
        for j in range(5):
            held[j] = row[j]
        learning.learn_row(s, c, p, cal, now, amount[i], held, hour[i], o[ko.LOG_AMOUNT],
                           o[ko.AMOUNT_DEV], o[ko.AMOUNT_SCALE], o[ko.AMOUNT_Z],
                           o[ko.TRAVEL_KM], o[ko.TRAVEL_DT_S], raw[i], v, surprise, wake,
                           k, due, keys, empty, none)
