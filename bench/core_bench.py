"""Cost of the detection core per row (CPU time): `PartitionEngine.verdicts`, batches of 500.

    .venv/bin/python bench/core_bench.py                        # this tree, us/row
    .venv/bin/python bench/core_bench.py --profile              # cProfile, top self time
    .venv/bin/python bench/core_bench.py --compare /tmp/old     # alternate runs with another
                                                                # checkout (e.g. `git archive`)
    .venv/bin/python bench/core_bench.py --compare /tmp/old --paired   # both at once
    .venv/bin/python bench/core_bench.py --gc-paused            # as the detector and score
                                                                # run it (shared.gcpause)

Data: the default generator mix (seed 3, 1,000 customers, 30 days: ~68,600 rows), generated
once and cached as a pickle (`--cache`). `--compare` runs each tree `--rounds` times in
fresh processes, alternating, and reports the medians; `--paired` runs the two at the same
time instead and reports the median of the ratios too: on a loaded shared machine both then
see the same load, which a run after the other does not.
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BATCH = 500


def _rows(cache: str) -> list:  # type: ignore[type-arg]
    if os.path.exists(cache):
        with open(cache, "rb") as f:
            return pickle.load(f)  # type: ignore[no-any-return]
    from producer.generator import GeneratorConfig, generate

    txs = sorted(generate(GeneratorConfig(seed=3, customers=1000, days=30)),
                 key=lambda t: t.timestamp)
    with open(cache, "wb") as f:
        pickle.dump(txs, f)
    return txs


def run(cache: str, profile: bool, gc_paused: bool = False) -> float:
    """us per row of one pass over the cached rows (the tree first on sys.path); with
    `gc_paused`, the cyclic collector off meanwhile, as the detector's loop and `score`
    run the engine (shared.gcpause: a collection only rescans the batch's objects)."""
    from detector.core.config import CoreConfig
    from detector.core.engine import PartitionEngine

    txs = _rows(cache)
    engine = PartitionEngine(CoreConfig(), 0)
    if gc_paused:
        gc.disable()
    start = time.process_time()  # CPU time: steadier than wall time on a shared machine
    if profile:
        import cProfile
        import pstats

        with cProfile.Profile() as prof:
            for i in range(0, len(txs), BATCH):
                engine.verdicts(txs[i:i + BATCH])
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    else:
        for i in range(0, len(txs), BATCH):
            engine.verdicts(txs[i:i + BATCH])
    return 1e6 * (time.process_time() - start) / len(txs)


def _start(tree: str, cache: str, gc_paused: bool) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--cache", cache, "--tree", tree,
         *(["--gc-paused"] if gc_paused else [])],
        env={**os.environ, "PYTHONPATH": tree}, stdout=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen[str]) -> float:
    out, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"a run failed (exit {proc.returncode})")
    return float(out.split()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="/tmp/auditstream_core_bench_rows.pkl")
    parser.add_argument("--tree", default=str(ROOT), help="source tree to import the core from")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--compare", help="another source tree, run alternately with this one")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paired", action="store_true",
                        help="with --compare: run both trees at the same time each round")
    parser.add_argument("--gc-paused", action="store_true",
                        help="the cyclic collector off while the engine runs, as in service")
    args = parser.parse_args()
    if args.compare:
        _rows(args.cache)
        times: dict[str, list[float]] = {args.compare: [], str(ROOT): []}
        for _ in range(args.rounds):
            if args.paired:
                started = {tree: _start(tree, args.cache, args.gc_paused) for tree in times}
                for tree, proc in started.items():
                    times[tree].append(_result(proc))
            else:
                for tree in times:
                    times[tree].append(_result(_start(tree, args.cache, args.gc_paused)))
        for tree, us in times.items():
            print(f"{tree}: median {statistics.median(us):.1f} us/row "
                  f"(runs {', '.join(f'{u:.1f}' for u in us)})")
        if args.paired:
            base, this = times.values()
            ratios = [b / a for a, b in zip(base, this, strict=True)]
            print(f"this tree / {args.compare}: median ratio {statistics.median(ratios):.3f} "
                  f"(pairs {', '.join(f'{r:.3f}' for r in ratios)})")
        return 0
    sys.path.insert(0, args.tree)
    print(f"us/row {run(args.cache, args.profile, args.gc_paused):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
