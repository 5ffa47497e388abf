"""Labelled test streams with fraud kinds the generator does not make (issue 13's hidden data).

    .venv/bin/auditstream generate --seed 11 --customers 400 --days 60 --out base.csv
    .venv/bin/python bench/unseen_kinds.py base.csv unseen.csv --seed 3
    .venv/bin/python bench/quality.py --csv unseen.csv           # per kind recall, PR-AUC
    .venv/bin/python bench/unseen_report.py unseen.csv           # why: terms per kind

Reads any labelled CSV in the historic layout, adds incidents of each kind below until
each kind has about `--rate` x (the input's rows) labelled rows (is_anomaly True,
anomaly_type the kind), and writes the rows in time order. Each incident takes a customer
not used by another one, with at least `MIN_HISTORY` purchases before it, and values drawn
from the data itself (its categories, channels, devices, countries and their amounts), so
that nothing depends on the generator's constants. Same input and seed, same output.

- SALAMI_DRIFT: the customer's own purchases drift up over 3-6 weeks (at most to the
  end) to 2.5-5x; the rows at 1.5x or more are labelled.
- MULE_EQUAL_AMOUNTS: 10-25 purchases of one equal round amount over 1-3 days, each
  from a new IP.
- STEALTH_NEW_CATEGORY: one purchase in a category the customer never used, at that
  category's typical amount.
- TAKEOVER_SAME_DEVICE: 2-4 purchases on the usual device, from a new country, channel
  and IP.
- STRUCTURING: 3-6 amounts 0.5-4% under a round threshold (the smallest of 1, 2, 5 x 10^k
  at least 3x the usual amount) over 1-6 days.
- CATEGORY_HOP: 5-8 purchases in as many categories, 3-12 minutes apart, amounts typical
  of each category at the customer's level.
- CLONED_CARD: a purchase 3,000 km or more away within 5-55 s of a genuine one at home
  (before or after it; the genuine one stays normal).
- SLOW_CARD_TESTING: 6-15 micro amounts (0.50-5.00) spread over 2-7 days, online, one
  attacker's IP and device.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.core.geo import CENTROIDS, distance_km
from shared.atomic import atomic_text_writer

Row = dict[str, str]
DAY = timedelta(days=1)
MIN_HISTORY = 10
#: Round thresholds a structurer stays under (the smallest at least 3x the usual amount).
THRESHOLDS = tuple(m * 10**e for e in range(2, 8) for m in (1, 2, 5))
FMT = "%Y-%m-%d %H:%M:%S"


class Stream:
    """The input rows, each customer's genuine history, and the population's values."""

    def __init__(self, rows: list[Row], rng: np.random.Generator) -> None:
        self.rows, self.rng = rows, rng
        self.times = [datetime.fromisoformat(r["timestamp"]) for r in rows]
        self.start, self.end = min(self.times), max(self.times)
        self.history: dict[str, list[int]] = defaultdict(list)
        for i in sorted(range(len(rows)), key=self.times.__getitem__):
            if rows[i]["is_anomaly"] not in ("True", "true", "1"):
                self.history[rows[i]["customer_id"]].append(i)
        self.used: set[str] = set()
        self.categories: dict[str, set[str]] = defaultdict(set)  # every row's, any label
        for r in rows:
            self.categories[r["customer_id"]].add(r["merchant_category"])
        ids = [r["transaction_id"] for r in rows]
        self.next_id = max((int(x) for x in ids if x.isdigit()), default=0) + 1
        self.numeric = all(x.isdigit() for x in ids)
        self.values = {k: Counter(r[k] for r in rows)
                       for k in ("merchant_category", "channel", "device", "country")}
        by_cat: dict[str, list[float]] = defaultdict(list)
        for r in rows:
            by_cat[r["merchant_category"]].append(float(r["amount"]))
        self.category_median = {k: float(np.median(v)) for k, v in by_cat.items()}
        self.overall_median = float(np.median([float(r["amount"]) for r in rows]))

    # --- picking ----------------------------------------------------------------------
    def customer(self, before_end: timedelta = 7 * DAY) -> tuple[str, datetime] | None:
        """An unused customer and a time after their MIN_HISTORY-th purchase, at least
        three weeks into the data and `before_end` before its end."""
        free = sorted(c for c, h in self.history.items()
                      if c not in self.used and len(h) > MIN_HISTORY)
        if not free:
            return None
        c = free[int(self.rng.integers(len(free)))]
        h = self.history[c]
        lo = max(self.times[h[MIN_HISTORY]], self.start + 21 * DAY)
        hi = self.end - before_end
        if lo >= hi:
            return None
        self.used.add(c)
        t = lo + (hi - lo) * float(self.rng.random())
        return c, self.habitual_time(c, t)

    def before(self, c: str, t: datetime) -> list[Row]:
        return [self.rows[i] for i in self.history[c] if self.times[i] < t]

    def habitual_time(self, c: str, day: datetime) -> datetime:
        """`day` at the time of day of one of the customer's purchases."""
        h = self.history[c]
        like = self.times[h[int(self.rng.integers(len(h)))]]
        return datetime.combine(day.date(), like.time())

    def median(self, c: str, t: datetime) -> float:
        return float(np.median([float(r["amount"]) for r in self.before(c, t)]))

    def habit(self, c: str, t: datetime) -> Row:
        """A copy of the customer's latest purchase before `t` (their usual values)."""
        return dict(self.before(c, t)[-1])

    def new_ip(self) -> str:
        a, b, c, d = (int(x) for x in self.rng.integers(1, 255, size=4))
        return f"{20 + a % 200}.{b}.{c}.{d}"

    def pick(self, values: Sequence[str]) -> str:
        return str(values[int(self.rng.integers(len(values)))])

    # --- writing ------------------------------------------------------------------------
    def add(self, template: Row, t: datetime, kind: str, **values: str | float) -> None:
        row = dict(template)
        row.update({k: f"{v:.2f}" if isinstance(v, float) else v for k, v in values.items()})
        row["transaction_id"] = str(self.next_id) if self.numeric else f"U{self.next_id}"
        self.next_id += 1
        row["timestamp"] = t.strftime(FMT)
        row["is_anomaly"], row["anomaly_type"] = str(kind != "normal"), kind
        self.rows.append(row)
        self.times.append(t)
        self.categories[row["customer_id"]].add(row["merchant_category"])


