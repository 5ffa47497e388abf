"""The sink's throughput, this tree against another, in one run: `sink_bench.py` from each
tree in turns (A B B A, repeated), each run's figures and the medians and paired ratios.

    .venv/bin/python bench/sink_compare.py --other ../main --rounds 2 --files-only
    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 .venv/bin/python bench/sink_compare.py \\
        --other ../main --rounds 2 --rows 300000 --workers 0

Each tree runs its own `bench/sink_bench.py` with its own code on `PYTHONPATH` (the same
generated messages: the bench's seed); the figures are wall rows/s and CPU us a row of
the whole sink (`[workers=N]` lines) and of the file side (no Kafka).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
_WHOLE = re.compile(r"\[workers=(\d+)\] whole sink: .* = ([\d,]+) rows/s; .* "
                    r"main-process CPU ([\d.]+) us/row")
_FILES = re.compile(r"file side only.* = ([\d,]+) rows/s; CPU ([\d.]+) us/row")


def run(tree: Path, args: list[str]) -> dict[str, tuple[float, float]]:
    """{measure: (rows/s, CPU us a row)} of one `sink_bench.py` run from `tree`."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, str(tree / "bench" / "sink_bench.py"), *args],
                         cwd=tree, env=env, capture_output=True, text=True, check=True).stdout
    figures: dict[str, tuple[float, float]] = {}
    for m in _WHOLE.finditer(out):
        figures[f"whole, workers={m[1]}"] = (float(m[2].replace(",", "")), float(m[3]))
    for m in _FILES.finditer(out):
        figures["file side"] = (float(m[1].replace(",", "")), float(m[2]))
    if not figures:
        raise SystemExit(f"no figures in the output of {tree}:\n{out}")
    return figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--other", type=Path, required=True, help="the tree to compare with")
    ap.add_argument("--rounds", type=int, default=2, help="A B B A rounds")
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--workers", type=int, nargs="+", default=[0])
    ap.add_argument("--files-only", action="store_true")
    args = ap.parse_args()
    bench = ["--rows", str(args.rows)]
    bench += ["--files-only"] if args.files_only else ["--workers", *map(str, args.workers)]
    trees = {"this": HERE, "other": args.other.resolve()}
    print(f"sink_compare  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  this={HERE}  "
          f"other={trees['other']}  load={os.getloadavg()[0]:.1f}  bench: {' '.join(bench)}")
    runs: dict[str, list[dict[str, tuple[float, float]]]] = {"this": [], "other": []}
    for _ in range(args.rounds):
        for name in ("this", "other", "other", "this"):
            figures = run(trees[name], bench)
            runs[name].append(figures)
            print(f"  {name:5s} load={os.getloadavg()[0]:.1f}  " + "; ".join(
                f"{k}: {r:,.0f} rows/s, {c:.1f} us/row" for k, (r, c) in figures.items()),
                flush=True)
    for measure in runs["this"][0]:
        this = [f[measure] for f in runs["this"]]
        other = [f[measure] for f in runs["other"]]
        ratios = [a[1] / b[1] for a, b in zip(this, other, strict=True)]
        print(f"{measure}: rows/s median {statistics.median(r for r, _ in this):,.0f} (other "
              f"{statistics.median(r for r, _ in other):,.0f}); CPU us/row median "
              f"{statistics.median(c for _, c in this):.1f} (other "
              f"{statistics.median(c for _, c in other):.1f}); CPU ratio this/other, pair by "
              f"pair {', '.join(f'{x:.2f}' for x in ratios)}: median "
              f"{statistics.median(ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
