"""The partition's population (`detector.core.state.Population`) as arrays, and its
converters (docs/kernel.md (b) "Population tables", (d)).

Values are looked up by code (arrays indexed by a value's code, grown with the encoder:
`grow_codes`); each keyed table also keeps its keys in insertion order, as the dict does,
so a checkpoint written from the arrays has today's bytes. The novelty rates have a fixed
key set (`NOVELTY_KEYS`), kept in their insertion order too.

`observe` is `Population.observe` (its tables' counts through `tables.pop_count_values`);
the other functions that learn and read these arrays live with the terms that use them
(docs/kernel.md (g)).
"""

from __future__ import annotations

from array import array
from typing import Any, NamedTuple

import numpy as np

from detector.core.state import BANDED, FIRST, NOVELTY, Population
from detector.kernel.codes import Codes
from detector.kernel.jit import jit
from detector.kernel.tables import pop_count_values

#: `Population.novelty`'s possible keys; a key's index is its row in `nov_val`: the
#: attributes' established rates, their first purchases', then each attribute's 8 bands.
NOVELTY_KEYS: tuple[str, ...] = (*NOVELTY, *(FIRST[a] for a in NOVELTY),
                                 *(k for a in NOVELTY for k in BANDED[a]))
#: `Population.gap_bands`' most bands (`CoreConfig.prior_bands`: at most 7 bounds).
GAP_BANDS = 8
#: The amount ring's length (`Population.RING`).
RING = Population.RING


class PopulationArrays(NamedTuple):
    """`Population`'s fields (one partition's). Scalars are one-element arrays, so the
    kernel updates them in place."""

    total: Any  # int64[1]
    tab_count: Any  # int64[5][codes]: `tables` (NOVELTY order), each value's count by code
    tab_keys: Any  # int32[5][keys]: each table's codes in insertion order
    tab_len: Any  # int32[5]
    singles: Any  # int64[5]: values counted once, per table (NOVELTY order)
    singles_order: Any  # int8[5]: the tables in `singles`' insertion order
    singles_len: Any  # int8[1]: how many tables `singles` holds (a snapshot older than
    #                   the field holds none: `_count` fills it)
    ring: Any  # float64[RING]: `amount_ring`
    ring_len: Any  # int32[1]
    amount_center: Any  # float64[1]
    amount_scale: Any  # float64[1]
    hours: Any  # int64[24]
    off_index: Any  # int32[codes]: a category's place in `off_val`, -1 without an offset
    off_keys: Any  # int32[keys]: `offsets`' categories in insertion order
    off_val: Any  # float64[keys][2]: [count, mean], in that order
    off_len: Any  # int32[1]
    gap_log: Any  # float64[1]
    gap_mean: Any  # float64[1]
    gaps: Any  # int64[1]
    gap_bands: Any  # float64[GAP_BANDS][2]
    gap_bands_len: Any  # int32[1]
    nov_val: Any  # float64[len(NOVELTY_KEYS)][3]
    nov_len: Any  # int8[len(NOVELTY_KEYS)]: 0 absent, else the entry's length (2 or 3)
    nov_order: Any  # int8[len(NOVELTY_KEYS)]: the present keys in insertion order
    nov_count: Any  # int8[1]
    fast: Any  # float64[2]
    low: Any  # int64[LOW_BINS * LOW_RANGE + 1]
    low_n: Any  # int64[1]
    rounds: Any  # int64[len(ROUND_STEPS) + 1]


def _one(value: Any, dtype: Any) -> Any:
    return np.array([value], dtype)


def to_arrays(pop: Population, codes: Codes, max_keys: int) -> PopulationArrays:
    """`pop` as arrays, its strings encoded by `codes`; keyed tables hold at least
    `max_keys` keys (`CoreConfig.max_population_keys`), more if `pop` holds more."""
    keys = max(max_keys, *(len(t) for t in pop.tables.values()), len(pop.offsets))
    tab_keys = np.zeros((len(NOVELTY), keys), np.int32)
    tab_len = np.zeros(len(NOVELTY), np.int32)
    entries: list[tuple[int, int, int]] = []
    for i, name in enumerate(NOVELTY):
        for j, (key, count) in enumerate(pop.tables[name].items()):
            c = codes.code(key)
            tab_keys[i, j] = c
            entries.append((i, c, count))
        tab_len[i] = len(pop.tables[name])
    off_keys = np.zeros(keys, np.int32)
    off_val = np.zeros((keys, 2), np.float64)
    off_codes = []
    for j, (category, entry) in enumerate(pop.offsets.items()):
        c = codes.code(category)
        off_keys[j] = c
        off_val[j] = entry
        off_codes.append((c, j))
    singles = np.zeros(len(NOVELTY), np.int64)
    order = np.zeros(len(NOVELTY), np.int8)
    for j, (name, once) in enumerate(pop.singles.items()):
        order[j] = NOVELTY.index(name)
        singles[order[j]] = once
    nov_val = np.zeros((len(NOVELTY_KEYS), 3), np.float64)
    nov_len = np.zeros(len(NOVELTY_KEYS), np.int8)
    nov_order = np.zeros(len(NOVELTY_KEYS), np.int8)
    for j, (name, entry) in enumerate(pop.novelty.items()):
        k = NOVELTY_KEYS.index(name)
        nov_order[j] = k
        nov_len[k] = len(entry)
        nov_val[k, :len(entry)] = entry
    if len(pop.gap_bands) > GAP_BANDS:
        raise ValueError(f"{len(pop.gap_bands)} gap bands, at most {GAP_BANDS}")
    gap_bands = np.zeros((GAP_BANDS, 2), np.float64)
    for j, band in enumerate(pop.gap_bands):
        gap_bands[j] = band
    ring = np.zeros(Population.RING, np.float64)
    ring[:len(pop.amount_ring)] = pop.amount_ring
    out = PopulationArrays(
        total=_one(pop.total, np.int64), tab_count=np.zeros((len(NOVELTY), 0), np.int64),
        tab_keys=tab_keys, tab_len=tab_len, singles=singles, singles_order=order,
        singles_len=_one(len(pop.singles), np.int8), ring=ring,
        ring_len=_one(len(pop.amount_ring), np.int32),
        amount_center=_one(pop.amount_center, np.float64),
        amount_scale=_one(pop.amount_scale, np.float64),
        hours=np.array(pop.hours, np.int64), off_index=np.zeros(0, np.int32),
        off_keys=off_keys, off_val=off_val, off_len=_one(len(pop.offsets), np.int32),
        gap_log=_one(pop.gap_log, np.float64), gap_mean=_one(pop.gap_mean, np.float64),
        gaps=_one(pop.gaps, np.int64), gap_bands=gap_bands,
        gap_bands_len=_one(len(pop.gap_bands), np.int32), nov_val=nov_val, nov_len=nov_len,
        nov_order=nov_order, nov_count=_one(len(pop.novelty), np.int8),
        fast=np.array(pop.fast, np.float64), low=np.array(pop.low, np.int64),
        low_n=_one(pop.low_n, np.int64), rounds=np.array(pop.rounds, np.int64))
    out = grow_codes(out, len(codes.values))
    for i, c, count in entries:
        out.tab_count[i, c] = count
    for c, j in off_codes:
        out.off_index[c] = j
    return out


