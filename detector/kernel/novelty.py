"""Novelty (docs/kernel.md step 4, its novelty part): the five novelty terms of
`surprise.terms` (`categorical`, `banded_categorical`), the population's estimates they
read (`Population.share`, `new_rate`, `first_base`, `first_tail`, `unseen_mass`,
`unused_mass`, `unused_share`, `rarer_mass`) and the novelty rates' learning
(`Population.learn_first`, `learn_novelty`, `_learn_rate`, and `habits.learn_habits`'
`novel`, `explore` and `learn_novelty` calls), over a customer's slot
(`slots.CustomerSlots` `s`, `c`), the population's arrays (`population.PopulationArrays`
`p`) and the knobs (`knobs.KernelKnobs` `k`), to the bit.

Attributes are indexed in `NOVELTY` order (country, category, channel, device, ipnet: the
customer's `TABLES` and the population's tables alike); the terms come in `Context`'s
(country, device, ip_network, channel, category: `_NOVEL`). Values are codes; a value the
population never counted reads a count of 0 (`p.tab_count` holds every code: `grow_codes`).
Integer sums (the tables' counts) are exact in any order; every float operation is the
core's, in its order.

Status: the estimates, the terms (with the numbers their reasons need, worded by
`novelty_reason` in Python) and the novelty learning are ported and equal to the core's
to the bit on hypothesis populations and row by row on realistic rows (tests/unit/
test_kernel_novelty.py, where the customer's tables are learnt by `tables.learn_key`). Not
here: the rest of `learn_habits` (the tables' writes, `tables.learn_key`; the context
ring's push; `learnt`; amounts and hours): the caller makes them after
`learn_habits_novelty`, which reads the tables before they count the event (as the core's
one pass does: attribute i reads only table i); a fused `learn_habits` would `find` each
key once for both. Not yet called by an engine (docs/kernel.md step 7).

Speed (3,500 generated rows' values against the customers' final states): `novelty` 1.5
us a row called per row from a jitted loop, 0.77 us with its body in the loop (the call's
cost is the reference counts of `s`'s and `p`'s arrays), against 6.2 us for the compiled
core's five `banded_categorical`.
"""

from __future__ import annotations

from typing import Any

from detector.core.rules import quoted
from detector.core.state import BANDED, FIRST, NOVELTY
from detector.core.surprise import _NOVEL
from detector.kernel.clock import history_band
from detector.kernel.jit import jit, jit_inline
from detector.kernel.population import NOVELTY_KEYS
from detector.kernel.tails import bits

#: The attributes' indices (`NOVELTY` order) and their rows in `p.nov_val`: the established
#: rate's is the attribute's index, the first purchases' `FIRST_ROW + a`, a band's
#: `BAND_ROW + 8 a + band`.
COUNTRY, CATEGORY, CHANNEL, DEVICE, IPNET = 0, 1, 2, 3, 4
FIRST_ROW = 5
BAND_ROW = 10
#: Each novelty term (`terms`' order) -> its attribute's index (`_NOVEL`).
NOVEL = (0, 3, 4, 2, 1)
#: The terms' names (`calibration.TERMS`' country .. category) in that order.
NAMES = ("country", "device", "ip_network", "channel", "category")
#: `_learn_rate` halves an entry beyond this.
HALVE_AT = 20_000.0
#: The core's layout in the form the kernel indexes it (row arithmetic), checked at import.
_CORE = (tuple(NOVELTY), tuple(j for _, j in _NOVEL),
         tuple(NOVELTY_KEYS.index(a) for a in NOVELTY),
         tuple(NOVELTY_KEYS.index(FIRST[a]) for a in NOVELTY),
         tuple(NOVELTY_KEYS.index(BANDED[a][b]) for a in NOVELTY for b in range(8)))
_OURS = (("country", "category", "channel", "device", "ipnet"), NOVEL, (0, 1, 2, 3, 4),
         tuple(FIRST_ROW + a for a in range(5)),
         tuple(BAND_ROW + 8 * a + b for a in range(5) for b in range(8)))
if _CORE != _OURS:
    raise ImportError(f"detector.kernel.novelty's layout differs from the core's: {_CORE}")


