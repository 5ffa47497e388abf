"""Customers as slots in struct-of-arrays state, and the converters from and to
`CustomerState` (docs/kernel.md (b) and (d), step 1).

A customer is a slot `c`: row `c` of every array of `CustomerSlots`. Lists become an array
and a length (oldest first, or a ring with its head where the core only appends and drops
the oldest), dicts become code tables in insertion order, strings become codes of one
`Codes` encoder. `store` puts a `CustomerState` into a slot and `load` takes it out: the
same state, field for field, floats to the bit, dicts in the same order (tests/unit/
test_kernel_slots.py), so the checkpoints keep today's format (stateformat.py) and a
snapshot written before the kernel restores into slots.

Capacities are the configuration's bounds (`Dims.of`), widened to the longest list of the
states to restore (`Dims.fitting`): today a restored list longer than its bound stays
longer until the core trims it (a configuration that shrank since the checkpoint).

Status: the layout and converters; the per-row kernels that read and write these arrays are
ported module by module (docs/kernel.md (f)), not yet wired into the engine.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, islice, pairwise
from typing import Any, NamedTuple

import numpy as np

from detector.core.config import CoreConfig
from detector.core.habits import MAX_PENDING, MAX_WINDOW
from detector.core.packed import field_values
from detector.core.state import NOVELTY, ROUND_STEPS, CustomerState
from detector.kernel.codes import Codes

#: The customer's code tables, in `NOVELTY` order (the first index of `tab_*`).
TABLES = ("countries", "categories", "channels", "devices", "ipnets")
#: A context entry's and a held event's strings, in their tuple order (`Context`, `Held`).
STRINGS = 5
#: Customers' encoded fields as columns: each field's values by its name (`columns`).
Columns = dict[str, Sequence[Any]]


@dataclass(frozen=True)
class Dims:
    """Per-slot capacities: amounts `a`, code table keys `k`, context `x`, recent events
    `r`, the day's and the week's windows `w`, held events `p` (one more than the core
    keeps: `learn` appends before it pops)."""

    a: int
    k: int
    x: int
    r: int
    w: int = MAX_WINDOW
    p: int = MAX_PENDING + 1

    @staticmethod
    def of(config: CoreConfig) -> Dims:
        return Dims(a=config.amount_history, k=config.max_seen, x=config.context_size,
                    r=2 * config.burst_min_count + 8)

    def fitting(self, states: list[CustomerState]) -> Dims:
        """These capacities, widened to hold every list of `states`."""
        return self.fitting_values([field_values(st) for st in states])

    def fitting_values(self, rows: Sequence[Sequence[Any]]) -> Dims:
        """These capacities, widened to hold every list of customers given by their encoded
        fields (`packed.field_values`)."""
        return self.fitting_columns(columns(rows))

    def fitting_columns(self, columns: Columns) -> Dims:
        """`fitting_values` of the customers' `columns`."""
        def longest(name: str) -> int:
            return max(map(len, columns[name]), default=0)

        return Dims(a=max(self.a, longest("amounts")),
                    k=max(self.k, *map(longest, TABLES)),
                    x=max(self.x, longest("context")),
                    r=max(self.r, longest("recent")),
                    w=max(self.w, longest("window"), longest("days")),
                    p=max(self.p, longest("pending")))


