"""Memory and time of a full checkpoint (the first of every epoch, so after each restore):
every customer of a partition written at once.

    .venv/bin/python bench/full_checkpoint_bench.py [--customers 200000]
    AUDITSTREAM_CORE=kernel .venv/bin/python bench/full_checkpoint_bench.py

A partition of `--customers` customers is built through the detection core (one
transaction each, tests/state_scale.py, no broker), then checkpointed whole. Printed: the
process's resident set before the checkpoint, its peak before and after (`ru_maxrss`: a
checkpoint that stays below the building's own peak shows no rise), the records' bytes
and the checkpoint's time.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import detector  # noqa: F401  (under AUDITSTREAM_CORE=kernel: registers the kernel)
from detector.core.engine import PartitionEngine
from detector.partition import PartitionState
from tests.state_scale import Partition, config


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    args = parser.parse_args()
    n = args.customers
    part = Partition(PartitionState(PartitionEngine(config(n), 0), 0, dedupe=None))
    start = time.perf_counter()
    part.feed(list(range(n)), 1)
    built = time.perf_counter() - start
    gc.collect()
    rss, peak = _rss_mb(), _peak_mb()
    start = time.perf_counter()
    written = part.checkpoint()
    took = time.perf_counter() - start
    core = os.environ.get("AUDITSTREAM_CORE") or "default core"
    print(f"full_checkpoint_bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, {core}, {n:,} customers "
          f"(built in {built:.1f} s)")
    print(f"  resident before the checkpoint {rss:,.0f} MB; peak before {peak:,.0f} MB, "
          f"after {_peak_mb():,.0f} MB")
    print(f"  full checkpoint: {written / 2**20:,.0f} MB of records in {took:.1f} s")


if __name__ == "__main__":
    main()
