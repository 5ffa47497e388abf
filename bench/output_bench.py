"""CPU time a row of `KafkaOutput.scored` (the detector's produce of a scored row), with a
producer that does nothing: the Python around librdkafka's produce, alone.

`--other FILE` is another checkout's `detector/kafka_io.py` (`git show REV:detector/kafka_io.py
> FILE`), loaded beside this tree's and run alternately with it in one process, each run
this thread's CPU time (`time.thread_time`: a loaded machine's waits left out); the medians
and the median of the paired ratios are printed. An older `KafkaOutput` that takes the
transaction's `sending` callable instead of the transaction is given `sending`.

    .venv/bin/python bench/output_bench.py [--runs 41] [--rows 50000] [--other FILE]
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detector.kafka_io import KafkaOutput  # noqa: E402
from detector.settings import DetectorSettings  # noqa: E402
from detector.txn import Transactions  # noqa: E402


class NoProducer:
    def produce(self, *args: Any, **kwargs: Any) -> None:
        pass


def output(cls: Any) -> Any:
    # a `Transactions` with no producer: its `started` and `sending` alone
    s, txn = DetectorSettings(instance_id="bench"), Transactions.__new__(Transactions)
    txn.started = None
    takes_txn = "txn" in inspect.signature(cls).parameters
    return cls(NoProducer(), s, 1, txn if takes_txn else txn.sending)


def load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("other_kafka_io", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.KafkaOutput


def run(out: Any, rows: int) -> float:
    """ns of this thread's CPU a row."""
    scored, key, value = out.scored, b"c123", b"x" * 300
    start = time.thread_time()
    for _ in range(rows):
        scored(key, value)
    return (time.thread_time() - start) / rows * 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=41)
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--other", type=Path, help="another checkout's detector/kafka_io.py")
    args = ap.parse_args()
    outs = {"this tree": output(KafkaOutput)}
    if args.other:
        outs["other"] = output(load(args.other))
    times: dict[str, list[float]] = {name: [] for name in outs}
    for _ in range(args.runs):
        for name, out in outs.items():
            times[name].append(run(out, args.rows))
    for name, got in times.items():
        print(f"{name}: median {statistics.median(got):.0f} ns/row (min {min(got):.0f}, "
              f"max {max(got):.0f}; {args.runs} runs of {args.rows:,} rows)")
    if args.other:
        pairs = sorted(a / b for a, b in zip(times["this tree"], times["other"], strict=True))
        print(f"this tree / other: paired median {statistics.median(pairs):.2f} "
              f"({pairs[0]:.2f}-{pairs[-1]:.2f})")


if __name__ == "__main__":
    main()
