"""Bounded per-customer and per-partition (population) state, in event time.

A `CustomerState` holds only what the features need: recent amounts, the last event, a
short list of recent events (burst and duplicate windows), an hour-of-day histogram and
small capped count tables (countries, categories, channels, devices). Its size is bounded
by `CoreConfig` whatever the stream; `detector.core.table.CustomerTable` bounds the number of
customers (LRU) and drops customers idle for `customer_ttl_s` of event time.
"""

from __future__ import annotations

import math
from array import array
from operator import countOf
from typing import Any, ClassVar, Final, cast

#: The attributes whose new values are judged against the population (habits, surprise).
NOVELTY: Final[tuple[str, ...]] = ("country", "category", "channel", "device", "ipnet")
#: The population's novelty rate of first purchases, per attribute (`Population.novelty`
#: keys): how often a new customer brings a value nobody used, per unit of that chance.
FIRST: Final[dict[str, str]] = {a: "first:" + a for a in NOVELTY}
#: The population's novelty rate per band of learnt events (`Population.novelty` keys, by
#: attribute then band: `CoreConfig.prior_bands` has at most 7 bounds, so 8 bands).
BANDED: Final[dict[str, list[str]]] = {a: [f"{a}@{b}" for b in range(8)] for a in NOVELTY}
#: The population's low-amount histogram: bins per unit of robust z, and its range (the
#: last bin holds everything lower).
LOW_BINS: Final = 4
LOW_RANGE: Final = 30
#: The roundness levels of an amount, in cents: a whole unit, ten, a hundred, a thousand
#: (`round_level`); decimal steps, the same for any currency with cents.
ROUND_STEPS: Final[tuple[int, ...]] = (100, 1_000, 10_000, 100_000)
#: How far a category's amounts may sit from a customer's usual, in log amount, as the
#: population learns it (`Population.learn_offset`): a deviation counts at most this much.
OFFSET_CLIP: Final = 3.0
#: A recent event: (event time s, amount, merchant category, channel).
Recent = tuple[float, float, str, str]
#: A recently learnt habit: (country, device, IP network, channel, category, hour, log amount).
Context = tuple[str, str, str, str, str, int, float]


class CustomerState:
    """One customer's history, bounded in size."""

    #: The state's fields, in the order the state formats write them.
    FIELDS: ClassVar[tuple[str, ...]] = (
        "amounts",
        "categories",
        "channels",
        "context",
        "countries",
        "days",
        "devices",
        "exact",
        "explore",
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
        "rounds",
        "wake",
        "window",
    )
    __slots__ = FIELDS

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
        # every event of the last `similar_window_s` (bounded), oldest first: read only by
        # the repetition over days (empty when it is off; the day's terms read `window`)
        self.days: list[Recent] = []
        self.gap_mean = 0.0  # running mean of seconds between events (capped)
        self.exact = 0  # events repeating an amount of the customer's last day exactly
        self.fast = 0  # country changes faster than travel allows
        self.wake = (-math.inf, 0.0)  # (time, surprise) of the last return after silence
        # per novelty attribute (NOVELTY order): the population's mass of values the
        # customer had not used yet, summed over their learnt events (the opportunities
        # to take a new value)
        self.explore: list[float] = [0.0] * len(NOVELTY)
        # amounts counted for roundness (`round_amounts`), then how many of them were at
        # least each level round (`ROUND_STEPS`' order): [counted, whole, tens, ...]
        self.rounds: list[int] = [0] * (len(ROUND_STEPS) + 1)

    def __getstate__(self) -> tuple[object, ...]:
        return tuple(getattr(self, s) for s in self.FIELDS)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        _check_layout(self.FIELDS, state)
        for name, value in zip(self.FIELDS, state, strict=True):
            setattr(self, name, value)


def held_hour(event: object) -> int:
    """The hour of day of an event on hold (`CustomerState.pending`'s `habits.Held`)."""
    return cast("int", cast("tuple[Any, ...]", event)[5])


def round_level(amount: float) -> int:
    """How round `amount` is: the number of `ROUND_STEPS` that divide it exactly in cents
    (0: it has cents, 1: whole units, 2: whole tens, ...; 0 for an amount of 0 or below).
    Decided on the cents, `round(amount * 100)`, so 19.99 + 0.01 is as whole as 20."""
    x = amount * 100.0
    if -math.inf < x <= 0.5:  # round(x) <= 0 (a half rounds to the even 0)
        return 0
    # round(x) without the builtin's generic call (~1,500 instructions compiled): x > 0,
    # so the truncation is the floor (NaN and infinity raise here as round raises), the
    # fraction is exact (x and its floor are within 1), and a half goes to the even side
    cents = int(x)
    frac = x - cents
    if frac > 0.5 or (frac == 0.5 and cents & 1):
        cents += 1
    level = 0
    for step in ROUND_STEPS:
        if cents % step:
            break
        level += 1
    return level


