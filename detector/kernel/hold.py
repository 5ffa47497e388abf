"""Suspicious events on hold (`detector.core.habits`: `held_weight`, the hold in `learn`,
`release`) over a customer's slot (`slots.CustomerSlots`' `pend_*` arrays).

The events are kept in the hold pool: a slot takes a block (`pend_at`) from the pool's free
list when it first holds an event and gives it back when its hold empties (or the slot is
reset: `free`), so memory goes to the customers holding events, not to every slot. The
caller keeps at least one free block for each row it passes (`slots.free_blocks`).

The kernel keeps the hold; learning a held event's habits (`learn_habits`) is the caller's:
`push` and `release` copy the events that leave the hold into a `Due` buffer, in the
order the core learns them.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from detector.core.habits import MAX_PENDING
from detector.kernel.jit import jit
from detector.kernel.slots import STRINGS


class Due(NamedTuple):
    """Held events leaving the hold, in order: their strings' codes, hour, log amount,
    weights, and whether each was written before the weights (7 values)."""

    code: Any  # int32[n][STRINGS]
    hour: Any  # int8[n]
    la: Any  # float64[n]
    w: Any  # float64[n][2]
    bare: Any  # uint8[n]


def due_buffer(capacity: int) -> Due:
    """Room for `capacity` events (a slot's `pend_*` capacity)."""
    return Due(np.zeros((capacity, STRINGS), np.int32), np.zeros(capacity, np.int8),
               np.zeros(capacity, np.float64), np.zeros((capacity, 2), np.float64),
               np.zeros(capacity, np.uint8))


@jit
def held_weight(surprise: float, above: float,
                discount: float) -> float:  # pragma: no cover - compiled
    """`habits.held_weight`: e^-(discount x the surprise beyond `above`), 1 below it."""
    excess = surprise - above
    return math.exp(-discount * excess) if excess > 0.0 else 1.0


@jit
def block(s: Any, c: int) -> int:  # pragma: no cover - compiled
    """Slot `c`'s block of the pool, or 0 while it holds nothing (read with `pend_len`,
    which is then 0)."""
    b: int = s.pend_at[c]
    return b if b >= 0 else 0


@jit
def free(s: Any, c: int) -> None:  # pragma: no cover - compiled
    """Slot `c`'s block back to the pool, if it has one; its hold empty."""
    b = s.pend_at[c]
    if b >= 0:
        n = s.pool_nfree[0]
        s.pool_free[n] = b
        s.pool_nfree[0] = n + 1
        s.pend_at[c] = -1
    s.pend_len[c] = 0


@jit
def _take(s: Any, c: int) -> int:  # pragma: no cover - compiled
    """Slot `c`'s block, taken from the free list if it has none."""
    b: int = s.pend_at[c]
    if b < 0:
        n = s.pool_nfree[0] - 1
        b = s.pool_free[n]
        s.pool_nfree[0] = n
        s.pend_at[c] = b
    return b


@jit
def _copy_out(s: Any, b: int, j: int, due: Any, k: int) -> None:  # pragma: no cover
    for i in range(STRINGS):
        due.code[k, i] = s.pend_code[b, j, i]
    due.hour[k] = s.pend_hour[b, j]
    due.la[k] = s.pend_la[b, j]
    due.w[k, 0] = s.pend_w[b, j, 0]
    due.w[k, 1] = s.pend_w[b, j, 1]
    due.bare[k] = s.pend_bare[b, j]


@jit
def _move(s: Any, b: int, src: int, dst: int) -> None:  # pragma: no cover - compiled
    s.pend_r[b, dst] = s.pend_r[b, src]
    for i in range(STRINGS):
        s.pend_code[b, dst, i] = s.pend_code[b, src, i]
    s.pend_hour[b, dst] = s.pend_hour[b, src]
    s.pend_la[b, dst] = s.pend_la[b, src]
    s.pend_w[b, dst, 0] = s.pend_w[b, src, 0]
    s.pend_w[b, dst, 1] = s.pend_w[b, src, 1]
    s.pend_bare[b, dst] = s.pend_bare[b, src]


@jit
def release(s: Any, c: int, now: float, due: Any) -> int:  # pragma: no cover - compiled
    """`habits.release`'s hold: the events whose hold has passed by `now` leave it (into
    `due`, in hold order) and the others stay in order; the number that left."""
    m = s.pend_len[c]
    if m == 0:
        return 0
    b = s.pend_at[c]
    if not s.pend_r[b, 0] <= now:
        return 0
    k = 0
    kept = 0
    for j in range(m):
        if s.pend_r[b, j] <= now:
            _copy_out(s, b, j, due, k)
            k += 1
        else:
            if kept != j:
                _move(s, b, j, kept)
            kept += 1
    if kept == 0:
        free(s, c)
    s.pend_len[c] = kept
    return k


@jit
def push(s: Any, c: int, t: float, quarantine_s: float, code: Any, hour: int, la: float,
         w_values: float, w_amount: float, due: Any) -> int:  # pragma: no cover - compiled
    """`habits.learn`'s hold: the event (`code`: its strings in `Held` order) held until
    max(t, the customer's last time) + `quarantine_s`; beyond `MAX_PENDING` the oldest
    leaves (into `due[0]`). The number that left (0 or 1). Call after the clock learnt
    the row, as the core does (`last_t` is then the row's, if it was the latest)."""
    last = s.last_t[c]
    m = s.pend_len[c]
    b = _take(s, c)
    s.pend_r[b, m] = (last if last > t else t) + quarantine_s  # max(t, st.last_t)
    for i in range(STRINGS):
        s.pend_code[b, m, i] = code[i]
    s.pend_hour[b, m] = hour
    s.pend_la[b, m] = la
    s.pend_w[b, m, 0] = w_values
    s.pend_w[b, m, 1] = w_amount
    s.pend_bare[b, m] = 0
    m += 1
    if m <= MAX_PENDING:
        s.pend_len[c] = m
        return 0
    _copy_out(s, b, 0, due, 0)
    for j in range(1, m):
        _move(s, b, j, j - 1)
    s.pend_len[c] = m - 1
    return 1
