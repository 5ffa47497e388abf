"""An owned partition's state, and the ports through which the per-batch work reads records,
makes engines and writes its outputs (free of Kafka: the Kafka shell fills them in)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from detector.checkpoints import Ledger
from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.stateparts import Changes
from detector.dedupe import DedupeIndex
from detector.isolation import CoreEngine
from detector.snapshots import pack_state
from shared.gcpause import gc_paused

#: The detection core of one partition (detector.core.engine.PartitionEngine fits).
Engine = CoreEngine

#: Fault-injection seam (tests): called with (step, partition, offset) before each step of a
#: record ("decode", "core", "encode", "produce") and of a commit ("send_offsets", "commit").
Hook = Callable[[str, int, int], None]


class Record(Protocol):
    """What the loop reads of a consumed message (confluent_kafka.Message fits)."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...


class EngineFactory(Protocol):
    """Makes a partition's engine, new or from a snapshot (its whole state as bytes).

    A factory whose engines have `checkpoint(full)` (detector.core.engine) also has
    `resume(parts, customers)`: the engine from an incremental checkpoint's records. Other
    engines are checkpointed whole, as one part named "engine"."""

    def new(self, partition: int) -> Engine: ...
    def restore(self, data: bytes) -> Engine: ...


@dataclass(frozen=True)
class CoreEngineFactory:
    """Engines of the detection core with one configuration."""

    config: CoreConfig

    def new(self, partition: int) -> Engine:
        # Stamped with the partition, the core numbers rows by position, which equals the
        # Kafka offset on a gapless topic: the shell then re-stamps nothing.
        return PartitionEngine(self.config, partition)

    def restore(self, data: bytes) -> Engine:
        return PartitionEngine.restore(data, self.config)

    def resume(self, parts: dict[str, bytes], customers: list[tuple[str, bytes]]) -> Engine:
        # millions of small acyclic objects at a large restore: a cyclic collection would
        # only rescan them again and again (most of a 1,000,000-customer restore)
        with gc_paused():
            return PartitionEngine.resume(parts, customers, self.config)


class Output(Protocol):
    """Where results go; the Kafka shell produces them inside the open transaction."""

    def scored(self, key: bytes, value: bytes) -> None: ...
    def dead(self, record: Record, headers: list[tuple[str, bytes]]) -> None: ...
    def checkpoint(self, partition: int, next_offset: int, changes: Changes,
                   ledger: Ledger) -> None: ...


@dataclass
class PartitionState:
    """An owned partition: its engine, its dedupe index, the next input offset it expects and
    what its last checkpoint left on the state topic (`ledger`)."""

    engine: Engine
    next_offset: int
    since_snapshot: int = 0
    model_version: str = ""
    dedupe: DedupeIndex | None = None
    ledger: Ledger = field(default_factory=Ledger)

    def changes(self) -> Changes:
        """What the next checkpoint writes: the engine's changes since the last one (all of
        it when none was written in this epoch) and the dedupe index."""
        full = self.ledger.number == 0
        take = getattr(self.engine, "checkpoint", None)
        if take is not None:
            changes: Changes = take(full)
        else:
            changes = Changes(parts={"engine": self.engine.snapshot()})
        if self.dedupe is not None:
            changes.parts.update(self.dedupe.checkpoint_parts(full))
        return changes

    def snapshot(self) -> bytes:
        """The whole state as one container (detector.snapshots.pack_state): for comparing
        states (and the format a partition's state had on the topic before checkpoints)."""
        index = self.dedupe.dump() if self.dedupe is not None else None
        return pack_state(self.engine.snapshot(), index)
