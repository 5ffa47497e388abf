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

The figure a row is a row's cost, and nothing else: the kernel is loaded from its cache
before the clock starts (`detector.kernel.warm.warm`: every compiled function an engine
calls, on a small engine of its own; ~0.1 s, which spread over the rows was ~1.1 us a
row), and the forest's fits are left out (each fit's CPU, `thread_time` in the thread that
runs it, taken from the pass's `process_time`; ~2.6 us a row when counted). Both are
reported apart (a run's line: `us/row X fits/row Y load_ms Z`; `--compare`, which runs
this script against each tree, gives the fits' median on each tree's line).
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
from typing import Any

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


def _load_kernel() -> float:
    """The kernel loaded from its cache, when it is the core that runs (every compiled
    function an engine calls: `detector.kernel.warm`): the seconds it took, 0 otherwise."""
    from detector.core import compiled

    if not compiled.kernel_wanted():
        return 0.0
    from detector.kernel.warm import warm

    start = time.process_time()
    warm()
    return time.process_time() - start


def _time_fits() -> list[float]:
    """Every forest fit's CPU seconds from now on (`refit.fit_rows` wrapped: its own
    thread's clock, as a background fit runs in a thread of its own)."""
    from detector.core import refit

    fit_rows, spent = getattr(refit, "fit_rows"), []  # noqa: B009  (not re-exported)

    def timed(*args: Any) -> Any:
        start = time.thread_time()
        try:
            return fit_rows(*args)
        finally:
            spent.append(time.thread_time() - start)

    setattr(refit, "fit_rows", timed)  # noqa: B010
    return spent


def run(cache: str, profile: bool, gc_paused: bool = False) -> tuple[float, float, float]:
    """One pass over the cached rows (the tree first on sys.path): us a row without the
    forest's fits, the fits' us a row, and the kernel's load before it in ms. With
    `gc_paused`, the cyclic collector off meanwhile, as the detector's loop and `score`
    run the engine (shared.gcpause: a collection only rescans the batch's objects)."""
    from detector.core.config import CoreConfig
    from detector.core.engine import PartitionEngine

    txs = _rows(cache)
    load = _load_kernel()
    fits = _time_fits()
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
    engine.close()  # a fit still running counted whole
    spent = time.process_time() - start
    gc.enable()
    n = len(txs)
    return 1e6 * (spent - sum(fits)) / n, 1e6 * sum(fits) / n, 1e3 * load


#: What a run prints last: the figure a row, the fits' a row, the kernel's load.
_LINE = "us/row {:.2f} fits/row {:.2f} load_ms {:.1f}"


def _start(tree: str, cache: str, gc_paused: bool) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--cache", cache, "--tree", tree,
         *(["--gc-paused"] if gc_paused else [])],
        env={**os.environ, "PYTHONPATH": tree}, stdout=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen[str]) -> tuple[float, float]:
    """A run's us a row and its fits' us a row (`_LINE`)."""
    out, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"a run failed (exit {proc.returncode})")
    words = out.split()
    return float(words[words.index("us/row") + 1]), float(words[words.index("fits/row") + 1])


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
        fits: dict[str, list[float]] = {tree: [] for tree in times}
        for _ in range(args.rounds):
            if args.paired:
                started = {tree: _start(tree, args.cache, args.gc_paused) for tree in times}
                results = {tree: _result(proc) for tree, proc in started.items()}
            else:
                results = {tree: _result(_start(tree, args.cache, args.gc_paused))
                           for tree in times}
            for tree, (row, fit) in results.items():
                times[tree].append(row)
                fits[tree].append(fit)
        for tree, us in times.items():
            print(f"{tree}: median {statistics.median(us):.2f} us/row "
                  f"(runs {', '.join(f'{u:.2f}' for u in us)}); the fits apart: median "
                  f"{statistics.median(fits[tree]):.2f} us/row")
        if args.paired:
            base, this = times.values()
            ratios = [b / a for a, b in zip(base, this, strict=True)]
            print(f"this tree / {args.compare}: median ratio {statistics.median(ratios):.3f} "
                  f"(pairs {', '.join(f'{r:.3f}' for r in ratios)})")
        return 0
    sys.path.insert(0, args.tree)
    print(_LINE.format(*run(args.cache, args.profile, args.gc_paused)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
