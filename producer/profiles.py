"""Customer habits and their normal activity, for the realistic generator (pure numpy).

Each customer has a home country, an amount scale, waking hours (a few night owls are
legitimately active at night), favourite merchant categories and channels, a usual device
and an activity rate. A share of customers travel: trips of several days in another
country, with a transit gap around departure and return in which they pay nothing, so a
legitimate trip never looks like impossible travel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DAY = 86_400
HOUR = 3_600

#: Countries by region; "far" means another region.
REGIONS: dict[str, tuple[str, ...]] = {
    "europe": ("CH", "FR", "DE", "IT", "AT", "ES", "NL", "GB", "PT", "BE"),
    "americas": ("US", "CA", "BR", "MX"),
    "asia": ("CN", "JP", "SG", "IN", "AE", "TH"),
    "oceania": ("AU", "NZ"),
    "africa": ("ZA", "MA", "KE"),
}
REGION_OF: dict[str, str] = {c: r for r, cs in REGIONS.items() for c in cs}
HOME_COUNTRIES: tuple[str, ...] = ("CH", "FR", "DE", "IT", "US")
HOME_WEIGHTS: tuple[float, ...] = (0.6, 0.1, 0.1, 0.1, 0.1)

CATEGORIES: tuple[str, ...] = (
    "grocery", "restaurant", "fuel", "fashion", "electronics", "travel",
)
#: How each category scales a customer's typical amount.
CATEGORY_SCALE: tuple[float, ...] = (0.6, 0.8, 0.9, 1.3, 2.2, 2.5)
CHANNELS: tuple[str, ...] = ("web", "app", "branch", "atm")
DEVICES: tuple[str, ...] = ("mobile", "pc", "tablet")

#: Relative activity by hour of day for someone awake (lunch and evening peaks).
HOURLY_RHYTHM: tuple[float, ...] = (
    0.3, 0.3, 0.3, 0.3, 0.3, 0.4, 0.5, 0.8, 0.9, 1.0, 1.0, 1.1,
    1.6, 1.5, 1.0, 1.0, 1.1, 1.4, 1.5, 1.4, 1.1, 0.9, 0.7, 0.5,
)
#: Relative activity by weekday, Monday first.
WEEKLY_RHYTHM: tuple[float, ...] = (0.95, 0.95, 0.95, 1.0, 1.1, 1.2, 0.85)
#: Night hours in which ordinary customers never pay (00:00-04:59).
NIGHT_HOURS: tuple[int, ...] = (0, 1, 2, 3, 4)


def is_far(a: str, b: str) -> bool:
    return REGION_OF.get(a, a) != REGION_OF.get(b, b)


def near_countries(home: str) -> tuple[str, ...]:
    return tuple(c for c in REGIONS[REGION_OF[home]] if c != home)


def far_countries(home: str) -> tuple[str, ...]:
    return tuple(c for r, cs in REGIONS.items() if r != REGION_OF[home] for c in cs)


@dataclass(frozen=True)
class Trip:
    """A legitimate stay abroad: pays abroad in [start + gap, end), nothing in transit."""

    start: int
    end: int
    country: str
    ip: str


@dataclass(frozen=True)
class Customer:
    index: int
    customer_id: str
    home: str
    median_amount: float
    hour_p: np.ndarray = field(repr=False)
    night_owl: bool
    category_p: np.ndarray = field(repr=False)
    channel_p: np.ndarray = field(repr=False)
    device: str
    ip: str
    daily_rate: float
    trips: tuple[Trip, ...] = ()


@dataclass(slots=True)
class Event:
    """One transaction before ids are assigned; `ts` is seconds since the start."""

    ts: int
    cust: int
    amount: float
    country: str
    channel: str
    device: str
    category: str
    ip: str
    label: str = "normal"


def random_ip(rng: np.random.Generator, private: bool) -> str:
    a, b, c = (int(x) for x in rng.integers(1, 255, size=3))
    return f"192.168.{a}.{b}" if private else f"{int(rng.integers(20, 220))}.{a}.{b}.{c}"


def _hour_p(rng: np.random.Generator, night_owl: bool) -> np.ndarray:
    """Probability of each hour of day: the rhythm, masked to the customer's waking hours."""
    rhythm = np.asarray(HOURLY_RHYTHM)
    awake = np.zeros(24, dtype=bool)
    if night_owl:
        wake, sleep = int(rng.integers(10, 14)), int(rng.integers(2, 5))
        awake[wake:] = True
        awake[:sleep] = True
    else:
        wake, sleep = int(rng.integers(6, 10)), int(rng.integers(21, 24))
        awake[wake:sleep] = True
    p: np.ndarray = rhythm * awake
    out: np.ndarray = p / p.sum()
    return out


