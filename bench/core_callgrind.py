"""The compiled core's instructions on the first rows of `core_bench`'s data, for callgrind.

    PYTHONHASHSEED=0 valgrind --tool=callgrind --toggle-collect='CPyPy_*' \
        --callgrind-out-file=/tmp/cg.out .venv/bin/python bench/core_callgrind.py --rows 4000
    callgrind_annotate --inclusive=yes /tmp/cg.out | head -60

Runs `PartitionEngine.verdicts` in batches of 500 without the forest (its first fit after
10^9 rows), as docs/benchmarks.md's instruction counts did; `--toggle-collect` counts only
inside calls into the compiled modules (mypyc's `CPyPy_` wrappers), so the Python engine
around them and the data's loading are left out. Instruction counts do not move with the
machine's load, which CPU time on a shared machine does. The rows are `core_bench`'s cache
(made by `python bench/core_bench.py` if missing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from core_bench import BATCH, _rows  # the bench folder is on the path (above)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="/tmp/auditstream_core_bench_rows.pkl")
    parser.add_argument("--rows", type=int, default=4000)
    args = parser.parse_args()
    from detector.core import KIND
    from detector.core.config import CoreConfig
    from detector.core.engine import PartitionEngine

    print(f"core: {KIND}", file=sys.stderr)  # a Python core has no CPyPy_ calls to count
    txs = _rows(args.cache)[:args.rows]
    engine = PartitionEngine(CoreConfig(first_fit_after=10**9), 0)
    for i in range(0, len(txs), BATCH):
        engine.verdicts(txs[i:i + BATCH])
    return 0


if __name__ == "__main__":
    sys.exit(main())
