"""The customers of a partition: least recently seen first, bounded in count and idle time,
with what changed since the last checkpoint (detector.snapshots writes only that).

Every customer touched since the last checkpoint was moved to the end of the table when it
was touched, so those customers are exactly the table's last `len(touched)` entries, in the
order a restore must give them back: a checkpoint numbers them on from `seq`, and a restore
that orders every customer by the number of its latest record rebuilds the eviction order.

Only the `hot_customers` most recently seen customers are kept as objects; the others are
packed (detector.core.packed: about a fifth of the memory) and unpacked when seen again. A
restore leaves every customer packed. What is packed never changes an output.

A row dated more than `customer_ttl_s` after the partition's clock (a mistyped year: 2100
for 2025, which the schema takes) is stray and expires no one: measured from it, every
customer of the partition was idle, and that one row dropped them all, so every later row
scored as a new customer's (twelfth hostile probe, 2026-12-06). The clock is the most
recently seen customer's last event, unless the few most recently seen customers are
themselves ahead: walking back from the newest, the first customer whose last event is more
than the ttl before every one seen after it marks a jump in time, and when fewer than
`CLOCK_QUORUM` customers were seen after it, their time is passed over and the clock is that
customer's. So up to `CLOCK_QUORUM` different customers' rows in a row dated far ahead (two
mistyped rows, a few devices whose clock is wrong, each as many rows as it likes) drop no
one: measured from the first one's, the second dropped everyone. Once `CLOCK_QUORUM`
customers have come at the new time, it is the partition's: the next row is measured from
it, so a partition really silent past the ttl drops its idle customers at the first row
after the gap beyond `CLOCK_QUORUM` different customers' (those keep their state). A
customer alone active for long still expires the idle ones (no jump: each of its rows within
the ttl of its last), and a customer alone held is never stray. The walk reads at most
`CLOCK_QUORUM` customers, and only for a row that would expire one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from itertools import islice
from typing import TypeVar

from detector.core.config import CoreConfig
from detector.core.packed import last_t, pack, unpack
from detector.core.state import CustomerState

#: A customer as the table holds it: an object, or packed (`detector.core.packed`).
Held = CustomerState | bytes
#: Different customers seen in a row at a time the ttl past the partition's clock that make it
#: the clock (fewer are stray, module doc; the sink's `EXPORTS_WATERMARK_CUSTOMERS` alike).
CLOCK_QUORUM = 8
#: A changed customer as a checkpoint writes it (`take_changes`' `encode`).
T = TypeVar("T")


def last_seen(held: Held) -> float:
    """The time of the customer's last event, packed or not."""
    return last_t(held) if isinstance(held, bytes) else held.last_t


def as_state(held: Held) -> CustomerState:
    """The state `held` is (a packed one unpacked: a copy)."""
    return unpack(held) if isinstance(held, bytes) else held