def make_customers(
    rng: np.random.Generator,
    n: int,
    days: int,
    tx_per_day: float,
    traveller_share: float,
    night_owl_share: float,
    travel_gap: int,
) -> list[Customer]:
    """Sample `n` customers with their habits and (for travellers) their trips."""
    customers = []
    for i in range(n):
        home = str(rng.choice(HOME_COUNTRIES, p=HOME_WEIGHTS))
        night_owl = bool(rng.random() < night_owl_share)
        traveller = bool(rng.random() < traveller_share)
        device_i = int(rng.integers(len(DEVICES)))
        customers.append(
            Customer(
                index=i,
                customer_id=str(i + 1),
                home=home,
                median_amount=float(np.exp(rng.normal(np.log(60.0), 0.7))),
                hour_p=_hour_p(rng, night_owl),
                night_owl=night_owl,
                category_p=rng.dirichlet(np.full(len(CATEGORIES), 0.6)),
                channel_p=rng.dirichlet(np.full(len(CHANNELS), 0.7)),
                device=DEVICES[device_i],
                ip=random_ip(rng, private=True),
                daily_rate=float(tx_per_day * rng.lognormal(0.0, 0.5) / np.exp(0.125)),
                trips=_trips(rng, home, days, travel_gap) if traveller else (),
            )
        )
    return customers


def _trips(rng: np.random.Generator, home: str, days: int, gap: int) -> tuple[Trip, ...]:
    """One to four non-overlapping stays of 3-12 days in one or two favourite countries."""
    near, far = near_countries(home), far_countries(home)
    favourites = [
        str(rng.choice(near)) if rng.random() < 0.7 else str(rng.choice(far))
        for _ in range(int(rng.integers(1, 3)))
    ]
    trips: list[Trip] = []
    for _ in range(min(4, 1 + int(rng.poisson(0.8)))):
        start = int(rng.integers(0, max(1, days - 3))) * DAY + int(rng.integers(6, 20)) * HOUR
        end = start + int(rng.integers(3, 13)) * DAY
        clash = any(start < t.end + 2 * gap and t.start < end + 2 * gap for t in trips)
        if not clash:
            trips.append(Trip(start, end, str(rng.choice(favourites)), random_ip(rng, False)))
    return tuple(sorted(trips, key=lambda t: t.start))


def normal_activity(
    rng: np.random.Generator, c: Customer, days: int, start_weekday: int, gap: int
) -> list[Event]:
    """The customer's genuine purchases over `days`, following their habits and trips."""
    weekday = (np.arange(days) + start_weekday) % 7
    counts = rng.poisson(c.daily_rate * np.asarray(WEEKLY_RHYTHM)[weekday])
    total = int(counts.sum())
    day = np.repeat(np.arange(days), counts)
    hour = rng.choice(24, size=total, p=c.hour_p)
    ts = day * DAY + hour * HOUR + rng.integers(0, HOUR, size=total)
    cat = rng.choice(len(CATEGORIES), size=total, p=c.category_p)
    chan = rng.choice(len(CHANNELS), size=total, p=c.channel_p)
    other_device = rng.random(total) < 0.08
    device_alt = rng.integers(len(DEVICES), size=total)
    scale = np.asarray(CATEGORY_SCALE)[cat] * rng.lognormal(0.0, 0.35, size=total)
    amount = np.maximum(0.5, np.round(c.median_amount * scale, 2))
    events = []
    for k in np.argsort(ts, kind="stable"):
        t = int(ts[k])
        country, ip = c.home, c.ip
        trip = next((tr for tr in c.trips if tr.start <= t < tr.end + gap), None)
        if trip is not None:
            if t < trip.start + gap or t >= trip.end:
                continue  # in transit: nobody pays on the plane
            country, ip = trip.country, trip.ip
        events.append(
            Event(
                ts=t,
                cust=c.index,
                amount=float(amount[k]),
                country=country,
                channel=CHANNELS[int(chan[k])],
                device=DEVICES[int(device_alt[k])] if other_device[k] else c.device,
                category=CATEGORIES[int(cat[k])],
                ip=ip,
            )
        )
    return events
