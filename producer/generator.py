"""Seeded synthetic payments where anomalies break a customer's own habits (pure).

`generate(config)` returns transactions in stable timestamp order with ids `1..N`; the same
config (seed included) always gives the same list, and so byte-identical CSV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

import numpy as np

from producer.anomalies import ANOMALY_TYPES, InjectionParams
from producer.extended import (
    EXTENDED_BUSY_DAYS,
    EXTENDED_CHANGES,
    EXTENDED_RATES,
    EXTENDED_TYPES,
    LEGIT_CHANGES,
    Change,
    ExtendedInjector,
    apply_changes,
)
from producer.limits import check_size, check_span
from producer.profiles import DAY, HOUR, Event, make_customers, normal_activity
from shared.schemas import Transaction

#: Default share of all transactions per anomaly type (1.5% in total).
DEFAULT_RATES: dict[str, float] = dict.fromkeys(ANOMALY_TYPES, 0.0025)
#: Every labelled kind the generator can place.
ALL_TYPES: tuple[str, ...] = (*ANOMALY_TYPES, *EXTENDED_TYPES)
MIXES: tuple[str, ...] = ("default", "extended")
#: Upper bounds of the transit gap (the shortest stay) and of a duplicate's delay.
MAX_TRAVEL_GAP_HOURS = 72
MAX_DUPLICATE_WINDOW_MINUTES = 1440


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything that shapes the data; equal configs give identical output."""

    seed: int = 42
    customers: int = 1_000
    days: int = 90
    start: datetime = datetime(2025, 1, 1)
    tx_per_customer_day: float = 2.2
    traveller_share: float = 0.15
    night_owl_share: float = 0.05
    rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    travel_gap_hours: float = 4.0
    duplicate_window_minutes: float = 10.0
    high_amount_factor: tuple[float, float] = (10.0, 30.0)
    established_days: int = 30
    min_history: int = 10
    #: Share of customers per legitimate change (relocation, night_shift, raise).
    changes: dict[str, float] = field(default_factory=dict)
    busy_season_days: int = 0
    busy_season_factor: float = 1.8

    def __post_init__(self) -> None:
        unknown = sorted(set(self.rates) - set(ALL_TYPES))
        if unknown:
            raise ValueError(f"unknown anomaly type(s) {unknown}; known: {list(ALL_TYPES)}")
        odd = sorted(set(self.changes) - set(LEGIT_CHANGES))
        if odd or any(s < 0 for s in self.changes.values()) or sum(self.changes.values()) > 1:
            raise ValueError(f"changes: shares of {list(LEGIT_CHANGES)}, >= 0, sum <= 1")
        # every comparison below is written so that NaN fails it (NaN compares false)
        if not all(0 <= r < 0.5 for r in self.rates.values()) or not sum(self.rates.values()) < 0.5:
            raise ValueError("anomaly rates must be >= 0 and sum to less than 0.5")
        if self.customers < 1 or self.days < 1 or not 0 < self.tx_per_customer_day < math.inf:
            raise ValueError("customers, days and tx_per_customer_day must be positive "
                             "(and tx_per_customer_day a finite number)")
        customers, days, per_day = self.customers, self.days, self.tx_per_customer_day
        check_size(customers, customers * days * per_day, lambda name: (
            f"{name('--customers', str(customers))} and {name('--days', str(days))} at "
            f"{per_day:g} rows a customer-day"))  # a rate the container fixes: no name
        check_span(self.start, self.days)
        for name in ("traveller_share", "night_owl_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be a share from 0 to 1, not {getattr(self, name)}")
        # at most the shortest stay (3 days): a longer transit gap swallows whole trips
        if not 0 <= self.travel_gap_hours <= MAX_TRAVEL_GAP_HOURS:
            raise ValueError(f"travel_gap_hours must be a number from 0 to "
                             f"{MAX_TRAVEL_GAP_HOURS} (the shortest trip, 3 days), "
                             f"not {self.travel_gap_hours}")
        # a duplicate comes 1 minute to the window after its original (producer.anomalies);
        # a repeat days later is no duplicate (1e300 failed in numpy's words)
        if not 1 <= self.duplicate_window_minutes <= MAX_DUPLICATE_WINDOW_MINUTES:
            raise ValueError(f"duplicate_window_minutes must be a number from 1 to "
                             f"{MAX_DUPLICATE_WINDOW_MINUTES} (a day), "
                             f"not {self.duplicate_window_minutes}")
        if not 0 < self.busy_season_factor < math.inf:
            raise ValueError("busy_season_factor must be a finite number above 0")
        lo, hi = self.high_amount_factor
        if not 1 < lo <= hi:
            raise ValueError("high_amount_factor must satisfy 1 < low <= high")


