"""The Isolation Forest's scoring per batch size: scikit-learn's `score_samples` against the
arrays of `detector.core.forestarrays`, in one process, alternating.

    .venv/bin/python bench/forest_bench.py                 # 50 trees, 256 samples, 16 features

A forest as the detector fits it (`CoreConfig`'s n_trees and max_samples) on 4,096 random
rows; for each batch size, median wall time per call over `--rounds` alternating rounds
Checks that both give the same values to the bit. Then the kernel's compiled walks (what
the engine runs), each batch's path lengths: down the numbered nodes (`_walk`, before
2026-12-07) against down the complete trees (`depths`), CPU a row, alternating, with the
median of their paired ratios.
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
from detector.core.forestarrays import ForestArrays
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
    _kernel_walks(arrays, rng, args.features, args.rounds)
    return 0


def _kernel_walks(arrays: ForestArrays, rng: np.random.Generator, features: int,
                  rounds: int) -> None:
    """The kernel's walk down the numbered nodes against down the complete trees."""
    try:
        from detector.kernel import forest
    except ImportError:
        print("the kernel's walks: numba missing")
        return

    def numbered(x: np.ndarray) -> np.ndarray:
        out = np.empty(len(x))
        forest._walk(x, arrays.children, arrays.feature, arrays.threshold, arrays.nan_left,
                     arrays.leaf_length, arrays.roots, arrays.levels, out)
        return out

    def complete(x: np.ndarray) -> np.ndarray:
        return forest.depths(arrays, x)

    print("the kernel's compiled walks, CPU a row (numbered nodes / complete trees):")
    for size in (1, 500, 8192):
        x = np.ascontiguousarray(rng.normal(scale=2.0, size=(size, features)),
                                 dtype=np.float32)
        if not np.array_equal(numbered(x), complete(x)):
            print(f"batch {size}: the walks differ")
            raise SystemExit(1)
        calls = max(20, 100_000 // size)
        got: dict[str, list[float]] = {"numbered": [], "complete": []}
        for r in range(rounds):
            order = (("numbered", numbered), ("complete", complete))
            for name, fn in order if r % 2 else order[::-1]:
                start = time.process_time()
                for _ in range(calls):
                    fn(x)
                got[name].append((time.process_time() - start) / calls / size * 1e6)
        ratios = [b / a for a, b in zip(got["numbered"], got["complete"], strict=True)]
        print(f"  batch {size:>5}: numbered {statistics.median(got['numbered']):6.3f} us/row"
              f"   complete {statistics.median(got['complete']):6.3f} us/row"
              f"   paired ratio {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    sys.exit(main())