def count_round(counts: list[int], level: int) -> None:
    """Count one amount of roundness `level` in `counts` ([counted, at least level 1, ...])."""
    counts[0] += 1
    for i in range(1, level + 1):
        counts[i] += 1


def history_band(learnt: int, bounds: tuple[int, ...]) -> int:
    """The band of `learnt` events among `bounds` (upper bounds, increasing; the last band
    open); -1 without bounds (no bands)."""
    if not bounds:
        return -1
    band = 0
    for bound in bounds:
        if learnt <= bound:
            return band
        band += 1
    return band


def _check_layout(fields: tuple[str, ...], state: tuple[object, ...]) -> None:
    """Refuse a state of another layout before setting any field (a compiled class would
    first refuse a value of the wrong type, half set)."""
    if len(state) != len(fields):
        raise ValueError(f"a state of {len(state)} fields, not {len(fields)}")


def bump(table: dict[str, int], key: str, cap: int) -> None:
    """Count `key`; a new key beyond `cap` evicts the least counted one (oldest on ties)."""
    if key in table:
        table[key] += 1
        return
    if len(table) >= cap:
        del table[min(table, key=table.__getitem__)]
    table[key] = 1


def _count(table: dict[str, int], key: str, max_keys: int, singles: dict[str, int],
           name: str) -> None:
    if name not in singles:  # restored from a snapshot older than the field
        singles[name] = sum(1 for v in table.values() if v == 1)
    count = table.get(key)  # one look-up (and one store) instead of four
    if count is not None:
        table[key] = count + 1
        if count == 1:  # now counted twice: no longer a single
            singles[name] -= 1
    elif len(table) < max_keys:
        table[key] = 1
        singles[name] += 1


def _learn_rate(novelty: dict[str, list[float]], key: str, new: bool, unused: float) -> None:
    entry = novelty.get(key)
    if entry is None:
        entry = novelty[key] = [0.0, 0.0]
    elif entry[1] >= 20_000:  # a moving average beyond this
        entry[0] *= 0.5
        entry[1] *= 0.5
    # the float adds written out: `+=` on a list's item is a generic in-place add
    # compiled; a bool adds as 1.0 or 0.0 (a float plus a bool converts it so)
    entry[0] = entry[0] + (1.0 if new else 0.0)
    entry[1] = entry[1] + unused


