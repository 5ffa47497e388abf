"""The Isolation Forest's scoring per batch size: scikit-learn's `score_samples` against the
arrays of `detector.core.forestarrays`, in one process, alternating.

    .venv/bin/python bench/forest_bench.py                 # 50 trees, 256 samples, 16 features

A forest as the detector fits it (`CoreConfig`'s n_trees and max_samples) on 4,096 random
rows; for each batch size, median wall time per call over `--rounds` alternating rounds
Checks that both give the same values to the bit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.core.config import CoreConfig
from detector.core.model import fit_rows


def _per_call(fn: Callable[[np.ndarray], object], batch: np.ndarray, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn(batch)
    return (time.perf_counter() - start) / calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    cfg = CoreConfig()
    rng = np.random.default_rng(1)
    model = fit_rows(rng.normal(size=(4096, args.features)).astype(np.float32), 1, cfg)
    if model.arrays is None:
        print("the arrays were not used for this forest")
        return 1
    arrays = model.arrays
    print(f"forest_bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}, {cfg.n_trees} trees, max_samples "
          f"{cfg.max_samples}, {args.features} features; median of {args.rounds} rounds")
    for size in (1, 10, 100, 500, 2000, 8192):
        batch = rng.normal(scale=2.0, size=(size, args.features))
        if not np.array_equal(arrays.isolation(batch), -model.forest.score_samples(batch)):
            print(f"batch {size}: values differ")
            return 1
        calls = max(3, 4000 // size)
        sk, nb = [], []
        for _ in range(args.rounds):
            sk.append(_per_call(model.forest.score_samples, batch, calls))
            nb.append(_per_call(arrays.isolation, batch, calls))
        a, b = statistics.median(sk), statistics.median(nb)
        print(f"  batch {size:>5}: scikit-learn {a * 1e3:8.3f} ms ({a / size * 1e6:8.1f} us/row)"
              f"   arrays {b * 1e3:7.3f} ms ({b / size * 1e6:6.2f} us/row)   {a / b:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
