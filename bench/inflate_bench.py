"""What the state readers' bounded inflation costs a restore (docs/benchmarks.md).

    .venv/bin/python bench/inflate_bench.py                          # 50,000 customers
    .venv/bin/python bench/inflate_bench.py --against /tmp/old-main  # and an older tree's readers

Builds one partition through the core (tests/state_scale.py: one transaction per customer,
then twice as many more), then times, interleaved in one process (the load of a shared
machine drifts), medians of `--passes`: `zlib.decompress` against `inflate.inflate` on
the whole snapshot's body and on the sample part, and, with `--against`, that tree's
`stateparts.decode` and `stateformat.decode` against this tree's on the same bytes.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import random
import statistics
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.core import inflate, stateformat, stateparts
from detector.core.engine import PartitionEngine
from tests.state_scale import config, transactions


def _load(name: str, path: Path, source: str | None = None) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    if source is None:
        spec.loader.exec_module(module)
    else:
        exec(compile(source, str(path), "exec"), module.__dict__)
    return module


def _older(tree: Path) -> tuple[ModuleType, ModuleType]:
    """`tree`'s stateformat and stateparts (the rest of the core: this tree's)."""
    old_sf = _load("older_stateformat", tree / "detector/core/stateformat.py")
    path = tree / "detector/core/stateparts.py"
    source = path.read_text().replace("from detector.core import stateformat as sf",
                                      "import older_stateformat as sf")
    return old_sf, _load("older_stateparts", path, source)


def _timed(pairs: dict[str, tuple[Callable[[], Any], Callable[[], Any]]], passes: int) -> None:
    for name, (a, b) in pairs.items():
        times: tuple[list[float], list[float]] = ([], [])
        for _ in range(passes):
            for f, out in ((a, times[0]), (b, times[1])):
                gc.collect()
                gc.disable()
                start = time.perf_counter()
                f()
                out.append(time.perf_counter() - start)
                gc.enable()
        ma, mb = statistics.median(times[0]), statistics.median(times[1])
        print(f"{name}: {ma * 1e3:.1f} ms -> {mb * 1e3:.1f} ms, {mb / ma:.3f}x")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--passes", type=int, default=9)
    parser.add_argument("--against", type=Path, help="an older checkout's readers to compare")
    args = parser.parse_args(argv)
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    n, cfg = args.customers, config(args.customers)
    engine = PartitionEngine(cfg, 0)
    rng = random.Random(3)
    ids = list(range(n)) + [rng.randrange(n) for _ in range(2 * n)]
    for lo in range(0, len(ids), 5_000):
        engine.process(transactions(ids[lo:lo + 5_000], lo, 7 + lo))
    changes = engine.checkpoint(full=True)
    parts = {k: v for k, v in changes.parts.items() if v is not None}
    whole = engine.snapshot()
    body = whole[len(stateformat.MAGIC):]
    sample = parts["sample"][4:]
    print(f"{n:,} customers: snapshot {len(body):,} -> {len(zlib.decompress(body)):,} bytes")
    pairs: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        "inflate the snapshot": (
            lambda: zlib.decompress(body),
            lambda: inflate.inflate(body, inflate.whole_bound(len(body), cfg), "s")),
        "inflate the sample part": (
            lambda: zlib.decompress(sample),
            lambda: inflate.inflate(sample, inflate.part_bound("sample", cfg), "s")),
    }
    if args.against:
        old_sf, old_sp = _older(args.against)
        pairs |= {
            "resume the checkpoint": (
                lambda: old_sp.decode(parts, changes.customers, cfg),
                lambda: stateparts.decode(parts, changes.customers, cfg)),
            "restore the snapshot": (lambda: old_sf.decode(whole, cfg),
                                     lambda: stateformat.decode(whole, cfg)),
        }
    _timed(pairs, args.passes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