def grow_codes(a: PopulationArrays, n: int) -> PopulationArrays:
    """`a` with its by-code arrays holding codes below `n` (new codes: counted 0, no
    offset)."""
    have = a.off_index.shape[0]
    if n <= have:
        return a
    count = np.zeros((len(NOVELTY), n), np.int64)
    count[:, :have] = a.tab_count
    index = np.full(n, -1, np.int32)
    index[:have] = a.off_index
    return a._replace(tab_count=count, off_index=index)


def from_arrays(a: PopulationArrays, codes: Codes) -> Population:
    """The arrays as a `Population` (the inverse of `to_arrays`)."""
    pop = Population()
    pop.total = int(a.total[0])
    for i, name in enumerate(NOVELTY):
        pop.tables[name] = {codes.value(int(c)): int(a.tab_count[i, c])
                            for c in a.tab_keys[i, :a.tab_len[i]]}
    pop.singles = {NOVELTY[int(a.singles_order[j])]: int(a.singles[a.singles_order[j]])
                   for j in range(int(a.singles_len[0]))}
    pop.amount_ring = array("d", a.ring[:int(a.ring_len[0])].tolist())
    pop.amount_center = float(a.amount_center[0])
    pop.amount_scale = float(a.amount_scale[0])
    pop.hours = [int(x) for x in a.hours]
    pop.offsets = {codes.value(int(a.off_keys[j])): [float(a.off_val[j, 0]),
                                                    float(a.off_val[j, 1])]
                   for j in range(int(a.off_len[0]))}
    pop.gap_log = float(a.gap_log[0])
    pop.gap_mean = float(a.gap_mean[0])
    pop.gaps = int(a.gaps[0])
    pop.gap_bands = [[float(a.gap_bands[j, 0]), float(a.gap_bands[j, 1])]
                     for j in range(int(a.gap_bands_len[0]))]
    pop.novelty = {}
    for j in range(int(a.nov_count[0])):
        k = int(a.nov_order[j])
        pop.novelty[NOVELTY_KEYS[k]] = [float(x) for x in a.nov_val[k, :int(a.nov_len[k])]]
    pop.fast = [float(x) for x in a.fast]
    pop.low = [int(x) for x in a.low]
    pop.low_n = int(a.low_n[0])
    pop.rounds = [int(x) for x in a.rounds]
    return pop


@jit
def observe(p: Any, country: int, category: int, channel: int, device: int, ipnet: int,
            log_amount: float, max_keys: int, values: bool) -> None:  # pragma: no cover
    """`Population.observe`: one event counted (its values only if `values`), its log
    amount into the ring, the ring's median and spread recomputed every 256 events and at
    the 32nd."""
    p.total[0] += 1
    total = p.total[0]
    if values:
        pop_count_values(p, country, category, channel, device, ipnet, max_keys)
    if p.ring_len[0] < RING:
        p.ring[p.ring_len[0]] = log_amount
        p.ring_len[0] += 1
    else:
        p.ring[total % RING] = log_amount
    if total % 256 == 0 or total == 32:
        k = p.ring_len[0]
        # only three order statistics are read: selected, not the whole ring sorted (the
        # same values as `sorted`'s at those places; ~4x faster at 2,048)
        ordered = np.partition(p.ring[:k], np.array([k // 4, k // 2, (3 * k) // 4]))
        p.amount_center[0] = ordered[k // 2]
        iqr = ordered[(3 * k) // 4] - ordered[k // 4]
        scale = iqr / 1.349
        p.amount_scale[0] = 0.05 if scale < 0.05 else scale  # max(scale, 0.05)
