"""Where one detector process's wall time goes, stage by stage, against a broker (issue 14).

Loads N transactions into a 4-partition topic (as `detector_bench`), runs one detector
(exactly-once, the default kernel core, or `--identity` for the shell alone) and times its
main thread from the first batch to the loop's end: consume, decode, the duplicate check,
the engine, the write (encode and produce; `--per-row` splits the two, but its timed call
a row inflates both: compare them only with each other), checkpoints, each step of the
commit, the rest of the loop. Also Python's collections (inside the stage they struck), the
CPU of every thread of the process (librdkafka's, the background refit) and, with
`--broker-pid`, the broker's. The detector's code is not changed: its functions are wrapped
here, as `trace_detector` does.

    .venv/bin/python bench/service_split.py [--records 100000] [--rounds 3] [--identity]
        [--per-row] [--broker-pid PID]

Uses the broker named by KAFKA_BOOTSTRAP_SERVERS, else starts a local one.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector_bench import broker, detector_rate, load, make_transactions

from detector import app, kafka_io, loop, txn
from detector.core.config import CoreConfig
from detector.partition import CoreEngineFactory
from tests.cores import core_switch

#: Stages timed by wrapping a function, and the stage each one's time is counted in
#: (nested stages are taken out of their parent's: each figure is exclusive).
WRAPPED: list[tuple[Any, str, str]] = [
    (app.Detector, "_turn", "turn"),
    (app.Detector, "_process", "batch"),
    (loop.BatchProcessor, "process", "process"),
    (loop, "_decode_new", "decode"),
    (loop, "_drop_duplicates", "duplicate check"),
    (loop, "_score", "engine"),
    (loop.BatchProcessor, "_write", "write (encode + produce)"),
    (loop.BatchProcessor, "take_snapshot", "checkpoint"),
    (app.Detector, "_commit", "commit"),
]
PER_ROW: list[tuple[Any, str, str]] = [
    (loop, "encode_scored", "encode"),
    (kafka_io.KafkaOutput, "scored", "produce"),
]
#: Each stage's parent: its time is taken out of the parent's.
PARENT = {"batch": "turn", "commit": "turn", "process": "batch", "decode": "process",
          "duplicate check": "process", "engine": "process",
          "write (encode + produce)": "process", "checkpoint": "process",
          "encode": "write (encode + produce)", "produce": "write (encode + produce)"}
#: The prefix of each commit step's stage (`Transactions._call`'s steps), a part of "commit".
COMMIT_STEP = "commit: "
#: Names for what is left of a stage once its parts are taken out.
REST = {"turn": "turn, the rest (metrics, lag)", "batch": "batch: begin, poll, metrics",
        "process": "process: grouping, loop lines", "commit": "commit, the rest",
        "write (encode + produce)": "write: the loop's lines"}


class Split:
    """Wall seconds by stage on the main thread, counted from the first batch on."""

    def __init__(self) -> None:
        self.spent: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self.gc: defaultdict[int, list[float]] = defaultdict(list)
        self.first = self.end = 0.0
        self.counting = False

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def timed(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                if self.counting:
                    self.spent[stage] += time.perf_counter() - start
                    self.calls[stage] += 1
        return wrapper

    def exclusive(self) -> dict[str, float]:
        """Each stage with its timed parts taken out, the loop's rest and consume added."""
        out = dict(self.spent)
        parents = set()
        for stage, seconds in self.spent.items():
            parent = "commit" if stage.startswith(COMMIT_STEP) else PARENT.get(stage)
            if parent in out:
                out[parent] -= seconds
                parents.add(parent)
        out = {REST[k] if k in parents else k: v for k, v in out.items()}
        window = self.end - self.first
        out["loop, the rest (between turns)"] = window - sum(out.values())
        return out


SPLIT = Split()


