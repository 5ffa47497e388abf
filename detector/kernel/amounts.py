"""The core's amount math in kernel form, to the bit (docs/kernel.md step 3, "Amounts").

Leaf functions over arrays and scalars: the logistic tails (`surprise.tail_sf`,
`tail_pdf`), the binomial tail of round amounts, the roundness level and counts
(`state.round_level`, `count_round`, `habits._learn_round`), the low side of amounts
(`lowtail`, `Population.learn_low`/`low_share`), the customer's amount ring and its order
statistics (`features.observe`'s amount part, `habits.learn_habits`' amount learning), the
amount block of `surprise.terms` with the recent level (the context's median) and the
repetition terms (`_neighbours`, `_repeat`, `_over_days`, `_nearest_k`); `history_band` is
`clock.history_band`. Reason texts stay in Python: the kernel returns their numbers,
`repeat_reason` and `round_reason` word them as the core does.

Parity (docs/kernel.md (e)): every `x ** 2` and `q ** i` of the core is a `pow` with a
run-time float exponent read from `ex` (`EXPONENTS`), which must reach the kernel as an
argument from Python: read as a global inside a jitted function, the array is frozen as a
constant and LLVM folds `pow(x, 2.0)` into a product again (measured: 21 of 200,000
`tail_pdf` values then differ, as many as with a literal `** 2.0`). `math.comb(n, i)` is
`COMB[n, i]`, CPython's int converted as `int * float` converts it; `min`/`max` are spelt
as the builtins decide; sorts are insertion sorts, on (value, amount) pairs where the core
sorts tuples. Where the core raises (`round_level` of NaN or infinity, `_nearest_k` of no
neighbour: `log(0)`), the kernel's result is undefined: its callers never get there.

The state read is `slots.CustomerSlots`' row of a customer `c` (the amount ring `amt[c]`
from `amt_head[c]`, `amt_len[c]` of them; `win_*[c]`, `days_*[c]` with their lengths, in
arrival order; the context's `ctx_la[c]` ring; the category and channel tables
`tab_code[c, 1]`, `tab_count[c, 1]`, `tab_len[c, 1]` and index 2; `rounds[c]`; `exact`,
`n`) and `population.PopulationArrays` (`low`, `low_n`, `rounds`, `tab_count[1]` and `[2]`
by code, `total[0]`, `off_index`/`off_val`, `amount_center[0]`, `amount_scale[0]`): each
function takes the rows it reads, so it is tested without the whole layout.
`match_weights` is pure: the row kernel computes it once for `repeat` and `over_days` (the
core, in each where a neighbour exists: the same value).

Status (2026-12-03, branch `kamounts`): every function above ported and equal to the core
to the bit (tests/unit/test_kernel_amounts.py: hypothesis inputs, boundaries, and the
arguments and results of the Python core's own calls while the engine scored 3,900
generated rows). Not yet called from a row kernel (step 7); `EXPONENTS` and `COMB` may move
to `tails.py` if another step needs them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from detector.core.rules import duration

# the core's constants, read where they are declared (the kernel's cache follows the
# core's sources: jit.SOURCES); exported as this module's too
from detector.core.state import LOW_BINS as LOW_BINS
from detector.core.state import LOW_RANGE as LOW_RANGE
from detector.core.state import ROUND_STEPS as ROUND_STEPS
from detector.core.surprise import LN2 as LN2
from detector.core.surprise import LOGISTIC_S as LOGISTIC_S
from detector.core.surprise import ROUND_NAMES as ROUND_NAMES
from detector.core.surprise import ROUND_WINDOW_S as ROUND_WINDOW_S
from detector.core.variety import SPANS as SPANS
from detector.kernel.jit import jit
from detector.kernel.tails import TINY, bits, poisson_tail

#: The exponents 0.0 .. 64.0 as a run-time array: `x ** ex[2]`, `q ** ex[i]` call the C
#: library's `pow` as CPython's `float ** int` does (a literal or an int exponent is folded
#: into products by numba/LLVM, which differ in the last bit).
EXPONENTS = np.arange(0.0, 65.0)
#: CPython's `math.comb(n, i)` for n, i <= 64, each converted as `int * float` converts it
#: (correctly rounded; exact below 2^53, so for every n <= 52).
COMB = np.array([[float(math.comb(n, i)) for i in range(65)] for n in range(65)])


@jit
def tail_sf(z: float) -> float:  # pragma: no cover - compiled
    """`surprise.tail_sf`: P(Z >= z) for the logistic with a unit normal's quartiles."""
    v = z / LOGISTIC_S
    return math.exp(-v) / (1.0 + math.exp(-v)) if v > 0 else 1.0 / (1.0 + math.exp(v))