def salami_drift(s: Stream) -> int:
    picked = s.customer(before_end=21 * DAY)
    if picked is None:
        return 0
    c, t0 = picked
    span = min(int(s.rng.integers(21, 43)) * DAY, s.end - t0)
    top = float(s.rng.uniform(2.5, 5.0))
    drift = [(i, top ** ((s.times[i] - t0) / span)) for i in s.history[c]
             if t0 <= s.times[i] < t0 + span]
    if not any(factor >= 1.5 for _, factor in drift):
        return 0
    for i, factor in drift:
        row = s.rows[i]
        row["amount"] = f"{float(row['amount']) * factor:.2f}"
        if factor >= 1.5:
            row["is_anomaly"], row["anomaly_type"] = "True", "SALAMI_DRIFT"
    return sum(factor >= 1.5 for _, factor in drift)


def mule_equal_amounts(s: Stream) -> int:
    picked = s.customer()
    if picked is None:
        return 0
    c, t0 = picked
    k = int(s.rng.integers(10, 26))
    amount = max(10.0, round(s.median(c, t0) * float(s.rng.uniform(0.8, 2.0)), -1))
    span = float(s.rng.uniform(1, 3)) * DAY
    habit = s.habit(c, t0)
    devices = sorted(s.values["device"])
    for x in sorted(s.rng.random(k)):
        s.add(habit, t0 + span * float(x), "MULE_EQUAL_AMOUNTS", amount=amount,
              ip=s.new_ip(), channel=s.pick(["web", "app"]), device=s.pick(devices))
    return k