class CustomerSlots(NamedTuple):
    """Every customer field as arrays, first dimension the slot (numba takes the tuple as
    one argument). Comments name the `CustomerState` field."""

    n: Any  # int64
    amt: Any  # float64[a], a ring: `amounts` from `amt_head`, `amt_len` of them
    amt_head: Any  # int32
    amt_len: Any  # int32
    last_t: Any  # float64 (-inf fresh)
    last_country: Any  # int32 code
    rec_t: Any  # float64[r]: `recent` in arrival order
    rec_amt: Any  # float64[r]
    rec_cat: Any  # int32[r]
    rec_chan: Any  # int32[r]
    rec_len: Any  # int32
    win_t: Any  # float64[w]: `window`
    win_amt: Any
    win_cat: Any
    win_chan: Any
    win_len: Any
    days_t: Any  # float64[w]: `days`
    days_amt: Any
    days_cat: Any
    days_chan: Any
    days_len: Any
    hours: Any  # uint8[24]
    tab_code: Any  # int32[5][k]: `countries` .. `ipnets` (TABLES), insertion order
    tab_count: Any  # int32[5][k]
    tab_len: Any  # int32[5]
    gap_log: Any  # float64
    gap_mean: Any  # float64
    gaps: Any  # int64
    hops: Any
    novel: Any
    learnt: Any
    exact: Any
    fast: Any
    ctx_code: Any  # int32[x][5]: `context`'s strings (Context order), a ring
    ctx_hour: Any  # int8[x]
    ctx_la: Any  # float64[x]
    ctx_head: Any  # int32
    ctx_len: Any  # int32
    # `pending` is in the hold pool, by block (first dimension: the pool's blocks, not
    # slots): a slot holding events owns block `pend_at`, the others none (most customers
    # hold nothing, and a block is a quarter of a slot's size)
    pend_r: Any  # float64[p]: `pending`'s release times, in order
    pend_code: Any  # int32[p][5]: the held event's strings (Held order)
    pend_hour: Any  # int8[p]
    pend_la: Any  # float64[p]
    pend_w: Any  # float64[p][2]: its weights (`Weighted`)
    pend_bare: Any  # uint8[p]: 1 for a held event of 7 values (written before the weights)
    pend_len: Any  # int32 (per slot)
    pend_at: Any  # int32 (per slot): the slot's block, -1 while it holds nothing
    pool_free: Any  # int32[blocks]: the free blocks, a stack of `pool_nfree[0]`
    pool_nfree: Any  # int64[1]
    wake_t: Any  # float64 (-inf fresh)
    wake_s: Any  # float64
    explore: Any  # float64[5] (NOVELTY order)
    rounds: Any  # int64[len(ROUND_STEPS) + 1]


#: Each field's dtype and its shape per slot, from the capacities.
_SPEC: dict[str, tuple[Any, Any]] = {
    "n": (np.int64, lambda d: ()),
    "amt": (np.float64, lambda d: (d.a,)),
    "amt_head": (np.int32, lambda d: ()),
    "amt_len": (np.int32, lambda d: ()),
    "last_t": (np.float64, lambda d: ()),
    "last_country": (np.int32, lambda d: ()),
    **{f"{w}_{f}": (dt, (lambda d: (d.r,)) if w == "rec" else (lambda d: (d.w,)))
       for w in ("rec", "win", "days")
       for f, dt in (("t", np.float64), ("amt", np.float64), ("cat", np.int32),
                     ("chan", np.int32))},
    **{f"{w}_len": (np.int32, lambda d: ()) for w in ("rec", "win", "days")},
    "hours": (np.uint8, lambda d: (24,)),
    "tab_code": (np.int32, lambda d: (len(TABLES), d.k)),
    "tab_count": (np.int32, lambda d: (len(TABLES), d.k)),
    "tab_len": (np.int32, lambda d: (len(TABLES),)),
    "gap_log": (np.float64, lambda d: ()),
    "gap_mean": (np.float64, lambda d: ()),
    **{f: (np.int64, lambda d: ()) for f in ("gaps", "hops", "novel", "learnt", "exact",
                                             "fast")},
    "ctx_code": (np.int32, lambda d: (d.x, STRINGS)),
    "ctx_hour": (np.int8, lambda d: (d.x,)),
    "ctx_la": (np.float64, lambda d: (d.x,)),
    "ctx_head": (np.int32, lambda d: ()),
    "ctx_len": (np.int32, lambda d: ()),
    "pend_r": (np.float64, lambda d: (d.p,)),
    "pend_code": (np.int32, lambda d: (d.p, STRINGS)),
    "pend_hour": (np.int8, lambda d: (d.p,)),
    "pend_la": (np.float64, lambda d: (d.p,)),
    "pend_w": (np.float64, lambda d: (d.p, 2)),
    "pend_bare": (np.uint8, lambda d: (d.p,)),
    "pend_len": (np.int32, lambda d: ()),
    "pend_at": (np.int32, lambda d: ()),
    "pool_free": (np.int32, lambda d: ()),
    "pool_nfree": (np.int64, lambda d: ()),
    "wake_t": (np.float64, lambda d: ()),
    "wake_s": (np.float64, lambda d: ()),
    "explore": (np.float64, lambda d: (len(NOVELTY),)),
    "rounds": (np.int64, lambda d: (len(ROUND_STEPS) + 1,)),
}
#: The fields a fresh slot does not hold as zeros.
_FRESH = {"last_t": -math.inf, "wake_t": -math.inf, "pend_at": -1}
#: The hold pool's fields, by block (`pend_at`), and its free list: not per slot.
POOL = ("pend_r", "pend_code", "pend_hour", "pend_la", "pend_w", "pend_bare")
_FREE = ("pool_free", "pool_nfree")
#: The fields with one row per slot.
PER_SLOT = tuple(f for f in CustomerSlots._fields if f not in POOL + _FREE)


