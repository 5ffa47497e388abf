"""`decode_record` of another checkout against this one, interleaved in one process.

On a shared machine the load swings more between two runs than a small change costs;
timing both versions alternately in one process lets the load hit both alike. The other
version is another checkout's `shared/fastcodec.py`, loaded beside this one (it imports
this checkout's `shared.schemas`, so only the fast decoder's own code differs).

    .venv/bin/python bench/fastcodec_pair_bench.py OTHER/shared/fastcodec.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from producer.generator import GeneratorConfig, generate
from shared import fastcodec
from shared.codec import encode

PASSES = 5


def _load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("other_fastcodec", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _per_row(decode: Callable[[bytes], object], values: list[bytes]) -> float:
    start = time.process_time()
    for _ in range(PASSES):
        for value in values:
            decode(value)
    return (time.process_time() - start) / (PASSES * len(values)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the other checkout's shared/fastcodec.py")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    other = _load(args.other)
    txs = generate(GeneratorConfig(seed=3, customers=40, days=30))[:2000]
    plain = [encode(tx) for tx in txs]
    marked = '"merchant_category":"caf\u00e9 \u20ac\u2019 '.encode()
    accented = [v.replace(b'"merchant_category":"', marked) for v in plain]
    for values in (plain, accented):
        if any(d(v) is None for v in values for d in (other.decode_record,
                                                      fastcodec.decode_record)):
            raise SystemExit("a version leaves a valid message to the schema")
    for name, values in (("ASCII messages", plain), ("with \u00e9 \u20ac \u2019 (0xE2)", accented)):
        old, new = [], []
        for _ in range(args.rounds):
            old.append(_per_row(other.decode_record, values))
            new.append(_per_row(fastcodec.decode_record, values))
        ratios = sorted(b / a for a, b in zip(old, new, strict=True))
        print(f"  {name:24s} other {min(old):.2f} us, this {min(new):.2f} us "
              f"(min of {args.rounds}); this/other median {statistics.median(ratios):.2f} "
              f"(range {ratios[0]:.2f}-{ratios[-1]:.2f})")


if __name__ == "__main__":
    main()
