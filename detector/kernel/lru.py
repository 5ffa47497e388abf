"""The customer table in the kernel: slots, least recently seen order and expiry
(`detector.core.table.CustomerTable.get`, `_expire`, `_drop`; docs/kernel.md (b), "The
table").

The shell (`Slots`) maps customer ids to slots before a batch: a known id keeps its slot, a
new id takes a free one (the arrays grow by a quarter, at least `CHUNK` slots). The kernel
(`lru_row`, per row) then does what `CustomerTable.get` does, at the same row: the least
recently seen customers (the list's head, by arrival, not the smallest `last_t`) idle more than
`customer_ttl_s` before the row's time are dropped (none for a stray row, dated more than
that after the partition's clock: the tail's time, or, when fewer than `CLOCK_QUORUM`
customers were seen after a jump of more than the ttl, the time of the one below it:
`CustomerTable._stray`, `_stray` here), then a customer not held (new, or
dropped earlier, even at this very row) is added fresh, dropping the head while
`max_customers` are held, and the row's customer moves to the tail. Each drop is reported
as (slot, row); a dropped slot is not reused before the batch ends, so a customer dropped
and seen again in the same batch finds its slot again, fresh (`lru_row` says so; the
other modules reset their fields of it), as `get` gives a fresh `CustomerState`. After the
call the shell frees the slots whose customer is still dropped and forgets their ids.

The idle time is read from `seen`, the table's own copy of each customer's
`CustomerState.last_t` (its latest event time, as `_learn_clock` keeps it), so the whole
batch's drops are found in one pass before its rows are scored (`lru_pass`): a drop
depends on nothing else. `lru_row` is the same for one row.

Status (2026-12-03, branch klru): `lru_row` (per row) and `lru_pass` (a batch, ~8-30 ns a
row) tested against `CustomerTable` on random id and time streams (late rows, tiny
`customer_ttl_s` and `max_customers`, packed customers) and generated rows: the same drops
at the same rows, the same order after each row, a fresh slot where `get` gives a fresh
state, and at the end a real engine's order, `last_t`, `evicted` and `gone`. Not yet:
`touched` and `seq` (step 8's epochs); `restore` takes the order as a list, the
converters (d) are to feed it.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, cast

import numpy as np

from detector.core.table import CLOCK_QUORUM
from detector.kernel.jit import jit, jit_inline

#: Slots are allocated at least this many at a time.
CHUNK = 4096
#: `LruArrays.ends`' items: the head (least recently seen slot, -1 when empty), the tail,
#: the number of customers held.
HEAD, TAIL, SIZE = 0, 1, 2


class LruArrays(NamedTuple):
    """The table's state: a doubly linked list over slots, least recently seen first."""

    prev: np.ndarray  # int32[C]: the slot seen just before (-1: the head)
    next: np.ndarray  # int32[C]: the slot seen just after (-1: the tail)
    live: np.ndarray  # uint8[C]: 1 while the slot holds a customer
    seen: np.ndarray  # float64[C]: the customer's `last_t`, the table's own copy (-inf fresh)
    ends: np.ndarray  # int64[3]: HEAD, TAIL, SIZE


def allocate(capacity: int) -> LruArrays:
    """An empty table of `capacity` slots."""
    return LruArrays(
        np.full(capacity, -1, np.int32), np.full(capacity, -1, np.int32),
        np.zeros(capacity, np.uint8), np.full(capacity, -math.inf, np.float64),
        np.array([-1, -1, 0], np.int64))


def grown(a: LruArrays, capacity: int) -> LruArrays:
    """`a` with `capacity` slots (at least as many as it has), the new ones free."""
    b = allocate(capacity)
    n = len(a.live)
    for old, new in zip(a, b, strict=True):
        if old is a.ends:
            new[:] = old
        else:
            new[:n] = old
    return b