# --- the population's estimates ------------------------------------------------------------
# Each estimate is an array-level function (`_name`: the arrays it reads, as arguments) and
# a wrapper over `p` with the core's signature. The kernel's own calls go to the array-level
# ones: a jitted function that takes the tuples `s`/`p` and is not inlined increfs and
# decrefs every array of them on each call (numba's reference counts are not pruned
# across a call), about 0.5 us a call with today's ~80 arrays, measured: several times the
# estimate itself.

@jit
def share(p: Any, a: int, key: int) -> float:  # pragma: no cover - compiled
    """`Population.share`: the smoothed share of events with this value (never 0)."""
    return float((p.tab_count[a, key] + 0.5) / (p.total[0] + 1.0))


@jit
def _singles(once: Any, order: Any, present: int, a: int, count: Any, keys: Any,
             length: int) -> int:  # pragma: no cover - compiled
    for j in range(present):
        if order[j] == a:
            return int(once[a])
    n = 0
    for j in range(length):
        n += count[keys[j]] == 1
    return n


@jit
def singles(p: Any, a: int) -> int:  # pragma: no cover - compiled
    """`Population.singles.get(table)`, or the table's values counted once where a
    snapshot older than the field holds none (what `unseen_mass` and `unused_share`
    read: `once` of the array-level estimates)."""
    return _singles(p.singles, p.singles_order, p.singles_len[0], a, p.tab_count[a],
                    p.tab_keys[a], p.tab_len[a])


@jit_inline
def _new_rate(nov_val: Any, nov_len: Any, a: int,
              band: int) -> float:  # pragma: no cover - compiled
    pooled = 1.0
    if nov_len[a]:
        pooled = (nov_val[a, 0] + 5.0) / (nov_val[a, 1] + 5.0)
    if band < 0:
        return pooled
    row = BAND_ROW + 8 * a + band
    if not nov_len[row]:
        return pooled
    return float((nov_val[row, 0] + 5.0 * pooled) / (nov_val[row, 1] + 5.0))


@jit
def new_rate(p: Any, a: int, band: int) -> float:  # pragma: no cover - compiled
    """`Population.new_rate` (`band` -1: the established rate alone)."""
    return _new_rate(p.nov_val, p.nov_len, a, band)


@jit
def _unseen(once: int, total: int) -> float:  # pragma: no cover - compiled
    return float((once + 1.0) / (total + 1.0))


@jit
def unseen_mass(p: Any, a: int) -> float:  # pragma: no cover - compiled
    """`Population.unseen_mass`: Good-Turing's share of events with a value nobody used."""
    return _unseen(singles(p, a), p.total[0])


@jit
def _unused_share(once: int, total_: int, used: int) -> float:  # pragma: no cover
    total = total_ + 1.0
    free = 1.0 - used / total
    mass = (once + 1.0) / total + (free if free > 0.0 else 0.0)
    return mass if mass < 1.0 else 1.0


@jit
def unused_share(p: Any, a: int, used: int) -> float:  # pragma: no cover - compiled
    """`Population.unused_share`: `unused_mass` of a customer whose values the population
    counted `used` times."""
    return _unused_share(singles(p, a), p.total[0], used)


@jit
def _unused_mass(count: Any, once: int, total: int, known: Any,
                 known_len: int) -> float:  # pragma: no cover - compiled
    used = 0
    for j in range(known_len):
        used += count[known[j]]
    return _unused_share(once, total, used)


@jit
def unused_mass(p: Any, a: int, known: Any, known_len: int) -> float:  # pragma: no cover
    """`Population.unused_mass` of a customer who knows the codes `known[:known_len]`."""
    return _unused_mass(p.tab_count[a], singles(p, a), p.total[0], known, known_len)


@jit
def _rarer_mass(count: Any, keys: Any, length: int, once: int, total: int, known: Any,
                known_len: int, key: int) -> float:  # pragma: no cover - compiled
    mine = count[key]
    mass = _unseen(once, total)
    if mine:
        # the counts at most `mine` of the population's values, less those of the values
        # the customer knows (distinct codes; one the population has not counted counts 0):
        # the same int as summing over the values not known, without a search of `known`
        # for each of the population's (up to `max_population_keys`) values
        rarer = 0
        for j in range(length):
            n = count[keys[j]]
            if n <= mine:
                rarer += n
        for j in range(known_len):
            n = count[known[j]]
            if n <= mine:
                rarer -= n
        mass += rarer / (total + 1.0)
    return mass if mass < 1.0 else 1.0  # min(1.0, mass)