class CustomerTable:
    """Customers by id, least recently seen first; bounded in count and event-time age."""

    __slots__ = ("_hot", "_hot_max", "_items", "_max", "_ttl", "config", "evicted", "gone",
                 "seq", "touched")

    def __init__(self, config: CoreConfig) -> None:
        self.config = config
        # its bounds, read once (the configuration is frozen)
        self._max, self._hot_max = config.max_customers, config.hot_customers
        self._ttl = config.customer_ttl_s
        self._items: OrderedDict[str, Held] = OrderedDict()
        #: The customers held as objects, least recently seen first.
        self._hot: OrderedDict[str, None] = OrderedDict()
        self.evicted = 0
        #: Customers added or changed since the last checkpoint (all of them: the table's tail).
        self.touched: set[str] = set()
        #: Customers evicted or expired since the last checkpoint (their records are deleted).
        self.gone: set[str] = set()
        #: The number the next checkpointed customer gets (order of the records).
        self.seq = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, customer_id: str, now: float) -> CustomerState:
        """The customer's state (fresh if unknown or expired), marked most recent."""
        self._expire(now, customer_id)
        items = self._items
        held = items.get(customer_id)
        if held is None:
            while len(items) >= self._max:
                self._drop()
            state = CustomerState()
            items[customer_id] = state
            self.gone.discard(customer_id)
        else:
            items.move_to_end(customer_id)
            if isinstance(held, bytes):
                state = unpack(held)
                items[customer_id] = state
            else:
                state = held
        self.touched.add(customer_id)
        hot = self._hot
        hot[customer_id] = None
        hot.move_to_end(customer_id)
        if len(hot) > self._hot_max:
            cold, _ = hot.popitem(last=False)
            items[cold] = pack(as_state(items[cold]))
        return state

    def _drop(self) -> None:
        cid, _ = self._items.popitem(last=False)
        self._hot.pop(cid, None)
        self.evicted += 1
        self.touched.discard(cid)
        self.gone.add(cid)

    def _stray(self, customer_id: str, now: float) -> bool:
        """Whether the row is dated more than the ttl after the partition's clock: the newest
        customer's last event, or, when fewer than `CLOCK_QUORUM` customers were seen after
        a jump of more than the ttl, the last event of the customer below it (module doc)."""
        items, ttl = self._items, self._ttl
        held = reversed(items)
        newest = next(held, None)
        if newest is None or (newest == customer_id and len(items) == 1):
            return False  # none held, or its customer alone
        clock = low = last_seen(items[newest])
        for cid in islice(held, CLOCK_QUORUM - 1):
            seen = last_seen(items[cid])
            if low - seen > ttl:  # a jump: the customers seen after it passed over
                clock = seen
                break
            low = min(low, seen)
        return now - clock > ttl

    def _expire(self, now: float, customer_id: str) -> None:
        items, ttl = self._items, self._ttl
        if not items or now - last_seen(next(iter(items.values()))) <= ttl:
            return  # no one idle past the ttl (most rows: no clock to find)
        if self._stray(customer_id, now):
            return
        while items:
            oldest = next(iter(items.values()))
            if now - last_seen(oldest) <= ttl:
                break
            self._drop()

    def clone(self) -> CustomerTable:
        """An independent copy (careful isolation's savepoint, detector.isolation): the
        customers held as objects are packed into it, the packed ones shared (bytes never
        change), the order and the checkpoint bookkeeping copied. What is packed never
        changes an output, so the copy goes on as this table would."""
        other = CustomerTable(self.config)
        items = OrderedDict(self._items)
        for cid in self._hot:  # the objects (`get` and `replace_items` keep them hot)
            items[cid] = pack(as_state(items[cid]))
        other._items = items
        other.evicted, other.seq = self.evicted, self.seq
        other.touched, other.gone = set(self.touched), set(self.gone)
        return other

    def items(self) -> list[tuple[str, CustomerState]]:
        """Every customer, least recently seen first (a packed one as a copy)."""
        return [(cid, as_state(held)) for cid, held in self._items.items()]

    def held(self) -> list[tuple[str, Held]]:
        """Every customer as the table holds it, least recently seen first."""
        return list(self._items.items())

    def replace_items(self, items: OrderedDict[str, Held]) -> None:
        """Hold exactly these customers (least recently seen first): a restore. The most
        recent objects among them stay objects, up to `hot_customers`."""
        newest: list[str] = []
        room = self._hot_max
        for cid in reversed(items):
            held = items[cid]
            if not isinstance(held, bytes):
                if len(newest) < room:
                    newest.append(cid)
                else:
                    items[cid] = pack(held)
        hot = OrderedDict((cid, None) for cid in reversed(newest))
        self._items, self._hot = items, hot

    def touch_all(self) -> None:
        """Count every customer as changed (the next checkpoint writes them all)."""
        self.touched = set(self._items)

    def take_changes(self, encode: Callable[[int, CustomerState], T]
                     ) -> tuple[list[tuple[str, T]], list[str]]:
        """(customers changed since the last checkpoint, oldest first, each `encode`d with
        its number; customers gone since), and start counting afresh."""
        items = self._items
        changed = changed_tail(reversed(items), lambda cid: as_state(items[cid]),
                               self.touched, self.seq, encode)
        gone = sorted(self.gone)
        self.seq += len(changed)
        self.touched, self.gone = set(), set()
        return changed, gone


def changed_ids(newest_first: Iterable[str | None], touched: set[str]) -> list[str]:
    """The customers changed since the last checkpoint, `touched`, oldest first: the table's
    `len(touched)` most recently seen, walked from `newest_first` (an id out of `touched`
    among them is a broken table: `AssertionError`)."""
    n = len(touched)
    out: list[str] = []
    for cid in newest_first:
        if len(out) == n:
            break
        if cid is None or cid not in touched:
            raise AssertionError(f"customer {cid!r} is out of the changed tail")
        out.append(cid)
    if len(out) != n:
        raise AssertionError(f"{n} customers changed, {len(out)} in the table")
    out.reverse()
    return out


def changed_tail(newest_first: Iterable[str | None], load: Callable[[str], CustomerState],
                 touched: set[str], seq: int, encode: Callable[[int, CustomerState], T]
                 ) -> list[tuple[str, T]]:
    """`changed_ids`, each loaded and `encode`d with its number in turn (numbered on from
    `seq`, oldest first), so a full checkpoint never holds every customer's state at once
    (at 200,000 customers that peaked 755 MB above the table for 137 MB of records)."""
    return [(cid, encode(seq + i, load(cid)))
            for i, cid in enumerate(changed_ids(newest_first, touched))]