def allocate(dims: Dims, capacity: int, blocks: int | None = None) -> CustomerSlots:
    """`capacity` fresh slots (every one as a new `CustomerState`, the empty string's code
    aside: `reset` sets `last_country` to it) and a hold pool of `blocks` blocks, as many
    as slots unless given (every slot can then hold events)."""
    blocks = capacity if blocks is None else blocks
    arrays = {}
    for name in CustomerSlots._fields:
        dtype, shape = _SPEC[name]
        arrays[name] = np.zeros((blocks if name in POOL else capacity, *shape(dims)), dtype)
    for name, value in _FRESH.items():
        arrays[name][:] = value
    arrays["pool_free"] = np.arange(blocks - 1, -1, -1, dtype=np.int32)  # 0 taken first
    arrays["pool_nfree"] = np.array([blocks], np.int64)
    return CustomerSlots(**arrays)


def grow(slots: CustomerSlots, capacity: int) -> CustomerSlots:
    """The same slots in arrays of `capacity` (at least as many), the new ones zeros: the
    caller `reset`s a slot before it holds a customer. The hold pool is `grow_pool`'s."""
    return slots._replace(**_longer(slots, PER_SLOT, capacity))


def _longer(slots: CustomerSlots, names: tuple[str, ...], length: int) -> dict[str, Any]:
    """The arrays `names` of `slots` with `length` rows, the new ones fresh."""
    out = {}
    for name in names:
        a = getattr(slots, name)
        b = np.zeros((length, *a.shape[1:]), a.dtype)
        b[:len(a)] = a
        if name in _FRESH:
            b[len(a):] = _FRESH[name]
        out[name] = b
    return out


def free_blocks(slots: CustomerSlots) -> int:
    """How many blocks of the hold pool are free: how many slots can start holding events
    before `grow_pool` (a row starts at most one)."""
    return int(slots.pool_nfree[0])


def grow_pool(slots: CustomerSlots, blocks: int) -> CustomerSlots:
    """The same slots with a hold pool of `blocks` blocks (at least as many), the new ones
    free."""
    old = len(slots.pend_r)
    out = _longer(slots, POOL, blocks)
    n = int(slots.pool_nfree[0])
    free = np.empty(blocks, np.int32)
    free[:blocks - old] = np.arange(blocks - 1, old - 1, -1)  # the old free ones on top
    free[blocks - old:blocks - old + n] = slots.pool_free[:n]
    out["pool_free"] = free
    out["pool_nfree"] = np.array([n + blocks - old], np.int64)
    return slots._replace(**out)


def widen(slots: CustomerSlots, dims: Dims) -> CustomerSlots:
    """The same slots with per-slot capacities `dims` (each at least today's), the new
    places zeros. Only for slots whose rings start at their first place, as `store_rows`
    leaves them (a restore widening as it meets longer lists): a ring that went round
    would read out of order."""
    out = []
    for name, a in zip(CustomerSlots._fields, slots, strict=True):
        dtype, shape = _SPEC[name]
        want = (a.shape[0], *shape(dims))
        if want == a.shape:
            out.append(a)
            continue
        if any(w < h for w, h in zip(want, a.shape, strict=True)):
            raise ValueError(f"{name}: {a.shape} cannot narrow to {want}")
        b = np.zeros(want, dtype)
        b[tuple(slice(0, h) for h in a.shape)] = a
        out.append(b)
    return CustomerSlots(*out)