def stealth_new_category(s: Stream) -> int:
    picked = s.customer()
    if picked is None:
        return 0
    c, t0 = picked
    fresh = sorted(set(s.values["merchant_category"]) - s.categories[c])
    if not fresh:
        return 0
    category = s.pick(fresh)
    amount = s.category_median[category] * float(s.rng.uniform(0.8, 1.25))
    s.add(s.habit(c, t0), t0, "STEALTH_NEW_CATEGORY", amount=amount, merchant_category=category)
    return 1


def takeover_same_device(s: Stream) -> int:
    picked = s.customer()
    if picked is None:
        return 0
    c, t0 = picked
    past = s.before(c, t0)
    habit = dict(past[-1])
    countries = sorted(set(s.values["country"]) - {r["country"] for r in past})
    channels = Counter(r["channel"] for r in past)
    channel = min(sorted(s.values["channel"]), key=lambda ch: channels.get(ch, 0))
    if not countries:
        return 0
    country, ip, median = s.pick(countries), s.new_ip(), s.median(c, t0)
    k = int(s.rng.integers(2, 5))
    t = t0
    for _ in range(k):
        s.add(habit, t, "TAKEOVER_SAME_DEVICE", country=country, channel=channel, ip=ip,
              amount=median * float(s.rng.uniform(1.0, 3.0)))
        t += timedelta(minutes=float(s.rng.uniform(5, 25)))
    return k


def structuring(s: Stream) -> int:
    picked = s.customer()
    if picked is None:
        return 0
    c, t0 = picked
    limit = next(x for x in THRESHOLDS if x >= 3 * s.median(c, t0))
    habit, k = s.habit(c, t0), int(s.rng.integers(3, 7))
    span = float(s.rng.uniform(1, 6)) * DAY
    for x in sorted(s.rng.random(k)):
        t = s.habitual_time(c, t0 + span * float(x))
        s.add(habit, max(t, t0), "STRUCTURING", amount=limit * float(s.rng.uniform(0.96, 0.995)))
    return k


def category_hop(s: Stream) -> int:
    picked = s.customer()
    if picked is None:
        return 0
    c, t0 = picked
    categories = sorted(s.values["merchant_category"])
    if len(categories) < 5:
        return 0
    k = min(len(categories), int(s.rng.integers(5, 9)))
    order = [categories[i] for i in s.rng.permutation(len(categories))[:k]]
    habit, level = s.habit(c, t0), s.median(c, t0) / s.overall_median
    t = t0
    for category in order:
        amount = s.category_median[category] * level * float(np.exp(s.rng.normal(0, 0.3)))
        s.add(habit, t, "CATEGORY_HOP", amount=amount, merchant_category=category)
        t += timedelta(minutes=float(s.rng.uniform(3, 12)))
    return k


def cloned_card(s: Stream) -> int:
    picked = s.customer()
    if picked is None:
        return 0
    c, t0 = picked
    habit = s.habit(c, t0)
    home = habit["country"]
    far = sorted(x for x in set(s.values["country"]) | set(CENTROIDS)
                 if x in CENTROIDS and home in CENTROIDS and distance_km(home, x, 0.0) >= 3000)
    if not far:
        return 0
    genuine = dict(habit)
    gap = timedelta(seconds=float(s.rng.uniform(5, 55)))
    clone_first = bool(s.rng.random() < 0.5)
    s.add(genuine, t0 + (gap if clone_first else timedelta(0)), "normal",
          amount=s.median(c, t0) * float(np.exp(s.rng.normal(0, 0.3))))
    s.add(habit, t0 + (timedelta(0) if clone_first else gap), "CLONED_CARD",
          country=s.pick(far), ip=s.new_ip(), device=s.pick(sorted(s.values["device"])),
          amount=s.median(c, t0) * float(s.rng.uniform(0.5, 2.0)))
    return 1


