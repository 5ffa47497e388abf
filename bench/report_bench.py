"""What report.html costs the sink: counting each row, and writing the page from the counts.

    .venv/bin/python bench/report_bench.py              # 500,000 rows
    .venv/bin/python bench/report_bench.py --rows 100000

The exports are synthetic (`dashboard.sample.scored_frame`, column contract of
`shared.columns`). The sink counts every row it appends (`sink.volume.VolumeCounts`, beside
the rollup counters) and, after each rollup refresh, writes report.html from those counts
(`auditstream.report.write_report_from_rollup`): transactions_scored.csv is never re-read,
so the write costs the same at any row count.
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditstream.report import cubes_of
from dashboard.report import write_report
from dashboard.sample import derive_tables, scored_frame
from sink.volume import VolumeCounts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        frame = scored_frame(args.rows, seed=3)
        frame.to_csv(out / "transactions_scored.csv", index=False)
        for name, table in derive_tables(frame).items():
            table.to_csv(out / f"{name}.csv", index=False)
        with (out / "transactions_scored.csv").open(newline="", encoding="utf-8") as fh:
            cells = list(csv.reader(fh))[1:]
        counts = VolumeCounts()
        start = time.perf_counter()
        counts.update(cells)
        count_s = time.perf_counter() - start
        writes = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            report = write_report(out, cubes_of(counts))
            writes.append(time.perf_counter() - start)
        html_kb = report.stat().st_size / 1e3
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(f"rows={args.rows:,} report.html={html_kb:.0f} kB")
    print(f"counting {count_s / args.rows * 1e6:.2f} us/row; write_report from the counts "
          f"(median of {args.repeat}) {sorted(writes)[len(writes) // 2] * 1000:.1f} ms; "
          f"process peak RSS={peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