def dims_of(slots: CustomerSlots) -> Dims:
    """The capacities `slots` were allocated with."""
    return Dims(a=slots.amt.shape[1], k=slots.tab_code.shape[2], x=slots.ctx_la.shape[1],
                r=slots.rec_t.shape[1], w=slots.win_t.shape[1], p=slots.pend_r.shape[1])


def reset(slots: CustomerSlots, c: int, codes: Codes) -> None:
    """Slot `c` as a new customer's (its hold's block, if any, freed)."""
    _reset(slots, np.array([c], np.int64))
    slots.last_country[c] = codes.code("")


def reset_rows(slots: CustomerSlots, cs: Any) -> None:
    """Slots `cs` (distinct) as `allocate` made them, their blocks freed."""
    _reset(slots, np.asarray(cs, np.int64))


def _reset(s: CustomerSlots, cs: Any) -> None:
    """Slots `cs` (distinct) fresh, their blocks freed."""
    at = s.pend_at[cs]
    held = at[at >= 0]
    n = int(s.pool_nfree[0])
    s.pool_free[n:n + len(held)] = held
    s.pool_nfree[0] = n + len(held)
    for name in PER_SLOT:
        getattr(s, name)[cs] = _FRESH.get(name, 0)


def store(st: CustomerState, slots: CustomerSlots, c: int, codes: Codes) -> None:
    """`st` into slot `c` (its strings encoded by `codes`); the slot's capacities must hold
    it (`Dims.fitting`)."""
    store_rows([field_values(st)], slots, np.array([c], np.int64), codes)


#: Each customer field's place in `CustomerState.FIELDS` (the encoded fields' order).
_AT = {name: i for i, name in enumerate(CustomerState.FIELDS)}


def columns(rows: Sequence[Sequence[Any]]) -> Columns:
    """Customers' encoded fields (`packed.field_values`) as columns: each field's values
    by its name."""
    out = list(zip(*rows, strict=True)) if rows else [() for _ in _AT]
    return {name: out[i] for name, i in _AT.items()}


def store_rows(rows: Sequence[Sequence[Any]], slots: CustomerSlots, cs: Any,
               codes: Codes, fresh: bool = False) -> None:
    """`store_columns` of the customers' encoded fields (`packed.field_values`)."""
    store_columns(columns(rows), slots, cs, codes, fresh)


def store_columns(cols: Columns, slots: CustomerSlots, cs: Any, codes: Codes,
                  fresh: bool = False) -> None:
    """Customers given by their encoded fields (`packed.field_values`: a state record's
    values, or an object's) into slots `cs` (distinct), a field at a time for all of them:
    what a restore of a million customers needs (a customer at a time, ~60 us each, was
    most of it). The slots' capacities must hold them (`Dims.fitting_values`); their
    strings are coded by `codes`, new ones field by field in order of arrival. `fresh`:
    the slots were not used since `allocate`, `grow` or `widen` made them (a restore), so
    they need no reset (at 1,000,000 customers the reset's writes were 7 of 41 s: its first
    touch of every page of every field)."""
    s = slots
    cs = np.asarray(cs, np.int64)
    if not fresh:
        _reset(s, cs)
    if not len(cs):
        return
    col = cols.__getitem__
    for name in ("n", "gap_log", "gap_mean", "gaps", "hops", "novel", "learnt", "exact",
                 "fast"):
        getattr(s, name)[cs] = col(name)
    r, j, amounts = _ragged(col("amounts"), cs, s.amt.shape[1], "amounts", s.amt_len)
    s.amt[r, j] = amounts
    s.last_t[cs] = [-math.inf if v is None else v for v in col("last_t")]
    s.last_country[cs] = _codes(col("last_country"), codes)
    for prefix, name in (("rec", "recent"), ("win", "window"), ("days", "days")):
        _store_events(s, prefix, name, col(name), cs, codes)
    s.hours[cs] = col("hours")
    for i, name in enumerate(TABLES):
        tables: Sequence[dict[str, int]] = col(name)
        r, j, keys = _ragged(tables, cs, s.tab_code.shape[2], name, None)
        s.tab_code[r, i, j] = _codes(keys, codes)
        s.tab_count[r, i, j] = list(chain.from_iterable(t.values() for t in tables))
        s.tab_len[cs, i] = [len(t) for t in tables]
    r, j, context = _ragged(col("context"), cs, s.ctx_la.shape[1], "context", s.ctx_len)
    if context:
        s.ctx_code[r, j] = _strings_codes(context, codes)
        s.ctx_hour[r, j] = [e[5] for e in context]
        s.ctx_la[r, j] = [e[6] for e in context]
    r, j, pending = _ragged(col("pending"), cs, s.pend_r.shape[1], "pending", s.pend_len)
    if pending:
        holding = cs[s.pend_len[cs] > 0]
        n = int(s.pool_nfree[0])
        if n < len(holding):
            raise ValueError(f"the hold pool has {n} free blocks, {len(holding)} wanted "
                             "(grow_pool)")
        s.pend_at[holding] = s.pool_free[n - len(holding):n][::-1]
        s.pool_nfree[0] = n - len(holding)
        r = s.pend_at[r]
        held = [e for _, e in pending]
        s.pend_r[r, j] = [release for release, _ in pending]
        s.pend_code[r, j] = _strings_codes(held, codes)
        s.pend_hour[r, j] = [e[5] for e in held]
        s.pend_la[r, j] = [e[6] for e in held]
        bare = [len(e) == 7 for e in held]  # written before the weights: 1.0, 1.0
        s.pend_bare[r, j] = bare
        s.pend_w[r, j] = [(1.0, 1.0) if b else e[7:9] for b, e in zip(bare, held, strict=True)]
    wake = col("wake")
    s.wake_t[cs] = [-math.inf if w[0] is None else w[0] for w in wake]
    s.wake_s[cs] = [w[1] for w in wake]
    s.explore[cs] = col("explore")
    s.rounds[cs] = col("rounds")


