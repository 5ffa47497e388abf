"""The per-batch work of the detector, free of Kafka: records in, outputs to a port.

Each partition's records are handled in offset order by that partition's engine; records at
or before the last processed offset are skipped (a prefetched duplicate can never be scored
twice). Malformed records become dead letters and the batch goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.dlq import DecodeFailure, dead_letter_headers, decode_transaction
from shared.codec import encode
from shared.schemas import ScoredTransaction, Transaction


class Record(Protocol):
    """What the loop reads of a consumed message (confluent_kafka.Message fits)."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...


class Engine(Protocol):
    """The detection core of one partition (detector.core.engine.PartitionEngine fits)."""

    def process(self, txs: Sequence[Transaction]) -> list[ScoredTransaction]: ...
    def snapshot(self) -> bytes: ...


class EngineFactory(Protocol):
    """Makes a partition's engine, new or from a snapshot."""

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


class Output(Protocol):
    """Where results go; the Kafka shell produces them inside the open transaction."""

    def scored(self, key: bytes, value: bytes) -> None: ...
    def dead(self, record: Record, headers: list[tuple[str, bytes]]) -> None: ...
    def snapshot(self, partition: int, next_offset: int, data: bytes) -> None: ...


@dataclass
class PartitionState:
    """An owned partition: its engine and the next input offset it expects."""

    engine: Engine
    next_offset: int
    since_snapshot: int = 0
    model_version: str = ""


@dataclass
class Counters:
    scored: int = 0
    dead: int = 0
    snapshots: int = 0
    snapshot_seconds: float = 0.0
    skipped: int = 0


@dataclass
class BatchProcessor:
    """Runs batches through the engines of the owned partitions."""

    output: Output
    snapshot_every: int
    parts: dict[int, PartitionState] = field(default_factory=dict)
    counters: Counters = field(default_factory=Counters)
    clock: Callable[[], float] = time.perf_counter

    def process(self, records: Sequence[Record]) -> set[int]:
        """Score a batch; return the partitions whose position moved."""
        by_part: dict[int, list[Record]] = {}
        for rec in records:
            p = rec.partition()
            if p is not None and p in self.parts:
                by_part.setdefault(p, []).append(rec)
            else:
                self.counters.skipped += 1
        for p, recs in by_part.items():
            self._process_partition(p, self.parts[p], recs)
        return set(by_part)

    def _process_partition(self, p: int, state: PartitionState, recs: list[Record]) -> None:
        txs, offsets, last = _decode_new(recs, state.next_offset, self._dead_letter)
        if last < state.next_offset:
            return
        rows = state.engine.process(txs) if txs else []
        scored = self.output.scored
        for row, off in zip(rows, offsets, strict=True):
            if row.source_partition != p or row.source_offset != off:
                row = row.model_copy(update={"source_partition": p, "source_offset": off})
            scored(row.customer_id.encode(), encode(row))
        if rows:
            state.model_version = rows[-1].model_version
        self.counters.scored += len(rows)
        state.since_snapshot += last + 1 - state.next_offset
        state.next_offset = last + 1
        if state.since_snapshot >= self.snapshot_every:
            self.take_snapshot(p, state)

    def _dead_letter(self, rec: Record, failure: DecodeFailure) -> None:
        self.counters.dead += 1
        self.output.dead(
            rec, dead_letter_headers(failure, rec.topic() or "", rec.partition() or 0,
                                     rec.offset() or 0)
        )

    def take_snapshot(self, p: int, state: PartitionState) -> None:
        start = self.clock()
        self.output.snapshot(p, state.next_offset, state.engine.snapshot())
        state.since_snapshot = 0
        self.counters.snapshots += 1
        self.counters.snapshot_seconds += self.clock() - start


def replay(state: PartitionState, records: Sequence[Record], until: int) -> int:
    """Re-process records before offset `until` without output (state rebuild); return count."""
    recs = [r for r in records if (r.offset() or 0) < until]
    txs, _, last = _decode_new(recs, state.next_offset, None)
    if txs:
        state.engine.process(txs)
    if last >= state.next_offset:
        state.since_snapshot += last + 1 - state.next_offset
        state.next_offset = last + 1
    return len(txs)


def _decode_new(
    recs: list[Record], next_offset: int, on_bad: Callable[[Record, DecodeFailure], None] | None
) -> tuple[list[Transaction], list[int], int]:
    """Valid transactions at or after `next_offset`, their offsets, and the last offset seen."""
    txs: list[Transaction] = []
    offsets: list[int] = []
    last = next_offset - 1
    for rec in recs:
        off = rec.offset()
        if off is None or off <= last:
            continue
        last = off
        try:
            txs.append(decode_transaction(rec.value()))
        except DecodeFailure as failure:
            if on_bad is not None:
                on_bad(rec, failure)
            continue
        offsets.append(off)
    return txs, offsets, last
