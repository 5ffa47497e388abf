"""Rollup cost: counting rows into score bins, and refreshing the rollup files, at 1M and 10M rows.

    .venv/bin/python bench/rollup_bench.py [--sizes 1000000 10000000]

Rows are fed through the real `SinkRollup.update` (the sink's and `score`'s code) in chunks
of 100,000; then `write_rollups` (thresholds, metrics_by_type, confusion_matrix, cases,
run.json, each replaced atomically) is timed on the resulting state. For contrast, the same
threshold sweep computed from scratch over the row arrays (numpy, what a non-incremental
refresh would do) is timed at each size.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.columns import RULE_NAMES, SCORED_COLUMNS
from sink.exports import write_rollups
from sink.rollup import Facts
from sink.settings import ExportSettings
from sink.tables import metrics_rows, mode_stats, recommend, threshold_rows
from sink.volume import SinkRollup

CHUNK = 100_000


def chunk(rng: np.random.Generator, cells_pool: list[list[str]]
          ) -> tuple[list[Facts], list[list[str]], np.ndarray, np.ndarray, np.ndarray]:
    score = rng.random(CHUNK)
    pos = rng.random(CHUNK) < 0.02
    rule = rng.random(CHUNK) < 0.03
    labels = np.where(pos, 0, 1)
    flags = [{RULE_NAMES[0]: True}, {RULE_NAMES[0]: False}]
    facts: list[Facts] = [
        (lab, s, r, flags[0] if r else flags[1], s > 0.95, r or s > 0.95, int(r), "m1", s)
        for lab, s, r in zip(labels.tolist(), score.tolist(), rule.tolist(), strict=True)
    ]
    cells = [cells_pool[i % len(cells_pool)] for i in range(CHUNK)]
    return facts, cells, score, pos, rule


def sweep_from_scratch(score: np.ndarray, pos: np.ndarray, rule: np.ndarray) -> float:
    started = time.perf_counter()
    for k in range(101):
        flag = (score >= k / 100) | rule
        int((flag & pos).sum()), int(flag.sum())
    return time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    base = dict.fromkeys(SCORED_COLUMNS, "")
    pool = []
    for i in range(1_000):
        row = dict(base, transaction_id=str(i), timestamp=f"2025-01-01T00:{i % 60:02d}:00",
                   anomaly_type="HIGH_AMOUNT", score=str(i / 1000))
        pool.append(list(row.values()))
    state = SinkRollup(100)
    out = Path(tempfile.mkdtemp(prefix="rollup-bench-"))
    settings = ExportSettings()
    print(f"rollup_bench  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  python "
          f"{platform.python_version()}  cpus={os.cpu_count()}  load={os.getloadavg()[0]:.1f}")
    fed, update_s, update_cpu = 0, 0.0, 0.0
    scores: list[np.ndarray] = []
    poss: list[np.ndarray] = []
    rules: list[np.ndarray] = []
    for size in sorted(args.sizes):
        while fed < size:
            facts, cells, score, pos, rule = chunk(rng, pool)
            scores.append(score.astype(np.float32))
            poss.append(pos)
            rules.append(rule)
            t0, c0 = time.perf_counter(), time.process_time()
            state.update(facts, cells)
            update_s += time.perf_counter() - t0
            update_cpu += time.process_time() - c0
            fed += CHUNK
        compute = []
        for _ in range(5):
            t0 = time.perf_counter()
            stats = mode_stats(state, settings)
            rec = recommend(stats, settings)
            threshold_rows(stats, rec), metrics_rows(state, stats, rec), state.cases.ranked()
            compute.append(time.perf_counter() - t0)
        refresh = []
        for _ in range(5):
            t0 = time.perf_counter()
            write_rollups(out, state, settings, {"bench": True})
            refresh.append(time.perf_counter() - t0)
        s, p, r = np.concatenate(scores), np.concatenate(poss), np.concatenate(rules)
        scratch = sweep_from_scratch(s, p, r)
        del s, p, r
        median = float(np.median(refresh))
        print(f"rows={fed:>12,}  compute tables: {float(np.median(compute)) * 1e3:5.1f} ms  "
              f"refresh all rollup files: median {median * 1e3:6.1f} ms"
              f" (min {min(refresh) * 1e3:.1f})  |  from-scratch hybrid sweep over the rows: "
              f"{scratch * 1e3:8.0f} ms")
    print(f"counting rows into the state: {update_s / fed * 1e6:.2f} us/row wall, "
          f"{update_cpu / fed * 1e6:.2f} us/row CPU ({fed:,} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
