"""The longest batch with the Isolation Forest refitted synchronously or in the background.

Feeds one `PartitionEngine` a generated stream in batches of `--batch` rows and times each
`verdicts` call, once per `refit_delay` given (0 = the synchronous fit, the old behaviour),
each run in this process on the same rows, runs interleaved `--repeat` times. The default
model knobs, with `refit_every` lowered so the stream crosses many refits. Prints per run:
batches, p50 / p99 / max batch time, the mean and max time of the batches that hold a fit
point (the synchronous fit's cost lands there) and the max of those that hold a takeover
point (the background fit's join) with the longest wait in that join, the total wall time
and the main thread's CPU time (what the fit no longer costs the hot path). Also the fit
alone, with nothing else running.

    .venv/bin/python bench/refit_bench.py [--rows 60000] [--delays 0 2000] [--batch 500]
    .venv/bin/python bench/refit_bench.py --overlap --repeat 5   # GIL: fit beside the rows
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from detector_bench import make_transactions

from detector.core import refit
from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.model import FittedModel, fit_rows, next_fit_point
from shared.schemas import Transaction

_WAITS: list[float] = []


def _timed_result(self: refit.PendingFit) -> FittedModel:
    t0 = time.perf_counter()
    try:
        return _RESULT(self)
    finally:
        _WAITS.append(time.perf_counter() - t0)


_RESULT = refit.PendingFit.result
refit.PendingFit.result = _timed_result  # type: ignore[method-assign]


def run(rows: list[Transaction], cfg: CoreConfig, batch: int) -> dict[str, float]:
    _WAITS.clear()
    engine = PartitionEngine(cfg)
    times, cpu, fit_batches, take_batches = [], [], [], []
    for lo in range(0, len(rows), batch):
        chunk = rows[lo:lo + batch]
        t0, c0 = time.perf_counter(), time.thread_time()
        engine.verdicts(chunk)
        dt = time.perf_counter() - t0
        times.append(dt)
        cpu.append(time.thread_time() - c0)
        hi = lo + len(chunk)
        fit = next_fit_point(lo, cfg)
        if fit < hi:
            fit_batches.append(dt)
        if cfg.refit_delay and any(lo <= f + cfg.refit_delay < hi for f in _fits(cfg, hi)):
            take_batches.append(dt)
    engine.close()
    ordered = sorted(times)
    return {
        "batches": len(times),
        "p50": statistics.median(times) * 1e3,
        "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e3,
        "max": ordered[-1] * 1e3,
        "fit_mean": statistics.mean(fit_batches) * 1e3 if fit_batches else 0.0,
        "fit_max": max(fit_batches, default=0.0) * 1e3,
        "take_max": max(take_batches, default=0.0) * 1e3,
        "total": sum(times),
        "cpu": sum(cpu),
        "wait": max(_WAITS, default=0.0) * 1e3,
    }


def _fits(cfg: CoreConfig, upto: int) -> list[int]:
    out, f = [], next_fit_point(0, cfg)
    while f < upto:
        out.append(f)
        f = next_fit_point(f + 1, cfg)
    return out


def overlap(rows: list[Transaction], cfg: CoreConfig, repeat: int) -> None:
    """Does the fit thread run beside the row loop, or does the GIL serialise them? Per
    round: the rows alone (a), the fit alone (b), then both at once (main c, fit f). Full
    overlap: c = a; fully serialised: c = a + b."""
    import threading
    warm = PartitionEngine(cfg)
    warm.verdicts(rows[:cfg.sample_size])
    training = warm._sample.view()
    head, tail = rows[:cfg.sample_size], rows[cfg.sample_size:cfg.sample_size + 1000]
    print("round | rows alone a ms | fit alone b ms | rows beside the fit c ms | fit beside "
          "the rows f ms | (c - a) / b | load")
    for r in range(repeat):
        def engine() -> PartitionEngine:
            e = PartitionEngine(cfg)
            e.verdicts(head)
            return e
        e = engine()
        t0 = time.perf_counter()
        e.verdicts(tail)
        a = time.perf_counter() - t0
        t0 = time.perf_counter()
        fit_rows(training, 1, cfg)
        b = time.perf_counter() - t0
        e = engine()
        done: list[float] = []

        def fit(t1: float, done: list[float] = done) -> None:
            fit_rows(training, 1, cfg)
            done.append(time.perf_counter() - t1)

        th = threading.Thread(target=fit, args=(time.perf_counter(),))
        th.start()
        t0 = time.perf_counter()
        e.verdicts(tail)
        c = time.perf_counter() - t0
        th.join()
        print(f"{r + 1} | {a * 1e3:.0f} | {b * 1e3:.0f} | {c * 1e3:.0f} | {done[0] * 1e3:.0f} | "
              f"{(c - a) / b:.2f} | {os.getloadavg()[0]:.1f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=60_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--refit-every", type=int, default=5_000)
    ap.add_argument("--delays", type=int, nargs="+", default=[0, 2000])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--overlap", action="store_true", help="only the GIL overlap rounds")
    args = ap.parse_args()
    rows = make_transactions(args.rows, customers=5_000)
    base = CoreConfig(refit_every=args.refit_every)
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}"
          f", {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; {args.rows:,} rows, "
          f"batches of {args.batch}, fit at {base.first_fit_after} and every "
          f"{args.refit_every:,}, {base.n_trees} trees")
    if args.overlap:
        overlap(rows, base, args.repeat)
        return
    sample = PartitionEngine(base)
    sample.verdicts(rows[:base.sample_size + 100])
    alone = []
    for n in range(5):
        t0 = time.perf_counter()
        fit_rows(sample._sample.view(), n + 1, base)
        alone.append(time.perf_counter() - t0)
    print(f"fit alone: median {statistics.median(alone) * 1e3:.0f} ms "
          f"(min {min(alone) * 1e3:.0f}, max {max(alone) * 1e3:.0f})")
    print("delay | batches | p50 ms | p99 ms | max ms | fit-point batch mean/max ms | "
          "takeover batch max ms | longest wait for a fit ms | total s | main thread CPU s | load")
    for _ in range(args.repeat):
        for delay in args.delays:
            cfg = base.model_copy(update={"refit_delay": delay})
            r = run(rows, cfg, args.batch)
            print(f"{delay} | {r['batches']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
                  f"{r['max']:.1f} | {r['fit_mean']:.1f} / {r['fit_max']:.1f} | "
                  f"{r['take_max']:.1f} | {r['wait']:.1f} | {r['total']:.2f} | {r['cpu']:.2f} | "
                  f"{os.getloadavg()[0]:.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
