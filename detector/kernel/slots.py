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
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np

from detector.core.config import CoreConfig
from detector.core.habits import MAX_PENDING, MAX_WINDOW
from detector.core.state import NOVELTY, ROUND_STEPS, CustomerState
from detector.kernel.codes import Codes

#: The customer's code tables, in `NOVELTY` order (the first index of `tab_*`).
TABLES = ("countries", "categories", "channels", "devices", "ipnets")
#: A context entry's and a held event's strings, in their tuple order (`Context`, `Held`).
STRINGS = 5


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
        d = self
        for st in states:
            d = replace(
                d,
                a=max(d.a, len(st.amounts)),
                k=max(d.k, *(len(getattr(st, t)) for t in TABLES)),
                x=max(d.x, len(st.context)),
                r=max(d.r, len(st.recent)),
                w=max(d.w, len(st.window), len(st.days)),
                p=max(d.p, len(st.pending)),
            )
        return d


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
    pend_r: Any  # float64[p]: `pending`'s release times, in order
    pend_code: Any  # int32[p][5]: the held event's strings (Held order)
    pend_hour: Any  # int8[p]
    pend_la: Any  # float64[p]
    pend_w: Any  # float64[p][2]: its weights (`Weighted`)
    pend_bare: Any  # uint8[p]: 1 for a held event of 7 values (written before the weights)
    pend_len: Any  # int32
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
    "wake_t": (np.float64, lambda d: ()),
    "wake_s": (np.float64, lambda d: ()),
    "explore": (np.float64, lambda d: (len(NOVELTY),)),
    "rounds": (np.int64, lambda d: (len(ROUND_STEPS) + 1,)),
}
#: The fields a fresh slot does not hold as zeros.
_FRESH = {"last_t": -math.inf, "wake_t": -math.inf}


def allocate(dims: Dims, capacity: int) -> CustomerSlots:
    """`capacity` fresh slots (every one as a new `CustomerState`, the empty string's code
    aside: `reset` sets `last_country` to it)."""
    arrays = {}
    for name in CustomerSlots._fields:
        dtype, shape = _SPEC[name]
        arrays[name] = np.zeros((capacity, *shape(dims)), dtype)
    for name, value in _FRESH.items():
        arrays[name][:] = value
    return CustomerSlots(**arrays)


def grow(slots: CustomerSlots, capacity: int) -> CustomerSlots:
    """The same slots in arrays of `capacity` (at least as many), the new ones zeros: the
    caller `reset`s a slot before it holds a customer."""
    old = len(slots.n)
    out = []
    for a in slots:
        b = np.zeros((capacity, *a.shape[1:]), a.dtype)
        b[:old] = a
        out.append(b)
    return CustomerSlots(*out)


def dims_of(slots: CustomerSlots) -> Dims:
    """The capacities `slots` were allocated with."""
    return Dims(a=slots.amt.shape[1], k=slots.tab_code.shape[2], x=slots.ctx_la.shape[1],
                r=slots.rec_t.shape[1], w=slots.win_t.shape[1], p=slots.pend_r.shape[1])


def reset(slots: CustomerSlots, c: int, codes: Codes) -> None:
    """Slot `c` as a new customer's."""
    for name, a in zip(CustomerSlots._fields, slots, strict=True):
        a[c] = _FRESH.get(name, 0)
    slots.last_country[c] = codes.code("")


