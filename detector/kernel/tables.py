"""The count tables in the kernel: a customer's capped code tables (`state.bump`, and the
writes of `habits.learn_habits`) and the population's tables that never evict
(`state._count`, `Population.observe`'s values); docs/kernel.md (b), "Code tables".

A customer's table of one attribute is `code[:length]`, `counts[:length]` in the dict's
insertion order: a known key counts +1 in place; a new key is appended, after deleting,
when the table is full, the first key in that order among the least counted (what
`min(table, key=table.__getitem__)` deletes: its followers shift left by one, as a dict
keeps its order after a deletion). The order is part of parity (`variety.shares` sums
float shares in it). The arrays per slot are `CodeTable`'s rows: pass `code[slot]`,
`counts[slot]` and `length[slot]` to the leaf functions, which return the new length.

A population table (`PopTables`, attribute `a` in `state.NOVELTY` order) keeps its keys
in insertion order too (`keys[a, :length[a]]`, `counts` beside them: what a checkpoint
writes), and `pos[a, code]`, the key's place there or -1, so a look-up by code is one
read and a key is present exactly when the dict has it (whatever count a restore gave
it). `singles[a]` counts the keys counted once, as `Population.singles` (computed by
`pop_from_dicts` when a snapshot older than the field has none, as `_count` computes it).

Status (2026-12-03, branch klru): `bump`, `learn_key` (learn_habits' write) and
`pop_count`/`pop_count_values` (`_count`, observe's values) ported and tested against the
core on hypothesis key streams and generated rows' values, with the converters to and
from the core's dicts. Counts are int32 in a customer's table (the core's are unbounded:
a key counted 2^31 times would overflow) and int64 in the population's.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from detector.kernel.codes import Codes
from detector.kernel.jit import jit

#: The attributes, in `state.NOVELTY` order (a population table's index).
ATTRIBUTES = ("country", "category", "channel", "device", "ipnet")
#: The order `Population.observe` counts them in.
OBSERVED = ("ipnet", "country", "category", "channel", "device")


class CodeTable(NamedTuple):
    """One attribute's table per customer slot, in insertion order."""

    code: np.ndarray  # int32[C, K]
    counts: np.ndarray  # int32[C, K]
    length: np.ndarray  # int16[C]


def allocate_tables(capacity: int, keys: int) -> CodeTable:
    """Empty tables for `capacity` slots of `keys` keys each (`max_seen`, or a restored
    table's length if longer)."""
    return CodeTable(np.zeros((capacity, keys), np.int32), np.zeros((capacity, keys), np.int32),
                     np.zeros(capacity, np.int16))


def table_from_dict(t: CodeTable, slot: int, table: dict[str, int], codes: Codes) -> None:
    """Slot `slot`'s table from the core's dict (its order kept)."""
    for j, (key, count) in enumerate(table.items()):
        t.code[slot, j] = codes.code(key)
        t.counts[slot, j] = count
    t.length[slot] = len(table)


def dict_from_table(t: CodeTable, slot: int, codes: Codes) -> dict[str, int]:
    """The core's dict of slot `slot`'s table."""
    n = int(t.length[slot])
    return {codes.value(int(c)): int(k)
            for c, k in zip(t.code[slot, :n].tolist(), t.counts[slot, :n].tolist(), strict=True)}


@jit
def find(code: Any, length: int, key: int) -> int:  # pragma: no cover - compiled
    """The place of `key` in `code[:length]`, -1 if absent (`table.get(key)`)."""
    for j in range(length):
        if code[j] == key:
            return j
    return -1


@jit
def _insert(code: Any, count: Any, length: int, key: int, cap: int
            ) -> int:  # pragma: no cover - compiled
    """`bump`'s new key: when full, the first least counted key deleted; `key` last."""
    if length >= cap:
        j = 0
        low = count[0]
        for i in range(1, length):
            if count[i] < low:  # strictly: the first of the least counted stays chosen
                low = count[i]
                j = i
        for i in range(j + 1, length):
            code[i - 1] = code[i]
            count[i - 1] = count[i]
        length -= 1
    code[length] = key
    count[length] = 1
    return length + 1


@jit
def bump(code: Any, count: Any, length: int, key: int, cap: int
         ) -> int:  # pragma: no cover - compiled
    """`state.bump(table, key, cap)`: `key` counted; returns the table's new length."""
    j = find(code, length, key)
    if j >= 0:
        count[j] += 1
        return length
    return _insert(code, count, length, key, cap)