def slow_card_testing(s: Stream) -> int:
    picked = s.customer(before_end=8 * DAY)
    if picked is None:
        return 0
    c, t0 = picked
    habit, k = s.habit(c, t0), int(s.rng.integers(6, 16))
    span = float(s.rng.uniform(2, 7)) * DAY
    ip, device = s.new_ip(), s.pick(sorted(s.values["device"]))
    for x in sorted(s.rng.random(k)):
        s.add(habit, t0 + span * float(x), "SLOW_CARD_TESTING", amount=float(
            s.rng.uniform(0.5, 5.0)), channel="web", ip=ip, device=device)
    return k


KINDS: dict[str, Callable[[Stream], int]] = {
    "SALAMI_DRIFT": salami_drift,
    "MULE_EQUAL_AMOUNTS": mule_equal_amounts,
    "STEALTH_NEW_CATEGORY": stealth_new_category,
    "TAKEOVER_SAME_DEVICE": takeover_same_device,
    "STRUCTURING": structuring,
    "CATEGORY_HOP": category_hop,
    "CLONED_CARD": cloned_card,
    "SLOW_CARD_TESTING": slow_card_testing,
}


def inject(rows: list[Row], seed: int, rate: float = 0.001,
           kinds: Sequence[str] = tuple(KINDS)) -> tuple[list[Row], dict[str, int]]:
    """`rows` with incidents of each of `kinds` added until it has about `rate` x
    len(rows) labelled rows (at least one incident), in time order; and the labelled rows
    per kind. Kinds are placed in the order given, on customers no other incident uses."""
    s = Stream([dict(r) for r in rows], np.random.default_rng(seed))
    target = max(1, math.ceil(rate * len(rows)))
    placed: dict[str, int] = {}
    for kind in kinds:
        done = tries = 0
        while done < target and tries < 50 * target:
            used = set(s.used)
            placed_now = KINDS[kind](s)
            if not placed_now:  # the customer picked did not fit: free for another kind
                s.used = used
            done += placed_now
            tries += 1
        placed[kind] = done
    order = sorted(range(len(s.rows)), key=s.times.__getitem__)
    return [s.rows[i] for i in order], placed


def read_rows(path: str) -> tuple[list[str], list[Row]]:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or ()), list(reader)


def prefixed(rows: list[Row], prefix: str) -> list[Row]:
    """`rows` as other customers: customer and transaction ids prefixed."""
    return [{**r, "customer_id": prefix + r["customer_id"],
             "transaction_id": prefix + r["transaction_id"]} for r in rows]


def _same_file(a: Path, b: Path) -> bool:
    """Whether `a` and `b` name one file (by any spelling, link or hard link)."""
    try:
        return a.resolve() == b.resolve() or os.path.samefile(a, b)
    except OSError:  # one does not exist yet
        return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="a labelled CSV in the historic layout")
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=0.001,
                        help="labelled rows per kind, as a share of the input's rows")
    parser.add_argument("--kinds", nargs="*", choices=tuple(KINDS), default=list(KINDS))
    parser.add_argument("--mix-in", action="append", default=[], metavar="CSV",
                        help="also these customers (ids prefixed m1-, m2-, ...: e.g. a "
                        "population generated with other settings over the same dates)")
    args = parser.parse_args(argv)
    for given in (args.source, *args.mix_in):  # it would replace that ground truth
        if _same_file(Path(args.out), Path(given)):
            parser.error(f"{args.out} is also an input ({given}); give another OUT")
    header, rows = read_rows(args.source)
    for k, path in enumerate(args.mix_in, 1):
        rows += prefixed(read_rows(path)[1], f"m{k}-")
    out, placed = inject(rows, args.seed, args.rate, args.kinds)
    with atomic_text_writer(Path(args.out)) as f:  # Ctrl-C: the old OUT whole, or none
        writer = csv.DictWriter(f, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(out)
    for kind, n in placed.items():
        print(f"{kind:<22} {n:>5} labelled rows")
    print(f"wrote {len(out)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