def _ragged(lists: Sequence[Any], cs: Any, cap: int, what: str, lengths: Any
            ) -> tuple[Any, Any, list[Any]]:
    """Each list's items with their slot and place (`cs[i]`, 0..): (slots, places, items),
    flat; the lengths into `lengths` when given. A list longer than `cap` is `ValueError`
    (the slots would cut it)."""
    n = np.fromiter(map(len, lists), np.int64, len(lists))
    longest = int(n.max())
    if longest > cap:
        raise ValueError(f"{what}: {longest} entries, the slots hold {cap}")
    if lengths is not None:
        lengths[cs] = n
    starts = np.repeat(np.cumsum(n) - n, n)
    return np.repeat(cs, n), np.arange(len(starts)) - starts, list(chain.from_iterable(lists))


def _codes(values: Sequence[str], codes: Codes) -> Any:
    """The codes of `values` (int32), new ones coded in order of arrival."""
    known = codes.codes
    try:
        return np.fromiter(map(known.__getitem__, values), np.int32, len(values))
    except KeyError:
        for value in dict.fromkeys(values):
            codes.code(value)
        return np.fromiter(map(known.__getitem__, values), np.int32, len(values))


def _strings_codes(entries: list[Any], codes: Codes) -> Any:
    """The codes of each entry's first `STRINGS` values (a context entry's or a held
    event's), int32[len(entries), STRINGS]."""
    flat = list(chain.from_iterable(e[:STRINGS] for e in entries))
    return _codes(flat, codes).reshape(len(entries), STRINGS)


def _store_events(s: CustomerSlots, prefix: str, what: str, lists: Sequence[Any], cs: Any,
                  codes: Codes) -> None:
    t, amt, cat, chan = (getattr(s, f"{prefix}_{f}") for f in ("t", "amt", "cat", "chan"))
    r, j, events = _ragged(lists, cs, t.shape[1], what, getattr(s, f"{prefix}_len"))
    if events:
        times, amounts, categories, channels = zip(*events, strict=True)
        t[r, j], amt[r, j] = times, amounts
        cat[r, j], chan[r, j] = _codes(categories, codes), _codes(channels, codes)


