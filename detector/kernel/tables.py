"""The count tables in the kernel: a customer's capped code tables (`state.bump`, and the
writes of `habits.learn_habits`) and the population's tables that never evict
(`state._count`, `Population.observe`'s values); docs/kernel.md (b), "Code tables".

A customer's table of one attribute is `code[:length]`, `count[:length]` in the dict's
insertion order (`slots.CustomerSlots`: `tab_code[c, i]`, `tab_count[c, i]`,
`tab_len[c, i]`): a known key counts +1 in place; a new key is appended, after deleting,
when the table is full, the first key in that order among the least counted (what
`min(table, key=table.__getitem__)` deletes: its followers shift left by one, as a dict
keeps its order after a deletion). The order is part of parity (`variety.shares` sums
float shares in it). The leaf functions take one table's rows and return its new length.

A population table (`population.PopulationArrays`, attribute `a` in `NOVELTY` order) is
counted by code (`tab_count[a, code]`, 0: absent) with its keys in insertion order
(`tab_keys[a, :tab_len[a]]`); `singles` as `Population.singles`, filled for a table at
its first count when a snapshot older than the field held none (`fill_singles`).

Status (2026-12-03, branch klru): `find`, `bump`, `learn_key` (learn_habits' write),
`pop_count`, `pop_count_values` (observe's values) and `fill_singles` tested against the
core on hypothesis key streams and generated rows' values, in main's slot and population
layouts. Counts are int32 in a customer's table (the core's are unbounded: a key counted
2^31 times would overflow). A restored population table holding a key counted 0 (the core
never writes one) would read as absent here, where `_count` finds it present.
"""

from __future__ import annotations

from typing import Any

from detector.kernel.jit import jit, jit_inline

#: The order `Population.observe` counts the tables in (`NOVELTY` indices: ipnet,
#: country, category, channel, device).
OBSERVED = (4, 0, 1, 2, 3)


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


@jit_inline
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


@jit
def pop_count(p: Any, a: int, key: int, max_keys: int) -> None:  # pragma: no cover - compiled
    """`state._count(tables[a], key, max_keys, singles, a)`, `singles[a]` present
    (`fill_singles`): a known key +1 (no longer a single if it was one); a new key counted
    once if fewer than `max_keys` are held."""
    count = p.tab_count[a, key]
    if count > 0:
        p.tab_count[a, key] = count + 1
        if count == 1:
            p.singles[a] -= 1
    elif p.tab_len[a] < max_keys:
        n = p.tab_len[a]
        p.tab_keys[a, n] = key
        p.tab_len[a] = n + 1
        p.tab_count[a, key] = 1
        p.singles[a] += 1


@jit
def fill_singles(p: Any) -> None:  # pragma: no cover - compiled
    """`_count`'s "restored from a snapshot older than the field": each table without a
    single count gets one (its keys counted once), in `observe`'s order, as its first
    `_count` would (the tables unchanged in between)."""
    for k in range(5):
        a = OBSERVED[k]
        present = False
        for j in range(p.singles_len[0]):
            present = present or p.singles_order[j] == a
        if not present:
            once = 0
            for j in range(p.tab_len[a]):
                once += p.tab_count[a, p.tab_keys[a, j]] == 1
            p.singles[a] = once
            p.singles_order[p.singles_len[0]] = a
            p.singles_len[0] += 1


@jit
def pop_count_values(p: Any, country: int, category: int, channel: int, device: int,
                     ipnet: int, max_keys: int) -> None:  # pragma: no cover - compiled
    """`Population.observe`'s values (with `values`), in its order; the codes below
    `tab_count`'s width (`population.grow_codes`)."""
    if p.singles_len[0] < 5:
        fill_singles(p)
    pop_count(p, 4, ipnet, max_keys)
    pop_count(p, 0, country, max_keys)
    pop_count(p, 1, category, max_keys)
    pop_count(p, 2, channel, max_keys)
    pop_count(p, 3, device, max_keys)