@jit
def rarer_mass(p: Any, a: int, known: Any, known_len: int,
               key: int) -> float:  # pragma: no cover - compiled
    """`Population.rarer_mass`: the share of events with a value unknown to the customer
    (codes `known[:known_len]`) at most as common as `key` (values nobody used included)."""
    return _rarer_mass(p.tab_count[a], p.tab_keys[a], p.tab_len[a], singles(p, a),
                       p.total[0], known, known_len, key)


@jit
def _first_base(a: int, count: Any, keys: Any, length: int, once: int, total: int,
                known: Any, known_len: int, key: int) -> float:  # pragma: no cover
    if a == IPNET:
        return _unused_mass(count, once, total, known, known_len)
    return _rarer_mass(count, keys, length, once, total, known, known_len, key)


@jit
def first_base(p: Any, a: int, known: Any, known_len: int,
               key: int) -> float:  # pragma: no cover - compiled
    """`Population.first_base` (`known_len` 0: a first purchase's chance)."""
    return _first_base(a, p.tab_count[a], p.tab_keys[a], p.tab_len[a], singles(p, a),
                       p.total[0], known, known_len, key)


@jit
def _first_tail(nov_val: Any, nov_len: Any, a: int, count: Any, keys: Any, length: int,
                once: int, total: int, key: int,
                none: Any) -> float:  # pragma: no cover - compiled
    row = FIRST_ROW + a
    own = 0.0
    if nov_len[row] and nov_val[row, 0] > nov_val[row, 1]:
        own = (nov_val[row, 0] - nov_val[row, 1]) / (nov_val[row, 2] + 1.0)
    tail = own + (1.0 - own) * _first_base(a, count, keys, length, once, total, none, 0,
                                           key)
    return tail if tail < 1.0 else 1.0


@jit
def first_tail(p: Any, a: int, key: int, none: Any) -> float:  # pragma: no cover
    """`Population.first_tail` (`none`: any int32 array, read for none of its items: the
    empty customer table)."""
    return _first_tail(p.nov_val, p.nov_len, a, p.tab_count[a], p.tab_keys[a], p.tab_len[a],
                       singles(p, a), p.total[0], key, none)


# --- the terms -----------------------------------------------------------------------------

@jit_inline
def _banded(codes: Any, counts: Any, length: int, key: int, learnt: int, band: int,
            explore: float, recent: int, a: int, pcount: Any, pkeys: Any, plen: int,
            once_p: int, total: int, nov_val: Any, nov_len: Any, max_keys: int,
            context_weight: float, context_size: int, cap: float,
            prior: float) -> tuple[float, int]:  # pragma: no cover - compiled
    """`banded_categorical` over the customer's table `codes`/`counts`/`length` and the
    population's table `pcount`/`pkeys`/`plen` of attribute `a`, its singles `once_p` and
    event count `total`."""
    count = 0
    for j in range(length):
        if codes[j] == key:
            count = int(counts[j])
            break
    full = plen >= max_keys
    once = 0
    below = 0
    events = 0
    used = 0
    for j in range(length):
        v = counts[j]
        once += v == 1
        events += v
        if v <= count:
            below += v
        used += pcount[codes[j]]
    share_ = context_weight * recent / context_size
    if not learnt:
        tail = 1.0 if full else _first_tail(nov_val, nov_len, a, pcount, pkeys, plen,
                                            once_p, total, key, codes)
        return bits(share_ if share_ > tail else tail, cap), count
    rate = (once + prior * _new_rate(nov_val, nov_len, a, band)) / (explore + prior)
    if count == 0:
        mass = 1.0 if full else _first_base(a, pcount, pkeys, plen, once_p, total, codes,
                                            length, key)
        tail = rate * mass
        tail = tail if tail < 1.0 else 1.0
    else:
        p_new = rate * (1.0 if full else _unused_share(once_p, total, used))
        p_new = p_new if p_new < 1.0 else 1.0
        tail = p_new + (1.0 - p_new) * below / events
    return bits(share_ if share_ > tail else tail, cap), count


