"""Bounded per-customer and per-partition (population) state, in event time.

A `CustomerState` holds only what the features need: recent amounts, the last event, a
short list of recent events (burst and duplicate windows), an hour-of-day histogram and
small capped count tables (countries, categories, channels, devices). Its size is bounded
by `CoreConfig` whatever the stream; `CustomerTable` bounds the number of customers (LRU)
and drops customers idle for `customer_ttl_s` of event time.
"""

from __future__ import annotations

import math
from array import array
from collections import OrderedDict

from detector.core.config import CoreConfig

#: A recent event: (event time s, amount, merchant category, channel).
Recent = tuple[float, float, str, str]
#: A recently learnt habit: (country, device, IP network, channel, category, hour, log amount).
Context = tuple[str, str, str, str, str, int, float]


class CustomerState:
    """One customer's history, bounded in size."""

    __slots__ = (
        "amounts",
        "categories",
        "channels",
        "context",
        "countries",
        "devices",
        "exact",
        "fast",
        "gap_log",
        "gap_mean",
        "gaps",
        "hops",
        "hours",
        "ipnets",
        "last_country",
        "last_t",
        "learnt",
        "n",
        "novel",
        "pending",
        "recent",
        "wake",
        "window",
    )

    def __init__(self) -> None:
        self.n = 0
        self.amounts: list[float] = []  # log amounts, oldest first
        self.last_t = -math.inf
        self.last_country = ""
        self.recent: list[Recent] = []
        self.hours = bytearray(24)
        self.countries: dict[str, int] = {}
        self.categories: dict[str, int] = {}
        self.channels: dict[str, int] = {}
        self.devices: dict[str, int] = {}
        self.gap_log = 0.0  # running mean of log(seconds between events)
        self.gaps = 0
        self.hops = 0  # events in another country than the previous event
        self.novel = 0  # events in a country new to the customer (the first event aside)
        self.ipnets: dict[str, int] = {}
        self.learnt = 0  # events folded into the habits (quarantined ones once released)
        self.context: list[Context] = []  # the last learnt events, newest last
        self.pending: list[tuple[float, object]] = []  # quarantined: (release time, event)
        self.window: list[Recent] = []  # every event of the last day (bounded), oldest first
        self.gap_mean = 0.0  # running mean of seconds between events (capped)
        self.exact = 0  # events repeating an amount of the customer's last day exactly
        self.fast = 0  # country changes faster than travel allows
        self.wake = (-math.inf, 0.0)  # (time, surprise) of the last return after silence

    def __getstate__(self) -> tuple[object, ...]:
        return tuple(getattr(self, s) for s in self.__slots__)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        for name, value in zip(self.__slots__, state, strict=True):
            setattr(self, name, value)


def bump(table: dict[str, int], key: str, cap: int) -> None:
    """Count `key`; a new key beyond `cap` evicts the least counted one (oldest on ties)."""
    if key in table:
        table[key] += 1
        return
    if len(table) >= cap:
        del table[min(table, key=table.__getitem__)]
    table[key] = 1


def _count(table: dict[str, int], key: str, max_keys: int) -> None:
    if key in table:
        table[key] += 1
    elif len(table) < max_keys:
        table[key] = 1


