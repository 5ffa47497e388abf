"""Per-row cost of the detector's message path without the core: decode + encode, both ways.

- pydantic (the path before issue 14): `Transaction.model_validate_json` (`decode_transaction`),
  then a `ScoredTransaction` built from its fields and a verdict, serialised by pydantic;
- fast (now): `decode_record` (msgspec into a `TxRecord`), then `encode_scored` from the
  record and the verdict (msgspec).

Same messages (generated transactions with their labels, as the producer encodes them),
same verdict; CPU microseconds per row, the median of `--repeat` passes. The outputs are
checked equal before timing.

    .venv/bin/python bench/codec_bench.py [--rows 50000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.core.engine import scored_row
from detector.core.verdict import Verdict, verdict_fields
from detector.dlq import decode_record, decode_transaction
from producer.generator import GeneratorConfig, generate
from shared.codec import encode
from shared.fastcodec import encode_scored

VERDICT = Verdict(score=0.123456, model_score=0.5, rule_flags={"burst": False},
                  reasons_top3=["amount 14x this customer's median"], model_version="if-3")


def pydantic_path(values: list[bytes]) -> list[bytes]:
    out = []
    extra = verdict_fields(VERDICT)
    for i, value in enumerate(values):
        tx = decode_transaction(value)
        row = scored_row({**tx.__dict__, **extra, "source_partition": 0, "source_offset": i})
        out.append(encode(row))
    return out


def fast_path(values: list[bytes]) -> list[bytes]:
    buffer = bytearray()  # as detector.loop keeps one
    return [encode_scored(decode_record(value), VERDICT, 0, i, buffer)
            for i, value in enumerate(values)]


def per_row(fn: Callable[[list[bytes]], list[bytes]], values: list[bytes], repeat: int
            ) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn(values)
        times.append((time.process_time() - start) / len(values) * 1e6)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    txs = generate(GeneratorConfig(seed=3, customers=max(1, args.rows // 60), days=30))
    values = [encode(tx) for tx in txs[: args.rows]]
    if pydantic_path(values[:2000]) != fast_path(values[:2000]):
        raise SystemExit("the two paths disagree")
    old = per_row(pydantic_path, values, args.repeat)
    new = per_row(fast_path, values, args.repeat)
    print(f"codec_bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}, python {platform.python_version()}, "
          f"{len(values):,} rows, median of {args.repeat}")
    print(f"  decode + encode, pydantic (before)  {old:6.2f} us/row")
    print(f"  decode + encode, fast (msgspec)     {new:6.2f} us/row   ({old / new:.1f}x)")


if __name__ == "__main__":
    main()
