"""Where a whole `auditstream score` goes, phase by phase, against a pandas read+write of the
same CSV in the same run.

    .venv/bin/python bench/score_phases.py in.csv [--runs 3]

Each run is a fresh process (`--child`) doing what `score` does for input in event-time
order (`auditstream.score._score_stream` with the same pieces, one partition), its phases
timed by the main thread's CPU (`time.thread_time`: the refit thread apart) and by wall
clock: the start (interpreter, imports, the kernel loaded), the inputs hashed, the rows read
(the CSV reader's good rows, pulled a batch at a time), the engine (`PartitionEngine.
verdicts`: the kernel's rows, the forest, the verdicts), each part of the exports' batch
(cells, rollup facts, the rollup's counts, the day files' bytes and writes, the watermark),
the inputs hashed again, and `finish` (the rollups, the report, the renames). Each run sits
between two pandas runs; the figures are medians over the runs, each phase also as a share
of the run's wall time and as a multiple of pandas' wall time in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

PHASES = ("start", "hash", "read", "engine", "cells", "facts", "rollup", "days", "watermark",
          "rehash", "finish")


def child(csv_path: Path, out: Path) -> dict[str, list[float]]:
    """One `score` of `csv_path` into `out`, phase by phase: {phase: [CPU s, wall s]}."""
    started_cpu, started = time.process_time(), time.perf_counter()  # since the start
    got = {p: [0.0, 0.0] for p in PHASES}

    def timed(phase: str, cpu: float, wall: float) -> tuple[float, float]:
        now_cpu, now = time.thread_time(), time.perf_counter()
        got[phase][0] += now_cpu - cpu
        got[phase][1] += now - wall
        return now_cpu, now

    from itertools import islice

    from auditstream.report import write_report_from_rollup
    from auditstream.score import _sha256
    from auditstream.sorted_input import direct
    from detector.core.engine import load_core
    from detector.offline import BATCH, _verdicts
    from detector.settings import DetectorSettings
    from shared.csv_io import open_checked
    from shared.gcpause import gc_paused
    from sink.csvfmt import verdict_cells
    from sink.days import event_times, split_by_day
    from sink.offline import ExportWriter
    from sink.rollup import verdict_facts
    from sink.settings import ExportSettings

    load_core()
    config, settings = DetectorSettings().core, ExportSettings()
    got["start"] = [time.process_time() - started_cpu, time.perf_counter() - started]
    cpu, wall = time.thread_time(), time.perf_counter()
    with gc_paused(), open_checked(csv_path) as file:
        _sha256([file])
        cpu, wall = timed("hash", cpu, wall)
        rows = direct([file], [])
        engines: dict[int, Any] = {}
        with ExportWriter(out, settings, write_report_from_rollup) as exports:
            state, clock, stage = exports.state, exports._clock, exports._days
            assert stage is not None
            while True:
                cpu, wall = time.thread_time(), time.perf_counter()
                chunk = list(islice(rows, BATCH))
                cpu, wall = timed("read", cpu, wall)
                if not chunk:
                    break
                verdicts = _verdicts(chunk, engines, 1, config)
                cpu, wall = timed("engine", cpu, wall)
                cells = [verdict_cells(tx.__dict__, w) for tx, w in
                         zip(chunk, verdicts, strict=True)]
                cpu, wall = timed("cells", cpu, wall)
                facts = [verdict_facts(tx.is_anomaly, w) for tx, w in
                         zip(chunk, verdicts, strict=True)]
                cpu, wall = timed("facts", cpu, wall)
                state.update(facts, cells)
                cpu, wall = timed("rollup", cpu, wall)
                stage.write(split_by_day(cells))
                cpu, wall = timed("days", cpu, wall)
                clock.see_all(event_times(cells))
                cpu, wall = timed("watermark", cpu, wall)
            _sha256([file])
            cpu, wall = timed("rehash", cpu, wall)
            exports.finish(run_info={"rows": exports.rows})
            timed("finish", cpu, wall)
    got["total"] = [time.process_time() - started_cpu, time.perf_counter() - started]
    return got


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.input, args.child)))
        return 0
    from score_bench import PANDAS, timed

    runs: list[dict[str, list[float]]] = []
    with tempfile.TemporaryDirectory(prefix="score-phases-") as tmp:
        pandas = [sys.executable, "-c", PANDAS, str(args.input), str(Path(tmp) / "p.csv")]
        last = timed(pandas)[0]
        for i in range(args.runs):
            out = subprocess.run([sys.executable, __file__, str(args.input), "--child",
                                  str(Path(tmp) / f"out-{i}")], check=True,
                                 capture_output=True, text=True).stdout
            after = timed(pandas)[0]
            got = json.loads(out.splitlines()[-1])
            got["pandas"] = [0.0, (last + after) / 2]
            last = after
            runs.append(got)
            print(f"run {i + 1}: total {got['total'][1]:.1f} s wall, {got['total'][0]:.1f} s "
                  f"CPU; pandas {got['pandas'][1]:.2f} s; load {os.getloadavg()[0]:.1f}",
                  flush=True)
    print(f"{'phase':<10} {'CPU s':>7} {'wall s':>7} {'% wall':>7} {'x pandas':>9}")
    for phase in (*PHASES, "total"):
        cpu = statistics.median(r[phase][0] for r in runs)
        wall = statistics.median(r[phase][1] for r in runs)
        share = statistics.median(100 * r[phase][1] / r["total"][1] for r in runs)
        times = statistics.median(r[phase][1] / r["pandas"][1] for r in runs)
        print(f"{phase:<10} {cpu:7.2f} {wall:7.2f} {share:6.1f}% {times:8.2f}x")
    print(f"pandas read+write: median {statistics.median(r['pandas'][1] for r in runs):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
