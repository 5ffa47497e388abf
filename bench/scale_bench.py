"""Scale run (issue 17): millions of scored rows through the sink's writer.

    nice -n 10 .venv/bin/python bench/scale_bench.py [--rows 10000000] [--single-file]
    nice -n 10 .venv/bin/python bench/scale_bench.py --rows 1000000 --compare

Rows are generated cheaply, not by the detector: canonical `ScoredTransaction` JSON of a few
thousand varied rows (`tests.unit.test_rollup_pandas.random_scored`: missing and grid-exact
scores, formula text) with the id, timestamp and offsets substituted, spread evenly over
`--days` days. They go through `sink.writer.SinkWriter` exactly as the streaming sink feeds
it (batches of `SINK_BATCH_SIZE`, 10,000; a checkpoint every 100,000 rows with fsync), so
validation, formatting, day files, rollup counts and checkpoints are the sink's own code.

Printed: the bytes of the day files, of `transactions_scored.csv` when written, and of what
a Power BI refresh of the last 3 days re-reads (those day files plus the small full-refresh
tables); the rollup refresh time (`write_rollups`, every rollup file rewritten with fsync,
median of 3) at each tenth of the rows, as a ratio to the first. `--compare` runs the same
rows twice, without and with `EXPORTS_SINGLE_FILE`, and prints what the copy costs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.codec import encode
from shared.exports_folder import ROLLUP_FILES, SCORED_FILE, STATUS_FILE
from sink import days as dy
from sink.settings import ExportSettings
from sink.writer import Record, SinkWriter

TOPIC = "transactions.scored"
BATCH = 10_000  # SINK_BATCH_SIZE
CHECKPOINT_ROWS = 100_000  # SINK_CHECKPOINT_ROWS
REFRESH_DAYS = 3  # dashboard.spec.REFRESH_DAYS (bench/ does not import dashboard/)
PARTITIONS = 4


def templates(count: int = 2_000, seed: int = 9) -> list[str]:
    """JSON texts of varied scored rows with `{id}`, `{ts}`, `{p}`, `{o}` to fill in."""
    from tests.unit.test_rollup_pandas import random_scored

    out = []
    for tx in random_scored(count, seed=seed):
        row = json.loads(encode(tx))
        row.update(transaction_id="@ID@", timestamp="@TS@", source_partition=-1111,
                   source_offset=-2222)
        text = json.dumps(row).replace("{", "{{").replace("}", "}}")
        out.append(text.replace('"@ID@"', '"{id}"').replace('"@TS@"', '"{ts}"')
                   .replace("-1111", "{p}").replace("-2222", "{o}"))
    return out


def records(rows: int, days: int, pool: list[str]) -> Iterator[list[Record]]:
    """Batches of `BATCH` records, event times spread evenly over `days` days from 2025-01-01."""
    t0 = datetime(2025, 1, 1)
    step = timedelta(days=days) / rows
    for start in range(0, rows, BATCH):
        batch: list[Record] = []
        for i in range(start, min(start + BATCH, rows)):
            p, o = i % PARTITIONS, i // PARTITIONS
            ts = (t0 + step * i).isoformat(timespec="seconds")
            text = pool[i % len(pool)].format(id=i, ts=ts, p=p, o=o)
            batch.append((p, o, text.encode()))
        yield batch


@dataclass
class Result:
    rows: int
    single_file: bool
    write_s: float = 0.0  # wall time in add + checkpoint
    write_cpu_s: float = 0.0
    refresh_s: list[tuple[int, float]] = field(default_factory=list)  # rows, wall s
    refresh_cpu_s: list[tuple[int, float]] = field(default_factory=list)  # rows, CPU s
    #: rows, bytes a refresh read (the most of `repeat`; Linux's rchar: every read call,
    #: page cache or not): what a refresh that re-read the rows would show, whatever the load
    refresh_read: list[tuple[int, int]] = field(default_factory=list)
    day_bytes: int = 0
    day_files: int = 0
    single_bytes: int = 0
    recent_bytes: int = 0  # the last REFRESH_DAYS day files + the small tables
    small_bytes: int = 0


def read_bytes() -> int:
    """Bytes this process has read through read calls so far (Linux: /proc/self/io rchar)."""
    with open("/proc/self/io", "rb") as f:
        for line in f:
            if line.startswith(b"rchar:"):
                return int(line.split()[1])
    raise OSError("/proc/self/io has no rchar")


def run(folder: Path, rows: int, days: int, single_file: bool, pool: list[str],
        points: int = 10, repeat: int = 3,
        pick: Callable[[Sequence[float]], float] = statistics.median) -> Result:
    """`rows` rows through one `SinkWriter`; the rollup refresh timed at `points` sizes
    (`pick` of `repeat` refreshes at each)."""
    res = Result(rows, single_file)
    w = SinkWriter(folder, TOPIC, ExportSettings(single_file=single_file))
    every = max(BATCH, rows // points // BATCH * BATCH)
    since = 0
    for batch in records(rows, days, pool):
        wall, cpu = time.perf_counter(), time.process_time()
        w.add(batch)
        since += len(batch)
        measure = w.rows % every == 0 or w.rows == rows
        if since >= CHECKPOINT_ROWS or measure:  # the sink refreshes right after a checkpoint
            w.checkpoint()
            since = 0
        res.write_s += time.perf_counter() - wall
        res.write_cpu_s += time.process_time() - cpu
        if measure:
            took: list[float] = []
            spent: list[float] = []
            read: list[int] = []
            for _ in range(repeat):
                began, cpu0, read0 = time.perf_counter(), time.process_time(), read_bytes()
                w.write_rollups(report=False)
                took.append(time.perf_counter() - began)
                spent.append(time.process_time() - cpu0)
                read.append(read_bytes() - read0)
            res.refresh_s.append((w.rows, pick(took)))
            res.refresh_cpu_s.append((w.rows, pick(spent)))
            res.refresh_read.append((w.rows, max(read)))
    w.close()
    files = dy.day_files(folder)
    res.day_files = len(files)
    res.day_bytes = sum(p.stat().st_size for p in files)
    res.small_bytes = sum((folder / n).stat().st_size for n in (*ROLLUP_FILES, STATUS_FILE))
    res.recent_bytes = sum(p.stat().st_size for p in files[-REFRESH_DAYS:]) + res.small_bytes
    if single_file:
        res.single_bytes = (folder / SCORED_FILE).stat().st_size
    return res


def show(res: Result) -> None:
    mb = 1e6
    print(f"rows {res.rows:,}, EXPORTS_SINGLE_FILE={'on' if res.single_file else 'off'}: "
          f"writer {res.write_s:,.1f} s wall, {res.write_cpu_s:,.1f} s CPU "
          f"({res.rows / res.write_s:,.0f} rows/s)")
    print(f"  day files: {res.day_files} files, {res.day_bytes / mb:,.1f} MB; "
          f"transactions_scored.csv: {res.single_bytes / mb:,.1f} MB")
    print(f"  a refresh of the last {REFRESH_DAYS} days re-reads {res.recent_bytes / mb:,.2f} MB "
          f"(small tables {res.small_bytes / 1e3:,.1f} kB) of {res.day_bytes / mb:,.1f} MB: "
          f"{100 * res.recent_bytes / res.day_bytes:.3f} %")
    for label, points in (("wall", res.refresh_s), ("CPU", res.refresh_cpu_s)):
        first = points[0][1]
        print(f"  rollup refresh, {label} (rows: ms, ratio to the first): " + "; ".join(
            f"{n:,}: {s * 1e3:.1f} x{s / first:.2f}" for n, s in points))
    print("  rollup refresh, bytes read (rows: bytes): "
          + "; ".join(f"{n:,}: {b:,}" for n, b in res.refresh_read))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--single-file", action="store_true", help="EXPORTS_SINGLE_FILE on")
    ap.add_argument("--compare", action="store_true",
                    help="run without and with the single file, and compare")
    ap.add_argument("--dir", type=Path, default=None, help="scratch folder (default: temp)")
    args = ap.parse_args()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    pool = templates()
    modes = [False, True] if args.compare else [args.single_file]
    results = []
    for single in modes:
        scratch = Path(tempfile.mkdtemp(prefix="scale-bench-", dir=args.dir))
        try:
            results.append(run(scratch, args.rows, args.days, single, pool))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        show(results[-1])
        print(f"  load {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.compare:
        off, on = results
        print(f"transactions_scored.csv costs {on.single_bytes / off.day_bytes:.2f}x the day "
              f"files' bytes ({on.single_bytes / 1e6:,.1f} MB more on disk) and "
              f"x{on.write_s / off.write_s:.2f} the writer's wall time "
              f"(x{on.write_cpu_s / off.write_cpu_s:.2f} CPU)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