@jit
def banded_categorical(s: Any, c: int, a: int, key: int, learnt: int, band: int,
                       explore: float, p: Any, recent: int,
                       k: Any) -> tuple[float, int]:  # pragma: no cover - compiled
    """`surprise.banded_categorical` of value `key` of attribute `a` (the customer's table
    `a`, the population's table `a`), `recent` of the context sharing it: the term, and
    the customer's count of `key` (its reason's number)."""
    return _banded(s.tab_code[c, a], s.tab_count[c, a], s.tab_len[c, a], key, learnt, band,
                   explore, recent, a, p.tab_count[a], p.tab_keys[a], p.tab_len[a],
                   singles(p, a), p.total[0], p.nov_val, p.nov_len, k.max_population_keys,
                   k.context_weight, k.context_size, k.surprise_cap, k.new_value_prior)


@jit
def categorical(s: Any, c: int, a: int, key: int, learnt: int, explore: float, p: Any,
                recent: int, k: Any) -> tuple[float, int]:  # pragma: no cover - compiled
    """`surprise.categorical`: `banded_categorical` in the band of `learnt`."""
    return banded_categorical(s, c, a, key, learnt, history_band(learnt, k.prior_bands),
                              explore, p, recent, k)


@jit
def novelty(s: Any, c: int, p: Any, keys: Any, k: Any, out: Any,
            seen: Any) -> None:  # pragma: no cover - compiled
    """`terms`' novelty block: the five terms (`terms`' order: country, device,
    ip_network, channel, category) of the values `keys` (codes, that order) into `out`,
    the customer's count of each value (its reason's number, with `s.learnt[c]`) into
    `seen`. Each is judged with the context's events sharing its value (the ring, oldest
    first; held events do not count), in the customer's band of history; the network's is
    only its surprise beyond the country's."""
    size = s.ctx_la.shape[1]
    head = s.ctx_head[c]
    s0 = s1 = s2 = s3 = s4 = 0
    at = head % size if size else 0  # then (head + j) % size, without a division each
    for _ in range(s.ctx_len[c]):
        row = s.ctx_code[c, at]
        at = at + 1 if at + 1 < size else 0
        s0 += row[0] == keys[0]
        s1 += row[1] == keys[1]
        s2 += row[2] == keys[2]
        s3 += row[3] == keys[3]
        s4 += row[4] == keys[4]
    learnt = s.learnt[c]
    band = history_band(learnt, k.prior_bands)
    total = p.total[0]
    for i in range(5):
        a = NOVEL[i]
        recent = s0 if i == 0 else s1 if i == 1 else s2 if i == 2 else s3 if i == 3 else s4
        out[i], seen[i] = _banded(
            s.tab_code[c, a], s.tab_count[c, a], s.tab_len[c, a], keys[i], learnt, band,
            s.explore[c, a], recent, a, p.tab_count[a], p.tab_keys[a], p.tab_len[a],
            _singles(p.singles, p.singles_order, p.singles_len[0], a, p.tab_count[a],
                     p.tab_keys[a], p.tab_len[a]),
            total, p.nov_val, p.nov_len, k.max_population_keys,
            k.context_weight, k.context_size, k.surprise_cap, k.new_value_prior)
    x = out[2] - out[0]
    out[2] = x if x > 0.0 else 0.0  # max(0.0, x)


def novelty_reason(name: str, value: str, seen: int, learnt: int) -> str:
    """`surprise._reason` of novelty term `name` (`NAMES`) for `value` (the row's string),
    from `novelty`'s count and the customer's `learnt` before the row."""
    label = name.replace("_", " ")
    if seen == 0:
        return f"{label} {quoted(value)} never seen for this customer"
    return f"{label} {quoted(value)} seen only {seen}x in {learnt} purchases"


# --- learning ------------------------------------------------------------------------------

@jit
def _entry(nov_val: Any, nov_len: Any, nov_order: Any, nov_count: Any, row: int,
           length: int) -> None:  # pragma: no cover - compiled
    """`novelty[key] = [0.0] * length`: a new entry, last in insertion order."""
    for j in range(length):
        nov_val[row, j] = 0.0
    nov_len[row] = length
    nov_order[nov_count[0]] = row
    nov_count[0] += 1