@jit
def _unlink(a: Any, s: int) -> None:  # pragma: no cover - compiled
    p, q = a.prev[s], a.next[s]
    if p >= 0:
        a.next[p] = q
    else:
        a.ends[HEAD] = q
    if q >= 0:
        a.prev[q] = p
    else:
        a.ends[TAIL] = p


@jit
def _append(a: Any, s: int) -> None:  # pragma: no cover - compiled
    t = a.ends[TAIL]
    a.prev[s] = t
    a.next[s] = -1
    if t >= 0:
        a.next[t] = s
    else:
        a.ends[HEAD] = s
    a.ends[TAIL] = s


@jit
def _drop(a: Any, row: int, gone: Any, n_gone: int) -> int:  # pragma: no cover - compiled
    """`CustomerTable._drop`: the head leaves; (slot, row) onto `gone`; the new count."""
    s = a.ends[HEAD]
    _unlink(a, s)
    a.live[s] = 0
    a.ends[SIZE] -= 1
    gone[n_gone, 0] = s
    gone[n_gone, 1] = row
    return n_gone + 1


@jit_inline
def _stray(prev: Any, seen: Any, tail: int, slot: int, now: float,
           ttl: float) -> bool:  # pragma: no cover - compiled
    """`CustomerTable._stray`: whether the row of `slot` at `now` is dated more than the
    ttl after the partition's clock (walking back from `tail` past a jump of more than the
    ttl above which fewer than `CLOCK_QUORUM` customers were seen: at most that many)."""
    if tail < 0 or (tail == slot and prev[tail] < 0):
        return False  # none held, or its customer alone
    clock = low = seen[tail]
    c = tail
    for _ in range(CLOCK_QUORUM - 1):
        c = prev[c]
        if c < 0:
            break
        if low - seen[c] > ttl:  # a jump: the customers seen after it passed over
            clock = seen[c]
            break
        low = min(low, seen[c])
    return bool(now - clock > ttl)


@jit
def lru_row(a: Any, slot: int, now: float, row: int, ttl: float, max_customers: int,
            gone: Any, n_gone: int) -> tuple[int, bool]:  # pragma: no cover - compiled
    """`CustomerTable.get(customer, now)` for the customer in `slot` at `row`: expiry
    (`_expire`), a fresh customer if not held (dropping the head while `max_customers`
    are held), moved to the tail; then its `seen` time as `_learn_clock` keeps `last_t`
    (nothing reads it before the next row). Drops go onto `gone[n_gone:]`; returns the
    new count of drops and whether the slot is fresh (the other modules reset their
    fields of it)."""
    live = a.live
    seen = a.seen
    # `_expire`: the clock read only for a row that would drop the head (a stray row
    # expires no one)
    if (a.ends[SIZE] > 0 and not now - seen[a.ends[HEAD]] <= ttl
            and not _stray(a.prev, seen, a.ends[TAIL], slot, now, ttl)):
        while a.ends[SIZE] > 0:
            if now - seen[a.ends[HEAD]] <= ttl:
                break
            n_gone = _drop(a, row, gone, n_gone)
    fresh = live[slot] == 0
    if fresh:
        while a.ends[SIZE] >= max_customers:
            n_gone = _drop(a, row, gone, n_gone)
        live[slot] = 1
        seen[slot] = -math.inf
        a.ends[SIZE] += 1
    else:
        _unlink(a, slot)
    _append(a, slot)
    if now >= seen[slot]:
        seen[slot] = now
    return n_gone, fresh


@jit
def lru_rows(a: Any, slots: Any, t: Any, ttl: float, max_customers: int, gone: Any,
             fresh: Any) -> int:  # pragma: no cover - compiled
    """`lru_row` per row (the reference form of `lru_pass`, and its test)."""
    n_gone = 0
    for i in range(slots.shape[0]):
        n_gone, f = lru_row(a, slots[i], t[i], i, ttl, max_customers, gone, n_gone)
        fresh[i] = f
    return n_gone


