"""Throughput of `auditstream score` and the detector's state memory per customer.

    .venv/bin/python bench/score_bench.py                 # 500,000 generated transactions
    .venv/bin/python bench/score_bench.py --rows 100000   # a quicker look
    .venv/bin/python bench/score_bench.py --partitions 4  # 4 emulated partitions

Generates the default mix once into a temporary folder, then times the whole command in a
fresh process (read CSV, score, write every export) and, in this process, the core alone
(`score_transactions` on rows already in memory). State memory is measured on the engine
after the run: deep in-memory size of the customer table and snapshot bytes, per customer.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.offline import score_transactions
from producer.generator import GeneratorConfig, generate
from shared.csv_io import load_sorted, write_transactions_csv


def deep_size(obj: Any, seen: set[int] | None = None) -> int:
    """Bytes of `obj` and everything it references (shared objects counted once)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, list | tuple | set | frozenset):
        size += sum(deep_size(v, seen) for v in obj)
    elif hasattr(obj, "__slots__"):
        size += sum(deep_size(getattr(obj, s), seen) for s in obj.__slots__ if hasattr(obj, s))
    return size


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000, help="about this many")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--partitions", type=int, default=1, help="--partitions of the command")
    args = parser.parse_args(argv)
    customers = max(1, round(args.rows / (2.2 * 92)))
    with tempfile.TemporaryDirectory(prefix="score-bench-") as tmp:
        csv_path, out = Path(tmp) / "input.csv", Path(tmp) / "exports"
        txs = generate(GeneratorConfig(seed=args.seed, customers=customers, days=92))
        write_transactions_csv(txs, csv_path)
        n = len(txs)
        del txs
        print(f"input: {n} transactions, {customers} customers, "
              f"{csv_path.stat().st_size / 1e6:.0f} MB CSV; machine: {os.cpu_count()} cores")

        cli = Path(sys.executable).with_name("auditstream")
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([str(cli), "score", str(csv_path), "--out", str(out),
                               "--partitions", str(args.partitions)],
                              check=True, capture_output=True, text=True)
        wall = time.perf_counter() - start
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        print(done.stdout.strip())
        print(f"auditstream score --partitions {args.partitions} (whole command, its worker "
              f"processes included): {wall:.1f} s wall, {n / wall:,.0f} tx/s; "
              f"{cpu:.1f} s CPU, {n / cpu:,.0f} tx per CPU-second; "
              f"peak RSS {cpu1.ru_maxrss / 1024:,.0f} MB")

        rows, _ = load_sorted([csv_path])
        gc.collect()
        start, cpu_start = time.perf_counter(), time.process_time()
        score_transactions(rows, CoreConfig(), partitions=args.partitions, workers=1)
        core, core_cpu = time.perf_counter() - start, time.process_time() - cpu_start
        print(f"core only (score_transactions in one process, rows in memory, "
              f"{args.partitions} partition(s)): {core:.1f} s wall, "
              f"{n / core:,.0f} tx/s; {n / core_cpu:,.0f} tx per CPU-second")

        engine = PartitionEngine(CoreConfig())
        engine.process(rows)
        table = engine._customers
        people = len(table)
        memory = deep_size(table.items())
        snapshot = len(engine.snapshot())
        print(f"state: {people} customers, {memory / people:,.0f} B/customer in memory, "
              f"snapshot {snapshot / 1e6:.1f} MB ({snapshot / people:,.0f} B/customer "
              f"incl. model and sample)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
