"""Careful isolation at scale: the time to find one poison record in a batch when the
partition holds many customers, with the engine's savepoints as in-memory clones
(`PartitionEngine.clone`) against snapshots (`restore(snapshot())`, as before).

    .venv/bin/python bench/careful_bench.py                          # 100,000 customers
    AUDITSTREAM_CORE=kernel .venv/bin/python bench/careful_bench.py  # on the kernel

The partition is built through the engine (tests/state_scale.py: one transaction per
customer), then a batch of `--batch` transactions of known customers, one of which makes
the engine raise after scoring the rows before it, goes through `Careful.run` (a savepoint
before each sub-batch, a rollback after each failure, halving down to the poison). The
detector's open transaction must survive this: `transaction.timeout.ms` is 60 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import detector  # noqa: F401  (loads the kernel under AUDITSTREAM_CORE=kernel)
from detector.core.engine import PartitionEngine
from detector.isolation import Careful
from detector.partition import PartitionState
from tests.poison_engine import POISON, Picky, SnapshotsOnly, restorer
from tests.state_scale import build, transactions


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--at", type=int, default=11, help="the poison's place in the batch")
    parser.add_argument("--modes", default="clones,snapshots")
    args = parser.parse_args(argv)
    core = os.environ.get("AUDITSTREAM_CORE", "") or "core"
    print(f"load average at start: {os.getloadavg()[0]:.1f}; {core}, "
          f"{args.customers:,} customers, a batch of {args.batch}, poison at {args.at}")
    part = build(args.customers, 0.0)
    engine = part.state.engine
    assert isinstance(engine, PartitionEngine)
    config = engine.config
    batch = transactions(list(range(0, args.customers, args.customers // args.batch)),
                         part.rows, 9)[:args.batch]
    batch[args.at] = batch[args.at].model_copy(update={"amount": POISON})
    outputs = []
    for mode in args.modes.split(","):
        kind = Picky if mode == "clones" else SnapshotsOnly
        start = engine.clone()  # every mode from the same state
        start.__class__ = kind
        holder = PartitionState(start, 0)
        Picky.counts = {}
        t = time.perf_counter()
        out = Careful(holder, restorer(kind, config)).run(batch)
        took = time.perf_counter() - t
        poison = [i for i, r in enumerate(out) if isinstance(r, Exception)]
        outputs.append([type(r).__name__ if isinstance(r, Exception)
                        else msgspec.json.encode(r)
                        for r in out])
        print(f"{mode:>9}: {took:7.2f} s, {Picky.counts}, poison found at {poison}",
              flush=True)
    same = all(o == outputs[0] for o in outputs)
    print(f"same verdicts in every mode: {same}; load average at end: "
          f"{os.getloadavg()[0]:.1f}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
