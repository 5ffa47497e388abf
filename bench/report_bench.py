"""How long `write_report` takes: cold, unchanged file, and after the sink appends rows.

    .venv/bin/python bench/report_bench.py              # 500,000 rows
    .venv/bin/python bench/report_bench.py --rows 100000

The exports are synthetic (`dashboard.sample.scored_frame`, column contract of
`sink.columns`); the sink calls `write_report` after every rollup refresh, so the warm time
is what it pays while transactions_scored.csv has not changed, and the append time what it
pays after each batch it adds (only the new bytes are read).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard.report import write_report
from dashboard.sample import derive_tables, scored_frame


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
        size_mb = (out / "transactions_scored.csv").stat().st_size / 1e6
        start = time.perf_counter()
        report = write_report(out)
        cold = time.perf_counter() - start
        warm = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            write_report(out)
            warm.append(time.perf_counter() - start)
        lines = (out / "transactions_scored.csv").read_bytes().split(b"\n")
        appended = []
        for i in range(args.repeat):
            with open(out / "transactions_scored.csv", "ab") as fh:
                fh.write(b"\n".join(lines[1 + i * 1000 : 1 + (i + 1) * 1000]) + b"\n")
            start = time.perf_counter()
            write_report(out)
            appended.append(time.perf_counter() - start)
        html_kb = report.stat().st_size / 1e3
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(f"rows={args.rows:,} transactions_scored.csv={size_mb:.1f} MB "
          f"report.html={html_kb:.0f} kB")
    print(f"write_report cold={cold:.2f} s warm(median of {args.repeat})="
          f"{sorted(warm)[len(warm) // 2] * 1000:.1f} ms after appending 1,000 rows="
          f"{sorted(appended)[len(appended) // 2] * 1000:.1f} ms process peak RSS={peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
