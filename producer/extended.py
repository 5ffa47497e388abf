"""The extended mix: fraud typologies beyond the six types, and legitimate habit changes.

Anomaly kinds (labelled, each settable by its rate like the six types):

- ACCOUNT_TAKEOVER: 2-4 purchases within about an hour on a device the customer has never
  used (or their least used), through their least used channel, from a new public IP, at
  2-6x their usual amount.
- CARD_TESTING: 5-12 micro amounts (0.50-5.00) 1.5-10 minutes apart (tens of minutes in
  all), online, from a new IP and the attacker's device.
- SPLIT_PAYMENT: 3-5 payments of similar large amounts (3-8x usual, within +-3% of each
  other) minutes apart, in one habitual category and channel.
- DORMANT_REACTIVATION: a customer silent for 35-60 days (their genuine purchases in that
  span removed) comes back with 1-3 purchases at 1.5-5x their usual amount, half of the time
  on a new device.

Legitimate changes (never labelled: the rows stay `normal`; listed in a sidecar file):

- relocation: from a day in the middle of the period the customer lives in another country
  (new IP, sometimes a new device), after 1-3 days of moving without purchases;
- night_shift: from that day their purchases happen at night-shift hours;
- raise: from that day their amounts are 1.5-2.5x higher;
- busy_season: for everybody, `busy_season_days` days with `busy_season_factor` times the
  activity and amounts 10-50% higher; its extra purchases follow the customer's change once
  it has begun (a relocated customer buys in the new country, a night worker at night, a
  raised amount is raised) and their trips (abroad on a trip, none in transit); so do a
  night worker's purchases moved to night hours.

Everything here draws from its own generator (seeded from the config's seed), so the
default mix, which uses none of it, stays byte-identical.
"""

from __future__ import annotations

import bisect
import csv
import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from producer.anomalies import Injector
from producer.profiles import (
    CATEGORIES,
    CATEGORY_SCALE,
    CHANNELS,
    DAY,
    DEVICES,
    HOUR,
    HOURLY_RHYTHM,
    Customer,
    Event,
    far_countries,
    near_countries,
    random_ip,
)
from shared.atomic import atomic_text_writer

EXTENDED_TYPES: tuple[str, ...] = (
    "ACCOUNT_TAKEOVER", "CARD_TESTING", "SPLIT_PAYMENT", "DORMANT_REACTIVATION",
)
LEGIT_CHANGES: tuple[str, ...] = ("relocation", "night_shift", "raise")
#: Rates and change shares of `--mix extended` (on top of the six types' default rates).
EXTENDED_RATES: dict[str, float] = dict.fromkeys(EXTENDED_TYPES, 0.0015)
EXTENDED_CHANGES: dict[str, float] = dict.fromkeys(LEGIT_CHANGES, 0.04)
EXTENDED_BUSY_DAYS = 14
#: The sidecar's columns: customer "*" means everybody (the busy season).
CHANGE_COLUMNS: tuple[str, ...] = ("customer_id", "change", "start", "end")
#: Night-shift waking hours (20:00-06:59), with the usual rhythm inside them.
_NIGHT_SHIFT = np.array([1.0 if h >= 20 or h < 7 else 0.0 for h in range(24)])


@dataclass(frozen=True)
class Change:
    """A legitimate change of habits: who (or "*"), what, and from when (seconds)."""

    customer: int  # -1 for everybody
    kind: str
    start: int
    end: int | None = None


