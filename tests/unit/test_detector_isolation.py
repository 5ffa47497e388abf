"""Poison is data: a record the core or the encoder cannot handle, or whose output is too big,
is dead-lettered unchanged with its reason; the others score as if it never came."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from msgspec.structs import replace

from detector.core.verdict import Verdict
from detector.isolation import Careful
from detector.loop import BatchProcessor, CoreFailure, ReplayContext, replay
from detector.partition import PartitionState
from shared.codec import decode, encode
from shared.gcpause import gc_paused
from shared.schemas import ScoredTransaction, Transaction, TransactionView
from tests.unit.detector_fakes import (
    CountingEngine,
    FakeCluster,
    FakeMessage,
    RecordingOutput,
    drained,
    fake_detector,
    messages,
    tx,
)

POISON_AMOUNT = 10.0 + 13  # tx(13)


class PickyEngine(CountingEngine):
    """Raises on one amount, after touching its state (a half-applied update)."""

    def verdicts(self, txs: Sequence[TransactionView]) -> list[Any]:
        out = []
        for t in txs:
            if t.amount == POISON_AMOUNT:
                self.counts[t.customer_id] = self.counts.get(t.customer_id, 0) + 100
                raise OverflowError("cannot score this one")
            out += super().verdicts([t])
        return out

    def snapshot(self) -> bytes:
        return super().snapshot()

    @classmethod
    def restore(cls, data: bytes) -> PickyEngine:
        return cls(CountingEngine.restore(data).counts)


class PickyFactory:
    def new(self, partition: int) -> PickyEngine:
        return PickyEngine()

    def restore(self, data: bytes) -> PickyEngine:
        return PickyEngine.restore(data)


def processor(out: RecordingOutput, **kw: object) -> BatchProcessor:
    proc = BatchProcessor(out, 1000, factory=PickyFactory(), **kw)  # type: ignore[arg-type]
    proc.parts[0] = PartitionState(PickyEngine(), 0)
    return proc


def test_core_failure_names_the_range_then_careful_mode_dead_letters_only_the_poison() -> None:
    txs = [tx(i) for i in range(30)]
    out = RecordingOutput()
    proc = processor(out)
    with pytest.raises(CoreFailure) as failure:
        proc.process(messages(0, 0, txs))
    assert (failure.value.partition, failure.value.first, failure.value.last) == (0, 0, 29)
    # the caller rewinds (a fresh state at offset 0) and marks the range careful
    out = RecordingOutput()
    proc = processor(out)
    proc.careful[0] = [(0, 29)]
    proc.process(messages(0, 0, txs))
    (record, headers), = out.dead_letters
    h = dict(headers)
    assert record.value() == encode(txs[13])  # unchanged
    assert h["error.class"] == b"OverflowError" and h["error.stage"] == b"core"
    assert h["error.message"] == b"cannot score this one" and h["source.offset"] == b"13"
    # the others score exactly as a stream without the poison record
    clean = RecordingOutput()
    BatchProcessor(clean, 1000, parts={0: PartitionState(CountingEngine(), 0)}).process(
        [m for m in messages(0, 0, txs) if m.offset() != 13])
    assert [decode(v, ScoredTransaction) for _, v in out.scored_rows] == \
        [decode(v, ScoredTransaction) for _, v in clean.scored_rows]
    assert proc.parts[0].next_offset == 30


def test_replay_isolates_the_same_records_as_live_processing() -> None:
    txs = [tx(i) for i in range(30)]
    live = PartitionState(PickyEngine(), 0)
    BatchProcessor(RecordingOutput(), 1000, parts={0: live}, factory=PickyFactory(),
                   careful={0: [(0, 29)]}).process(messages(0, 0, txs))
    rebuilt = PartitionState(PickyEngine(), 0)
    ctx = ReplayContext(PickyFactory())
    with pytest.raises(CoreFailure):
        replay(rebuilt, messages(0, 0, txs), 30, ctx)
    ctx.careful[0] = [(0, 29)]
    rebuilt = PartitionState(PickyEngine(), 0)
    replay(rebuilt, messages(0, 0, txs), 30, ctx)
    assert rebuilt.engine.snapshot() == live.engine.snapshot()


class Flaky(CountingEngine):
    fail_next = 0

    def verdicts(self, txs: Sequence[TransactionView]) -> list[Any]:
        if Flaky.fail_next:
            Flaky.fail_next -= 1
            raise MemoryError("transient")
        return super().verdicts(txs)


def test_a_transient_core_failure_in_careful_mode_dead_letters_nothing() -> None:
    holder = PartitionState(Flaky(), 0)
    Flaky.fail_next = 1
    results = Careful(holder, lambda b: Flaky(CountingEngine.restore(b).counts)).run(
        [tx(1)])
    assert isinstance(results[0], Verdict)


def test_a_lone_record_failing_twice_is_the_poison() -> None:
    holder = PartitionState(Flaky(), 0)
    Flaky.fail_next = 2
    results = Careful(holder, lambda b: Flaky(CountingEngine.restore(b).counts)).run(
        [tx(1)])
    assert isinstance(results[0], MemoryError)
    assert holder.engine.snapshot() == b"{}"  # restored to before the record


def scored_size(t: Transaction) -> int:
    out = RecordingOutput()
    BatchProcessor(out, 1000, parts={0: PartitionState(CountingEngine(), 0)}).process(
        messages(0, 0, [t]))
    (key, value), = out.scored_rows
    return len(key) + len(value)


@pytest.mark.parametrize("slack", [0, -1])
def test_output_over_the_size_limit_is_dead_lettered_at_the_boundary(slack: int) -> None:
    t = tx(1, "a-longer-customer")
    limit = scored_size(t) + slack
    out = RecordingOutput()
    BatchProcessor(out, 1000, parts={0: PartitionState(CountingEngine(), 0)},
                   max_output_bytes=limit).process(messages(0, 0, [t, tx(2)]))
    if slack == 0:
        assert len(out.scored_rows) == 2 and out.dead_letters == []
        return
    assert len(out.scored_rows) == 1
    (record, headers), = out.dead_letters
    h = dict(headers)
    assert record.value() == encode(t)
    assert h["error.class"] == b"OutputTooLarge" and h["error.stage"] == b"output"
    assert f"over the limit of {limit:,}".encode() in h["error.message"]


class Inflating(CountingEngine):
    """Repeats a field into the reasons (the issue's 2.7 MB scored message)."""

    def verdicts(self, txs: Sequence[TransactionView]) -> list[Any]:
        return [replace(v, reasons_top3=[t.merchant_category * 50_000] * 3)
                if t.amount == POISON_AMOUNT else v
                for t, v in zip(txs, super().verdicts(txs), strict=True)]


def test_a_multi_megabyte_scored_row_is_dead_lettered_under_the_default_limit() -> None:
    out = RecordingOutput()
    BatchProcessor(out, 1000, parts={0: PartitionState(Inflating(), 0)}).process(
        messages(0, 0, [tx(12), tx(13), tx(14)]))
    assert [decode(v, ScoredTransaction).transaction_id for _, v in out.scored_rows] == \
        ["12", "14"]
    (record, headers), = out.dead_letters
    assert record.value() == encode(tx(13))
    assert dict(headers)["error.class"] == b"OutputTooLarge"


class Unencodable(CountingEngine):
    def verdicts(self, txs: Sequence[TransactionView]) -> list[Any]:
        return [replace(v, score=object()) if t.amount == POISON_AMOUNT else v
                for t, v in zip(txs, super().verdicts(txs), strict=True)]


def test_an_output_that_cannot_be_encoded_is_dead_lettered() -> None:
    out = RecordingOutput()
    BatchProcessor(out, 1000, parts={0: PartitionState(Unencodable(), 0)}).process(
        messages(0, 0, [tx(12), tx(13), tx(14)]))
    assert len(out.scored_rows) == 2
    (record, headers), = out.dead_letters
    assert dict(headers)["error.stage"] == b"encode" and record.value() == encode(tx(13))


def test_detector_isolates_core_poison_end_to_end(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    cluster = FakeCluster(partitions=1)
    cluster.append(0, [encode(tx(i, f"c{i % 3}")) for i in range(40)])
    detector = fake_detector(monkeypatch, cluster, factory=PickyFactory(), state_dir=tmp_path)
    detector.run(until=drained(cluster))
    rows = [decode(r.value or b"", ScoredTransaction)
            for r in cluster.rows("transactions.scored")]
    assert [r.source_offset for r in rows] == [i for i in range(40) if i != 13]
    dead = cluster.rows("transactions.dlq")
    assert [d.value for d in dead] == [encode(tx(13, "c1"))]
    # a restart (restore by replay) isolates it again and scores nothing twice
    cluster.append(0, [encode(tx(i, f"c{i % 3}")) for i in range(40, 45)])
    fake_detector(monkeypatch, cluster, factory=PickyFactory(),
                  state_dir=tmp_path).run(until=drained(cluster))
    rows = [decode(r.value or b"", ScoredTransaction)
            for r in cluster.rows("transactions.scored")]
    assert [r.source_offset for r in rows] == [i for i in range(45) if i != 13]
    assert len(cluster.rows("transactions.dlq")) == 1


def test_a_dead_letter_too_big_for_the_dlq_keeps_its_headers_without_the_value() -> None:
    from confluent_kafka import KafkaError, KafkaException

    from detector.kafka_io import KafkaOutput
    from detector.settings import DetectorSettings

    sent: list[dict[str, object]] = []

    class TooBig:
        def produce(self, topic: str, **kw: object) -> None:
            if kw.get("value") is not None:
                raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
            sent.append({"topic": topic, **kw})

    out = KafkaOutput(TooBig(), DetectorSettings(instance_id="t"), 1,  # type: ignore[arg-type]
                      SimpleNamespace(started=None, sending=lambda: None))
    out.dead(FakeMessage(0, 7, b"x" * 5000), [("error.class", b"SchemaError")])
    (msg,) = sent
    assert msg["value"] is None and msg["key"] == b"k"
    assert msg["headers"] == [("error.class", b"SchemaError"),
                              ("error.value_dropped", b"5000 bytes, over the size limit")]


def test_a_dead_letter_carries_the_records_key_value_and_the_reason_headers() -> None:
    # what an operator reads on the dlq topic: the record as it came, and why
    from detector.kafka_io import KafkaOutput
    from detector.settings import DetectorSettings

    sent: list[tuple[str, dict[str, object]]] = []

    class Recording:
        def produce(self, topic: str, **kw: object) -> None:
            sent.append((topic, kw))

    s = DetectorSettings(instance_id="t")
    out = KafkaOutput(Recording(), s, 1,  # type: ignore[arg-type]
                      SimpleNamespace(started=None, sending=lambda: None))
    headers = [("error.class", b"SchemaError"), ("error.message", b"amount: not a number")]
    out.dead(FakeMessage(0, 7, b'{"amount": "x"}'), headers)
    assert sent == [(s.topics.dlq_topic, {"key": b"k", "value": b'{"amount": "x"}',
                                          "headers": headers})]


def test_a_dead_letter_refused_for_another_reason_than_its_size_is_raised() -> None:
    # only a letter too big is sent again without its value; any other error is the batch's
    from confluent_kafka import KafkaError, KafkaException

    from detector.kafka_io import KafkaOutput
    from detector.settings import DetectorSettings

    sent: list[dict[str, object]] = []

    class Refusing:
        def produce(self, topic: str, **kw: object) -> None:
            if kw.get("value") is not None:
                raise KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
            sent.append(kw)

    out = KafkaOutput(Refusing(), DetectorSettings(instance_id="t"), 1,  # type: ignore[arg-type]
                      SimpleNamespace(started=None, sending=lambda: None))
    with pytest.raises(KafkaException) as info:
        out.dead(FakeMessage(0, 7, b"x"), [("error.class", b"SchemaError")])
    assert info.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert sent == []


def test_a_dead_letter_too_big_waits_out_a_full_queue_before_its_shortened_letter() -> None:
    # The queue full when the letter without its value goes: waited out (polled) and sent
    # once, as every other send, not a BufferError out of the batch.
    from confluent_kafka import KafkaError, KafkaException

    from detector.kafka_io import KafkaOutput
    from detector.settings import DetectorSettings

    sent: list[dict[str, object]] = []
    polls: list[float] = []
    full = [True]

    class TooBigThenFull:
        def produce(self, topic: str, **kw: object) -> None:
            if kw.get("value") is not None:
                raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
            if full[0]:
                full[0] = False
                raise BufferError
            sent.append({"topic": topic, **kw})

        def poll(self, timeout: float) -> int:
            polls.append(timeout)
            return 0

    s = DetectorSettings(instance_id="t")
    out = KafkaOutput(TooBigThenFull(), s, 1,  # type: ignore[arg-type]
                      SimpleNamespace(started=None, sending=lambda: None))
    out.dead(FakeMessage(0, 7, b"x" * 5000), [("error.class", b"SchemaError")])
    assert sent == [{"topic": s.topics.dlq_topic, "key": b"k", "value": None, "headers": [
        ("error.class", b"SchemaError"),
        ("error.value_dropped", b"5000 bytes, over the size limit")]}]
    assert len(polls) == 1


def test_a_scored_row_is_produced_with_its_value_and_key_in_their_places() -> None:
    """`produce(topic, value, key)` positionally, as confluent_kafka.Producer.produce takes
    them; a full queue is waited out once and the row produced."""
    from detector.kafka_io import KafkaOutput
    from detector.settings import DetectorSettings

    sent: list[tuple[str, bytes | None, bytes | None]] = []
    calls = []

    class Positional:
        def produce(self, topic: str, value: bytes | None = None, key: bytes | None = None,
                    **kw: object) -> None:
            calls.append(topic)
            if len(calls) == 1:  # the queue is full at the first try
                raise BufferError
            sent.append((topic, value, key))

        def poll(self, timeout: float) -> int:
            return 0

    s = DetectorSettings(instance_id="t")
    out = KafkaOutput(Positional(), s, 1,  # type: ignore[arg-type]
                      SimpleNamespace(started=None, sending=lambda: None))
    out.scored(b"c1", b"{}")
    assert sent == [(s.topics.scored_topic, b"{}", b"c1")] and len(calls) == 2


_LIVE: weakref.WeakSet[CountingEngine] = weakref.WeakSet()


class _Counted(CountingEngine):
    """Fails on odd transaction ids (after touching its state); every instance is counted
    alive in `_LIVE` (a real engine is a whole partition's state)."""

    def __init__(self, counts: dict[str, int] | None = None) -> None:
        super().__init__(counts)
        _LIVE.add(self)

    def verdicts(self, txs: Sequence[TransactionView]) -> list[Any]:
        for t in txs:
            if int(t.transaction_id) % 2:
                self.counts[t.customer_id] = -1
                raise ValueError("poison")
        return super().verdicts(txs)


class _CountedFactory:
    def new(self, partition: int) -> _Counted:
        return _Counted()

    def restore(self, data: bytes) -> _Counted:
        return _Counted(CountingEngine.restore(data).counts)


@pytest.mark.parametrize("n", [2, 3, 40])
def test_a_poison_record_keeps_no_engine_copy_alive_while_the_batch_is_written(n: int) -> None:
    """Each careful restore replaces the engine; the replaced one must be freed at once, not
    kept by the poison record's exception (its traceback's frames) until the batch is written:
    a real engine is a whole partition's state, and the cyclic GC waits for the batch."""
    gc.collect()
    out = RecordingOutput()
    alive: list[int] = []

    def count(stage: str, p: int, off: int) -> None:
        if stage == "produce":
            alive.append(len(_LIVE))

    proc = BatchProcessor(out, 1000, factory=_CountedFactory(), careful={0: [(0, 10**6)]},
                          hook=count)
    proc.parts[0] = PartitionState(_Counted(), 0)
    proc.process(messages(0, 0, [tx(i) for i in range(n)]))
    assert len(out.dead_letters) == n // 2 and len(out.scored_rows) == n - n // 2
    assert max(alive) == 1  # only the partition's own engine


def test_a_careful_replay_under_the_gc_pause_leaves_no_engine_copy_behind() -> None:
    """A restore's replay runs inside `consume()`, where the cyclic GC is paused (for the
    whole restore): a poison record's result must not form a cycle that keeps the engines
    replaced on its way until some later collection."""
    gc.collect()
    state = PartitionState(_Counted(), 0)
    ctx = ReplayContext(_CountedFactory(), careful={0: [(0, 10**6)]})
    with gc_paused():
        for lo in range(0, 40, 10):
            replay(state, messages(0, lo, [tx(i) for i in range(lo, lo + 10)]), 40, ctx)
        alive = len(_LIVE)
    assert state.next_offset == 40 and alive == 1
