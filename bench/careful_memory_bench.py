"""Peak memory while a careful (poison-isolating) batch is written, with the real core.

A partition's engine is built from generated data (`--customers`, 3 days), then the last
`--batch` records run carefully with every `--every`-th one made poison (the engine raises
on it): each failing sub-batch restores the engine from its snapshot. The resident peak is
read at each produced row. `--keep-tracebacks` puts back the poison results' tracebacks
(before the fix in `detector.isolation`: they kept the replaced engines until the end).

    python bench/careful_memory_bench.py [--keep-tracebacks]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from detector_bench import Message, NullOutput

import detector.isolation as isolation
from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.loop import BatchProcessor
from detector.partition import PartitionState
from producer.generator import GeneratorConfig, generate
from shared.codec import encode
from shared.schemas import TransactionView


def _rss_mb() -> float:
    status = Path("/proc/self/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status)
    return int(fields["VmRSS"].split()[0]) / 1024


class _Poisoned:
    """The real engine, raising on the transaction ids in `poison`."""

    def __init__(self, engine: PartitionEngine, poison: set[str]) -> None:
        self.engine, self.poison = engine, poison

    def verdicts(self, txs: Sequence[TransactionView]) -> list[Any]:
        if any(t.transaction_id in self.poison for t in txs):
            raise ValueError("poison")
        return self.engine.verdicts(txs)

    def snapshot(self) -> bytes:
        return self.engine.snapshot()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--every", type=int, default=16)
    ap.add_argument("--keep-tracebacks", action="store_true")
    args = ap.parse_args()
    if args.keep_tracebacks:
        isolation._without_frames = lambda exc: exc
    config = CoreConfig()
    txs = generate(GeneratorConfig(seed=7, customers=args.customers, days=3))
    poison = {t.transaction_id for t in txs[-args.batch::args.every]}

    class Factory:
        def new(self, partition: int) -> _Poisoned:
            return _Poisoned(PartitionEngine(config, partition), poison)

        def restore(self, data: bytes) -> _Poisoned:
            return _Poisoned(PartitionEngine.restore(data, config), poison)

    msgs = [Message(i, encode(t)) for i, t in enumerate(txs)]
    state = PartitionState(Factory().new(0), 0)
    proc = BatchProcessor(NullOutput(), 10**9, factory=Factory(), parts={0: state})
    head = len(msgs) - args.batch
    for lo in range(0, head, 5000):
        proc.process(msgs[lo:min(lo + 5000, head)])
    gc.collect()
    before = _rss_mb()
    peak = [before]

    def hook(stage: str, p: int, off: int) -> None:
        if stage == "produce":
            peak[0] = max(peak[0], _rss_mb())

    proc.hook = hook
    proc.careful[0] = [(head, len(msgs))]
    proc.process(msgs[head:])
    json.dump({"records": len(msgs), "careful_batch": args.batch, "poison": len(poison),
               "dead": proc.counters.dead, "snapshot_mb": round(len(state.engine.snapshot())
                                                                / 2**20, 2),
               "keep_tracebacks": args.keep_tracebacks, "rss_mb_before": round(before, 1),
               "peak_rss_mb_while_writing": round(peak[0], 1)}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
