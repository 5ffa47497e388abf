"""Throughput and peak memory of `auditstream score`, against pandas, and the detector's
state memory per customer.

    .venv/bin/python bench/score_bench.py                 # 500,000 generated transactions
    .venv/bin/python bench/score_bench.py --rows 100000   # a quicker look
    .venv/bin/python bench/score_bench.py --partitions 4  # 4 emulated partitions
    .venv/bin/python bench/score_bench.py --shuffle       # input not in time order
    .venv/bin/python bench/score_bench.py --skip-core     # the command and pandas only
    .venv/bin/python bench/score_bench.py --input in.csv --compare /tmp/old --runs 8
        # an existing CSV; the command from this tree and from /tmp/old in ABBA order

Generates the default mix once into a temporary folder (in event-time order, as the
generator writes it; `--shuffle`: rows shuffled, so `score` sorts them on disk), then, each
in a fresh process and in the same run: a plain pandas read+write of the same CSV
(`read_csv`, `to_csv`) and the whole command (read CSV, score, write every export), with
wall time, CPU (its processes' together) and peak RSS (of its processes together: `score`
may run a second process, `auditstream.score_worker`), sampled every 20 ms. `--compare`
runs the command from this tree and another in ABBA order, `--runs` each, each run between
two pandas runs, and prints the medians and the paired ratios. Then, in this process, the core
alone (`score_transactions` on rows already in memory) and the state memory of the engine
after the run: deep in-memory size of the customer table and snapshot bytes, per customer.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.offline import score_transactions
from producer.generator import GeneratorConfig, generate
from shared.csv_io import load_sorted, write_transactions_csv
from tests.state_scale import deep_size

PANDAS = """
import sys
import pandas as pd
pd.read_csv(sys.argv[1]).to_csv(sys.argv[2], index=False)
"""


def _tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and its descendants now (Linux /proc; 0 when gone)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += next((int(line.split()[1]) * 1024 for line in status.splitlines()
                           if line.startswith("VmRSS:")), 0)
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def timed(cmd: list[str], env: dict[str, str] | None = None
          ) -> tuple[float, float, float, str]:
    """Run `cmd`; its wall seconds, CPU seconds (its processes together), peak RSS in MB
    (its processes' sum, sampled every 20 ms: a worker process counts) and stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - start
    sampler.join()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {out}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # every waited-for descendant
    cpu = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, peak[0] / 2**20, out


def compare(csv_path: Path, tmp: Path, other: str, runs: int, partitions: int) -> None:
    """The command from this tree and from `other` in ABBA order, `runs` each; each run
    between two pandas runs (its ratio against their mean)."""
    pandas = [sys.executable, "-c", PANDAS, str(csv_path), str(tmp / "pandas.csv")]
    trees = [str(Path(__file__).resolve().parents[1]), str(Path(other).resolve())]
    got: dict[str, list[tuple[float, float, float, float]]] = {t: [] for t in trees}
    last = timed(pandas)
    for i in range(2 * runs):
        tree = trees[(i + i // 2) % 2]  # A B B A A B B A ...
        env = {**os.environ, "PYTHONPATH": tree}
        wall, cpu, rss, _ = timed(
            [sys.executable, "-m", "auditstream", "score", str(csv_path), "--out",
             str(tmp / f"out-{i % 2}"), "--partitions", str(partitions)], env)
        after = timed(pandas)
        ratio = wall / ((last[0] + after[0]) / 2)
        got[tree].append((wall, cpu, rss, ratio))
        print(f"{i + 1:2d} {tree}: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {rss:,.0f} "
              f"MB, {ratio:.2f}x pandas; load {os.getloadavg()[0]:.1f}", flush=True)
        last = after
    for tree, rows in got.items():
        cols = list(zip(*rows, strict=True))
        print(f"{tree}: median wall {statistics.median(cols[0]):.1f} s, CPU "
              f"{statistics.median(cols[1]):.1f} s, {statistics.median(cols[3]):.2f}x pandas "
              f"(range {min(cols[3]):.2f}-{max(cols[3]):.2f}); peak RSS "
              f"{min(cols[2]):,.0f}-{max(cols[2]):,.0f} MB")
    mine, theirs = got[trees[0]], got[trees[1]]
    walls = [a[0] / b[0] for a, b in zip(mine, theirs, strict=True)]
    cpus = [a[1] / b[1] for a, b in zip(mine, theirs, strict=True)]
    print(f"this tree / other, run by run: wall median {statistics.median(walls):.3f} "
          f"({min(walls):.2f}-{max(walls):.2f}), CPU median {statistics.median(cpus):.3f} "
          f"({min(cpus):.2f}-{max(cpus):.2f})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000, help="about this many")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--partitions", type=int, default=1, help="--partitions of the command")
    parser.add_argument("--shuffle", action="store_true", help="input not in event-time order")
    parser.add_argument("--skip-core", action="store_true", help="the command and pandas only")
    parser.add_argument("--input", type=Path, help="this CSV instead of generated rows")
    parser.add_argument("--compare", metavar="TREE", help="ABBA against another checkout")
    parser.add_argument("--runs", type=int, default=4, help="with --compare: runs a tree")
    args = parser.parse_args(argv)
    customers = max(1, round(args.rows / (2.2 * 92)))
    with tempfile.TemporaryDirectory(prefix="score-bench-") as tmp:
        if args.compare:
            if args.input is None:
                raise SystemExit("--compare needs --input")
            compare(args.input, Path(tmp), args.compare, args.runs, args.partitions)
            return 0
        csv_path, out = Path(tmp) / "input.csv", Path(tmp) / "exports"
        txs = generate(GeneratorConfig(seed=args.seed, customers=customers, days=92))
        if args.shuffle:
            random.Random(args.seed).shuffle(txs)
        write_transactions_csv(txs, csv_path)
        n = len(txs)
        del txs
        print(f"input: {n} transactions, {customers} customers, "
              f"{csv_path.stat().st_size / 1e6:.0f} MB CSV"
              f"{' (shuffled)' if args.shuffle else ''}; machine: {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f} at start")

        pandas = [sys.executable, "-c", PANDAS, str(csv_path), str(Path(tmp) / "pandas.csv")]
        first = timed(pandas)
        cli = Path(sys.executable).with_name("auditstream")
        wall, cpu, rss, stdout = timed([str(cli), "score", str(csv_path), "--out", str(out),
                                        "--partitions", str(args.partitions)])
        second = timed(pandas)  # before and after: load that changes meanwhile evens out
        p_wall, p_cpu = (first[0] + second[0]) / 2, (first[1] + second[1]) / 2
        print(f"pandas read_csv + to_csv (before / after the command): {first[0]:.1f} / "
              f"{second[0]:.1f} s wall, {first[1]:.1f} / {second[1]:.1f} s CPU, "
              f"peak RSS {max(first[2], second[2]):,.0f} MB")
        print(stdout.strip())
        print(f"auditstream score --partitions {args.partitions} (whole command): "
              f"{wall:.1f} s wall, {n / wall:,.0f} tx/s; {cpu:.1f} s CPU, "
              f"{n / cpu:,.0f} tx per CPU-second; peak RSS {rss:,.0f} MB")
        print(f"ratio to pandas (mean of its two runs): {wall / p_wall:.1f}x wall, "
              f"{cpu / p_cpu:.1f}x CPU (target <= 3x wall); load average "
              f"{os.getloadavg()[0]:.1f} at end")
        if args.skip_core:
            return 0

        rows, _ = load_sorted([csv_path])
        gc.collect()
        start, cpu_start = time.perf_counter(), time.process_time()
        score_transactions(rows, CoreConfig(), partitions=args.partitions)
        core, core_cpu = time.perf_counter() - start, time.process_time() - cpu_start
        print(f"core only (score_transactions in one process, rows in memory, "
              f"{args.partitions} partition(s)): {core:.1f} s wall, "
              f"{n / core:,.0f} tx/s; {n / core_cpu:,.0f} tx per CPU-second")

        engine = PartitionEngine(CoreConfig())
        engine.process(rows)
        table = engine._customers
        people = len(table)
        memory = deep_size(table.held())
        snapshot = len(engine.snapshot())
        print(f"state: {people} customers, {memory / people:,.0f} B/customer in memory, "
              f"snapshot {snapshot / 1e6:.1f} MB ({snapshot / people:,.0f} B/customer "
              f"incl. model and sample)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