def load(slots: CustomerSlots, c: int, codes: Codes) -> CustomerState:
    """Slot `c` as a `CustomerState` (the inverse of `store`)."""
    s = slots
    st = CustomerState()
    st.n = int(s.n[c])
    st.amounts = _ring(s.amt[c], int(s.amt_head[c]), int(s.amt_len[c]))
    st.last_t = float(s.last_t[c])
    st.last_country = codes.value(int(s.last_country[c]))
    st.recent = _events(s, "rec", c, codes)
    st.window = _events(s, "win", c, codes)
    st.days = _events(s, "days", c, codes)
    st.hours = bytearray(s.hours[c].tobytes())
    for i, name in enumerate(TABLES):
        setattr(st, name, {codes.value(int(s.tab_code[c, i, j])): int(s.tab_count[c, i, j])
                           for j in range(int(s.tab_len[c, i]))})
    st.gap_log = float(s.gap_log[c])
    st.gap_mean = float(s.gap_mean[c])
    for name in ("gaps", "hops", "novel", "learnt", "exact", "fast"):
        setattr(st, name, int(getattr(s, name)[c]))
    head, length, cap = int(s.ctx_head[c]), int(s.ctx_len[c]), s.ctx_la.shape[1]
    st.context = []
    for j in range(length):
        k = (head + j) % cap
        st.context.append((*_strings(s.ctx_code[c, k], codes), int(s.ctx_hour[c, k]),
                           float(s.ctx_la[c, k])))  # type: ignore[arg-type]
    st.pending = []
    b = int(s.pend_at[c])
    for j in range(int(s.pend_len[c])):
        held = (*_strings(s.pend_code[b, j], codes), int(s.pend_hour[b, j]),
                float(s.pend_la[b, j]))
        if not s.pend_bare[b, j]:
            held = (*held, float(s.pend_w[b, j, 0]), float(s.pend_w[b, j, 1]))
        st.pending.append((float(s.pend_r[b, j]), held))
    st.wake = (float(s.wake_t[c]), float(s.wake_s[c]))
    st.explore = [float(x) for x in s.explore[c]]
    st.rounds = [int(x) for x in s.rounds[c]]
    return st


def field_rows(slots: CustomerSlots, cs: Any, codes: Codes) -> list[list[Any]]:
    """The encoded fields of the customers in slots `cs` (each what
    `packed.field_values(load(slots, c, codes))` gives), a field at a time for all of them:
    the inverse of `store_columns`, what a checkpoint writes without an object per customer
    (`load` took ~50 us a customer, most of a kernel checkpoint). Only the entries a slot
    holds are read out of its arrays, not their capacity."""
    s = slots
    cs = np.asarray(cs, np.int64)
    words = codes.values
    col: dict[str, list[Any]] = {
        name: getattr(s, name)[cs].tolist()
        for name in ("n", "gap_log", "gap_mean", "gaps", "hops", "novel", "learnt", "exact",
                     "fast", "hours", "explore", "rounds")}
    col["amounts"] = _used(_from_head(s.amt[cs], s.amt_head[cs]), s.amt_len[cs])
    col["last_t"] = [t if math.isfinite(t) else None for t in s.last_t[cs].tolist()]
    col["last_country"] = [words[k] for k in s.last_country[cs].tolist()]
    for prefix, name in (("rec", "recent"), ("win", "window"), ("days", "days")):
        n = getattr(s, f"{prefix}_len")[cs]
        held = _held(n, getattr(s, f"{prefix}_t").shape[1])
        events = list(zip(*(_flat(getattr(s, f"{prefix}_{f}")[cs], held, words if f in
                                    ("cat", "chan") else None)
                            for f in ("t", "amt", "cat", "chan")), strict=True))
        col[name] = _split(events, n)
    for i, name in enumerate(TABLES):
        n = s.tab_len[cs, i]
        held = _held(n, s.tab_code.shape[2])
        entries = zip(_flat(s.tab_code[cs, i], held, words), _flat(s.tab_count[cs, i], held),
                      strict=True)
        col[name] = [dict(islice(entries, m)) for m in n.tolist()]  # each its next m
    heads, n = s.ctx_head[cs], s.ctx_len[cs]
    held = _held(n, s.ctx_la.shape[1])
    held_codes = _from_head(s.ctx_code[cs], heads)[held]  # (events, STRINGS)
    strings = [_flat_all(held_codes[:, j], words) for j in range(STRINGS)]
    col["context"] = _split(list(zip(*strings, _flat(_from_head(s.ctx_hour[cs], heads), held),
                                     _flat(_from_head(s.ctx_la[cs], heads), held),
                                     strict=True)), n)
    col["pending"] = _pending_rows(s, cs, words)
    col["wake"] = [(t if math.isfinite(t) else None, w)
                   for t, w in zip(s.wake_t[cs].tolist(), s.wake_s[cs].tolist(), strict=True)]
    return [list(row) for row in zip(*(col[name] for name in CustomerState.FIELDS),
                                     strict=True)]


