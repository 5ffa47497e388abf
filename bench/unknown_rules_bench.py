"""The unknown-rules check's share of the sink's batch path: `RollupState.update` asks, once
a batch, whether any row's `rule_flags` holds a rule the sink has no column for (the union
of every row's keys against the known rules). Paired on the same batch: the check alone,
then `format_batch` (validate, format, count: the sink's batch path without the append),
in turns; the figure is the median of the per-pair ratios.

    .venv/bin/python bench/unknown_rules_bench.py [--rows 10000] [--pairs 41]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sink_bench import messages  # the bench folder is on the path (run as a script)

from shared.fastcodec import decode_scored
from sink.batch import format_batch
from sink.rollup import RollupParams, facts_of
from sink.unknown_rules import KNOWN_RULES

#: the check's calls timed a pair: one call is too short for the clock
REPEAT = 20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000, help="a batch (SINK_BATCH_SIZE)")
    ap.add_argument("--pairs", type=int, default=41)
    args = ap.parse_args()
    records = [(0, i, value) for i, (_key, value) in enumerate(messages(args.rows))]
    flags = [facts_of(decode_scored(value))[3] for _p, _o, value in records]
    params = RollupParams()
    print(f"unknown_rules_bench  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  python "
          f"{platform.python_version()}  cpus={os.cpu_count()}  "
          f"load={os.getloadavg()[0]:.1f}  rows={args.rows:,}  pairs={args.pairs}")
    ratios, checks, batches = [], [], []
    format_batch(records, params)  # warm
    for _ in range(args.pairs):
        t0 = time.perf_counter()
        for _ in range(REPEAT):
            KNOWN_RULES.issuperset(set().union(*flags))
        check = (time.perf_counter() - t0) / REPEAT
        t0 = time.perf_counter()
        format_batch(records, params)
        batch = time.perf_counter() - t0
        checks.append(check)
        batches.append(batch)
        ratios.append(check / batch)
    print(f"check {statistics.median(checks) * 1e3:.3f} ms, format_batch "
          f"{statistics.median(batches) * 1e3:.1f} ms a batch (medians); the check's share: "
          f"median {statistics.median(ratios):.2%} (min {min(ratios):.2%}, "
          f"max {max(ratios):.2%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
