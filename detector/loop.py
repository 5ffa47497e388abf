"""The per-batch work of the detector, free of Kafka: records in, outputs to a port.

Each partition's records are handled in offset order by that partition's engine; records at
or before the last processed offset are skipped (a prefetched duplicate can never be scored
twice). Malformed records become dead letters and the batch goes on.

A batch travels as parallel lists (`_Batch`), not an object per row, and the cyclic GC waits
for it: its per-row objects hold no reference cycles, and collections in the middle of it
rescanned the whole heap (about 5 us of the shell's ~16 us CPU per record, detector_bench).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from detector.dlq import DecodeFailure, dead_letter_headers, schema_record
from detector.isolation import Careful, Ranges, is_careful
from detector.isolation import CoreFailure as CoreFailure
from detector.partition import EngineFactory, Hook, Output, PartitionState, Record
from shared.fastcodec import decode_record, encode_scored
from shared.gcpause import gc_paused
from shared.schemas import TransactionView

DUPLICATE = "DuplicateTransaction"
DUPLICATE_REASON = "duplicate transaction_id"
OUTPUT_TOO_LARGE = "OutputTooLarge"
H_STAGE = "error.stage"
H_FIRST_OFFSET = "duplicate.first_offset"


@dataclass
class Counters:
    scored: int = 0
    dead: int = 0
    snapshots: int = 0
    snapshot_seconds: float = 0.0
    skipped: int = 0


class _Batch(NamedTuple):
    """A partition's valid records in offset order, as parallel lists, and the last offset
    read (valid or not)."""

    offsets: list[int]
    records: list[Record]
    txs: list[TransactionView]
    last: int


@dataclass
class BatchProcessor:
    """Runs batches through the engines of the owned partitions.

    A record the core cannot score, whose output cannot be encoded or exceeds
    `max_output_bytes`, or whose transaction_id was already scored is a dead letter, like a
    malformed one. When the core raises on a batch, `CoreFailure` says which offsets: the
    caller rewinds and adds them to `careful`, where records are isolated (see isolation)."""

    output: Output
    snapshot_every: int
    parts: dict[int, PartitionState] = field(default_factory=dict)
    counters: Counters = field(default_factory=Counters)
    clock: Callable[[], float] = time.perf_counter
    factory: EngineFactory | None = None
    max_output_bytes: int = 900_000
    careful: Ranges = field(default_factory=dict)
    hook: Hook | None = None
    #: (partition, offset) of the record being handled, for the poison-pill circuit.
    position: tuple[int, int] | None = None
    #: The partition whose state checkpoint is being written (no record's: the circuit counts
    #: a failure there as the transaction's); set only when it raises, as `position`.
    checkpointing: int | None = None
    #: `encode_scored`'s scratch space, reused row after row.
    _buffer: bytearray = field(default_factory=bytearray, init=False, repr=False)

    def process(self, records: Sequence[Record]) -> set[int]:
        """Score a batch; return the partitions whose position moved."""
        parts = self.parts
        by_part: dict[int, list[Record]] = {}
        skipped = 0
        with gc_paused():
            for rec in records:
                p = rec.partition()
                group = by_part.get(p) if p is not None else None
                if group is not None:
                    group.append(rec)
                elif p is not None and p in parts:
                    by_part[p] = [rec]
                else:
                    skipped += 1
            self.counters.skipped += skipped
            for p, recs in by_part.items():
                self._process_partition(p, parts[p], recs)
        self.position = None
        return set(by_part)

    def _process_partition(self, p: int, state: PartitionState, recs: list[Record]) -> None:
        batch = _decode_new(p, recs, state.next_offset, self._dead_letter, self)
        if batch.last < state.next_offset:
            return
        self.position = (p, batch.last)  # where it was left per record before (the circuit)
        batch = _drop_duplicates(state, batch, self._duplicate)
        results = _score(p, state, batch, self)
        self.counters.scored += self._write(p, state, batch, results)
        if batch.offsets:
            self.position = (p, batch.offsets[-1])
        state.since_snapshot += batch.last + 1 - state.next_offset
        state.next_offset = batch.last + 1
        if state.dedupe is not None:
            state.dedupe.maintain()
        if state.since_snapshot >= self.snapshot_every:
            self.position, self.checkpointing = None, p
            self.take_snapshot(p, state)
            self.checkpointing = None

    def _write(self, p: int, state: PartitionState, batch: _Batch, results: list[Any]) -> int:
        """Encode and produce the scored rows (dead letters for those that fail); return how
        many were produced. `position` is set only when something raises (or for `hook`)."""
        hook, limit, scored, encode = self.hook, self.max_output_bytes, self.output.scored, \
            encode_scored
        buffer = self._buffer
        done, off, last_verdict = 0, None, None
        try:
            for off, rec, tx, verdict in zip(batch.offsets, batch.records, batch.txs, results,
                                             strict=True):
                if isinstance(verdict, Exception):
                    self._failed(rec, "core", verdict)
                    continue
                if hook is not None:
                    self.position = (p, off)
                    hook("encode", p, off)
                try:  # stamped with the real Kafka position (the core counts rows)
                    key, value = tx.customer_id.encode(), encode(tx, verdict, p, off, buffer)
                except Exception as exc:
                    self._failed(rec, "encode", exc)
                    continue
                if len(key) + len(value) > limit:
                    self._dead_letter(rec, DecodeFailure(OUTPUT_TOO_LARGE, (
                        f"the scored message would be {len(key) + len(value):,} bytes, over "
                        f"the limit of {limit:,} (DETECTOR_MAX_OUTPUT_BYTES, below the "
                        "broker's max.message.bytes)")), [(H_STAGE, b"output")])
                    continue
                if hook is not None:
                    hook("produce", p, off)
                scored(key, value)
                last_verdict = verdict
                done += 1
        except BaseException:
            if off is not None:
                self.position = (p, off)
            raise
        finally:
            if last_verdict is not None:
                state.model_version = last_verdict.model_version
        return done

    def _failed(self, rec: Record, stage: str, exc: Exception) -> None:
        self._dead_letter(rec, DecodeFailure(type(exc).__name__, str(exc) or repr(exc)),
                          [(H_STAGE, stage.encode())])

    def _duplicate(self, rec: Record, first: int) -> None:
        self._dead_letter(rec, DecodeFailure(DUPLICATE, DUPLICATE_REASON),
                          [(H_STAGE, b"dedupe"), (H_FIRST_OFFSET, str(first).encode())])

    def _dead_letter(self, rec: Record, failure: DecodeFailure,
                     extra: list[tuple[str, bytes]] | None = None) -> None:
        self.counters.dead += 1
        headers = dead_letter_headers(failure, rec.topic() or "", rec.partition() or 0,
                                      rec.offset() or 0)
        self.output.dead(rec, headers + (extra or []))

    def take_snapshot(self, p: int, state: PartitionState) -> None:
        start = self.clock()
        self.output.checkpoint(p, state.next_offset, state.changes(), state.ledger)
        state.since_snapshot = 0
        self.counters.snapshots += 1
        self.counters.snapshot_seconds += self.clock() - start


class _Context(Protocol):
    """What scoring needs of its caller (a BatchProcessor, or a replay's settings)."""

    factory: EngineFactory | None
    careful: Ranges
    hook: Hook | None
    position: tuple[int, int] | None


@dataclass
class ReplayContext:
    factory: EngineFactory | None = None
    careful: Ranges = field(default_factory=dict)
    hook: Hook | None = None
    position: tuple[int, int] | None = None


def replay(state: PartitionState, records: Sequence[Record], until: int,
           ctx: _Context | None = None) -> int:
    """Re-process records before offset `until` without output (state rebuild); return count.

    Exactly what live processing did to the state: the same records decoded, deduplicated and
    isolated (a `CoreFailure` outside `ctx.careful` propagates: replay again with it added)."""
    ctx = ctx or ReplayContext()
    recs = [r for r in records if (r.offset() or 0) < until]
    p = recs[0].partition() or 0 if recs else 0
    batch = _decode_new(p, recs, state.next_offset, None, None)
    batch = _drop_duplicates(state, batch, None)
    _score(p, state, batch, ctx)
    if batch.last >= state.next_offset:
        state.since_snapshot += batch.last + 1 - state.next_offset
        state.next_offset = batch.last + 1
    if state.dedupe is not None:
        state.dedupe.maintain()
    return len(batch.txs)


def _decode_new(
    p: int, recs: list[Record], next_offset: int,
    on_bad: Callable[[Record, DecodeFailure], None] | None, ctx: _Context | None,
) -> _Batch:
    """Valid transactions at or after `next_offset` with their offsets, and the last offset.

    `ctx.position` is set only when something raises (or for `ctx.hook`): the record being
    handled then."""
    offsets: list[int] = []
    kept: list[Record] = []
    txs: list[TransactionView] = []
    last = next_offset - 1
    hook = ctx.hook if ctx is not None else None
    fast = decode_record
    off = None
    try:
        for rec in recs:
            off = rec.offset()
            if off is None or off <= last:
                continue
            last = off
            if hook is not None and ctx is not None:
                ctx.position = (p, off)
                hook("decode", p, off)
            value = rec.value()
            tx = fast(value) if value else None
            if tx is None:  # not vouched for by the fast decoder: the schema decides
                try:
                    tx = schema_record(value)
                except DecodeFailure as failure:
                    if on_bad is not None:
                        on_bad(rec, failure)
                    continue
            offsets.append(off)
            kept.append(rec)
            txs.append(tx)
    except BaseException:
        if ctx is not None and off is not None:
            ctx.position = (p, off)
        raise
    return _Batch(offsets, kept, txs, last)


def _drop_duplicates(state: PartitionState, batch: _Batch,
                     on_dup: Callable[[Record, int], None] | None) -> _Batch:
    if state.dedupe is None or not batch.txs:
        return batch
    firsts = state.dedupe.check(batch.txs, batch.offsets)
    if firsts.count(None) == len(firsts):
        return batch
    kept = _Batch([], [], [], batch.last)
    for off, rec, tx, first in zip(batch.offsets, batch.records, batch.txs, firsts,
                                   strict=True):
        if first is None:
            kept.offsets.append(off)
            kept.records.append(rec)
            kept.txs.append(tx)
        elif on_dup is not None:
            on_dup(rec, first)
    return kept


def _score(p: int, state: PartitionState, batch: _Batch, ctx: _Context) -> list[Any]:
    """The core's verdicts for `batch` (an Exception in place of a poison record's)."""
    txs = batch.txs
    if not txs:
        return []
    first, last = batch.offsets[0], batch.offsets[-1]
    hook = ctx.hook
    if is_careful(ctx.careful, p, first, last):
        if ctx.factory is None:
            raise RuntimeError("isolating poison records needs an engine factory")
        before = None if hook is None else (lambda: hook("core", p, first))
        results = Careful(state, ctx.factory.restore, before).run(txs)
        if state.dedupe is not None:
            for tx, res in zip(txs, results, strict=True):
                if isinstance(res, Exception):
                    state.dedupe.forget(tx.transaction_id)
        return results
    ctx.position = (p, first)
    try:
        if hook is not None:
            hook("core", p, first)
        return list(state.engine.verdicts(txs))
    except Exception as exc:
        raise CoreFailure(p, first, last, exc) from exc
