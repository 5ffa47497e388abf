"""Cost of `hour_tail` alone, on the arguments the engine gives it (issue 14).

    .venv/bin/python bench/hourtail_bench.py                       # this tree, ns per call
    .venv/bin/python bench/hourtail_bench.py --compare /tmp/old    # alternate with another tree

Inputs: the first `--rows` rows of core_bench's data (its cache) through the engine as
Python (`AUDITSTREAM_CORE=python`) with `hour_tail` wrapped to record its arguments and
result, cached as a pickle (`--calls`). Each tree then times its own `hour_tail` (compiled
when built) on every recorded call in a fresh process, and counts the calls whose result
differs from the recorded float in any bit (0 for an exact rewrite).
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: One recorded call: customer hours, population hours and total, hour, context, result.
Call = tuple[bytes, list[int], int, int, list[Any], float]


def record(rows: str, n: int, out: str) -> None:
    """Run the Python core over the first `n` rows, recording `hour_tail`'s calls."""
    from detector.core import surprise
    from detector.core.config import CoreConfig
    from detector.core.engine import PartitionEngine

    calls: list[Call] = []
    plain = surprise.hour_tail

    def recorded(st: Any, pop: Any, hour: int, cfg: Any) -> float:
        result = plain(st, pop, hour, cfg)
        calls.append((bytes(st.hours), list(pop.hours), pop.total, hour, list(st.context),
                      result))
        return result

    surprise.hour_tail = recorded
    with open(rows, "rb") as src:
        txs = pickle.load(src)[:n]
    engine = PartitionEngine(CoreConfig(), 0)
    for i in range(0, len(txs), 500):
        engine.verdicts(txs[i:i + 500])
    with open(out, "wb") as dst:
        pickle.dump(calls, dst)


def timed(calls_path: str, repeats: int) -> str:
    """Median and best ns per call of this tree's `hour_tail`, and the mismatches."""
    import detector.core as core
    from detector.core.config import CoreConfig
    from detector.core.hourtail import hour_tail
    from detector.core.state import CustomerState, Population

    cfg: Any = CoreConfig()
    try:  # since the native settings object, hour_tail reads Knobs
        from detector.core.knobs import Knobs  # type: ignore[import-not-found,unused-ignore]
        cfg = Knobs(cfg)
    except ImportError:
        pass
    with open(calls_path, "rb") as f:
        calls: list[Call] = pickle.load(f)
    args = []
    for hours, common, total, hour, context, result in calls:
        st, pop = CustomerState(), Population()
        st.hours, st.context = bytearray(hours), context
        pop.hours, pop.total = common, total
        args.append((st, pop, hour, result))
    bad = sum(hour_tail(st, pop, h, cfg).hex() != r.hex() for st, pop, h, r in args)
    runs = []
    for _ in range(repeats):
        start = time.process_time()
        for st, pop, h, _r in args:
            hour_tail(st, pop, h, cfg)
        runs.append(1e9 * (time.process_time() - start) / len(args))
    return (f"{core.KIND}: {len(args)} calls, median {statistics.median(runs):.0f} ns/call "
            f"(best {min(runs):.0f}), {bad} results differ")


def _run(tree: str, args: list[str], **env: str) -> str:
    out = subprocess.run([sys.executable, __file__, *args], env={
        **os.environ, "PYTHONPATH": tree, **env}, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="/tmp/auditstream_core_bench_rows.pkl",
                        help="core_bench's cached rows (run core_bench once to make them)")
    parser.add_argument("--count", type=int, default=20_000, help="rows to record from")
    parser.add_argument("--calls", default="/tmp/auditstream_hourtail_calls.pkl")
    parser.add_argument("--compare", help="another source tree, timed alternately")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5, help="passes per process")
    parser.add_argument("--record", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--time", action="store_true", help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.record:
        record(a.rows, a.count, a.calls)
        return 0
    if a.time:
        print(timed(a.calls, a.repeats))
        return 0
    if not os.path.exists(a.calls):
        _run(str(ROOT), ["--record", "--rows", a.rows, "--count", str(a.count),
                         "--calls", a.calls], AUDITSTREAM_CORE="python")
    trees = [str(ROOT)] + ([a.compare] if a.compare else [])
    for _ in range(a.rounds):
        for tree in trees:
            load = os.getloadavg()[0]
            line = _run(tree, ["--time", "--calls", a.calls, "--repeats", str(a.repeats)])
            print(f"{tree} (load {load:.1f}): {line}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