def install(per_row: bool) -> None:
    """Wrap the stages (once for the process; `SPLIT.counting` turns the count on)."""
    for owner, name, stage in WRAPPED + (PER_ROW if per_row else []):
        setattr(owner, name, SPLIT.timed(stage, getattr(owner, name)))
    steps = txn.Transactions._call

    def call(self: txn.Transactions, step: str, fn: Callable[[], None],
             abortable: bool = True) -> None:
        SPLIT.timed(f"{COMMIT_STEP}{step}", steps)(self, step, fn, abortable)

    setattr(txn.Transactions, "_call", call)  # noqa: B010
    consume = getattr(app, "consume_ready")  # noqa: B009 (not exported by the module)

    def consume_ready(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        msgs = consume(*args, **kwargs)
        if SPLIT.counting:
            SPLIT.spent["consume"] += time.perf_counter() - start
        elif msgs:
            SPLIT.first, SPLIT.counting = time.perf_counter(), True
            THREADS.mark()
        return msgs

    setattr(app, "consume_ready", consume_ready)  # noqa: B010
    shutdown = app.Detector._shutdown

    def ended(self: app.Detector, clean: bool) -> None:
        SPLIT.end, SPLIT.counting = time.perf_counter(), False
        THREADS.mark_end()
        shutdown(self, clean)

    setattr(app.Detector, "_shutdown", ended)  # noqa: B010
    collected = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collected[0] = time.perf_counter()
        elif SPLIT.counting:
            SPLIT.gc[info["generation"]].append(time.perf_counter() - collected[0])

    gc.callbacks.append(on_gc)


def _cpu(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Threads:
    """CPU seconds of each thread of this process (and the broker's) within the window:
    sampled every 0.1 s, since librdkafka's threads end with their client."""

    def __init__(self, broker_pid: int | None) -> None:
        self.broker = Path(f"/proc/{broker_pid}/stat") if broker_pid else None
        self.start: dict[str, float] = {}
        self.last: dict[str, tuple[str, float]] = {}
        self.broker_cpu = [0.0, 0.0]
        self._on = False
        threading.Thread(target=self._sample, daemon=True).start()

    def _read(self) -> dict[str, tuple[str, float]]:
        out = {}
        for task in Path("/proc/self/task").iterdir():
            try:
                name = (task / "comm").read_text().strip()
                if task.name == str(os.getpid()):
                    name = "main thread"
                out[task.name] = (name, _cpu(task / "stat"))
            except OSError:
                continue  # ended meanwhile
        return out

    def mark(self) -> None:
        self.start = {tid: cpu for tid, (_, cpu) in self._read().items()}
        self.last = {}
        if self.broker:
            self.broker_cpu[0] = _cpu(self.broker)
        self._on = True

    def mark_end(self) -> None:
        self.last.update(self._read())
        self._on = False
        if self.broker:
            self.broker_cpu[1] = _cpu(self.broker)

    def _sample(self) -> None:
        while True:
            if self._on:
                self.last.update(self._read())
            time.sleep(0.1)

    def by_name(self) -> dict[str, float]:
        out: defaultdict[str, float] = defaultdict(float)
        for tid, (name, cpu) in self.last.items():
            if name.startswith("rdk:broker"):
                name = "rdk:broker*"
            elif name != "main thread" and not name.startswith("rdk:"):
                name = "other Python threads (refit, watchdog, this bench's sampler)"
            out[name] += cpu - self.start.get(tid, 0.0)
        if self.broker:
            out["the broker (another process)"] = self.broker_cpu[1] - self.broker_cpu[0]
        return dict(out)


THREADS: Threads


def main() -> None:
    global THREADS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--identity", action="store_true", help="the shell alone: no scoring")
    parser.add_argument("--per-row", action="store_true",
                        help="split the write into encode and produce (a timed call a row)")
    parser.add_argument("--broker-pid", type=int, help="also the broker's CPU")
    args = parser.parse_args()
    THREADS = Threads(args.broker_pid)
    install(args.per_row)
    shares: defaultdict[str, list[float]] = defaultdict(list)
    per_record: defaultdict[str, list[float]] = defaultdict(list)
    cpus: defaultdict[str, list[float]] = defaultdict(list)
    with broker() as kafka, core_switch("kernel"):
        src = f"split-{uuid.uuid4().hex[:8]}"
        load(kafka, src, make_transactions(args.records))
        CoreEngineFactory(CoreConfig()).new(0).verdicts(make_transactions(50))
        for r in range(args.rounds):
            SPLIT.reset()
            wall, per_cpu = detector_rate(kafka, src, args.records, args.batch,
                                          args.identity, f"r{r}-{uuid.uuid4().hex[:6]}")
            window = SPLIT.end - SPLIT.first
            print(f"round {r + 1}: {wall:,.0f} tx/s, {per_cpu:,.0f} tx/cpu-s; window "
                  f"{window:.2f} s, load {os.getloadavg()[0]:.1f}; collections "
                  + ", ".join(f"gen{g} {len(d)} x = {sum(d) * 1e3:.0f} ms"
                              for g, d in sorted(SPLIT.gc.items())), flush=True)
            spent = SPLIT.exclusive()
            spent["(Python's collections, inside the stages)"] = sum(
                sum(d) for d in SPLIT.gc.values())
            for stage, seconds in spent.items():
                shares[stage].append(seconds / window)
                per_record[stage].append(seconds / args.records * 1e6)
            for name, cpu in THREADS.by_name().items():
                cpus[name].append(cpu / window)
    print(f"service_split {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, "
          f"{args.records:,} records, {'identity engine' if args.identity else 'kernel'}, "
          f"{args.rounds} rounds: the main thread's wall time by stage, median share of the "
          "window (first batch to the loop's end), median us a record, each round's share")
    for stage, values in sorted(shares.items(), key=lambda kv: -statistics.median(kv[1])):
        print(f"  {stage:<46} {100 * statistics.median(values):5.1f} % "
              f"{statistics.median(per_record[stage]):6.2f} us  "
              f"({', '.join(f'{100 * v:.1f}' for v in values)})")
    print("  CPU by thread, median share of the window's wall time (1.0 = one core):")
    for name, values in sorted(cpus.items(), key=lambda kv: -statistics.median(kv[1])):
        print(f"  {name:<62} {statistics.median(values):5.2f}")


if __name__ == "__main__":
    main()
