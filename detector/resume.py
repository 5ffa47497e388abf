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


def dedupe_of(snap: Restored | None, horizon: float) -> DedupeIndex | None:
    """The duplicate check's index a checkpoint holds (a new one where it holds none), or
    None when the check is off (`horizon` 0)."""
    if horizon <= 0:
        return None
    if snap is not None and snap.whole is not None:
        dump = unpack_state(snap.whole)[1]
        if dump is not None:
            return DedupeIndex.load(dump, horizon)
    elif snap is not None and DEDUPE in snap.parts:
        return DedupeIndex.from_parts(snap.parts, horizon)
    return DedupeIndex(horizon)


def partition_state(partition: int, snap: Restored | None, factory: EngineFactory,
                    horizon: float, next_offset: int, stale: list[bytes],
                    engine: Engine | None = None,
                    index: DedupeIndex | None = None) -> PartitionState:
    """The state to replay the input from `next_offset` on: from `snap`, or new when None
    (a new epoch: its first checkpoint writes everything and deletes the `stale` keys).
    `engine` and `index`: `snap`'s, when already restored from it."""
    if snap is None:
        return PartitionState(factory.new(partition), next_offset,
                              dedupe=dedupe_of(None, horizon), ledger=Ledger(stale=stale))
    engine = engine or engine_of(snap, factory)
    index = index if index is not None else dedupe_of(snap, horizon)
    ledger = Ledger(snap.ledger.epoch, snap.ledger.number, dict(snap.ledger.parts),
                    list(snap.ledger.stale))
    return PartitionState(engine, next_offset, dedupe=index, ledger=ledger)