class Population:
    """What is common across the partition's customers: value frequencies and amounts."""

    #: The state's fields, in the order the state formats write them.
    FIELDS: ClassVar[tuple[str, ...]] = (
        "amount_center", "amount_ring", "amount_scale", "fast", "gap_bands", "gap_log",
        "gap_mean", "gaps", "hours", "low", "low_n",
        "novelty", "offsets", "rounds", "singles", "tables", "total",
    )
    __slots__ = FIELDS

    RING: ClassVar[int] = 2048  # ClassVar: a class constant, also when compiled

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
        # per band of a customer's gaps (`history_band`): [gaps counted, their running mean
        # in seconds (capped)]; grown on demand (none in a snapshot older than the field)
        self.gap_bands: list[list[float]] = []
        # attribute -> [new values, population mass not yet used by the customer, summed]
        # over established customers' learnt events: the rate of exploring per unit of it
        self.novelty: dict[str, list[float]] = {}
        self.singles: dict[str, int] = {}  # per table: values counted exactly once
        self.fast = [0.0, 0.0]  # [country changes faster than travel allows, events]
        # established customers' amounts below their usual level, by how far (robust z, in
        # bins of 1/LOW_BINS), out of `low_n` counted events: the low tail's shape
        self.low = [0] * (LOW_BINS * LOW_RANGE + 1)
        self.low_n = 0
        # learnt amounts counted for roundness, and how many were at least each level
        # round (`CustomerState.rounds`' layout; halved beyond 20 000: a moving window)
        self.rounds = [0] * (len(ROUND_STEPS) + 1)

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
        entry[1] = entry[1] + (max(-OFFSET_CLIP, min(OFFSET_CLIP, deviation)) - entry[1]) / entry[0]

    def new_rate(self, attribute: str, band: int = -1) -> float:
        """Customers' rate of taking a value new to them, per unit of the population's mass
        they had not used yet: established customers' (without data 1: a customer draws
        values the way everybody does), or, for a `band` of learnt events
        (`history_band`), that band's, shrunk to it. Counted per event, the established
        rate is the most active customers' (they make most events, and long histories
        rarely find a value new); a band counts each customer's events in it once."""
        entry = self.novelty.get(attribute)
        pooled = 1.0 if entry is None else (entry[0] + 5.0) / (entry[1] + 5.0)
        if band < 0:
            return pooled
        own = self.novelty.get(BANDED[attribute][band])
        if own is None:  # no data yet, or restored from a snapshot older than bands
            return pooled
        return (own[0] + 5.0 * pooled) / (own[1] + 5.0)

    def learn_gap(self, band: int, gap: float) -> None:
        """Count a gap (seconds, capped) that followed `band`'s number of earlier gaps."""
        bands = self.gap_bands
        while len(bands) <= band:
            bands.append([0.0, 0.0])
        entry = bands[band]
        entry[0] = min(entry[0] + 1.0, 5000.0)
        entry[1] = entry[1] + (gap - entry[1]) / entry[0]  # native, not a generic +=

    def gap_prior(self, band: int) -> float:
        """The usual gap (seconds) a customer's own is shrunk to: the mean gap of
        customers with as many gaps (`band`, shrunk to the pooled mean, 50 gaps' worth),
        or the running mean over all events (`gap_mean`: the most active customers')
        without a band or its data."""
        if band < 0 or band >= len(self.gap_bands):
            return self.gap_mean
        count, mean = self.gap_bands[band]
        return (count * mean + 50.0 * self.gap_mean) / (count + 50.0)

    def learn_first(self, keys: list[str], max_keys: int) -> None:
        """Count a customer's first purchase (values in NOVELTY order, before they are
        counted): whether each value is one nobody used, against the chance of that if new
        customers drew values as every event does (`first_base`). Every first purchase
        counts, suspicious or not: a stream where every new customer brings their own
        device must teach that this is usual, which a held-back purchase never could."""
        tables, novelty = self.tables, self.novelty
        for i in range(len(NOVELTY)):
            name = NOVELTY[i]
            table = tables[name]
            if len(table) < max_keys:
                entry = novelty.get(FIRST[name])
                if entry is None:
                    entry = novelty[FIRST[name]] = [0.0, 0.0, 0.0]
                elif entry[2] >= 20_000:  # a moving average beyond this
                    entry[0] *= 0.5
                    entry[1] *= 0.5
                    entry[2] *= 0.5
                entry[0] += keys[i] not in table
                entry[1] += self.first_base(name, {}, "")
                entry[2] += 1.0

    def first_base(self, attribute: str, known: dict[str, int], key: str) -> float:
        """The population's mass of values a customer who knows `known` would take new at
        most as common across customers as `key`, drawing as every event does: the used
        values' mass at most as common plus the Good-Turing mass of values nobody used
        (networks, mostly personal: all the unused mass). With `known` empty: a first
        purchase's chance."""
        if attribute == "ipnet":
            return self.unused_mass(attribute, known)
        return self.rarer_mass(attribute, known, key)

    def first_tail(self, attribute: str, key: str) -> float:
        """P(a first purchase's value at most as common across customers as `key`): a
        mixture of new customers who bring a value of their own (a value nobody used:
        their share is the first purchases' excess of such values over `first_base`'s
        chance, per first purchase + 1; none without data) and those who draw values as
        every event does (`first_base`)."""
        entry = self.novelty.get(FIRST[attribute])
        own = 0.0
        if entry is not None and entry[0] > entry[1]:
            own = (entry[0] - entry[1]) / (entry[2] + 1.0)
        tail = own + (1.0 - own) * self.first_base(attribute, {}, key)
        return tail if tail < 1.0 else 1.0

    def learn_novelty(self, attribute: str, new: bool, unused: float = 1.0,
                      band: int = -1, established: bool = True) -> None:
        """Count one learnt event: whether its value of `attribute` was new to its
        customer, against `unused` (`unused_mass`); in the established rate if
        `established`, and in its `band`'s (`new_rate`) if one."""
        if established:
            _learn_rate(self.novelty, attribute, new, unused)
        if band >= 0:
            _learn_rate(self.novelty, BANDED[attribute][band], new, unused)

    def learn_low(self, z: float) -> None:
        """Count one amount at robust z from its customer's level."""
        if self.low_n >= 20_000:  # a moving window beyond this (integers: exact)
            self.low = [c // 2 for c in self.low]
            self.low_n //= 2
        self.low_n += 1
        if z < 0.0:
            b = int(-z * LOW_BINS)
            low = self.low
            i = b if b < len(low) else len(low) - 1  # the last bin (-1) holds the rest
            low[i] = low[i] + 1  # an int add, native (a list item's += is generic)

    def low_share(self, z: float) -> float:
        """Conformal p-value of robust z among the counted amounts: (those at least about
        as far below their level, its bin included, + 1) / (counted + 1). Valid whatever
        the amounts' shape (never below 1 / (counted + 1): n values cannot tell rarer)."""
        if z >= 0.0:
            return 1.0
        b = int(-z * LOW_BINS)
        low = self.low
        end = len(low)
        # sum(low[b if b < end else -1:]) without the slice (ints: exact in any order)
        below = 0
        for i in range(b if b < end else end - 1, end):
            below += low[i]
        return (below + 1) / (self.low_n + 1)

    def learn_round(self, level: int) -> None:
        """Count one learnt amount of roundness `level` (`round_level`)."""
        if self.rounds[0] >= 20_000:  # a moving window beyond this (integers: exact)
            self.rounds = [c // 2 for c in self.rounds]
        count_round(self.rounds, level)

    def round_share(self, level: int) -> float:
        """Smoothed share of learnt amounts at least `level` round: (count + 1) /
        (counted + 2) (one half with no data)."""
        return (self.rounds[level] + 1.0) / (self.rounds[0] + 2.0)

    def fast_rate(self) -> float:
        """Share of events that follow the previous one faster than travel allows (prior:
        1% worth 100 events)."""
        return (self.fast[0] + 1.0) / (self.fast[1] + 100.0)

    def unseen_mass(self, table: str) -> float:
        """Good-Turing estimate of the share of events with a value nobody used before."""
        once = self.singles.get(table)
        if once is None:  # restored from a snapshot older than the field
            once = sum(1 for v in self.tables[table].values() if v == 1)
        return (once + 1.0) / (self.total + 1.0)

    def unused_mass(self, table: str, known: dict[str, int]) -> float:
        """The population's share of events with a value this customer has not used
        (values nobody used included): where a new value of theirs would come from."""
        counts = self.tables[table]
        used = 0
        for key in known:  # a few keys; ints, so exact in any order
            used += counts.get(key, 0)  # a direct call: mypyc makes it a native look-up
        return self.unused_share(table, used)

    def unused_share(self, table: str, used: int) -> float:
        """`unused_mass` of a customer whose values the population counted `used` times
        (summed over their values: `categorical` adds them in its own pass)."""
        once = self.singles.get(table)
        if once is None:  # restored from a snapshot older than the field
            once = countOf(self.tables[table].values(), 1)
        total = self.total + 1.0
        free = 1.0 - used / total
        mass = (once + 1.0) / total + (free if free > 0.0 else 0.0)
        return mass if mass < 1.0 else 1.0  # min(1.0, ...) as the builtin decides

    def rarer_mass(self, table: str, known: dict[str, int], key: str) -> float:
        """The population's share of events with a value unknown to this customer that is
        at most as common as `key` (values nobody used included)."""
        counts = self.tables[table]
        mine = counts.get(key, 0)
        mass = self.unseen_mass(table)
        if mine:
            mass += sum(c for k, c in counts.items() if c <= mine and k not in known) / (
                self.total + 1.0)
        return min(1.0, mass)

    def observe(self, country: str, category: str, channel: str, device: str,
                log_amount: float, max_keys: int, ipnet: str = "", values: bool = True
                ) -> None:
        """Count one event (after it has been scored); its values (country, ...) only if
        `values`: what a suspicious event uses does not become common for everybody."""
        self.total += 1
        if values:
            tables, singles = self.tables, self.singles
            _count(tables["ipnet"], ipnet, max_keys, singles, "ipnet")
            _count(tables["country"], country, max_keys, singles, "country")
            _count(tables["category"], category, max_keys, singles, "category")
            _count(tables["channel"], channel, max_keys, singles, "channel")
            _count(tables["device"], device, max_keys, singles, "device")
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
        return tuple(getattr(self, s) for s in self.FIELDS)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        _check_layout(self.FIELDS, state)
        for name, value in zip(self.FIELDS, state, strict=True):
            setattr(self, name, value)