@jit_inline
def _learn_rate(nov_val: Any, nov_len: Any, nov_order: Any, nov_count: Any, row: int,
                new: bool, unused: float) -> None:  # pragma: no cover - compiled
    if not nov_len[row]:
        _entry(nov_val, nov_len, nov_order, nov_count, row, 2)
    elif nov_val[row, 1] >= HALVE_AT:
        nov_val[row, 0] *= 0.5
        nov_val[row, 1] *= 0.5
    nov_val[row, 0] = nov_val[row, 0] + (1.0 if new else 0.0)
    nov_val[row, 1] = nov_val[row, 1] + unused


@jit
def learn_rate(p: Any, row: int, new: bool, unused: float) -> None:  # pragma: no cover
    """`state._learn_rate` on `p.nov_val[row]`."""
    _learn_rate(p.nov_val, p.nov_len, p.nov_order, p.nov_count, row, new, unused)


@jit_inline
def _learn_novelty(nov_val: Any, nov_len: Any, nov_order: Any, nov_count: Any, a: int,
                   new: bool, unused: float, band: int,
                   established: bool) -> None:  # pragma: no cover - compiled
    if established:
        _learn_rate(nov_val, nov_len, nov_order, nov_count, a, new, unused)
    if band >= 0:
        _learn_rate(nov_val, nov_len, nov_order, nov_count, BAND_ROW + 8 * a + band, new,
                    unused)


@jit
def learn_novelty(p: Any, a: int, new: bool, unused: float, band: int,
                  established: bool) -> None:  # pragma: no cover - compiled
    """`Population.learn_novelty`."""
    _learn_novelty(p.nov_val, p.nov_len, p.nov_order, p.nov_count, a, new, unused, band,
                   established)


@jit
def learn_first(p: Any, keys: Any, max_keys: int, empty: int,
                none: Any) -> None:  # pragma: no cover - compiled
    """`Population.learn_first` of a first purchase's values `keys` (codes, `NOVELTY`
    order), before they are counted; `empty`: the code of "" (the core's `first_base(name,
    {}, "")` reads the count of ""), `none` any int32 array (an empty table). A value is
    "in the table" where its count is not 0 (`_count` inserts a value at 1 and never
    lowers a count)."""
    nov_val, nov_len = p.nov_val, p.nov_len
    total = p.total[0]
    for i in range(5):
        if p.tab_len[i] < max_keys:
            row = FIRST_ROW + i
            if not nov_len[row]:
                _entry(nov_val, nov_len, p.nov_order, p.nov_count, row, 3)
            elif nov_val[row, 2] >= HALVE_AT:
                nov_val[row, 0] *= 0.5
                nov_val[row, 1] *= 0.5
                nov_val[row, 2] *= 0.5
            nov_val[row, 0] += 1.0 if p.tab_count[i, keys[i]] == 0 else 0.0
            nov_val[row, 1] += _first_base(i, p.tab_count[i], p.tab_keys[i], p.tab_len[i],
                                           singles(p, i), total, none, 0, empty)
            nov_val[row, 2] += 1.0


@jit
def learn_habits_novelty(s: Any, c: int, p: Any, keys: Any, found: Any, w: float,
                         k: Any) -> None:  # pragma: no cover - compiled
    """`habits.learn_habits`' novelty of the event of values `keys` (codes, `NOVELTY`
    order) weighed `w`: the customer's `novel` (a country new to them), `explore` and the
    population's rates (`learn_novelty`), from the tables before the event counts;
    `found[i]`: `keys[i]`'s place in the customer's table i, -1 if new (`tables.find`,
    which the caller's table write reads too). The caller then counts it in the tables
    (`tables.learn_key`), appends it to the context and counts it in `learnt`."""
    learnt = s.learnt[c]
    if not learnt:
        return
    s.novel[c] += found[COUNTRY] < 0
    established = learnt >= k.min_history
    band = history_band(learnt, k.prior_bands)
    full = k.max_population_keys
    total = p.total[0]
    for i in range(5):
        codes = s.tab_code[c, i]
        length = s.tab_len[c, i]
        new = found[i] < 0
        unused = 1.0 if p.tab_len[i] >= full else _unused_mass(
            p.tab_count[i], _singles(p.singles, p.singles_order, p.singles_len[0], i,
                                     p.tab_count[i], p.tab_keys[i], p.tab_len[i]),
            total, codes, length)
        s.explore[c, i] = s.explore[c, i] + w * unused
        if established or band >= 0:
            _learn_novelty(p.nov_val, p.nov_len, p.nov_order, p.nov_count, i, new, unused,
                           band, established)
