"""Data made the way the reference project's generator makes it, quirks included.

Per ../shared/docs/reference-project.md: uniform timestamps over 90 days, amount ~
Normal(120, 40), country CH 60% / FR, DE, IT, US 10% each, uniform channel, device and
category, a private IP. Labels are injected on disjoint random rows: HIGH_AMOUNT (amount
x10-30, 0.5%), ODD_HOUR (hour moved to 02-04, 0.5%), IMPOSSIBLE_TRAVEL (country set to CN,
0.3%), DUPLICATE (amount set to 999, category electronics, 0.3%: no real twin), and BURST
(5 customers x 5 extra rows 10 s apart on one day). Transaction ids are given before the
rows are sorted by time, as the reference does, so they are not in time order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from producer.limits import check_size, check_span
from producer.naming import OptionsRefused
from shared.schemas import Transaction

COUNTRIES: tuple[str, ...] = ("CH", "FR", "DE", "IT", "US")
COUNTRY_P: tuple[float, ...] = (0.6, 0.1, 0.1, 0.1, 0.1)
CHANNELS: tuple[str, ...] = ("web", "app", "branch", "atm")
DEVICES: tuple[str, ...] = ("mobile", "pc", "tablet")
CATEGORIES: tuple[str, ...] = (
    "grocery", "electronics", "travel", "restaurant", "fashion", "utilities",
)


@dataclass(frozen=True)
class ReferenceConfig:
    seed: int = 42
    transactions: int = 8_000
    customers: int = 200
    days: int = 90
    start: datetime = datetime(2025, 1, 1)
    high_amount_rate: float = 0.005
    odd_hour_rate: float = 0.005
    impossible_travel_rate: float = 0.003
    duplicate_rate: float = 0.003
    burst_customers: int = 5
    burst_size: int = 5
    burst_spacing_seconds: int = 10

    def __post_init__(self) -> None:
        if self.customers < self.burst_customers or self.transactions < 1 or self.days < 1:
            least = self.burst_customers
            raise OptionsRefused(lambda name: (
                f"the reference recipe needs {name('--customers')} of at least {least} (its "
                f"burst customers), and a positive {name('--transactions')} and "
                f"{name('--days')}"))
        n = self.transactions
        check_size(self.customers, n, lambda name: name("--transactions", str(n)))
        check_span(self.start, self.days)


def _ips(rng: np.random.Generator, n: int) -> list[str]:
    octets = rng.integers(0, 256, size=(n, 2))
    return [f"192.168.{a}.{b}" for a, b in octets.tolist()]


def generate_reference(config: ReferenceConfig) -> list[Transaction]:
    """`config.transactions` base rows plus the burst rows, sorted by time (stable)."""
    rng = np.random.default_rng(config.seed)
    n = config.transactions
    seconds = rng.integers(0, config.days * 86_400, size=n)
    amount = np.round(np.abs(rng.normal(120.0, 40.0, size=n)), 2)
    customer = rng.integers(1, config.customers + 1, size=n)
    country = np.asarray(COUNTRIES, dtype=object)[rng.choice(len(COUNTRIES), n, p=COUNTRY_P)]
    channel = rng.integers(len(CHANNELS), size=n)
    device = rng.integers(len(DEVICES), size=n)
    category = np.asarray(CATEGORIES, dtype=object)[rng.integers(len(CATEGORIES), size=n)]
    ips = _ips(rng, n)
    label = np.full(n, "normal", dtype=object)

    sizes = [
        ("HIGH_AMOUNT", config.high_amount_rate),
        ("ODD_HOUR", config.odd_hour_rate),
        ("IMPOSSIBLE_TRAVEL", config.impossible_travel_rate),
        ("DUPLICATE", config.duplicate_rate),
    ]
    picked = rng.permutation(n)
    offset = 0
    for name, rate in sizes:
        rows = picked[offset : offset + round(rate * n)]
        offset += len(rows)
        label[rows] = name
        if name == "HIGH_AMOUNT":
            amount[rows] = np.round(amount[rows] * rng.uniform(10, 30, size=len(rows)), 2)
        elif name == "ODD_HOUR":
            day_start = seconds[rows] - seconds[rows] % 86_400
            within_hour = seconds[rows] % 3_600
            seconds[rows] = day_start + rng.integers(2, 5, size=len(rows)) * 3_600 + within_hour
        elif name == "IMPOSSIBLE_TRAVEL":
            country[rows] = "CN"
        else:
            amount[rows] = 999.0
            category[rows] = "electronics"

    rows_out = [
        (int(seconds[i]), i + 1, str(customer[i]), float(amount[i]), str(country[i]),
         CHANNELS[channel[i]], DEVICES[device[i]], str(category[i]), ips[i], str(label[i]))
        for i in range(n)
    ]
    burst_day = int(rng.integers(config.days)) * 86_400
    next_id = n + 1
    for cust in rng.choice(np.arange(1, config.customers + 1), config.burst_customers, False):
        t0 = burst_day + int(rng.integers(8 * 3_600, 20 * 3_600))
        for k in range(config.burst_size):
            rows_out.append(
                (t0 + k * config.burst_spacing_seconds, next_id, str(cust),
                 round(abs(float(rng.normal(120.0, 40.0))), 2),
                 COUNTRIES[int(rng.choice(len(COUNTRIES), p=COUNTRY_P))],
                 CHANNELS[int(rng.integers(len(CHANNELS)))], DEVICES[int(rng.integers(3))],
                 CATEGORIES[int(rng.integers(len(CATEGORIES)))], _ips(rng, 1)[0], "BURST")
            )
            next_id += 1
    rows_out.sort(key=lambda r: r[0])
    return [
        Transaction(
            transaction_id=str(tid), customer_id=cust,
            timestamp=config.start + timedelta(seconds=s),
            amount=amt, country=ctry, channel=chan, device=dev, merchant_category=cat, ip=ip,
            is_anomaly=lab != "normal", anomaly_type=lab,
        )
        for s, tid, cust, amt, ctry, chan, dev, cat, ip, lab in rows_out
    ]