@jit
def lru_pass(a: Any, slots: Any, t: Any, ttl: float, max_customers: int, gone: Any,
             fresh: Any) -> int:  # pragma: no cover - compiled
    """`lru_row` over a batch, written out in one loop: a call numba does not inline
    costs a few ns per array argument (each one's reference count taken and given back),
    so `lru_rows` takes ~95 ns a row and this ~8 (measured, 4,096 slots, no drops).
    `fresh[i]`: whether row i's customer is fresh; returns the number of drops written
    to `gone` (room: customers held before + rows).

    Exact before the rows are scored: a drop depends only on the order and on each
    customer's latest time, which `seen` keeps (its own copy of `last_t`)."""
    prev, nxt, live, seen = a.prev, a.next, a.live, a.seen
    head, tail, size = a.ends[HEAD], a.ends[TAIL], a.ends[SIZE]
    n_gone = 0
    for i in range(slots.shape[0]):
        s = slots[i]
        now = t[i]
        # `_expire`: the clock read only for a row that would drop the head (a stray row
        # expires no one)
        stray = False
        if size > 0 and not now - seen[head] <= ttl:
            stray = _stray(prev, seen, tail, s, now, ttl)
        while size > 0 and not stray and not now - seen[head] <= ttl:
            h = head
            head = nxt[h]
            if head >= 0:
                prev[head] = -1
            else:
                tail = -1
            live[h] = 0
            size -= 1
            gone[n_gone, 0] = h
            gone[n_gone, 1] = i
            n_gone += 1
        f = live[s] == 0  # new, or dropped (at this very row, perhaps)
        while f and size >= max_customers:  # `get`'s room for a fresh customer
            h = head
            head = nxt[h]
            if head >= 0:
                prev[head] = -1
            else:
                tail = -1
            live[h] = 0
            size -= 1
            gone[n_gone, 0] = h
            gone[n_gone, 1] = i
            n_gone += 1
        if f:
            live[s] = 1
            seen[s] = -math.inf
            size += 1
        elif s != tail:  # unlinked, to be appended
            p, q = prev[s], nxt[s]
            if p >= 0:
                nxt[p] = q
            else:
                head = q
            prev[q] = p
        if f or s != tail:
            prev[s] = tail
            nxt[s] = -1
            if tail >= 0:
                nxt[tail] = s
            else:
                head = s
            tail = s
        fresh[i] = f
        if now >= seen[s]:
            seen[s] = now
    a.ends[HEAD], a.ends[TAIL], a.ends[SIZE] = head, tail, size
    return n_gone


