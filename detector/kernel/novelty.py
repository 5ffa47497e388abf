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
on hypothesis populations and row by row on realistic rows (tests/unit/
test_kernel_novelty.py). Not here: the customer's code-table update (`state.bump`, helper
klru's `tables.py`), the context ring and `learnt` (`learn_habits`' end): the caller makes
them after `learn_habits_novelty`, which reads the tables before they count the event (as
the core's one pass does: attribute i reads only table i). Not yet called by an engine
(docs/kernel.md step 7).
"""

from __future__ import annotations

from typing import Any

from detector.core.rules import quoted
from detector.core.state import BANDED, FIRST, NOVELTY
from detector.core.surprise import _NOVEL
from detector.kernel.clock import history_band
from detector.kernel.jit import jit
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
#: numba freezes globals into its cached code, and its cache is keyed on this file only:
#: the core's layout is copied here and checked at import, never read at run time.
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

@jit
def share(p: Any, a: int, key: int) -> float:  # pragma: no cover - compiled
    """`Population.share`: the smoothed share of events with this value (never 0)."""
    return float((p.tab_count[a, key] + 0.5) / (p.total[0] + 1.0))


@jit
def _singles(p: Any, a: int) -> int:  # pragma: no cover - compiled
    """`Population.singles.get(table)`, or the table's values counted once where a
    snapshot older than the field holds none (`unseen_mass`, `unused_share`)."""
    for j in range(p.singles_len[0]):
        if p.singles_order[j] == a:
            return int(p.singles[a])
    once = 0
    for j in range(p.tab_len[a]):
        once += p.tab_count[a, p.tab_keys[a, j]] == 1
    return once


@jit
def new_rate(p: Any, a: int, band: int) -> float:  # pragma: no cover - compiled
    """`Population.new_rate` (`band` -1: the established rate alone)."""
    pooled = 1.0
    if p.nov_len[a]:
        pooled = (p.nov_val[a, 0] + 5.0) / (p.nov_val[a, 1] + 5.0)
    if band < 0:
        return pooled
    row = BAND_ROW + 8 * a + band
    if not p.nov_len[row]:
        return pooled
    return float((p.nov_val[row, 0] + 5.0 * pooled) / (p.nov_val[row, 1] + 5.0))


@jit
def unseen_mass(p: Any, a: int) -> float:  # pragma: no cover - compiled
    """`Population.unseen_mass`: Good-Turing's share of events with a value nobody used."""
    return float((_singles(p, a) + 1.0) / (p.total[0] + 1.0))


@jit
def unused_share(p: Any, a: int, used: int) -> float:  # pragma: no cover - compiled
    """`Population.unused_share`: `unused_mass` of a customer whose values the population
    counted `used` times."""
    once = _singles(p, a)
    total = p.total[0] + 1.0
    free = 1.0 - used / total
    mass = (once + 1.0) / total + (free if free > 0.0 else 0.0)
    return mass if mass < 1.0 else 1.0


@jit
def unused_mass(p: Any, a: int, known: Any, known_len: int) -> float:  # pragma: no cover
    """`Population.unused_mass` of a customer who knows the codes `known[:known_len]`."""
    used = 0
    for j in range(known_len):
        used += p.tab_count[a, known[j]]
    return unused_share(p, a, used)


@jit
def _knows(known: Any, known_len: int, key: int) -> bool:  # pragma: no cover - compiled
    found = False
    for j in range(known_len):
        if known[j] == key:
            found = True
            break
    return found


@jit
def rarer_mass(p: Any, a: int, known: Any, known_len: int,
               key: int) -> float:  # pragma: no cover - compiled
    """`Population.rarer_mass`: the share of events with a value unknown to the customer
    (codes `known[:known_len]`) at most as common as `key` (values nobody used included)."""
    mine = p.tab_count[a, key]
    mass = unseen_mass(p, a)
    if mine:
        rarer = 0
        for j in range(p.tab_len[a]):
            value = p.tab_keys[a, j]
            count = p.tab_count[a, value]
            if count <= mine and not _knows(known, known_len, value):
                rarer += count
        mass += rarer / (p.total[0] + 1.0)
    return mass if mass < 1.0 else 1.0  # min(1.0, mass)


@jit
def first_base(p: Any, a: int, known: Any, known_len: int,
               key: int) -> float:  # pragma: no cover - compiled
    """`Population.first_base` (`known_len` 0: a first purchase's chance)."""
    if a == IPNET:
        return unused_mass(p, a, known, known_len)
    return rarer_mass(p, a, known, known_len, key)


@jit
def first_tail(p: Any, a: int, key: int, none: Any) -> float:  # pragma: no cover
    """`Population.first_tail` (`none`: any int32 array, read for none of its items: the
    empty customer table)."""
    row = FIRST_ROW + a
    own = 0.0
    if p.nov_len[row] and p.nov_val[row, 0] > p.nov_val[row, 1]:
        own = (p.nov_val[row, 0] - p.nov_val[row, 1]) / (p.nov_val[row, 2] + 1.0)
    tail = own + (1.0 - own) * first_base(p, a, none, 0, key)
    return tail if tail < 1.0 else 1.0


# --- the terms -----------------------------------------------------------------------------

@jit
def banded_categorical(s: Any, c: int, a: int, key: int, learnt: int, band: int,
                       explore: float, p: Any, recent: int,
                       k: Any) -> tuple[float, int]:  # pragma: no cover - compiled
    """`surprise.banded_categorical` of value `key` of attribute `a` (the customer's table
    `a`, the population's table `a`), `recent` of the context sharing it: the term, and
    the customer's count of `key` (its reason's number)."""
    codes = s.tab_code[c, a]
    counts = s.tab_count[c, a]
    length = s.tab_len[c, a]
    count = 0
    for j in range(length):
        if codes[j] == key:
            count = int(counts[j])
            break
    full = p.tab_len[a] >= k.max_population_keys
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
        used += p.tab_count[a, codes[j]]
    share_ = k.context_weight * recent / k.context_size
    if not learnt:
        tail = 1.0 if full else first_tail(p, a, key, codes)
        return bits(share_ if share_ > tail else tail, k.surprise_cap), count
    prior = k.new_value_prior
    rate = (once + prior * new_rate(p, a, band)) / (explore + prior)
    if count == 0:
        mass = 1.0 if full else first_base(p, a, codes, length, key)
        tail = rate * mass
        tail = tail if tail < 1.0 else 1.0
    else:
        p_new = rate * (1.0 if full else unused_share(p, a, used))
        p_new = p_new if p_new < 1.0 else 1.0
        tail = p_new + (1.0 - p_new) * below / events
    return bits(share_ if share_ > tail else tail, k.surprise_cap), count


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
    for j in range(s.ctx_len[c]):
        row = s.ctx_code[c, (head + j) % size]
        s0 += row[0] == keys[0]
        s1 += row[1] == keys[1]
        s2 += row[2] == keys[2]
        s3 += row[3] == keys[3]
        s4 += row[4] == keys[4]
    learnt = s.learnt[c]
    band = history_band(learnt, k.prior_bands)
    for i in range(5):
        a = NOVEL[i]
        recent = s0 if i == 0 else s1 if i == 1 else s2 if i == 2 else s3 if i == 3 else s4
        out[i], seen[i] = banded_categorical(s, c, a, keys[i], learnt, band,
                                             s.explore[c, a], p, recent, k)
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
def _entry(p: Any, row: int, length: int) -> None:  # pragma: no cover - compiled
    """`novelty[key] = [0.0] * length`: a new entry, last in insertion order."""
    for j in range(length):
        p.nov_val[row, j] = 0.0
    p.nov_len[row] = length
    p.nov_order[p.nov_count[0]] = row
    p.nov_count[0] += 1


@jit
def learn_rate(p: Any, row: int, new: bool, unused: float) -> None:  # pragma: no cover
    """`state._learn_rate` on `p.nov_val[row]`."""
    if not p.nov_len[row]:
        _entry(p, row, 2)
    elif p.nov_val[row, 1] >= HALVE_AT:
        p.nov_val[row, 0] *= 0.5
        p.nov_val[row, 1] *= 0.5
    p.nov_val[row, 0] = p.nov_val[row, 0] + (1.0 if new else 0.0)
    p.nov_val[row, 1] = p.nov_val[row, 1] + unused


@jit
def learn_novelty(p: Any, a: int, new: bool, unused: float, band: int,
                  established: bool) -> None:  # pragma: no cover - compiled
    """`Population.learn_novelty`."""
    if established:
        learn_rate(p, a, new, unused)
    if band >= 0:
        learn_rate(p, BAND_ROW + 8 * a + band, new, unused)


@jit
def learn_first(p: Any, keys: Any, max_keys: int, empty: int,
                none: Any) -> None:  # pragma: no cover - compiled
    """`Population.learn_first` of a first purchase's values `keys` (codes, `NOVELTY`
    order), before they are counted; `empty`: the code of "" (the core's `first_base(name,
    {}, "")` reads the count of ""), `none` any int32 array (an empty table)."""
    for i in range(5):
        if p.tab_len[i] < max_keys:
            row = FIRST_ROW + i
            if not p.nov_len[row]:
                _entry(p, row, 3)
            elif p.nov_val[row, 2] >= HALVE_AT:
                p.nov_val[row, 0] *= 0.5
                p.nov_val[row, 1] *= 0.5
                p.nov_val[row, 2] *= 0.5
            p.nov_val[row, 0] += 1.0 if p.tab_count[i, keys[i]] == 0 else 0.0
            p.nov_val[row, 1] += first_base(p, i, none, 0, empty)
            p.nov_val[row, 2] += 1.0


@jit
def learn_habits_novelty(s: Any, c: int, p: Any, keys: Any, w: float,
                         k: Any) -> None:  # pragma: no cover - compiled
    """`habits.learn_habits`' novelty of the event of values `keys` (codes, `NOVELTY`
    order) weighed `w`: the customer's `novel` (a country new to them), `explore` and the
    population's rates (`learn_novelty`), from the tables before the event counts. The
    caller then counts it in the tables (`bump`, 2 for a new value where `w` < 0.5),
    appends it to the context and counts it in `learnt`."""
    learnt = s.learnt[c]
    if not learnt:
        return
    length = s.tab_len[c, COUNTRY]
    s.novel[c] += not _knows(s.tab_code[c, COUNTRY], length, keys[COUNTRY])
    established = learnt >= k.min_history
    band = history_band(learnt, k.prior_bands)
    full = k.max_population_keys
    for i in range(5):
        codes = s.tab_code[c, i]
        length = s.tab_len[c, i]
        new = not _knows(codes, length, keys[i])
        unused = 1.0 if p.tab_len[i] >= full else unused_mass(p, i, codes, length)
        s.explore[c, i] = s.explore[c, i] + w * unused
        if established or band >= 0:
            learn_novelty(p, i, new, unused, band, established)
