"""CPU per record of the detector's batch loop without Kafka, by step, against the number of
customers: decoding, scoring, writing and checkpoints (incremental, as the detector's).

    .venv/bin/python bench/customers_bench.py [--customers 2000 20000 100000]
                                              [--records 100000] [--rounds 2]

One partition, `detector_bench`'s rows and loop (its `NullOutput` moves the checkpoint
ledger on as a written checkpoint does). A checkpoint writes each customer touched since
the last, and beyond `hot_customers` a customer seen again is unpacked into a slot while
another is packed out of one, so the cost per record grows with the customers. Each round
is a fresh engine over all the records; the figures are CPU us a record over the last
half of them (the engine warm, its first checkpoint, which writes everyone, left out).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # detector_bench, beside it

import detector_bench as D

import detector.loop as L
from detector.core.config import CoreConfig
from detector.partition import CoreEngineFactory, PartitionState
from shared.codec import encode
from tests.cores import core_switch

STEPS = {"_decode_new": L, "_drop_duplicates": L, "_score": L}
METHODS = ("_write", "take_snapshot")
BATCH = 5_000


def _timed(fn: Callable[..., Any], name: str, acc: dict[str, float]) -> Callable[..., Any]:
    def step(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[name] += time.process_time() - start
    return step


def run(customers: int, records: int, acc: dict[str, float]) -> float:
    """CPU us a record over the second half of `records`; `acc` gets each step's seconds
    over that half."""
    msgs = [D.Message(i, encode(t))
            for i, t in enumerate(D.make_transactions(records, customers))]
    with core_switch("kernel"):
        proc = L.BatchProcessor(D.NullOutput(), snapshot_every=20_000)
        proc.parts[0] = PartitionState(CoreEngineFactory(CoreConfig()).new(0), 0)
        half = records // 2 // BATCH * BATCH
        for lo in range(0, half, BATCH):
            proc.process(msgs[lo:lo + BATCH])
        acc.clear()
        start = time.process_time()
        for lo in range(half, records, BATCH):
            proc.process(msgs[lo:lo + BATCH])
        return (time.process_time() - start) / (records - half) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[2_000, 20_000, 100_000])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    acc: dict[str, float] = collections.defaultdict(float)
    for name, module in STEPS.items():
        setattr(module, name, _timed(getattr(module, name), name, acc))
    for name in METHODS:
        setattr(L.BatchProcessor, name, _timed(getattr(L.BatchProcessor, name), name, acc))
    print(f"customers_bench, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
          f"{args.records:,} records, one partition, CPU us a record (second half)")
    for customers in args.customers:
        for _ in range(args.rounds):
            total = run(customers, args.records, acc)
            n = args.records - args.records // 2 // BATCH * BATCH
            steps = ", ".join(f"{k.strip('_')} {v / n * 1e6:.1f}"
                              for k, v in sorted(acc.items(), key=lambda kv: -kv[1]))
            print(f"  {customers:>9,} customers: {total:5.1f} us ({steps})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
