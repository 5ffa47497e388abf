"""What packing idle customers costs and saves (detector.core.packed, `hot_customers`).

    .venv/bin/python bench/packing_bench.py                      # 100,000 customers
    .venv/bin/python bench/packing_bench.py --customers 200000 --records 50000

Two partitions of the same customers (one transaction each, fed to the core in batches),
one with the default `hot_customers` and one with every customer kept as an object. Each
then scores the same traffic, in alternating rounds: traffic drawn from `--active`
customers (fewer than `hot_customers`: what packing costs when the busy customers fit) and
traffic over every customer (nearly every row unpacks one customer and packs another: the
worst case). Figures: median microseconds per row of `PartitionEngine.process` (no
checkpoints), their ratio, and the deep size of the table per customer. The outputs of both
partitions are checked equal.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.core.engine import PartitionEngine
from tests.state_scale import START, bytes_per_customer, config, transactions


def engine_of(customers: int, hot: int | None) -> PartitionEngine:
    """An engine holding `customers` (one transaction each), `hot` of them as objects."""
    cfg = config(customers)
    engine = PartitionEngine(cfg if hot is None else cfg.model_copy(
        update={"hot_customers": hot}), 0)
    for lo in range(0, customers, 5_000):
        engine.process(transactions(list(range(lo, min(customers, lo + 5_000))), lo, 1 + lo))
    return engine


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--active", type=int, default=10_000)
    parser.add_argument("--records", type=int, default=20_000, help="per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    packed = engine_of(args.customers, None)
    objects = engine_of(args.customers, args.customers)
    print(f"hot_customers {packed.config.hot_customers:,} vs {args.customers:,}; deep size "
          f"per customer after building: {bytes_per_customer(packed):,.0f} B vs "
          f"{bytes_per_customer(objects):,.0f} B")
    rng = random.Random(5)
    first = args.customers
    for draw in (args.active, args.customers):
        times: dict[str, list[float]] = {"packed": [], "objects": []}
        for r in range(args.rounds):
            ids = [rng.randrange(draw) for _ in range(args.records)]
            txs = transactions(ids, first, seed=r)
            first += len(txs)
            outs = []
            for label, engine in (("packed", packed), ("objects", objects)):
                start = time.perf_counter()
                outs.append(engine.process(txs))
                times[label].append((time.perf_counter() - start) / len(txs) * 1e6)
            if outs[0] != outs[1]:
                print("outputs differ")
                return 1
        a, b = statistics.median(times["packed"]), statistics.median(times["objects"])
        ratios = [x / y for x, y in zip(times["packed"], times["objects"], strict=True)]
        print(f"traffic over {draw:,} customers: {a:.1f} vs {b:.1f} us/row; ratio median "
              f"{statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})")
    print(f"deep size per customer after the traffic: {bytes_per_customer(packed):,.0f} B vs "
          f"{bytes_per_customer(objects):,.0f} B; outputs equal; event time from {START}")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