def mix_config(mix: str, **kwargs: object) -> GeneratorConfig:
    """The config of a named mix: `default`, or `extended` (the six types and four more
    fraud typologies at 0.15% each, and legitimate habit changes; producer/extended.py)."""
    if mix == "extended":
        kwargs = {"rates": {**dict.fromkeys(ANOMALY_TYPES, 0.0015), **EXTENDED_RATES},
                  "changes": dict(EXTENDED_CHANGES),
                  "busy_season_days": EXTENDED_BUSY_DAYS, **kwargs}
    elif mix != "default":
        raise ValueError(f"unknown mix {mix!r}; known: {list(MIXES)}")
    return GeneratorConfig(**kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Shortfall:
    """A type placed fewer times than its rate asks: too few customers with the history,
    habits or free time it needs (tiny `customers` x `days`, or a high rate)."""

    kind: str
    placed: int
    asked: int
    rate: float


class Generated(NamedTuple):
    transactions: list[Transaction]
    changes: list[Change]
    shortfalls: list[Shortfall]


def generate_events(config: GeneratorConfig) -> tuple[list[Event], dict[str, int]]:
    """All events, sorted by (time, customer, insertion order), and the anomaly counts."""
    events, counts, _, _ = _generate(config)
    return events, counts


def _generate(config: GeneratorConfig
              ) -> tuple[list[Event], dict[str, int], list[Change], list[Shortfall]]:
    rng = np.random.default_rng(config.seed)
    gap = int(config.travel_gap_hours * HOUR)
    customers = make_customers(
        rng, config.customers, config.days, config.tx_per_customer_day,
        config.traveller_share, config.night_owl_share, gap,
    )
    weekday = config.start.weekday()
    per_customer = [normal_activity(rng, c, config.days, weekday, gap) for c in customers]
    # The extended mix draws from a generator of its own: the default mix stays identical.
    extra = np.random.default_rng([config.seed, 13])
    changes: list[Change] = []
    if config.changes or config.busy_season_days:
        changes = apply_changes(extra, customers, per_customer, config.changes, config.days,
                                gap, config.busy_season_days, config.busy_season_factor)
    n_normal = sum(len(evs) for evs in per_customer)
    total = n_normal / (1.0 - sum(config.rates.values()))
    targets = {t: round(config.rates.get(t, 0.0) * total) for t in ALL_TYPES}
    params = InjectionParams(
        days=config.days,
        travel_gap=gap,
        duplicate_window=int(config.duplicate_window_minutes * 60),
        high_amount_factor=config.high_amount_factor,
        established_days=config.established_days,
        min_history=config.min_history,
    )
    injector = ExtendedInjector(rng, customers, per_customer, params)
    for change in changes:  # nothing is injected at the old home after a move
        if change.kind == "relocation":
            injector.blocked[change.customer].append((change.start, config.days * DAY))
    counts = injector.inject(targets)
    if any(targets[t] for t in EXTENDED_TYPES):
        injector.rng = extra
        counts.update(injector.inject_extended(targets))
    events = [e for evs in per_customer for e in evs]
    events.sort(key=lambda e: (e.ts, e.cust))  # stable: a customer's own order is kept
    short = [Shortfall(t, counts.get(t, 0), targets[t], config.rates.get(t, 0.0))
             for t in ALL_TYPES if counts.get(t, 0) < targets[t]]
    return events, counts, changes, short


def to_transactions(
    events: list[Event], start: datetime, customer_ids: list[str]
) -> list[Transaction]:
    """Events as transactions with ids 1..N in order."""
    out = []
    for i, e in enumerate(events, start=1):
        out.append(
            Transaction(
                transaction_id=str(i),
                customer_id=customer_ids[e.cust],
                timestamp=start + timedelta(seconds=e.ts),
                amount=e.amount,
                country=e.country,
                channel=e.channel,
                device=e.device,
                merchant_category=e.category,
                ip=e.ip,
                is_anomaly=e.label != "normal",
                anomaly_type=e.label,
            )
        )
    return out


def generate(config: GeneratorConfig) -> list[Transaction]:
    """The realistic dataset for `config`."""
    return generate_with_changes(config)[0]


def generate_with_changes(config: GeneratorConfig) -> tuple[list[Transaction], list[Change]]:
    """The dataset and its legitimate changes (for `extended.write_changes`)."""
    return generate_all(config)[:2]


def generate_all(config: GeneratorConfig) -> Generated:
    """The dataset, its legitimate changes and the types its rates could not fill."""
    events, _, changes, short = _generate(config)
    ids = [str(i + 1) for i in range(config.customers)]
    return Generated(to_transactions(events, config.start, ids), changes, short)


__all__ = [
    "DAY", "DEFAULT_RATES", "MIXES", "Generated", "GeneratorConfig", "Shortfall", "generate",
    "generate_all", "generate_events", "generate_with_changes", "mix_config",
]
