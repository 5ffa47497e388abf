"""A scored row folded into the state (docs/kernel.md steps 4 and 6 assembled): what
`rowloop.score_rows` learns after the terms (the recalibration, the low tail) and
`habits.learn` whole (the hold's release, the clock, the round amounts, the hold or the
habits), over a customer's slot (`s`, `c`), the population (`p`), the recalibration
arrays (`cal`) and the knobs (`k`), to the bit: after every row the whole `CustomerState`,
`Population` and `Recalibration` equal the core's (tests/unit/test_kernel_learning.py).

An event's strings come as codes in `Held` order (country, device, IP network, channel,
category: the context's and the hold's), the novelty functions take them in `NOVELTY`
order (`novelty_keys`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detector.kernel import amounts, calibration, clock, hold, hours, novelty, population
from detector.kernel import tables as kt
from detector.kernel import total as kt_total
from detector.kernel.jit import jit

#: `calibration.TERMS`' novelty terms' places (country .. category: `habits._NOVELTY_TERMS`).
NOVELTY_TERMS = (2, 7)


@jit
def novelty_keys(held: Any, out: Any) -> Any:  # pragma: no cover - compiled
    """`held`'s codes (`Held` order) in `NOVELTY` order (country, category, channel,
    device, IP network) into `out`."""
    out[0] = held[0]
    out[1] = held[4]
    out[2] = held[3]
    out[3] = held[1]
    out[4] = held[2]
    return out


@jit
def learn_context(s: Any, c: int, held: Any, hour: int, la: float,
                  size: int) -> None:  # pragma: no cover - compiled
    """`learn_habits`' context: the event appended (a ring), the oldest dropped beyond
    `size` (before the write: a ring restored full may have no spare place)."""
    cap = s.ctx_la.shape[1]
    head = s.ctx_head[c]
    length = s.ctx_len[c]
    if length + 1 > size and length > 0:
        head = (head + 1) % cap
        length -= 1
    j = (head + length) % cap
    for i in range(5):
        s.ctx_code[c, j, i] = held[i]
    s.ctx_hour[c, j] = hour
    s.ctx_la[c, j] = la
    s.ctx_head[c] = head
    s.ctx_len[c] = length + 1


@jit
def learn_habits(s: Any, c: int, p: Any, held: Any, hour: int, la: float, w: float,
                 w_amount: float, k: Any, work: Any) -> None:  # pragma: no cover
    """`habits.learn_habits`: the amount (at a weight of at least one half), the hour, the
    novelty rates and the count tables, the context, the learnt count. `work`: scratch of
    2 x 5 ints (`scratch`)."""
    s.amt_head[c], s.amt_len[c] = amounts.learn_amount(
        s.amt[c], s.amt_head[c], s.amt_len[c], la, w_amount, k.amount_history)
    hours.learn_hour(s.hours[c], hour)
    keys, found = work[0], work[1]
    novelty_keys(held, keys)
    for i in range(5):  # each value's place in its table, before the tables count it
        found[i] = kt.find(s.tab_code[c, i], s.tab_len[c, i], keys[i])
    novelty.learn_habits_novelty(s, c, p, keys, found, w, k)
    for i in range(5):
        s.tab_len[c, i] = kt.learn_key(s.tab_code[c, i], s.tab_count[c, i], s.tab_len[c, i],
                                       keys[i], k.max_seen, found[i], w)
    learn_context(s, c, held, hour, la, k.context_size)
    s.learnt[c] += 1


@jit
def learn_due(s: Any, c: int, p: Any, due: Any, n: int, k: Any,
              work: Any) -> None:  # pragma: no cover - compiled
    """`habits._learn_held` of the `n` events in `due`, in order (a bare, 7-value event
    at weights 1 and 1: `learn_habits`' defaults)."""
    for j in range(n):
        w = 1.0 if due.bare[j] else due.w[j, 0]
        wa = 1.0 if due.bare[j] else due.w[j, 1]
        learn_habits(s, c, p, due.code[j], due.hour[j], due.la[j], w, wa, k, work)


@jit
def release(s: Any, c: int, p: Any, now: float, due: Any, k: Any,
            work: Any) -> None:  # pragma: no cover - compiled
    """`habits.release`: the held events due by `now` learnt."""
    n = hold.release(s, c, now, due)
    if n:
        learn_due(s, c, p, due, n, k, work)


@jit
def learn(s: Any, c: int, p: Any, t: float, amount: float, held: Any, hour: int,
          la: float, amount_dev: float, travel_km: float, travel_dt_s: float,
          surprise: float, wake: float, values: Any, k: Any, due: Any, work: Any,
          empty: int, none: Any) -> None:  # pragma: no cover - compiled
    """`habits.learn`: the row (values `held`, `Held` order; `values` its recalibrated
    terms, `surprise` their combination) folded into the state. `empty`: the code of "";
    `none`: an empty int32 array (`novelty.learn_first`'s)."""
    release(s, c, p, t, due, k, work)
    suspicious = surprise >= k.quarantine_above and k.quarantine_s > 0
    first = s.n[c] == 0
    clock.learn_clock(s, c, p, t, amount, held[0], held[4], held[3], travel_km, travel_dt_s,
                      wake, k)
    if first:  # `_learn_clock` counts a first purchase's values before `observe` does
        novelty.learn_first(p, novelty_keys(held, work[0]), k.max_population_keys, empty, none)
    population.observe(p, held[0], held[4], held[3], held[1], held[2], la,
                       k.max_population_keys, not suspicious)
    clock.learn_clock_population(p, hour, held[4], amount_dev, k.max_population_keys)
    if k.round_amounts:
        w_round = (hold.held_weight(surprise, k.quarantine_above, k.quarantine_discount)
                   if suspicious else 1.0)
        amounts.learn_round(s.rounds[c], p.rounds, amount, w_round)
    if suspicious:
        news = kt_total.combine(values[NOVELTY_TERMS[0]:NOVELTY_TERMS[1]], k.surprise_floor)
        w_values = hold.held_weight(surprise - news, k.quarantine_above,
                                    k.quarantine_discount)
        w_amount = hold.held_weight(surprise, k.quarantine_above, k.quarantine_discount)
        if hold.push(s, c, t, k.quarantine_s, held, hour, la, w_values, w_amount, due):
            learn_due(s, c, p, due, 1, k, work)
    else:
        learn_habits(s, c, p, held, hour, la, 1.0, 1.0, k, work)


@jit
def learn_row(s: Any, c: int, p: Any, cal: Any, t: float, amount: float, held: Any,
              hour: int, la: float, amount_dev: float, amount_scale: float,
              amount_z: float, travel_km: float, travel_dt_s: float, raw: Any, values: Any,
              surprise: float, wake: float, k: Any, due: Any, work: Any, empty: int,
              none: Any) -> None:  # pragma: no cover - compiled
    """`score_rows` after a row's terms: the recalibration learns the raw terms (from
    `min_history` learnt events), the low tail an amount that looks ordinary in every other
    way, then `learn`. The customer's due held events must have been released before the
    terms (`release`), as `score_rows` does."""
    if s.learnt[c] >= k.min_history:
        calibration.learn(raw, cal.hist, cal.total, cal.shapes, cal.shape_len, cal.scales)
    if s.n[c] and surprise - kt_total.combine(values[:2], k.surprise_floor) \
            < k.quarantine_above:
        z, _ = amounts.amount_z(s.amt_len[c], amount_scale, amount_z, k.prior_weight)
        amounts.learn_low(p.low, p.low_n, z)
    learn(s, c, p, t, amount, held, hour, la, amount_dev, travel_km, travel_dt_s, surprise,
          wake, values, k, due, work, empty, none)


def scratch() -> tuple[Any, Any]:
    """`learn`'s scratch: an event's five codes and their places in the customer's tables,
    and an empty table."""
    return np.zeros((2, 5), np.int64), np.zeros(0, np.int32)