@jit
def learn_key(code: Any, count: Any, length: int, key: int, cap: int, j: int, w: float
              ) -> int:  # pragma: no cover - compiled
    """`learn_habits`' write of `key` into a table, `j` its place (`find`, read before:
    the core reads `table.get(key)` once for its novelty and this): a known key +1, a new
    one `bump`ed, then counted 2 from an event of weight `w` below one half. Returns the
    new length."""
    if j >= 0:
        count[j] = count[j] + 1
        return length
    length = _insert(code, count, length, key, cap)
    if w < 0.5:
        count[length - 1] = 2
    return length


class PopTables(NamedTuple):
    """The population's value tables (`Population.tables`, `singles`), by attribute."""

    keys: np.ndarray  # int32[5, M]: codes in insertion order
    counts: np.ndarray  # int64[5, M]: their counts
    pos: np.ndarray  # int32[5, N]: by code, its place in `keys` (-1: absent)
    length: np.ndarray  # int64[5]
    singles: np.ndarray  # int64[5]: keys counted once


def allocate_pop(max_keys: int, n_codes: int) -> PopTables:
    """Empty tables for `max_keys` keys each (or a restored table's length if longer) and
    codes below `n_codes`."""
    a = len(ATTRIBUTES)
    return PopTables(np.zeros((a, max_keys), np.int32), np.zeros((a, max_keys), np.int64),
                     np.full((a, n_codes), -1, np.int32), np.zeros(a, np.int64),
                     np.zeros(a, np.int64))


def pop_with_codes(p: PopTables, n_codes: int) -> PopTables:
    """`p` able to look up codes below `n_codes` (the encoder grew)."""
    have = p.pos.shape[1]
    if n_codes <= have:
        return p
    pos = np.full((len(ATTRIBUTES), max(n_codes, 2 * have)), -1, np.int32)
    pos[:, :have] = p.pos
    return p._replace(pos=pos)


def pop_from_dicts(tables: dict[str, dict[str, int]], singles: dict[str, int], codes: Codes,
                   max_keys: int) -> PopTables:
    """`Population.tables` and `singles` as arrays (a missing single count computed as
    `_count` computes it)."""
    room = max([max_keys, *(len(tables[name]) for name in ATTRIBUTES)])
    keyed = [[codes.code(key) for key in tables[name]] for name in ATTRIBUTES]
    p = allocate_pop(room, len(codes.values))
    for a, name in enumerate(ATTRIBUTES):
        table = tables[name]
        for j, (c, count) in enumerate(zip(keyed[a], table.values(), strict=True)):
            p.keys[a, j] = c
            p.counts[a, j] = count
            p.pos[a, c] = j
        p.length[a] = len(table)
        once = singles.get(name)
        p.singles[a] = sum(1 for v in table.values() if v == 1) if once is None else once
    return p


def dicts_from_pop(p: PopTables, codes: Codes) -> tuple[dict[str, dict[str, int]],
                                                         dict[str, int]]:
    """The core's `tables` and `singles` of `p` (singles in `Population.observe`'s order,
    the order its first counted event gives them)."""
    tables: dict[str, dict[str, int]] = {}
    for a, name in enumerate(ATTRIBUTES):
        n = int(p.length[a])
        tables[name] = {codes.value(c): k for c, k in zip(
            p.keys[a, :n].tolist(), p.counts[a, :n].tolist(), strict=True)}
    return tables, {name: int(p.singles[ATTRIBUTES.index(name)]) for name in OBSERVED}


@jit
def pop_count(p: Any, a: int, key: int, max_keys: int) -> None:  # pragma: no cover - compiled
    """`state._count(tables[a], key, max_keys, singles, a)`: a known key +1 (no longer a
    single if it was one); a new key counted once if fewer than `max_keys` are held."""
    j = p.pos[a, key]
    if j >= 0:
        count = p.counts[a, j]
        p.counts[a, j] = count + 1
        if count == 1:
            p.singles[a] -= 1
    elif p.length[a] < max_keys:
        n = p.length[a]
        p.keys[a, n] = key
        p.counts[a, n] = 1
        p.pos[a, key] = n
        p.length[a] = n + 1
        p.singles[a] += 1


@jit
def pop_count_values(p: Any, country: int, category: int, channel: int, device: int,
                     ipnet: int, max_keys: int) -> None:  # pragma: no cover - compiled
    """`Population.observe`'s values (with `values`), in its order. (Measured: the five
    `pop_count`s, inlined by numba, ~10 ns a row; called through this function ~20, the
    call keeping its arrays' reference counts; a loop over the five written out ~24.)"""
    pop_count(p, 4, ipnet, max_keys)
    pop_count(p, 0, country, max_keys)
    pop_count(p, 1, category, max_keys)
    pop_count(p, 2, channel, max_keys)
    pop_count(p, 3, device, max_keys)
