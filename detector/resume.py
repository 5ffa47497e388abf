"""A partition's state from its latest checkpoint (or a whole snapshot of the previous
layout, or nothing): the Kafka-free part of a restore (detector.kafka_io.Restorer)."""

from __future__ import annotations

from detector.checkpoints import Ledger, Restored
from detector.dedupe import HEAD as DEDUPE
from detector.dedupe import DedupeIndex
from detector.partition import Engine, EngineFactory, PartitionState
from detector.snapshots import SnapshotError, unpack_state


def engine_of(snap: Restored, factory: EngineFactory) -> Engine:
    """The engine of a checkpoint (or of a whole snapshot of the previous layout)."""
    if snap.whole is not None:
        return factory.restore(unpack_state(snap.whole)[0])
    if "engine" in snap.parts:
        return factory.restore(snap.parts["engine"])
    resume = getattr(factory, "resume", None)
    if resume is None:
        raise SnapshotError("this engine factory cannot resume an incremental checkpoint")
    parts = {k: v for k, v in snap.parts.items() if not k.startswith(DEDUPE)}
    engine: Engine = resume(parts, snap.customers)
    return engine


def partition_state(partition: int, snap: Restored | None, factory: EngineFactory,
                    horizon: float, next_offset: int, stale: list[bytes],
                    engine: Engine | None = None) -> PartitionState:
    """The state to replay the input from `next_offset` on: from `snap`, or new when None
    (a new epoch: its first checkpoint writes everything and deletes the `stale` keys)."""
    index = DedupeIndex(horizon) if horizon > 0 else None
    if snap is None:
        return PartitionState(factory.new(partition), next_offset, dedupe=index,
                              ledger=Ledger(stale=stale))
    engine = engine or engine_of(snap, factory)
    if index is not None and snap.whole is not None:
        dump = unpack_state(snap.whole)[1]
        if dump is not None:
            index = DedupeIndex.load(dump, horizon)
    elif index is not None and DEDUPE in snap.parts:
        index = DedupeIndex.from_parts(snap.parts, horizon)
    ledger = Ledger(snap.ledger.epoch, snap.ledger.number, dict(snap.ledger.parts),
                    list(snap.ledger.stale))
    return PartitionState(engine, next_offset, dedupe=index, ledger=ledger)