@jit
def tail_pdf(z: float, ex: Any) -> float:  # pragma: no cover - compiled
    """`surprise.tail_pdf` (its `** 2` as `pow(x, ex[2])`)."""
    v = -abs(z) / LOGISTIC_S
    e = math.exp(v)
    pdf: float = e / (LOGISTIC_S * (1.0 + e) ** ex[2])
    return pdf


@jit
def binomial_tail(k: int, n: int, q: float, comb: Any, ex: Any
                  ) -> float:  # pragma: no cover - compiled
    """`surprise.binomial_tail`: P(Binomial(n, q) >= k), n <= 64 (`COMB`, `EXPONENTS`)."""
    if k <= 0:
        return 1.0
    if k > n or q <= 0.0:
        return 0.0 if k > n else TINY
    if q >= 1.0:
        return 1.0
    tail = 0.0
    for i in range(k, n + 1):
        tail += comb[n, i] * q ** ex[i] * (1.0 - q) ** ex[n - i]
    tail = tail if tail < 1.0 else 1.0
    return TINY if tail < TINY else tail


@jit
def round_level(amount: float) -> int:  # pragma: no cover - compiled
    """`state.round_level`: how many `ROUND_STEPS` divide the amount in cents. For finite
    amounts below 9e16 (the schema's bound is 1e12); the core raises on NaN and infinity."""
    x = amount * 100.0
    if -math.inf < x <= 0.5:
        return 0
    cents = int(x)
    frac = x - cents
    if frac > 0.5 or (frac == 0.5 and (cents & 1) == 1):
        cents += 1
    level = 0
    for step in ROUND_STEPS:
        if cents % step:
            break
        level += 1
    return level


@jit
def count_round(counts: Any, level: int) -> None:  # pragma: no cover - compiled
    """`state.count_round`, in place on int64[5]."""
    counts[0] += 1
    for i in range(1, level + 1):
        counts[i] += 1


@jit
def pop_learn_round(pop_rounds: Any, level: int) -> None:  # pragma: no cover - compiled
    """`Population.learn_round`: halved from 20,000 counted (integers: exact), then
    counted."""
    if pop_rounds[0] >= 20_000:
        for i in range(pop_rounds.shape[0]):
            pop_rounds[i] //= 2
    count_round(pop_rounds, level)


@jit
def learn_round(rounds: Any, pop_rounds: Any, amount: float, w_amount: float
                ) -> None:  # pragma: no cover - compiled
    """`habits._learn_round`: the amount's roundness counted for the customer and the
    population, at a weight `w_amount` of at least one half."""
    if w_amount >= 0.5:
        level = round_level(amount)
        count_round(rounds, level)
        pop_learn_round(pop_rounds, level)


@jit
def exp_or_inf(x: float) -> float:  # pragma: no cover - compiled
    """`surprise._exp_or_inf`."""
    return math.exp(x) if x < 700.0 else math.inf


@jit
def nearest_k(near: Any, others: int, factor: float, cap: float, extra: float,
              lgamma: Any) -> tuple[float, int]:  # pragma: no cover - compiled
    """`surprise._nearest_k` over `near[:others]` (sorted, others >= 1: the core's
    `log(0.0)` raises where this gives -inf)."""
    tested = 0
    for k in SPANS:
        if k <= others:
            tested += 1
    tests = math.log(float(tested)) + extra
    best = 0.0
    closest = 0
    for k in SPANS:
        if k > others:
            break
        x = factor * near[k - 1]
        p_sim = x if x < 1.0 else 1.0  # min(1.0, x)
        s = bits(poisson_tail(k, others * p_sim, lgamma), cap) - tests
        if s > best or (s == best and s > 0.0):
            best = s
            closest = k
    return best, closest


@jit
def amount_z(k: int, amount_scale: float, z: float, prior_weight: float
             ) -> tuple[float, float]:  # pragma: no cover - compiled
    """`lowtail.amount_z` of a customer with `k` amounts kept, from the observation's
    `amount_scale` and `amount_z`."""
    scale = amount_scale * math.sqrt(1.0 + 1.0 / (k + prior_weight + 1.0))
    return z * amount_scale / scale, scale


