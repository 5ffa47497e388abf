"""bench/detector_bench.py's loop without Kafka checkpoints as the detector does: the first
checkpoint of a partition writes every customer, the later ones only those touched since."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from detector.core.config import CoreConfig
from detector.loop import BatchProcessor
from detector.partition import CoreEngineFactory, PartitionState
from shared.codec import encode
from tests.unit import cores

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from detector_bench import Message, NullOutput, make_transactions


def test_the_loop_checkpoints_incrementally_after_the_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    cores.use("core", monkeypatch)
    written: list[int] = []

    class Counting(NullOutput):
        def checkpoint(self, partition, next_offset, changes, ledger):  # type: ignore[no-untyped-def]
            written.append(len(changes.customers))
            super().checkpoint(partition, next_offset, changes, ledger)

    # 300 customers, then 100 records of only 5 of them: the second checkpoint has those 5
    first = make_transactions(400, customers=300, seed=2)
    later = [t for t in make_transactions(2_000, customers=300, seed=3)
             if t.customer_id in {"c1", "c2", "c3", "c4", "c5"}][:100]
    later = [t.model_copy(update={"timestamp": first[-1].timestamp,
                                  "transaction_id": f"later-{i}"})
             for i, t in enumerate(later)]
    msgs = [Message(i, encode(t)) for i, t in enumerate(first + later)]
    proc = BatchProcessor(Counting(), snapshot_every=len(first))
    proc.parts[0] = PartitionState(CoreEngineFactory(CoreConfig()).new(0), 0)
    proc.process(msgs[:len(first)])
    proc.process(msgs[len(first):])
    assert written == [len({t.customer_id for t in first})]  # the first: everyone
    proc.take_snapshot(0, proc.parts[0])
    assert written[1] == len({t.customer_id for t in later}) == 5  # then the touched only
