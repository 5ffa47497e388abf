"""Labelled anomalies that break a customer's own habits, each meaning exactly its name.

- HIGH_AMOUNT: `high_amount_factor` times the customer's median genuine amount.
- ODD_HOUR: a payment at 01:00-04:59 by a customer never active at night.
- DUPLICATE: an exact repeat of a genuine purchase, 1 minute to `duplicate_window` later.
- BURST: 3-6 small purchases, 10-60 s apart (within five minutes).
- IMPOSSIBLE_TRAVEL: a far country (another region) less than `travel_gap` after a home
  purchase.
- NEW_COUNTRY: the first-ever foreign country of an established customer, no other payment
  within `travel_gap` either side (so it is not also impossible travel).

Inserted anomalies never fall inside a legitimate trip or its transit gaps.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from producer.profiles import (
    CATEGORIES,
    CATEGORY_SCALE,
    CHANNELS,
    DAY,
    HOUR,
    Customer,
    Event,
    far_countries,
    near_countries,
    random_ip,
)

ANOMALY_TYPES: tuple[str, ...] = (
    "HIGH_AMOUNT", "ODD_HOUR", "DUPLICATE", "BURST", "IMPOSSIBLE_TRAVEL", "NEW_COUNTRY",
)


@dataclass(frozen=True)
class InjectionParams:
    days: int
    travel_gap: int
    duplicate_window: int
    high_amount_factor: tuple[float, float]
    established_days: int
    min_history: int


class Injector:
    """Adds anomalies to per-customer, time-sorted event lists (mutated in place)."""

    def __init__(
        self,
        rng: np.random.Generator,
        customers: list[Customer],
        events: list[list[Event]],
        params: InjectionParams,
    ) -> None:
        self.rng, self.customers, self.events, self.p = rng, customers, events, params
        self.times = [[e.ts for e in evs] for evs in events]
        self.blocked: list[list[tuple[int, int]]] = [
            [(t.start, t.end + params.travel_gap) for t in c.trips] for c in customers
        ]
        self.median = [
            float(np.median([e.amount for e in evs])) if evs else c.median_amount
            for c, evs in zip(customers, events, strict=True)
        ]
        self.genuine = [e for evs in events for e in evs]
        self.used_templates: set[int] = set()
        self.new_country_customers: set[int] = set()

    # -- helpers -----------------------------------------------------------------------
    def _free(self, c: int, t: int) -> bool:
        return 0 <= t < self.p.days * DAY and all(not a <= t < b for a, b in self.blocked[c])

    def _add(self, e: Event) -> None:
        i = bisect.bisect_right(self.times[e.cust], e.ts)
        self.times[e.cust].insert(i, e.ts)
        self.events[e.cust].insert(i, e)

    def _habitual(self, c: Customer, t: int, label: str) -> Event:
        cat = int(self.rng.choice(len(CATEGORIES), p=c.category_p))
        amount = c.median_amount * CATEGORY_SCALE[cat] * float(self.rng.lognormal(0.0, 0.35))
        return Event(
            ts=t, cust=c.index, amount=max(0.5, round(amount, 2)), country=c.home,
            channel=CHANNELS[int(self.rng.choice(len(CHANNELS), p=c.channel_p))],
            device=c.device, category=CATEGORIES[cat], ip=c.ip, label=label,
        )

    def _habitual_time(self, c: Customer, hours: np.ndarray | None = None) -> int:
        day = int(self.rng.integers(self.p.days))
        if hours is None:
            hour = int(self.rng.choice(24, p=c.hour_p))
        else:
            hour = int(self.rng.choice(hours))
        return day * DAY + hour * HOUR + int(self.rng.integers(HOUR))

    def _customer(self) -> Customer:
        return self.customers[int(self.rng.integers(len(self.customers)))]

    def _template(self) -> Event | None:
        """A random genuine purchase made at home, not used as a template before."""
        if not self.genuine:
            return None
        e = self.genuine[int(self.rng.integers(len(self.genuine)))]
        home = self.customers[e.cust].home
        if id(e) in self.used_templates or e.country != home or not self._free(e.cust, e.ts):
            return None
        self.used_templates.add(id(e))
        return e

    # -- the six types -----------------------------------------------------------------
    def high_amount(self) -> int:
        c = self._customer()
        t = self._habitual_time(c)
        if not self._free(c.index, t):
            return 0
        e = self._habitual(c, t, "HIGH_AMOUNT")
        lo, hi = self.p.high_amount_factor
        e.amount = round(self.median[c.index] * float(self.rng.uniform(lo, hi)), 2)
        self._add(e)
        return 1

    def odd_hour(self) -> int:
        c = self._customer()
        if c.night_owl:
            return 0
        t = self._habitual_time(c, np.arange(1, 5))
        if not self._free(c.index, t):
            return 0
        self._add(self._habitual(c, t, "ODD_HOUR"))
        return 1

    def duplicate(self) -> int:
        e = self._template()
        if e is None:
            return 0
        t = e.ts + int(self.rng.integers(60, self.p.duplicate_window + 1))
        if not self._free(e.cust, t):
            return 0
        twin = Event(t, e.cust, e.amount, e.country, e.channel, e.device, e.category, e.ip,
                     "DUPLICATE")
        self._add(twin)
        return 1

    def burst(self) -> int:
        c = self._customer()
        size = int(self.rng.integers(3, 7))
        t0 = self._habitual_time(c)
        times = t0 + np.cumsum(np.r_[0, self.rng.integers(10, 61, size=size - 1)])
        if not all(self._free(c.index, int(t)) for t in times):
            return 0
        top = max(2.0, min(20.0, 0.3 * self.median[c.index]))
        amounts = sorted({round(float(a), 2) for a in self.rng.uniform(1.0, top, size=size)})
        first = self._habitual(c, int(times[0]), "BURST")
        for t, amount in zip(times, self.rng.permutation(amounts), strict=False):
            self._add(Event(int(t), c.index, float(amount), c.home, first.channel, c.device,
                            first.category, c.ip, "BURST"))
        return len(amounts)

    def impossible_travel(self) -> int:
        e = self._template()
        if e is None:
            return 0
        c = self.customers[e.cust]
        t = e.ts + int(self.rng.integers(10 * 60, max(10 * 60 + 1, self.p.travel_gap * 3 // 4)))
        if not self._free(c.index, t):
            return 0
        ev = self._habitual(c, t, "IMPOSSIBLE_TRAVEL")
        ev.country = str(self.rng.choice(far_countries(c.home)))
        ev.ip = random_ip(self.rng, private=False)
        self._add(ev)
        return 1

    def new_country(self) -> int:
        c = self._customer()
        if c.index in self.new_country_customers:
            return 0
        t = self._habitual_time(c)
        times, gap = self.times[c.index], self.p.travel_gap
        before = bisect.bisect_left(times, t)
        if (
            not self._free(c.index, t)
            or before < self.p.min_history
            or times[0] > t - self.p.established_days * DAY
            or any(e.country != c.home for e in self.events[c.index][:before])
            or any(tr.start <= t for tr in c.trips)
            or (before > 0 and times[before - 1] > t - gap)
            or (before < len(times) and times[before] < t + gap)
        ):
            return 0
        ev = self._habitual(c, t, "NEW_COUNTRY")
        ev.country = str(self.rng.choice(near_countries(c.home)))
        ev.ip = random_ip(self.rng, private=False)
        self._add(ev)
        self.new_country_customers.add(c.index)
        self.blocked[c.index].append((t - gap, t + gap + 1))
        return 1

    def inject(self, targets: dict[str, int]) -> dict[str, int]:
        """Insert about `targets[type]` labelled transactions of each type; return counts."""
        # NEW_COUNTRY checks its neighbours, so it comes after the template-based types;
        # the types placed after it respect the window it blocks.
        order: list[tuple[str, Callable[[], int]]] = [
            ("DUPLICATE", self.duplicate), ("IMPOSSIBLE_TRAVEL", self.impossible_travel),
            ("NEW_COUNTRY", self.new_country), ("HIGH_AMOUNT", self.high_amount),
            ("ODD_HOUR", self.odd_hour), ("BURST", self.burst),
        ]
        done: dict[str, int] = {}
        for name, step in order:
            done[name] = self._repeat(step, targets.get(name, 0))
        return {name: done.get(name, 0) for name in ANOMALY_TYPES}

    def _repeat(self, step: Callable[[], int], target: int) -> int:
        done, attempts = 0, 0
        while done < target and attempts < 50 * target + 100:
            done += step()
            attempts += 1
        return done