@jit
def _low_bin(z: float, end: int) -> int:  # pragma: no cover - compiled
    # int(-z * LOW_BINS), the last bin where that is beyond it (z < 0; never overflows)
    f = -z * LOW_BINS
    return int(f) if f < end else end - 1


@jit
def low_share(low: Any, low_n: int, z: float) -> float:  # pragma: no cover - compiled
    """`Population.low_share`."""
    if z >= 0.0:
        return 1.0
    end = low.shape[0]
    below = 0
    for i in range(_low_bin(z, end), end):
        below += low[i]
    return (below + 1) / (low_n + 1)


@jit
def learn_low(low: Any, low_n: Any, z: float) -> None:  # pragma: no cover - compiled
    """`Population.learn_low`, in place on `low` and the one-element `low_n`
    (`PopulationArrays`)."""
    if low_n[0] >= 20_000:
        for i in range(low.shape[0]):
            low[i] //= 2
        low_n[0] //= 2
    low_n[0] += 1
    if z < 0.0:
        i = _low_bin(z, low.shape[0])
        low[i] += 1


@jit
def low_rate(amt: Any, head: int, length: int, la: float, z: float, low: Any, low_n: int,
             new_value_prior: float) -> float:  # pragma: no cover - compiled
    """`lowtail.low_rate`, the customer's kept amounts the ring `amt` from `head`."""
    share = low_share(low, low_n, z)
    cap = amt.shape[0]
    own = 0
    at = head % cap if cap else 0  # then (head + j) % cap, without a division each
    for _ in range(length):
        own += amt[at] <= la
        at = at + 1 if at + 1 < cap else 0
    if not own:
        return share
    mine = (own + new_value_prior * share) / (length + new_value_prior)
    return mine if mine > share else share


@jit
def ring_append(amt: Any, head: int, length: int, la: float, amount_history: int
                ) -> tuple[int, int]:  # pragma: no cover - compiled
    """`learn_habits`' `amounts.append(la)` then `del amounts[0]` beyond `amount_history`,
    on one customer's ring `amt` (its capacity at least `amount_history`): the new head and
    length."""
    cap = amt.shape[0]
    if length + 1 > amount_history and length > 0:  # the oldest goes (before the write)
        head = (head + 1) % cap
        length -= 1
    amt[(head + length) % cap] = la
    return head, length + 1


@jit
def learn_amount(amt: Any, head: int, length: int, la: float, w_amount: float,
                 amount_history: int) -> tuple[int, int]:  # pragma: no cover - compiled
    """`learn_habits`' amount learning: kept (`ring_append`) only at a weight `w_amount` of
    at least one half; the new head and length."""
    if w_amount >= 0.5:
        return ring_append(amt, head, length, la, amount_history)
    return head, length


@jit
def sorted_ring(values: Any, head: int, length: int, out: Any
                ) -> None:  # pragma: no cover - compiled
    """`sorted` of a ring's `length` values from `head` into `out[:length]` (insertion:
    ascending as `sorted`; equal floats are the same float, no NaN)."""
    cap = values.shape[0]
    at = head % cap if cap else 0  # then (head + j) % cap, without a division each
    for j in range(length):
        a = values[at]
        at = at + 1 if at + 1 < cap else 0
        p = j
        while p > 0 and out[p - 1] > a:
            out[p] = out[p - 1]
            p -= 1
        out[p] = a


@jit
def category_offset(off_index: Any, off_val: Any, category: int
                    ) -> float:  # pragma: no cover - compiled
    """`Population.category_offset` of the category coded `category`, from
    `PopulationArrays.off_index` (-1, or a code beyond it: no offset) and `off_val`."""
    j = off_index[category] if category < off_index.shape[0] else -1
    if j < 0:
        return 0.0
    count = off_val[j, 0]
    mean = off_val[j, 1]
    offset: float = mean * count / (count + 20.0)
    return offset


