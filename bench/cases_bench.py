"""Cost of the assurance state (cases, audit sample): per row, per checkpoint, per refresh.

    .venv/bin/python bench/cases_bench.py [--rows 1000000] [--flag-rate 0.02] [--customers 10000]

Rows (one a second of event time, customers drawn at random, amounts and scores random, a
share `--flag-rate` flagged) are fed as the sink feeds them: a `SinkRollup` delta per batch
of 10,000, merged into the state (cases are grouped and the sample drawn there). Reported at
each quarter: the feeding cost per row, the checkpoint (the state's JSON: size, and the time
to build and serialise it, as every `SINK_CHECKPOINT_INTERVAL_S`) and one rollup refresh
(`write_rollups`: every file, cases and assurance included). The cases kept must stay flat
once the stream is longer than `EXPORTS_CASE_DAYS`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.columns import RULE_NAMES, SCORED_COLUMNS
from sink.exports import write_rollups
from sink.rollup import Facts, RollupParams
from sink.settings import ExportSettings
from sink.volume import SinkRollup

BATCH = 10_000
T0 = datetime(2025, 1, 1)


def batch(rng: random.Random, start: int, n: int, customers: int, rate: float
          ) -> tuple[list[Facts], list[list[str]]]:
    ix = {c: i for i, c in enumerate(SCORED_COLUMNS)}
    facts: list[Facts] = []
    cells: list[list[str]] = []
    for i in range(start, start + n):
        flagged = rng.random() < rate
        score = 0.9 + rng.random() / 10 if flagged else rng.random() * 0.9
        rule = flagged and rng.random() < 0.5
        row = [""] * len(SCORED_COLUMNS)
        row[ix["transaction_id"]] = str(i)
        row[ix["customer_id"]] = f"c{rng.randrange(customers)}"
        row[ix["timestamp"]] = (T0 + timedelta(seconds=i)).isoformat()
        row[ix["amount"]] = f"{rng.uniform(1, 3000):.2f}"
        row[ix["score"]] = repr(score)
        row[ix["triggered_rules"]] = RULE_NAMES[0] if rule else ""
        row[ix["reasons_top3"]] = f"amount {rng.randrange(2, 30)}x the median" if flagged else ""
        cells.append(row)
        facts.append((2, score, rule, {RULE_NAMES[0]: rule}, False, flagged, int(rule), "m1",
                      score))
    return facts, cells


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--flag-rate", type=float, default=0.02)
    ap.add_argument("--customers", type=int, default=10_000)
    args = ap.parse_args()
    rng = random.Random(7)
    state = SinkRollup(RollupParams())
    out = Path(tempfile.mkdtemp(prefix="cases-bench-"))
    print(f"cases_bench  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  python "
          f"{platform.python_version()}  cpus={os.cpu_count()}  load={os.getloadavg()[0]:.1f}  "
          f"rows={args.rows:,} flag_rate={args.flag_rate} customers={args.customers:,}")
    fed, feed_s = 0, 0.0
    marks = {args.rows * q // 4 for q in (1, 2, 3, 4)}
    while fed < args.rows:
        facts, cells = batch(rng, fed, min(BATCH, args.rows - fed), args.customers,
                             args.flag_rate)
        started = time.perf_counter()
        delta = SinkRollup(RollupParams())
        delta.update(facts, cells)
        state.merge(delta)
        feed_s += time.perf_counter() - started
        fed += len(cells)
        if fed in marks:
            started = time.perf_counter()
            text = json.dumps(state.to_json())
            cp_s = time.perf_counter() - started
            started = time.perf_counter()
            write_rollups(out, state, ExportSettings())
            refresh_s = time.perf_counter() - started
            print(f"rows={fed:>10,}  days={fed / 86400:5.1f}  feed {feed_s / fed * 1e6:5.1f} us/row"
                  f"  cases: created {state.cases.created:>7,} kept {len(state.cases.cases):>6,}"
                  f"  checkpoint {len(text) / 1e6:6.2f} MB in {cp_s * 1e3:6.0f} ms"
                  f"  refresh {refresh_s * 1e3:6.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
