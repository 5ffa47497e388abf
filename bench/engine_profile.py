"""Where the engine's CPU a row goes, part by part: `core_bench`'s rows and batches, each
part's CPU time summed over its calls (no sampling, no cProfile overhead inside the parts).

    .venv/bin/python bench/engine_profile.py [--tree <checkout>] [--rounds 3]

The kernel core (the default). A part's first call is reported apart: `score_segment`'s
loads the compiled kernel from its cache (~0.1 s; `core_bench` loads it before its clock).
The forest's fits run in their own threads (`refit.PendingFit`): their CPU is the
thread's (`thread_time`), which `process_time` counts too: "all" holds both (`core_bench`
takes the fits out and reports them apart).
The collector is off while the engine runs, as in service (`core_bench --gc-paused`).
"""

from __future__ import annotations

import argparse
import collections
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from core_bench import BATCH, _rows  # the bench folder is on the path (above)

#: Each part: (label, module, owner's attribute path, function name, clock).
PARTS = (
    ("kernel: score_segment", "detector.kernel.rows", "", "score_segment", "process"),
    ("shell: strings' codes", "detector.kernel.rows", "KernelRows", "_encode", "process"),
    ("shell: reasons worded", "detector.kernel.rows", "KernelRows", "_reasons", "process"),
    ("shell: event times", "detector.kernel.rows", "", "event_times", "process"),
    ("shell: slots, parking", "detector.kernel.rows", "KernelRows", "_slots_of", "process"),
    ("shell: LRU pass", "detector.kernel.lru", "", "lru_pass", "process"),
    ("shell: settle", "detector.kernel.rows", "KernelRows", "_settle", "process"),
    ("forest: strength", "detector.core.model", "FittedModel", "strength", "process"),
    ("verdicts", "detector.core.engine", "", "verdicts", "process"),
    ("forest: fits (threads)", "detector.core.refit", "", "fit_rows", "thread"),
    ("all of score_rows", "detector.kernel.rows", "KernelRows", "score_rows", "process"),
)
_CLOCKS: dict[str, Callable[[], int]] = {"process": time.process_time_ns,
                                         "thread": time.thread_time_ns}


def _wrap(spent: collections.Counter[str], first: dict[str, int]) -> None:
    import importlib

    for label, module, owner, name, clock in PARTS:
        target: Any = importlib.import_module(module)
        if owner:
            target = getattr(target, owner)
        f = getattr(target, name)
        now = _CLOCKS[clock]

        def timed(*args: Any, _f: Any = f, _label: str = label, _now: Any = now,
                  **kwargs: Any) -> Any:
            start = _now()
            try:
                return _f(*args, **kwargs)
            finally:
                took = _now() - start
                if _label in first:
                    spent[_label] += took
                else:
                    first[_label] = took

        setattr(target, name, timed)


def profile(cache: str) -> tuple[float, dict[str, float], dict[str, float]]:
    """One pass: us a row in all, each part's us a row (first call left out), and each
    part's first call in ms."""
    spent: collections.Counter[str] = collections.Counter()
    first: dict[str, int] = {}
    _wrap(spent, first)
    from detector.core.config import CoreConfig
    from detector.core.engine import PartitionEngine

    txs = _rows(cache)
    engine = PartitionEngine(CoreConfig(), 0)
    gc.disable()
    start = time.process_time_ns()
    for i in range(0, len(txs), BATCH):
        engine.verdicts(txs[i:i + BATCH])
    engine.close()
    total = time.process_time_ns() - start
    gc.enable()
    n = len(txs)
    return (total / n / 1e3, {k: spent[k] / n / 1e3 for k in first},
            {k: v / 1e6 for k, v in first.items()})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="/tmp/auditstream_core_bench_rows.pkl")
    parser.add_argument("--tree", help="source tree to import the engine from")
    parser.add_argument("--rounds", type=int, default=1,
                        help="passes, each in a fresh process; medians")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tree:
        sys.path.insert(0, args.tree)
    if args.one:
        total, parts, firsts = profile(args.cache)
        print(repr((total, parts, firsts)))
        return 0
    import ast
    import os
    import subprocess

    env = {**os.environ, **({"PYTHONPATH": args.tree} if args.tree else {})}
    runs = []
    for _ in range(args.rounds):
        out = subprocess.run(
            [sys.executable, __file__, "--one", "--cache", args.cache,
             *(["--tree", args.tree] if args.tree else [])],
            env=env, capture_output=True, text=True, check=True).stdout
        runs.append(ast.literal_eval(out.strip().splitlines()[-1]))
    print(f"all: median {statistics.median(r[0] for r in runs):.2f} us a row "
          f"(runs {', '.join(f'{r[0]:.2f}' for r in runs)})")
    for label, *_ in PARTS:
        per_row = [r[1].get(label, 0.0) for r in runs]
        ms = [r[2].get(label, 0.0) for r in runs]
        print(f"  {label:26s} {statistics.median(per_row):6.2f} us a row"
              f"   first call {statistics.median(ms):6.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