@jit
def observe_amount(amount: float, offset: float, amt: Any, head: int, length: int,
                   pop_center: float, pop_scale: float, prior_weight: float,
                   min_history: int, ex: Any, work: Any
                   ) -> tuple[float, float, float, float, float, float]:  # pragma: no cover
    """`features.observe`'s amount part: (log_amount, amount_scale, amount_z, amount_ratio,
    amount_dev, over_max) of `amount` whose category sits `offset` above a customer's usual
    (`category_offset`), against the customer's ring; `work` float64[>= length] scratch."""
    w = prior_weight
    raw = math.log1p(0.0 if amount < 0.0 else amount)  # max(amount, 0.0)
    la = raw - offset
    k = length
    if k:
        sorted_ring(amt, head, length, work)
        s = work
        med = s[k // 2] if k % 2 else 0.5 * (s[k // 2 - 1] + s[k // 2])
        spread = (s[(3 * k) // 4] - s[k // 4]) / 1.349 if k >= 4 else pop_scale
        center = (k * med + w * pop_center) / (k + w)
        scale = math.sqrt((k * spread * spread + w * pop_scale ** ex[2]) / (k + w))
        over_max = la - s[k - 1] if k >= min_history else 0.0
    else:
        over_max = 0.0
        med = center = pop_center
        scale = pop_scale
    scale = 0.15 if scale < 0.15 else scale  # max(scale, 0.15)
    return la, scale, (la - center) / scale, math.exp(la - med), raw - center, over_max


@jit
def context_level(ctx_la: Any, head: int, length: int, work: Any
                  ) -> float:  # pragma: no cover - compiled
    """The recent level `terms` reads: the median (upper) of the context's log amounts,
    `sorted([c[6] for c in ctx])[len(ctx) // 2]`."""
    sorted_ring(ctx_la, head, length, work)
    level: float = work[length // 2]
    return level


@jit
def amount_terms(n: int, la: float, o_scale: float, o_z: float, amt: Any, head: int,
                 length: int, low: Any, low_n: int, ctx_la: Any, ctx_head: int, ctx_len: int,
                 prior_weight: float, new_value_prior: float, w_ctx: float, cap: float,
                 work: Any) -> tuple[float, float, float, float, float, float]:  # pragma: no cover
    """The amount block of `surprise.terms`: (amount_high, amount_low, z, scale, zr,
    w_recent), from the observation's log amount, scale and z (`observe_amount`), the
    customer's ring (`length` amounts from `head`), the population's
    low histogram and the context's log amounts (a ring)."""
    z, scale = amount_z(length, o_scale, o_z, prior_weight)
    up = tail_sf(z)
    down = tail_sf(-z)
    if z < 0.0 and n:
        r = low_rate(amt, head, length, la, z, low, low_n, new_value_prior)
        down = r if r > down else down
    zr = z
    w_recent = 0.0
    if ctx_len >= 3:
        zr = (la - context_level(ctx_la, ctx_head, ctx_len, work)) / scale
        w_recent = w_ctx
        a = w_ctx * tail_sf(zr)
        up = a if a > up else up
        b = w_ctx * tail_sf(-zr)
        down = b if b > down else down
    high = 0.0
    low_v = 0.0
    if n:
        high = bits(up, cap)
        low_v = bits(down, cap)
    return high, low_v, z, scale, zr, w_recent


@jit
def round_tail(level: int, rounds: Any, pop_rounds: Any, prior_weight: float
               ) -> float:  # pragma: no cover - compiled
    """`surprise.round_tail` (with `Population.round_share`)."""
    share = (pop_rounds[level] + 1.0) / (pop_rounds[0] + 2.0)
    tail: float = (rounds[level] + prior_weight * share) / (rounds[0] + prior_weight)
    return tail


@jit
def round_surprise(level: int, t: float, win_t: Any, win_amt: Any, win_len: int,
                   rounds: Any, pop_rounds: Any, prior_weight: float, cap: float,
                   comb: Any, ex: Any) -> tuple[float, int, int]:  # pragma: no cover
    """`surprise.round_surprise` over the day's window `win_*[:win_len]`: (bits, k, m)."""
    if level <= 0:
        return 0.0, 0, 0
    k = 1
    m = 1
    for j in range(win_len):
        if abs(t - win_t[j]) <= ROUND_WINDOW_S:
            m += 1
            k += round_level(win_amt[j]) >= level
    if k < 2:
        return 0.0, k, m
    tail = binomial_tail(k - 1, m - 1, round_tail(level, rounds, pop_rounds, prior_weight),
                         comb, ex)
    return bits(tail, cap), k, m


@jit
def _table_get(code: Any, count: Any, length: int, key: int
               ) -> tuple[int, int]:  # pragma: no cover - compiled
    # (table.get(key, 0), sum(table.values())) of a code table in insertion order
    got = 0
    total = 0
    for j in range(length):
        total += count[j]
        if code[j] == key:
            got = count[j]
    return got, total


@jit
def match_weights(category: int, channel: int, cat_code: Any, cat_count: Any,
                  cat_len: int, chan_code: Any, chan_count: Any, chan_len: int,
                  pop_cat: Any, pop_chan: Any, pop_total: int, prior_weight: float
                  ) -> tuple[float, float]:  # pragma: no cover - compiled
    """`surprise.match_weights`: the customer's category and channel tables (codes and
    counts in insertion order), the population's counts indexed by code (a code beyond
    the array counts 0) and its `total`."""
    w = prior_weight
    got, total = _table_get(cat_code, cat_count, cat_len, category)
    pc = pop_cat[category] if category < pop_cat.shape[0] else 0
    p_cat = (got + w * ((pc + 0.5) / (pop_total + 1.0))) / (total + w)
    got, total = _table_get(chan_code, chan_count, chan_len, channel)
    pc = pop_chan[channel] if channel < pop_chan.shape[0] else 0
    p_chan = (got + w * ((pc + 0.5) / (pop_total + 1.0))) / (total + w)
    pi = p_cat * p_chan
    if pi >= 0.5:
        return 1.0, 1.0
    return 2.0 * pi, 2.0 * (1.0 - pi)


@jit
def _sort_pairs(key: Any, value: Any, length: int) -> None:  # pragma: no cover - compiled
    # in place, ascending by (key, value) as Python sorts tuples
    for j in range(1, length):
        a = key[j]
        b = value[j]
        p = j
        while p > 0 and (key[p - 1] > a or (key[p - 1] == a and value[p - 1] > b)):
            key[p] = key[p - 1]
            value[p] = value[p - 1]
            p -= 1
        key[p] = a
        value[p] = b


@jit
def _compared(amount: float, others: Any, count: int
              ) -> tuple[float, float]:  # pragma: no cover - compiled
    # min and max of [amount] + others[:count] (`_similar_amounts`)
    low = amount
    high = amount
    for j in range(count):
        o = others[j]
        if o < low:
            low = o
        if o > high:
            high = o
    return low, high


@jit
def neighbours(amount: float, category: int, channel: int, t: float, win_t: Any,
               win_amt: Any, win_cat: Any, win_chan: Any, win_len: int, window_s: float,
               same: float, other_w: float, gaps: Any, others: Any
               ) -> tuple[int, int]:  # pragma: no cover - compiled
    """`surprise._neighbours`: fills `gaps`/`others` with the weighed gaps and amounts,
    nearest first (as the core's `near.sort()`), and returns (how many, exact). `same`,
    `other_w` are `match_weights`' (pure: the caller finds them once a row)."""
    la = math.log(amount)
    grain = 0.005 / amount
    found = 0
    exact = 0
    for j in range(win_len):
        other = win_amt[j]
        if abs(t - win_t[j]) <= window_s and other > 0:
            gap = abs(math.log(other) - la)
            match = win_cat[j] == category and win_chan[j] == channel
            g = grain if grain > gap else gap
            gaps[found] = g * (same if match else other_w)
            others[found] = other
            found += 1
            exact += other == amount and match
    _sort_pairs(gaps, others, found)
    return found, exact


@jit
def repeat(amount: float, category: int, channel: int, t: float, win_t: Any, win_amt: Any,
           win_cat: Any, win_chan: Any, win_len: int, st_exact: int, n: int, z: float,
           scale: float, same: float, other_w: float, window_s: float,
           prior_weight: float, cap: float, lgamma: Any, ex: Any, gaps: Any, others: Any
           ) -> tuple[float, int, int, float, float]:  # pragma: no cover - compiled
    """`surprise._repeat`: (the term, exact repeats, the k compared, the lowest and the
    highest amount compared): `repeat_reason`'s numbers."""
    found, exact = neighbours(amount, category, channel, t, win_t, win_amt, win_cat,
                              win_chan, win_len, window_s, same, other_w, gaps, others)
    if not found:
        return 0.0, 0, 0, amount, amount
    grain = 0.005 / amount
    density = tail_pdf(z, ex) / scale
    best, closest = nearest_k(gaps, found, 2 * density, cap, 0.0, lgamma)
    if exact:
        n_ex = (st_exact + prior_weight * 0.01) / (n + prior_weight)
        x = 2 * grain * density
        x = (x if x < 1.0 else 1.0) * 0.25  # min(1.0, x) * 0.25
        p_ex = n_ex if n_ex > x else x  # max(x, n_ex)
        b = bits(poisson_tail(exact, found * p_ex, lgamma), cap)
        best = b if b > best else best
    low, high = _compared(amount, others, closest)
    return best, exact, closest, low, high


@jit
def over_days(short: float, amount: float, category: int, channel: int, t: float,
              days_t: Any, days_amt: Any, days_cat: Any, days_chan: Any, days_len: int,
              z: float, zr: float, w_recent: float, scale: float, same: float,
              other_w: float, window_s: float, cap: float, lgamma: Any, ps: Any,
              amounts: Any) -> tuple[float, int, float, float]:  # pragma: no cover
    """`surprise._over_days`: (the term, the k compared, the lowest and the highest amount
    compared); the k is 0 where the term stays `short` (the reason is then `_repeat`'s)."""
    la = math.log(amount)
    grain = 0.005 / amount
    unit = 1.0 / (scale * LOGISTIC_S)
    a = exp_or_inf(z / LOGISTIC_S)
    a_recent = exp_or_inf(zr / LOGISTIC_S) if w_recent > 0.0 else 0.0
    found = 0
    for j in range(days_len):
        other = days_amt[j]
        if abs(t - days_t[j]) <= window_s and other > 0:
            gap = abs(math.log(other) - la)
            if gap < grain:
                continue
            b = exp_or_inf(gap * unit)
            p = 1.0 / (1.0 + a / b) - 1.0 / (1.0 + a * b)
            if w_recent > 0.0:
                p_recent = w_recent * (1.0 / (1.0 + a_recent / b)
                                       - 1.0 / (1.0 + a_recent * b))
                p = p if p > p_recent else p_recent
            p *= same if days_cat[j] == category and days_chan[j] == channel else other_w
            ps[found] = p if p < 1.0 else 1.0
            amounts[found] = other
            found += 1
    if not found:
        return short, 0, amount, amount
    _sort_pairs(ps, amounts, found)
    best, closest = nearest_k(ps, found, 1.0, cap, LN2, lgamma)
    if best <= short:
        return short, 0, amount, amount
    low, high = _compared(amount, amounts, closest)
    return best, closest, low, high


def similar_amounts_reason(amount: float, count: int, low: float, high: float,
                           window_s: float) -> str:
    """`surprise._similar_amounts` from the kernel's numbers (`repeat`, `over_days`)."""
    lo, hi = f"{low:.2f}", f"{high:.2f}"
    if lo == hi:
        return f"{count + 1} purchases of {lo} each within {duration(window_s)}"
    return (f"{count + 1} similar amounts within {duration(window_s)}: {lo} to {hi}, "
            f"this one {amount:.2f}")


def repeat_reason(amount: float, exact: int, count: int, low: float, high: float,
                  window_s: float) -> str:
    """`_repeat`'s reason from `repeat`'s numbers."""
    if exact:
        return f"repeats an amount of {amount:g} within {duration(window_s)}"
    return similar_amounts_reason(amount, count, low, high, window_s)



def round_reason(amount: float, level: int, k: int, m: int, rounds: Any, pop_rounds: Any,
                 window_s: float = ROUND_WINDOW_S) -> str:
    """`surprise.round_reason` from `round_surprise`'s numbers and the two `rounds` arrays."""
    name = ROUND_NAMES[level if level < len(ROUND_NAMES) else -1]
    seen, counted = int(rounds[level]), int(rounds[0])
    share = 100.0 * int(pop_rounds[level]) / int(pop_rounds[0]) if pop_rounds[0] else 0.0
    mine = (f"{seen} of this customer's {counted} earlier purchases were as round"
            if counted else "none of this customer's purchases counted yet")
    return (f"an amount of exactly {amount:.2f} ({k} of {m} purchases within "
            f"{duration(window_s)} were {name}; {mine}; {share:.1f}% of all purchases)")