def apply_changes(
    rng: np.random.Generator,
    customers: list[Customer],
    events: list[list[Event]],
    shares: dict[str, float],
    days: int,
    gap: int,
    busy_days: int,
    busy_factor: float,
) -> list[Change]:
    """Change some customers' habits mid-period (in place); `customers` entries of night
    workers become night owls so that no ODD_HOUR is placed for them."""
    changes: list[Change] = []
    later: dict[int, _Later] = {}
    order = rng.permutation(len(customers))
    at = 0
    for kind in LEGIT_CHANGES:
        n = round(shares.get(kind, 0.0) * len(customers))
        for ci in order[at : at + n]:
            c = customers[int(ci)]
            start = int(rng.integers(int(0.3 * days), max(int(0.3 * days) + 1, int(0.65 * days))))
            start = start * DAY + int(rng.integers(DAY))
            evs = events[c.index]
            if kind == "relocation":
                dest = str(rng.choice(far_countries(c.home) if rng.random() < 0.5
                                      else near_countries(c.home)))
                ip = random_ip(rng, private=False)
                device = str(rng.choice(DEVICES)) if rng.random() < 0.5 else c.device
                moving = gap + int(rng.integers(1, 4)) * DAY
                later[c.index] = _Move(start, c.hour_p, c.home, c.device, start + moving,
                                       dest, ip, device)
            elif kind == "night_shift":
                p = np.asarray(HOURLY_RHYTHM) * _NIGHT_SHIFT
                p /= p.sum()
                moved = [e for e in evs if e.ts >= start]
                for e in moved:
                    hour = int(rng.choice(24, p=p))
                    e.ts = (e.ts // DAY) * DAY + hour * HOUR + int(rng.integers(HOUR))
                gone = {id(e) for e in moved if not _place(c, e, gap)}
                evs[:] = sorted((e for e in evs if id(e) not in gone), key=lambda e: e.ts)
                later[c.index] = _Later(start, c.hour_p)
                customers[c.index] = dataclasses.replace(c, night_owl=True, hour_p=p)
            else:  # raise
                later[c.index] = _Raise(start, c.hour_p, float(rng.uniform(1.5, 2.5)))
            if c.index in later:
                evs[:] = [e for e in evs if later[c.index].keep(e)]
            changes.append(Change(c.index, kind, start))
        at += n
    if busy_days > 0 and busy_factor > 1.0:
        changes.append(_busy_season(rng, customers, events, days, busy_days, busy_factor,
                                    later, gap))
    return changes


@dataclass(frozen=True)
class _Later:
    """A customer's change as a rule for any purchase: the hours before the change's day,
    and `keep` (adjusts a purchase made from `start` on; False: none can be made then)."""

    start: int
    old_hour_p: np.ndarray

    def keep(self, e: Event) -> bool:
        return True


@dataclass(frozen=True)
class _Move(_Later):
    home: str
    device: str
    until: int  # moving house until then: no purchases
    dest: str
    ip: str
    new_device: str

    def keep(self, e: Event) -> bool:
        if e.ts < self.start:
            return True
        if e.ts < self.until:
            return False
        if e.country == self.home:
            e.country, e.ip = self.dest, self.ip
            if e.device == self.device:
                e.device = self.new_device
        return True


@dataclass(frozen=True)
class _Raise(_Later):
    factor: float

    def keep(self, e: Event) -> bool:
        if e.ts >= self.start:
            e.amount = round(e.amount * self.factor, 2)
        return True


def _busy_season(rng: np.random.Generator, customers: list[Customer],
                 events: list[list[Event]], days: int, length: int, factor: float,
                 later: dict[int, _Later], gap: int) -> Change:
    """More purchases and larger amounts for everybody for `length` days. An extra purchase
    is made where the customer is at its time (at home, on a trip, none in transit), on the
    device of their latest purchase, and follows their change if it has begun."""
    first = int(rng.integers(int(0.4 * days), max(int(0.4 * days) + 1, days - length)))
    lo, hi = first * DAY, (first + length) * DAY
    for c in customers:
        evs = events[c.index]
        change = later.get(c.index)
        lift = float(rng.uniform(1.1, 1.5))
        for e in evs:
            if lo <= e.ts < hi:
                e.amount = round(e.amount * lift, 2)
        extra = int(rng.poisson((factor - 1.0) * c.daily_rate * length))
        for _ in range(extra):
            day = lo + int(rng.integers(length)) * DAY
            hour_p = c.hour_p
            if change is not None and day < change.start // DAY * DAY:
                hour_p = change.old_hour_p  # a night shift's hours start on its day
            t = day + int(rng.choice(24, p=hour_p)) * HOUR + int(rng.integers(HOUR))
            i = bisect.bisect_right(evs, t, key=lambda e: e.ts)
            like = evs[i - 1] if i else (evs[0] if evs else None)
            cat = int(rng.choice(len(CATEGORIES), p=c.category_p))
            amount = c.median_amount * CATEGORY_SCALE[cat] * float(rng.lognormal(0.0, 0.35))
            channel = CHANNELS[int(rng.choice(len(CHANNELS), p=c.channel_p))]
            e = Event(
                ts=t, cust=c.index, amount=max(0.5, round(amount * lift, 2)),
                country=c.home, channel=channel, device=like.device if like else c.device,
                category=CATEGORIES[cat], ip=c.ip,
            )
            if _place(c, e, gap) and (change is None or change.keep(e)):
                bisect.insort_right(evs, e, key=lambda e: e.ts)
    return Change(-1, "busy_season", lo, hi)


def _place(c: Customer, e: Event, gap: int) -> bool:
    """Put a purchase made at `e.ts` where the customer is then, as `normal_activity` does:
    at home, or abroad on a trip; False in transit (nobody pays on the plane)."""
    trip = next((tr for tr in c.trips if tr.start <= e.ts < tr.end + gap), None)
    if trip is not None and (e.ts < trip.start + gap or e.ts >= trip.end):
        return False
    e.country, e.ip = (trip.country, trip.ip) if trip else (c.home, c.ip)
    return True


class ExtendedInjector(Injector):
    """`Injector` plus the extended kinds (placed after the six types, own generator)."""

    def _established(self, c: Customer, t: int) -> bool:
        times = self.times[c.index]
        i = int(np.searchsorted(times, t))
        return bool(i >= self.p.min_history and t >= self.p.established_days * DAY
                and all(self._free(c.index, int(x)) for x in (t, t + HOUR)))

    def _attack(self, c: Customer, times: list[int], label: str, amounts: list[float],
                channel: str, device: str, category: str | None = None,
                ip: str | None = None) -> int:
        ip = ip or random_ip(self.rng, private=False)
        for t, amount in zip(times, amounts, strict=True):
            e = self._habitual(c, t, label)
            e.amount, e.channel, e.device, e.ip = round(amount, 2), channel, device, ip
            if category is not None:
                e.category = category
            self._add(e)
        self.blocked[c.index].append((times[0] - HOUR, times[-1] + HOUR))
        return len(times)

    def _unused_device(self, c: Customer, t: int) -> str:
        used = {e.device for e in self.events[c.index] if e.ts < t}
        fresh = [d for d in DEVICES if d not in used]
        return str(self.rng.choice(fresh)) if fresh else str(self.rng.choice(DEVICES))

    def account_takeover(self) -> int:
        c = self._customer()
        t = self._habitual_time(c)
        if not self._established(c, t):
            return 0
        k = int(self.rng.integers(2, 5))
        times = [t + int(x) for x in np.cumsum(np.r_[0, self.rng.integers(120, 1500, k - 1)])]
        amounts = [self.median[c.index] * float(self.rng.uniform(2, 6)) for _ in times]
        channel = CHANNELS[int(np.argmin(c.channel_p))]
        category = str(self.rng.choice(("electronics", "travel", "fashion")))
        return self._attack(c, times, "ACCOUNT_TAKEOVER", amounts, channel,
                            self._unused_device(c, t), category)

    def card_testing(self) -> int:
        c = self._customer()
        t = self._habitual_time(c)
        if not self._established(c, t):
            return 0
        k = int(self.rng.integers(5, 13))
        times = [t + int(x) for x in np.cumsum(np.r_[0, self.rng.integers(90, 600, k - 1)])]
        amounts = [float(self.rng.uniform(0.5, 5.0)) for _ in times]
        return self._attack(c, times, "CARD_TESTING", amounts, "web",
                            str(self.rng.choice(DEVICES)))

    def split_payment(self) -> int:
        c = self._customer()
        t = self._habitual_time(c)
        if not self._established(c, t):
            return 0
        k = int(self.rng.integers(3, 6))
        times = [t + int(x) for x in np.cumsum(np.r_[0, self.rng.integers(60, 900, k - 1)])]
        base = self.median[c.index] * float(self.rng.uniform(3, 8))
        amounts = [base * float(self.rng.uniform(0.97, 1.03)) for _ in times]
        first = self._habitual(c, t, "SPLIT_PAYMENT")
        return self._attack(c, times, "SPLIT_PAYMENT", amounts, first.channel, first.device,
                            first.category, first.ip)

    def dormant_reactivation(self) -> int:
        c = self._customer()
        t = self._habitual_time(c)
        silence = int(self.rng.integers(35, 61)) * DAY
        evs = self.events[c.index]
        quiet = [e for e in evs if t - silence <= e.ts < t]
        history = [e for e in evs if e.ts < t - silence]
        if (len(history) < self.p.min_history or t - silence < 0
                or any(e.label != "normal" for e in quiet)
                or not all(self._free(c.index, x) for x in (t, t + HOUR))):
            return 0
        evs[:] = [e for e in evs if not t - silence <= e.ts < t]
        self.times[c.index] = [e.ts for e in evs]
        quiet_ids = {id(e) for e in quiet}
        self.genuine = [e for e in self.genuine if id(e) not in quiet_ids]
        k = int(self.rng.integers(1, 4))
        times = [t + int(x) for x in np.cumsum(np.r_[0, self.rng.integers(300, 7200, k - 1)])]
        amounts = [self.median[c.index] * float(self.rng.uniform(1.5, 5)) for _ in times]
        first = self._habitual(c, t, "DORMANT_REACTIVATION")
        device = self._unused_device(c, t) if self.rng.random() < 0.5 else first.device
        self.blocked[c.index].append((t - silence, t))
        return self._attack(c, times, "DORMANT_REACTIVATION", amounts, first.channel, device)

    def inject_extended(self, targets: dict[str, int]) -> dict[str, int]:
        steps = {
            "DORMANT_REACTIVATION": self.dormant_reactivation,
            "ACCOUNT_TAKEOVER": self.account_takeover,
            "CARD_TESTING": self.card_testing,
            "SPLIT_PAYMENT": self.split_payment,
        }
        return {name: self._repeat(steps[name], targets.get(name, 0)) if targets.get(name)
                else 0 for name in EXTENDED_TYPES}


def write_changes(path: Path, changes: list[Change], start: datetime,
                  customer_ids: list[str]) -> None:
    """The sidecar: one row per legitimate change (ISO times; `*` = every customer)."""
    with atomic_text_writer(path) as f:  # whole or not at all, as generate --out
        w = csv.writer(f, lineterminator="\n")
        w.writerow(CHANGE_COLUMNS)
        for ch in changes:
            w.writerow([
                "*" if ch.customer < 0 else customer_ids[ch.customer], ch.kind,
                (start + timedelta(seconds=ch.start)).isoformat(),
                "" if ch.end is None else (start + timedelta(seconds=ch.end)).isoformat(),
            ])