def _from_head(rings: Any, heads: Any) -> Any:
    """Rings (first dimension: the slot) reordered to start at each one's head."""
    cap = rings.shape[1]
    at = (heads.astype(np.int64)[:, None] + np.arange(cap)) % cap
    return np.take_along_axis(rings, at.reshape(at.shape + (1,) * (rings.ndim - 2)), 1)


def _used(rows: Any, lengths: Any) -> list[list[Any]]:
    """Each row's first `lengths[i]` entries as lists, reading only those (a slot's lists
    are far shorter than their capacity for most customers)."""
    return _split(_flat(rows, _held(lengths, rows.shape[1])), lengths)


def _held(lengths: Any, cap: int) -> Any:
    """The mask of each row's first `lengths[i]` entries of `cap`."""
    return np.arange(cap) < lengths[:, None]


def _flat(rows: Any, held: Any, words: list[str] | None = None) -> list[Any]:
    """The `held` entries of `rows`, row after row, as one list (codes as their words)."""
    return _flat_all(rows[held], words)


def _flat_all(values: Any, words: list[str] | None = None) -> list[Any]:
    flat = values.tolist()
    return flat if words is None else [words[k] for k in flat]


def _bounds(lengths: Any) -> Iterator[tuple[int, int]]:
    """Each row's (start, end) in the flat list of all rows' entries."""
    return pairwise([0, *np.cumsum(lengths).tolist()])


def _split(flat: list[Any], lengths: Any) -> list[list[Any]]:
    """`flat` cut into each row's `lengths[i]` entries."""
    return [flat[a:b] for a, b in _bounds(lengths)]


def _pending_rows(s: CustomerSlots, cs: Any, words: list[str]) -> list[list[Any]]:
    """`pending` of the slots `cs`, from the hold pool's blocks of those holding any."""
    lengths = s.pend_len[cs].tolist()
    out: list[list[Any]] = [[] for _ in lengths]
    holding = [i for i, n in enumerate(lengths) if n]
    if not holding:
        return out
    b = s.pend_at[cs[holding]]
    fields = zip(s.pend_r[b].tolist(), s.pend_code[b].tolist(), s.pend_hour[b].tolist(),
                 s.pend_la[b].tolist(), s.pend_w[b].tolist(), s.pend_bare[b].tolist(),
                 strict=True)
    for i, (rs, codes, hours, las, ws, bares) in zip(holding, fields, strict=True):
        held = out[i]
        for j in range(lengths[i]):
            event = (*[words[k] for k in codes[j]], hours[j], las[j])
            held.append((rs[j], event if bares[j] else (*event, *ws[j])))
    return out


def categories(slots: CustomerSlots, cs: Any) -> set[int]:
    """The codes the recent events, window and week of slots `cs` hold as a category."""
    out: set[int] = set()
    for prefix in ("rec", "win", "days"):
        cat = getattr(slots, f"{prefix}_cat")[cs]
        length = getattr(slots, f"{prefix}_len")[cs]
        held = np.arange(cat.shape[1]) < length[:, None]
        out.update(np.unique(cat[held]).tolist())
    return out


def _ring(row: Any, head: int, length: int) -> list[float]:
    cap = len(row)
    return [float(row[(head + j) % cap]) for j in range(length)]


def _events(s: CustomerSlots, prefix: str, c: int, codes: Codes
            ) -> list[tuple[float, float, str, str]]:
    t, amt, cat, chan = (getattr(s, f"{prefix}_{f}") for f in ("t", "amt", "cat", "chan"))
    return [(float(t[c, j]), float(amt[c, j]), codes.value(int(cat[c, j])),
             codes.value(int(chan[c, j])))
            for j in range(int(getattr(s, f"{prefix}_len")[c]))]


def _strings(row: Any, codes: Codes) -> tuple[str, ...]:
    return tuple(codes.value(int(row[i])) for i in range(STRINGS))