def store(st: CustomerState, slots: CustomerSlots, c: int, codes: Codes) -> None:
    """`st` into slot `c` (its strings encoded by `codes`); the slot's capacities must hold
    it (`Dims.fitting`)."""
    reset(slots, c, codes)
    s = slots
    s.n[c] = st.n
    _put_list(s.amt[c], st.amounts)
    s.amt_len[c] = len(st.amounts)
    s.last_t[c] = st.last_t
    s.last_country[c] = codes.code(st.last_country)
    for prefix, events in (("rec", st.recent), ("win", st.window), ("days", st.days)):
        _store_events(s, prefix, c, events, codes)
    s.hours[c, :] = np.frombuffer(bytes(st.hours), np.uint8)
    for i, name in enumerate(TABLES):
        table: dict[str, int] = getattr(st, name)
        if len(table) > s.tab_code.shape[2]:
            raise ValueError(f"{name}: {len(table)} keys, the slots hold {s.tab_code.shape[2]}")
        for j, (key, count) in enumerate(table.items()):
            s.tab_code[c, i, j] = codes.code(key)
            s.tab_count[c, i, j] = count
        s.tab_len[c, i] = len(table)
    s.gap_log[c] = st.gap_log
    s.gap_mean[c] = st.gap_mean
    for name in ("gaps", "hops", "novel", "learnt", "exact", "fast"):
        getattr(s, name)[c] = getattr(st, name)
    if len(st.context) > s.ctx_la.shape[1]:
        raise ValueError(f"context: {len(st.context)} entries, the slots hold "
                         f"{s.ctx_la.shape[1]}")
    for j, e in enumerate(st.context):
        _put_strings(s.ctx_code[c, j], e, codes)
        s.ctx_hour[c, j] = e[5]
        s.ctx_la[c, j] = e[6]
    s.ctx_len[c] = len(st.context)
    if len(st.pending) > s.pend_r.shape[1]:
        raise ValueError(f"pending: {len(st.pending)} events, the slots hold "
                         f"{s.pend_r.shape[1]}")
    for j, (release, event) in enumerate(st.pending):
        held: tuple[Any, ...] = event  # type: ignore[assignment]
        s.pend_r[c, j] = release
        _put_strings(s.pend_code[c, j], held, codes)
        s.pend_hour[c, j] = held[5]
        s.pend_la[c, j] = held[6]
        bare = len(held) == 7
        s.pend_bare[c, j] = bare
        s.pend_w[c, j] = (1.0, 1.0) if bare else held[7:9]
    s.pend_len[c] = len(st.pending)
    s.wake_t[c], s.wake_s[c] = st.wake
    s.explore[c, :] = st.explore
    s.rounds[c, :] = st.rounds


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
    for j in range(int(s.pend_len[c])):
        held = (*_strings(s.pend_code[c, j], codes), int(s.pend_hour[c, j]),
                float(s.pend_la[c, j]))
        if not s.pend_bare[c, j]:
            held = (*held, float(s.pend_w[c, j, 0]), float(s.pend_w[c, j, 1]))
        st.pending.append((float(s.pend_r[c, j]), held))
    st.wake = (float(s.wake_t[c]), float(s.wake_s[c]))
    st.explore = [float(x) for x in s.explore[c]]
    st.rounds = [int(x) for x in s.rounds[c]]
    return st


def _put_list(row: Any, values: list[float]) -> None:
    if len(values) > len(row):
        raise ValueError(f"{len(values)} values, the slots hold {len(row)}")
    row[:len(values)] = values


def _ring(row: Any, head: int, length: int) -> list[float]:
    cap = len(row)
    return [float(row[(head + j) % cap]) for j in range(length)]


def _store_events(s: CustomerSlots, prefix: str, c: int, events: list[Any],
                  codes: Codes) -> None:
    t, amt, cat, chan = (getattr(s, f"{prefix}_{f}") for f in ("t", "amt", "cat", "chan"))
    if len(events) > t.shape[1]:
        raise ValueError(f"{prefix}: {len(events)} events, the slots hold {t.shape[1]}")
    for j, (rt, ra, rc, rch) in enumerate(events):
        t[c, j], amt[c, j] = rt, ra
        cat[c, j], chan[c, j] = codes.code(rc), codes.code(rch)
    getattr(s, f"{prefix}_len")[c] = len(events)


def _events(s: CustomerSlots, prefix: str, c: int, codes: Codes
            ) -> list[tuple[float, float, str, str]]:
    t, amt, cat, chan = (getattr(s, f"{prefix}_{f}") for f in ("t", "amt", "cat", "chan"))
    return [(float(t[c, j]), float(amt[c, j]), codes.value(int(cat[c, j])),
             codes.value(int(chan[c, j])))
            for j in range(int(getattr(s, f"{prefix}_len")[c]))]


def _put_strings(row: Any, values: tuple[Any, ...], codes: Codes) -> None:
    for i in range(STRINGS):
        row[i] = codes.code(values[i])


def _strings(row: Any, codes: Codes) -> tuple[str, ...]:
    return tuple(codes.value(int(row[i])) for i in range(STRINGS))