class Slots:
    """The shell's side of the table: customer ids to slots, the free slots, the arrays
    (grown by a quarter, at least `CHUNK`), the count of drops (`CustomerTable.evicted`)
    and the ids dropped and not seen since (`CustomerTable.gone`, until `take_gone`)."""

    def __init__(self, max_customers: int, customer_ttl_s: float) -> None:
        self.max_customers, self.ttl = max_customers, customer_ttl_s
        self.arrays = allocate(0)
        self.slot_of: dict[str, int] = {}
        self.id_of: list[str | None] = []
        self.free: list[int] = []  # popped from the end: LIFO, deterministic
        self.evicted = 0
        self.gone: set[str] = set()

    def __len__(self) -> int:
        return int(self.arrays.ends[SIZE])

    def clone(self) -> Slots:
        """An independent copy: the arrays, the maps and the free list copied."""
        other = Slots(self.max_customers, self.ttl)
        other.arrays = LruArrays(*(a.copy() for a in self.arrays))
        other.slot_of, other.id_of = dict(self.slot_of), list(self.id_of)
        other.free, other.evicted, other.gone = list(self.free), self.evicted, set(self.gone)
        return other

    def map(self, ids: list[str]) -> np.ndarray:
        """The slot of each of `ids` (int64), a free one for an id not mapped."""
        slot_of = self.slot_of
        got = list(map(slot_of.get, ids))
        try:  # every id mapped (most batches): one look-up each, no Python frame a row
            return np.array(got, np.int64)
        except TypeError:  # a None: an id not mapped, given a slot in order of arrival
            pass
        out = np.empty(len(ids), np.int64)
        for i, cid in enumerate(ids):
            s = slot_of.get(cid)
            if s is None:
                if not self.free:
                    self._grow()
                s = slot_of[cid] = self.free.pop()
                self.id_of[s] = cid
                self.gone.discard(cid)
            out[i] = s
        return out

    def _grow(self) -> None:
        # By a quarter at least: growing by CHUNK alone copied every slot's arrays once per
        # 4,096 new customers (quadratic: 200,000 customers took 20.6 s).
        n = len(self.id_of)
        step = max(CHUNK, n // 4)
        self.arrays = grown(self.arrays, n + step)
        self.id_of.extend([None] * step)
        self.free.extend(range(n + step - 1, n - 1, -1))  # the lowest slot first

    def run(self, ids: list[str], t: np.ndarray, per_row: bool = False
            ) -> tuple[list[tuple[str, int]], np.ndarray]:
        """The table over a batch (`lru_pass`, or `lru_rows`): the customers dropped as
        (id, row) in order, and whether each row's customer was fresh."""
        slots = self.map(ids)
        gone = np.empty((len(self) + len(ids), 2), np.int64)
        fresh = np.empty(len(ids), np.bool_)
        n = (lru_rows if per_row else lru_pass)(
            self.arrays, slots, np.asarray(t, np.float64), self.ttl, self.max_customers,
            gone, fresh)
        return self.settle(gone[:n]), fresh

    def settle(self, gone: np.ndarray) -> list[tuple[str, int]]:
        """After a kernel call: the drops it reported (slot, row) as (id, row); the slots
        whose customer is still dropped freed, their ids forgotten."""
        pairs = gone.tolist()
        id_of, live = self.id_of, self.arrays.live
        dropped = [(cast("str", id_of[s]), row) for s, row in pairs]
        for s, _ in pairs:  # a slot dropped twice in the batch is freed once
            cid = id_of[s]
            if cid is not None and not live[s]:
                del self.slot_of[cid]
                id_of[s] = None
                self.free.append(s)
                self.gone.add(cid)
        self.evicted += len(dropped)
        return dropped

    def order(self) -> list[str]:
        """The ids held, least recently seen first."""
        out: list[str] = []
        a = self.arrays
        s = int(a.ends[HEAD])
        while s >= 0:
            cid = self.id_of[s]
            assert cid is not None
            out.append(cid)
            s = int(a.next[s])
        return out

    def restore(self, ids: list[str], seen: Any = None) -> np.ndarray:
        """Hold these customers, least recently seen first (`CustomerTable.replace_items`;
        a table never used before), with their `last_t` in `seen` (or later, by slot:
        `arrays.seen`); their slots. The slots and free list are those `map` would give,
        set at once."""
        if len(self) or self.id_of:
            raise ValueError("restore into a table used before")
        n = len(ids)
        capacity = 0
        while capacity < n:  # as `_grow` would have grown it
            capacity += max(CHUNK, capacity // 4)
        self.arrays = grown(self.arrays, capacity)
        self.id_of = [*ids, *([None] * (capacity - n))]
        self.slot_of = dict(zip(ids, range(n), strict=True))
        if len(self.slot_of) != n:
            raise ValueError("restore of a customer twice")
        self.free = list(range(capacity - 1, n - 1, -1))  # the lowest slot first
        slots = np.arange(n, dtype=np.int64)
        if not n:
            return slots
        a = self.arrays  # linked in this order at once: `_append` of each, as numpy
        a.prev[slots[0]], a.prev[slots[1:]] = -1, slots[:-1]
        a.next[slots[:-1]], a.next[slots[-1]] = slots[1:], -1
        a.ends[HEAD], a.ends[TAIL], a.ends[SIZE] = slots[0], slots[-1], n
        a.live[slots] = 1
        if seen is not None:
            a.seen[slots] = seen
        return slots
