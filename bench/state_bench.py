"""Incremental state at scale: checkpoint bytes per 100,000 records at 10,000 and 1,000,000
customers, restore time of the 1,000,000-customer partition, memory per customer.

    .venv/bin/python bench/state_bench.py                       # 10,000 vs 1,000,000
    .venv/bin/python bench/state_bench.py --customers 200000    # a quicker look

The partitions are built through the detection core from a generated stream (one
transaction per customer, then the traffic), not through the broker, and checkpointed as
the detector does every `--every` records; their records are kept as the compacted state
topic keeps them (tests/state_scale.py). Bytes count keys, values and headers. The restore
reads those records (assembler, latest per key), rebuilds the engine and the dedupe index
and is checked against the live engine. Memory: growth of the process's resident set while
building, and the deep size of the customer table, each per customer.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.core.engine import PartitionEngine
from tests.state_scale import (
    Partition,
    build,
    bytes_per_customer,
    same_customers,
    traffic,
    transactions,
)


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run(customers: int, records: int, every: int, horizon: float, uniform: bool
        ) -> tuple[Partition, dict[str, float]]:
    gc.collect()
    before, start = rss(), time.perf_counter()
    part = build(customers, horizon)
    built = time.perf_counter() - start
    grown = rss() - before
    full = dict(part.written)
    figures = {"customers": customers, "build_s": built, "rss_per_customer": grown / customers,
               "deep_per_customer": bytes_per_customer(cast(PartitionEngine, part.state.engine))}
    total, took = traffic(part, records, 10_000, every)
    figures |= {"bytes": total, "checkpoint_s": took,
                "engine_bytes": total - part.written.get("dedupe", 0),
                "dedupe_bytes": part.written.get("dedupe", 0)}
    if uniform:
        part.written.clear()
        total, took = traffic(part, records, customers, every, seed=3)
        figures |= {"uniform_bytes": total, "uniform_engine_bytes":
                    total - part.written.get("dedupe", 0), "uniform_checkpoint_s": took}
    del full
    return part, figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=20_000, help="DETECTOR_SNAPSHOT_EVERY")
    parser.add_argument("--dedupe-horizon-s", type=float, default=180 * 86400.0,
                        help="the default: core.customer_ttl_s; 0 turns the index off")
    parser.add_argument("--restore-only", action="store_true",
                        help="build the large partition and time its restore, nothing else")
    args = parser.parse_args(argv)
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.restore_only:
        part = build(args.customers, args.dedupe_horizon_s)
        return restore(part, args.customers)
    _, small = run(args.small, args.records, args.every, args.dedupe_horizon_s, False)
    big_part, big = run(args.customers, args.records, args.every, args.dedupe_horizon_s, True)
    for f in (small, big):
        print(f"{f['customers']:>9,} customers: built in {f['build_s']:.0f} s; "
              f"{f['rss_per_customer']:,.0f} B/customer resident, "
              f"{f['deep_per_customer']:,.0f} B/customer deep size; per {args.records:,} "
              f"records of 10,000 active customers: {f['bytes'] / 1e6:.1f} MB written "
              f"(engine state {f['engine_bytes'] / 1e6:.1f} MB, dedupe index "
              f"{f['dedupe_bytes'] / 1e6:.1f} MB) in {f['checkpoint_s']:.1f} s of checkpoints")
    print(f"ratio {args.customers:,} / {args.small:,} customers, same traffic: "
          f"{big['bytes'] / small['bytes']:.3f} (engine state "
          f"{big['engine_bytes'] / small['engine_bytes']:.3f})")
    print(f"{args.customers:,} customers, traffic over all of them: "
          f"{big['uniform_bytes'] / 1e6:.1f} MB (engine state "
          f"{big['uniform_engine_bytes'] / 1e6:.1f} MB) in "
          f"{big['uniform_checkpoint_s']:.1f} s; ratio to {args.small:,} customers "
          f"{big['uniform_bytes'] / small['bytes']:.3f}")
    return restore(big_part, args.customers)


def restore(big_part: Partition, customers: int) -> int:
    """Time the restore of `big_part` from its records and check it against the live one."""
    topic_bytes = sum(len(r.key) + len(r.value or b"") for r in big_part.topic.values())
    gc.collect()
    start = time.perf_counter()
    back = big_part.restore()
    took = time.perf_counter() - start
    live = big_part.state
    same = same_customers(cast(PartitionEngine, live.engine),
                          cast(PartitionEngine, back.engine), 10_000)
    nxt = transactions(list(range(0, customers, max(1, customers // 2000))),
                       big_part.rows, 9)
    same = same and cast(PartitionEngine, back.engine).process(nxt) == cast(
        PartitionEngine, live.engine).process(nxt)
    print(f"restore of {customers:,} customers from {len(big_part.topic):,} records "
          f"({topic_bytes / 1e6:.0f} MB): {took:.1f} s; equal to the live engine: {same}")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