class Population:
    """What is common across the partition's customers: value frequencies and amounts."""

    __slots__ = (
        "amount_center", "amount_ring", "amount_scale", "gap_log", "gap_mean", "gaps", "hours",
        "novelty", "offsets", "tables", "total",
    )

    RING = 2048

    def __init__(self) -> None:
        self.total = 0
        self.tables: dict[str, dict[str, int]] = {
            "country": {},
            "category": {},
            "channel": {},
            "device": {},
            "ipnet": {},
        }
        self.amount_ring = array("d")
        self.amount_center = math.log(100.0)
        self.amount_scale = 1.0
        self.hours = [0] * 24
        self.offsets: dict[str, list[float]] = {}  # category -> [count, mean log excess]
        self.gap_log = 0.0  # running mean of log(seconds between a customer's events)
        self.gap_mean = 0.0  # running mean of seconds between a customer's events (capped)
        self.gaps = 0
        # attribute -> [new values, events] among established customers' learnt events
        self.novelty: dict[str, list[float]] = {}

    def share(self, table: str, key: str) -> float:
        """Smoothed share of events with this value (never 0)."""
        return (self.tables[table].get(key, 0) + 0.5) / (self.total + 1.0)

    def category_offset(self, category: str) -> float:
        """How far above a customer's usual (log) amount this category's purchases sit."""
        entry = self.offsets.get(category)
        if entry is None:
            return 0.0
        count, mean = entry
        return mean * count / (count + 20.0)

    def learn_offset(self, category: str, deviation: float, max_keys: int) -> None:
        entry = self.offsets.get(category)
        if entry is None:
            if len(self.offsets) >= max_keys:
                return
            entry = self.offsets[category] = [0.0, 0.0]
        entry[0] = min(entry[0] + 1.0, 5000.0)
        entry[1] += (max(-3.0, min(3.0, deviation)) - entry[1]) / entry[0]

    def hour_share(self, hour: int) -> float:
        """Smoothed share of the population's events within an hour of `hour`."""
        h = self.hours
        return (h[hour - 1] + h[hour] + h[(hour + 1) % 24] + 0.375) / (self.total + 3.0)

    def new_rate(self, attribute: str) -> float:
        """Share of established customers' events with a value new to them (prior 5%)."""
        entry = self.novelty.get(attribute)
        if entry is None:
            return 0.05
        return (entry[0] + 5.0 * 0.05) / (entry[1] + 5.0)

    def learn_novelty(self, attribute: str, new: bool) -> None:
        entry = self.novelty.setdefault(attribute, [0.0, 0.0])
        if entry[1] >= 20_000:  # a moving average beyond this
            entry[0] *= 0.5
            entry[1] *= 0.5
        entry[0] += new
        entry[1] += 1.0

    def observe(self, country: str, category: str, channel: str, device: str,
                log_amount: float, max_keys: int, ipnet: str = "") -> None:
        """Count one event (after it has been scored)."""
        self.total += 1
        tables = self.tables
        _count(tables["ipnet"], ipnet, max_keys)
        _count(tables["country"], country, max_keys)
        _count(tables["category"], category, max_keys)
        _count(tables["channel"], channel, max_keys)
        _count(tables["device"], device, max_keys)
        ring = self.amount_ring
        if len(ring) < self.RING:
            ring.append(log_amount)
        else:
            ring[self.total % self.RING] = log_amount
        if self.total % 256 == 0 or self.total == 32:
            ordered = sorted(ring)
            k = len(ordered)
            self.amount_center = ordered[k // 2]
            iqr = ordered[(3 * k) // 4] - ordered[k // 4]
            self.amount_scale = max(iqr / 1.349, 0.05)

    def __getstate__(self) -> tuple[object, ...]:
        return tuple(getattr(self, s) for s in self.__slots__)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        for name, value in zip(self.__slots__, state, strict=True):
            setattr(self, name, value)


class CustomerTable:
    """Customers by id, least recently seen first; bounded in count and event-time age."""

    __slots__ = ("_items", "config", "evicted")

    def __init__(self, config: CoreConfig) -> None:
        self.config = config
        self._items: OrderedDict[str, CustomerState] = OrderedDict()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, customer_id: str, now: float) -> CustomerState:
        """The customer's state (fresh if unknown or expired), marked most recent."""
        self._expire(now)
        items = self._items
        state = items.get(customer_id)
        if state is None:
            while len(items) >= self.config.max_customers:
                items.popitem(last=False)
                self.evicted += 1
            state = CustomerState()
            items[customer_id] = state
        else:
            items.move_to_end(customer_id)
        return state

    def _expire(self, now: float) -> None:
        items, ttl = self._items, self.config.customer_ttl_s
        while items:
            oldest = next(iter(items.values()))
            if now - oldest.last_t <= ttl:
                break
            items.popitem(last=False)
            self.evicted += 1

    def items(self) -> list[tuple[str, CustomerState]]:
        """Every customer, least recently seen first."""
        return list(self._items.items())

    def replace_items(self, items: OrderedDict[str, CustomerState]) -> None:
        """Hold exactly these customers (least recently seen first): a restore."""
        self._items = items
