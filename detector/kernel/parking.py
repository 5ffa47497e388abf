"""Parked customers as bytes the kernel writes and reads (docs/kernel.md (r)).

A customer beyond `hot_customers` leaves its slot (`rows.KernelRows._park_oldest`) as one
`bytes` holding the entries its slot holds, copied as they are: floats bit for bit,
strings as this engine's codes. Parking and unparking are copies of a few hundred bytes,
where the record's JSON (`packed.pack_values`) first built every field as Python objects
(~12 us a customer to park, ~16 to put back). Codes are per engine (`Codes`, shared only
by its copies) and never stored, so neither are these bytes: a checkpoint or a snapshot
puts a parked customer into a spare slot and reads its record from there. A restore still
parks the records it reads as `packed` bytes (`is_binary` tells them apart).

Layout (little-endian, no padding): `last_t` (float64: `packed.last_t` reads either form),
a zero byte where a `packed` record has "[", then the fields in `_write`'s order, each list
as its length (int32) and its entries. Rings are written from their head; a customer put
back has its rings start at the first place, as `slots.store_columns` leaves them.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np

from detector.kernel.jit import jit, jit_inline
from detector.kernel.slots import STRINGS, TABLES

#: The byte after `last_t` in a parked customer's bytes (a `packed` record has "[").
MARK = 0
#: Bytes of every customer whatever its lists: `last_t` and the mark, `n`, the lists'
#: lengths, `last_country`, `hours`, the gaps, the six counters and `wake` (`_size` adds
#: 8 for each value of `explore` and of the round-amount counters).
_FIXED = 8 + 1 + 8 + 4 + 4 + 3 * 4 + 24 + len(TABLES) * 4 + 16 + 6 * 8 + 4 + 4 + 16
#: Bytes of an event (`recent`, `window`, `days`), a context entry and a held event.
_EVENT = 8 + 8 + 4 + 4
_CONTEXT = STRINGS * 4 + 1 + 8
_HELD = 8 + STRINGS * 4 + 1 + 8 + 16 + 1


def is_binary(held: bytes) -> bool:
    """Whether `held` (a parked customer) is these bytes, not a `packed` record."""
    return len(held) > 8 and held[8] == MARK


@jit_inline
def _f8(buf: Any, o: int, x: float) -> int:  # pragma: no cover - compiled
    buf[o:o + 8].view(np.float64)[0] = x
    return o + 8


@jit_inline
def _i8(buf: Any, o: int, x: int) -> int:  # pragma: no cover - compiled
    buf[o:o + 8].view(np.int64)[0] = x
    return o + 8


@jit_inline
def _i4(buf: Any, o: int, x: int) -> int:  # pragma: no cover - compiled
    buf[o:o + 4].view(np.int32)[0] = x
    return o + 4


@jit_inline
def _i1(buf: Any, o: int, x: int) -> int:  # pragma: no cover - compiled
    buf[o:o + 1].view(np.int8)[0] = x
    return o + 1


@jit_inline
def _rf8(buf: Any, o: int) -> float:  # pragma: no cover - compiled
    x: float = buf[o:o + 8].view(np.float64)[0]
    return x


@jit_inline
def _ri8(buf: Any, o: int) -> int:  # pragma: no cover - compiled
    x: int = buf[o:o + 8].view(np.int64)[0]
    return x


@jit_inline
def _ri4(buf: Any, o: int) -> int:  # pragma: no cover - compiled
    x: int = buf[o:o + 4].view(np.int32)[0]
    return x


@jit_inline
def _ri1(buf: Any, o: int) -> int:  # pragma: no cover - compiled
    x: int = buf[o:o + 1].view(np.int8)[0]
    return x


@jit
def _size(s: Any, c: int) -> int:  # pragma: no cover - compiled
    """The bytes slot `c` parks into."""
    tables = 0
    for i in range(s.tab_len.shape[1]):
        tables += s.tab_len[c, i]
    size: int = (_FIXED + 8 * (s.explore.shape[1] + s.rounds.shape[1]) + 8 * s.amt_len[c]
                 + _EVENT * (s.rec_len[c] + s.win_len[c] + s.days_len[c]) + 8 * tables
                 + _CONTEXT * s.ctx_len[c] + _HELD * s.pend_len[c])
    return size


@jit
def _write_events(buf: Any, o: int, t: Any, amt: Any, cat: Any, chan: Any, length: Any,
                  c: int) -> int:  # pragma: no cover - compiled
    m = length[c]
    o = _i4(buf, o, m)
    for j in range(m):
        o = _f8(buf, o, t[c, j])
        o = _f8(buf, o, amt[c, j])
        o = _i4(buf, o, cat[c, j])
        o = _i4(buf, o, chan[c, j])
    return o


@jit
def _read_events(buf: Any, o: int, t: Any, amt: Any, cat: Any, chan: Any, length: Any,
                 c: int) -> int:  # pragma: no cover - compiled
    m = _ri4(buf, o)
    o += 4
    length[c] = m
    for j in range(m):
        t[c, j] = _rf8(buf, o)
        amt[c, j] = _rf8(buf, o + 8)
        cat[c, j] = _ri4(buf, o + 16)
        chan[c, j] = _ri4(buf, o + 20)
        o += _EVENT
    return o


@jit
def _write(s: Any, c: int, buf: Any, o: int) -> int:  # pragma: no cover - compiled
    """Slot `c` into `buf` from `o`; the end."""
    o = _f8(buf, o, s.last_t[c])
    buf[o] = MARK
    o = _i8(buf, o + 1, s.n[c])
    m, head, cap = s.amt_len[c], s.amt_head[c], s.amt.shape[1]
    o = _i4(buf, o, m)
    for j in range(m):
        o = _f8(buf, o, s.amt[c, (head + j) % cap])
    o = _i4(buf, o, s.last_country[c])
    o = _write_events(buf, o, s.rec_t, s.rec_amt, s.rec_cat, s.rec_chan, s.rec_len, c)
    o = _write_events(buf, o, s.win_t, s.win_amt, s.win_cat, s.win_chan, s.win_len, c)
    o = _write_events(buf, o, s.days_t, s.days_amt, s.days_cat, s.days_chan, s.days_len,
                      c)
    for h in range(24):
        buf[o + h] = s.hours[c, h]
    o += 24
    for i in range(s.tab_len.shape[1]):
        m = s.tab_len[c, i]
        o = _i4(buf, o, m)
        for j in range(m):
            o = _i4(buf, o, s.tab_code[c, i, j])
            o = _i4(buf, o, s.tab_count[c, i, j])
    o = _f8(buf, o, s.gap_log[c])
    o = _f8(buf, o, s.gap_mean[c])
    o = _i8(buf, o, s.gaps[c])
    o = _i8(buf, o, s.hops[c])
    o = _i8(buf, o, s.novel[c])
    o = _i8(buf, o, s.learnt[c])
    o = _i8(buf, o, s.exact[c])
    o = _i8(buf, o, s.fast[c])
    m, head, cap = s.ctx_len[c], s.ctx_head[c], s.ctx_la.shape[1]
    o = _i4(buf, o, m)
    for j in range(m):
        k = (head + j) % cap
        for i in range(STRINGS):
            o = _i4(buf, o, s.ctx_code[c, k, i])
        o = _i1(buf, o, s.ctx_hour[c, k])
        o = _f8(buf, o, s.ctx_la[c, k])
    m, b = s.pend_len[c], s.pend_at[c]
    o = _i4(buf, o, m)
    for j in range(m):
        o = _f8(buf, o, s.pend_r[b, j])
        for i in range(STRINGS):
            o = _i4(buf, o, s.pend_code[b, j, i])
        o = _i1(buf, o, s.pend_hour[b, j])
        o = _f8(buf, o, s.pend_la[b, j])
        o = _f8(buf, o, s.pend_w[b, j, 0])
        o = _f8(buf, o, s.pend_w[b, j, 1])
        buf[o] = s.pend_bare[b, j]
        o += 1
    o = _f8(buf, o, s.wake_t[c])
    o = _f8(buf, o, s.wake_s[c])
    for i in range(s.explore.shape[1]):
        o = _f8(buf, o, s.explore[c, i])
    for i in range(s.rounds.shape[1]):
        o = _i8(buf, o, s.rounds[c, i])
    return o


@jit
def _read(s: Any, c: int, buf: Any, o: int) -> int:  # pragma: no cover - compiled
    """Slot `c` (fresh: as `slots.allocate` makes one) from `buf` at `o`, a block of the
    hold pool taken if it holds events; the end."""
    s.last_t[c] = _rf8(buf, o)
    s.n[c] = _ri8(buf, o + 9)
    o += 17
    m = _ri4(buf, o)
    o += 4
    s.amt_len[c] = m
    for j in range(m):
        s.amt[c, j] = _rf8(buf, o)
        o += 8
    s.last_country[c] = _ri4(buf, o)
    o += 4
    o = _read_events(buf, o, s.rec_t, s.rec_amt, s.rec_cat, s.rec_chan, s.rec_len, c)
    o = _read_events(buf, o, s.win_t, s.win_amt, s.win_cat, s.win_chan, s.win_len, c)
    o = _read_events(buf, o, s.days_t, s.days_amt, s.days_cat, s.days_chan, s.days_len, c)
    for h in range(24):
        s.hours[c, h] = buf[o + h]
    o += 24
    for i in range(s.tab_len.shape[1]):
        m = _ri4(buf, o)
        o += 4
        s.tab_len[c, i] = m
        for j in range(m):
            s.tab_code[c, i, j] = _ri4(buf, o)
            s.tab_count[c, i, j] = _ri4(buf, o + 4)
            o += 8
    s.gap_log[c] = _rf8(buf, o)
    s.gap_mean[c] = _rf8(buf, o + 8)
    s.gaps[c] = _ri8(buf, o + 16)
    s.hops[c] = _ri8(buf, o + 24)
    s.novel[c] = _ri8(buf, o + 32)
    s.learnt[c] = _ri8(buf, o + 40)
    s.exact[c] = _ri8(buf, o + 48)
    s.fast[c] = _ri8(buf, o + 56)
    o += 64
    m = _ri4(buf, o)
    o += 4
    s.ctx_len[c] = m
    for j in range(m):
        for i in range(STRINGS):
            s.ctx_code[c, j, i] = _ri4(buf, o + 4 * i)
        o += 4 * STRINGS
        s.ctx_hour[c, j] = _ri1(buf, o)
        s.ctx_la[c, j] = _rf8(buf, o + 1)
        o += 9
    m = _ri4(buf, o)
    o += 4
    s.pend_len[c] = m
    if m:
        n = s.pool_nfree[0] - 1
        b = s.pool_free[n]
        s.pool_nfree[0] = n
        s.pend_at[c] = b
        for j in range(m):
            s.pend_r[b, j] = _rf8(buf, o)
            o += 8
            for i in range(STRINGS):
                s.pend_code[b, j, i] = _ri4(buf, o + 4 * i)
            o += 4 * STRINGS
            s.pend_hour[b, j] = _ri1(buf, o)
            s.pend_la[b, j] = _rf8(buf, o + 1)
            s.pend_w[b, j, 0] = _rf8(buf, o + 9)
            s.pend_w[b, j, 1] = _rf8(buf, o + 17)
            s.pend_bare[b, j] = buf[o + 25]
            o += 26
    s.wake_t[c] = _rf8(buf, o)
    s.wake_s[c] = _rf8(buf, o + 8)
    o += 16
    for i in range(s.explore.shape[1]):
        s.explore[c, i] = _rf8(buf, o)
        o += 8
    for i in range(s.rounds.shape[1]):
        s.rounds[c, i] = _ri8(buf, o)
        o += 8
    return o


@jit
def _sizes(s: Any, cs: Any, ends: Any) -> None:  # pragma: no cover - compiled
    """Where each slot of `cs` ends in one buffer of them all, in order."""
    end = 0
    for i in range(len(cs)):
        end += _size(s, cs[i])
        ends[i] = end


@jit
def _park(s: Any, cs: Any, buf: Any, ends: Any) -> int:  # pragma: no cover - compiled
    """Slots `cs` into `buf`, one after the other; the first whose bytes did not end at
    its `ends` (a bug), or -1."""
    o = 0
    for i in range(len(cs)):
        o = _write(s, cs[i], buf, o)
        if o != ends[i]:
            return i
    return -1


@jit
def _unpark(s: Any, cs: Any, buf: Any, ends: Any) -> int:  # pragma: no cover - compiled
    """Slots `cs` from `buf` (`_park`'s, customer after customer); as `_park`."""
    o = 0
    for i in range(len(cs)):
        o = _read(s, cs[i], buf, o)
        if o != ends[i]:
            return i
    return -1


def park(s: Any, cs: np.ndarray) -> list[bytes]:
    """The bytes of each customer in slots `cs` (`s`: the slots, or their structref)."""
    ends = np.empty(len(cs), np.int64)
    _sizes(s, cs, ends)
    buf = np.empty(int(ends[-1]) if len(cs) else 0, np.uint8)
    _check(_park(s, cs, buf, ends), "parking")
    data = buf.tobytes()
    return [data[a:b] for a, b in pairwise([0, *ends.tolist()])]


def unpark(s: Any, cs: np.ndarray, held: list[bytes]) -> None:
    """Customers parked as `held` into the fresh slots `cs`; the hold pool has a free
    block for each (`slots.free_blocks`)."""
    ends = np.cumsum(np.fromiter(map(len, held), np.int64, len(held)))
    buf = np.frombuffer(bytearray().join(held), np.uint8)
    _check(_unpark(s, cs, buf, ends), "unparking")


def _check(wrong: int, what: str) -> None:
    if wrong >= 0:
        raise AssertionError(f"{what}: customer {wrong}'s bytes are not as long as counted")
