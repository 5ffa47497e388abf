"""Hand-written fakes for the detector's unit tests (no Kafka, no detection core)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from confluent_kafka import KafkaException, TopicPartition

from detector.checkpoints import Ledger, encode_checkpoint
from detector.core.stateparts import Changes
from detector.core.verdict import Verdict
from detector.dedupe import DedupeIndex
from detector.loop import CoreFailure, ReplayContext, replay
from detector.partition import PartitionState, Record
from detector.recovery import RecoveryPlan
from detector.settings import DetectorSettings
from detector.snapshots import SnapshotRecord
from shared.codec import decode, encode
from shared.schemas import ScoredTransaction, Transaction, TransactionView


class CountingEngine:
    """Scores each transaction by how many its customer had before (deterministic state)."""

    def __init__(self, counts: dict[str, int] | None = None) -> None:
        self.counts: dict[str, int] = dict(counts or {})

    def verdicts(self, txs: Sequence[TransactionView]) -> list[Any]:
        out = []
        for tx in txs:
            n = self.counts.get(tx.customer_id, 0)
            self.counts[tx.customer_id] = n + 1
            out.append(Verdict(score=min(1.0, n / 10),
                               model_version=f"fake-{sum(self.counts.values()) // 5}"))
        return out

    def snapshot(self) -> bytes:
        return json.dumps(self.counts, sort_keys=True).encode()

    @classmethod
    def restore(cls, data: bytes) -> CountingEngine:
        return cls(json.loads(data))


class CountingFactory:
    def new(self, partition: int) -> CountingEngine:
        return CountingEngine()

    def restore(self, data: bytes) -> CountingEngine:
        return CountingEngine.restore(data)


@dataclass
class FakeMessage:
    _partition: int
    _offset: int
    _value: bytes | None
    _key: bytes | None = b"k"
    _topic: str = "transactions"

    def topic(self) -> str | None:
        return self._topic

    def partition(self) -> int | None:
        return self._partition

    def offset(self) -> int | None:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def error(self) -> None:
        return None

    def headers(self) -> None:
        return None


@dataclass
class RecordingOutput:
    scored_rows: list[tuple[bytes, bytes]] = field(default_factory=list)
    dead_letters: list[tuple[Record, list[tuple[str, bytes]]]] = field(default_factory=list)
    #: Checkpoints taken: (partition, next offset, changes).
    snapshots: list[tuple[int, int, Changes]] = field(default_factory=list)
    #: The records they wrote (prefix `g/t/<partition>`), as the state topic would hold them.
    state_records: list[SnapshotRecord] = field(default_factory=list)

    def scored(self, key: bytes, value: bytes) -> None:
        self.scored_rows.append((key, value))

    def dead(self, record: Record, headers: list[tuple[str, bytes]]) -> None:
        self.dead_letters.append((record, headers))

    def checkpoint(self, partition: int, next_offset: int, changes: Changes,
                   ledger: Ledger) -> None:
        self.snapshots.append((partition, next_offset, changes))
        self.state_records += encode_checkpoint(f"g/t/{partition}", next_offset, changes,
                                                ledger, 64 * 1024)


def tx(i: int, customer: str | None = None) -> Transaction:
    return Transaction(
        transaction_id=str(i), customer_id=customer or str(i % 7),
        timestamp=datetime(2025, 1, 1) + timedelta(minutes=i), amount=10.0 + i,
        country="CH", channel="app", device="pc", merchant_category="grocery",
    )


def messages(partition: int, start: int, txs: Sequence[Transaction]) -> list[FakeMessage]:
    return [FakeMessage(partition, start + i, encode(t)) for i, t in enumerate(txs)]


# --- a fake cluster for Detector tests: a transactional log, offsets, a group consumer -----


@dataclass
class Produced:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


@dataclass
class FakeCluster:
    """Topics as lists, a group's committed offsets, and transactions that commit or abort."""

    topic: str = "transactions"
    partitions: int = 2
    logs: dict[int, list[FakeMessage]] = field(default_factory=dict)
    committed_topics: list[Produced] = field(default_factory=list)
    committed_offsets: dict[int, int] = field(default_factory=dict)
    commits: int = 0
    aborts: int = 0
    #: Called with each produced record; may raise to simulate a failing produce.
    on_produce: Callable[[Produced], None] | None = None
    #: Called with "begin", "commit" or "abort" before that producer call; may raise (a
    #: fatal KafkaException leaves that producer failed for good, like librdkafka's).
    on_txn: Callable[[str], None] | None = None
    producers: int = 0

    def append(self, partition: int, values: Sequence[bytes | None]) -> None:
        log = self.logs.setdefault(partition, [])
        for v in values:
            log.append(FakeMessage(partition, len(log), v, _topic=self.topic))

    def producer(self) -> FakeProducer:
        self.producers += 1
        return FakeProducer(self)

    def consumer(self) -> FakeConsumer:
        return FakeConsumer(self)

    def rows(self, topic: str) -> list[Produced]:
        return [r for r in self.committed_topics if r.topic == topic]


@dataclass
class FakeProducer:
    cluster: FakeCluster
    pending: list[Produced] = field(default_factory=list)
    offsets: dict[int, int] = field(default_factory=dict)
    open: bool = False
    failed: KafkaException | None = None
    #: After this many poll() calls librdkafka has left it with no broker (`stranded`).
    stranded_after: int | None = None
    polls: int = 0

    def stranded(self) -> bool:
        return self.stranded_after is not None and self.polls >= self.stranded_after

    def _step(self, step: str) -> None:
        if self.failed is not None:
            raise self.failed
        if self.cluster.on_txn is not None:
            try:
                self.cluster.on_txn(step)
            except KafkaException as exc:
                if exc.args[0].fatal():
                    self.failed = exc
                raise

    def init_transactions(self, timeout: float) -> None:
        self._step("init")
        self.pending, self.open = [], False

    def begin_transaction(self) -> None:
        self._step("begin")
        assert not self.open
        self.open = True

    def produce(self, topic: str, value: bytes | None = None, key: bytes | None = None,
                headers: list[tuple[str, bytes]] | None = None, partition: int = -1) -> None:
        assert self.open, "produce outside a transaction"
        if self.failed is not None:
            raise self.failed
        rec = Produced(topic, key, value, list(headers or []))
        if self.cluster.on_produce is not None:
            self.cluster.on_produce(rec)
        self.pending.append(rec)

    def send_offsets_to_transaction(self, offsets: Any, meta: Any, timeout: float) -> None:
        self.offsets.update({tp.partition: tp.offset for tp in offsets})

    def commit_transaction(self, timeout: float) -> None:
        self._step("commit")
        assert self.open
        self.cluster.committed_topics += self.pending
        self.cluster.committed_offsets.update(self.offsets)
        self.cluster.commits += 1
        self.pending, self.offsets, self.open = [], {}, False

    def abort_transaction(self, timeout: float) -> None:
        self._step("abort")
        self.cluster.aborts += 1
        self.pending, self.offsets, self.open = [], {}, False

    def poll(self, timeout: float = 0) -> int:
        self.polls += 1
        return 0

    def flush(self, timeout: float = 0) -> int:
        return 0


@dataclass
class FakeConsumer:
    """A group member that owns every partition; positions move as it consumes."""

    cluster: FakeCluster
    batch: int = 7
    positions: dict[int, int] = field(default_factory=dict)
    callbacks: dict[str, Any] = field(default_factory=dict)
    assigned: bool = False
    #: The close finds the assignment lost (a session that ran out in a broker outage):
    #: it calls on_lost instead of on_revoke, as librdkafka does.
    lost_on_close: bool = False
    #: After this many consume() calls librdkafka has left it with no broker (`stranded`).
    stranded_after: int | None = None
    consumes: int = 0
    closed: bool = False
    #: Its group member id (`memberid`); empty: one of its own.
    member: str = ""

    def stranded(self) -> bool:
        return self.stranded_after is not None and self.consumes >= self.stranded_after

    def out_of_touch(self, seconds: float) -> bool:
        return False  # the fake cluster always answers (no outage as long as `seconds`)

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.callbacks = callbacks

    def consume(self, num_messages: int = 1, timeout: float = 0) -> list[FakeMessage]:
        self.consumes += 1
        if not self.assigned:
            self.assigned = True
            parts = [TopicPartition(self.cluster.topic, p) for p in range(self.cluster.partitions)]
            self.callbacks["on_assign"](self, parts)
        out: list[FakeMessage] = []
        for p in sorted(self.positions):
            log = self.cluster.logs.get(p, [])
            take = log[self.positions[p]: self.positions[p] + min(num_messages, self.batch)]
            self.positions[p] += len(take)
            out += take
        return out

    def poll(self, timeout: float = 0) -> FakeMessage | None:
        """One message (the first partition's that has any), as `Consumer.poll`."""
        if not self.assigned:
            self.consume(0)  # the assignment, as the first consume
        for p in sorted(self.positions):
            log = self.cluster.logs.get(p, [])
            if self.positions[p] < len(log):
                self.positions[p] += 1
                return log[self.positions[p] - 1]
        return None

    def assign(self, tps: list[TopicPartition]) -> None:
        self.positions = {tp.partition: tp.offset for tp in tps}

    def seek(self, tp: TopicPartition) -> None:
        self.positions[tp.partition] = tp.offset

    def committed(self, tps: list[TopicPartition], timeout: float = 0) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition,
                               self.cluster.committed_offsets.get(tp.partition, -1001))
                for tp in tps]

    def consumer_group_metadata(self) -> str:
        return "group-metadata"

    def memberid(self) -> str:
        return self.member or f"member-{id(self)}"

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float = 0,
                              cached: bool = False) -> tuple[int, int]:
        if self.closed:  # as confluent_kafka's (2.16)
            raise RuntimeError("Consumer closed")
        return 0, len(self.cluster.logs.get(tp.partition, []))

    def close(self) -> None:
        self.closed = True
        which = "on_lost" if self.lost_on_close else "on_revoke"
        if self.assigned and which in self.callbacks:
            parts = [TopicPartition(self.cluster.topic, p) for p in sorted(self.positions)]
            self.callbacks[which](self, parts)
        self.assigned = False


class FakeRestorer:
    """Restores a partition by replaying its whole committed history (no snapshots)."""

    def __init__(self, cluster: FakeCluster, s: Any, factory: Any, snapshot_partitions: int,
                 ctx: ReplayContext | None = None) -> None:
        self.cluster, self._s, self._factory = cluster, s, factory
        self.ctx = ctx or ReplayContext(factory)

    def close(self) -> None:
        pass

    def restore(self, partition: int, committed: int | None,
                reread: Any = None) -> tuple[PartitionState, Any]:
        until = committed or 0
        horizon = self._s.dedupe_horizon
        while True:
            state = PartitionState(self._factory.new(partition), 0,
                                   dedupe=DedupeIndex(horizon) if horizon > 0 else None)
            try:
                replay(state, self.cluster.logs.get(partition, [])[:until], until, self.ctx)
                break
            except CoreFailure as exc:
                self.ctx.careful.setdefault(partition, []).append((exc.first, exc.last))
        state.next_offset = until
        return state, RecoveryPlan(False, 0, until)


def fake_detector(monkeypatch: Any, cluster: FakeCluster, factory: Any | None = None,
                  hook: Any | None = None, born: tuple[float, float] | None = None,
                  members: Callable[..., Any] | None = None,
                  producer: Callable[[Any], Any] | None = None,
                  ensure: Callable[..., int] | None = None,
                  broker: Callable[..., Any] | None = None, **settings: Any) -> Any:
    """A `Detector` wired to `cluster` instead of Kafka; `born`: its process's age and
    stopped time (`Detector`'s); `members`: `group_members`' stand-in (none listed);
    `producer`, `ensure`, `broker`: stand-ins for making a transactional producer,
    `ensure_detector_topics` and `wait_for_broker` (by default the cluster's, which never
    fail)."""
    import detector.app as app
    import detector.txn as txn

    monkeypatch.setattr(app, "wait_for_broker", broker or (lambda *a, **k: 1))
    monkeypatch.setattr(app, "check_rights", lambda *a, **k: None)  # no ACLs
    monkeypatch.setattr(app, "missing_rights", lambda *a, **k: None)
    monkeypatch.setattr(app, "ensure_detector_topics",
                        ensure or (lambda s, *a, **k: cluster.partitions))
    monkeypatch.setattr(txn, "make_transactional_producer",
                        producer or (lambda s: cluster.producer()))
    monkeypatch.setattr(app, "make_group_consumer", lambda s: cluster.consumer())
    monkeypatch.setattr(app, "make_offset_reader", lambda s: cluster.consumer())
    monkeypatch.setattr(app, "Restorer", lambda *a: FakeRestorer(cluster, *a))
    monkeypatch.setattr(app, "group_members", members or (lambda s, *a, **k: []))
    s = DetectorSettings(**{"instance_id": "t", "commit_interval_ms": 1, **settings})
    return app.Detector(s, factory or CountingFactory(), hook=hook, born=born)


def drained(cluster: FakeCluster) -> Callable[[Any], bool]:
    """An `until` for Detector.run: stop once every input offset is committed."""
    def done(_: Any) -> bool:
        return all(cluster.committed_offsets.get(p, 0) >= len(log)
                   for p, log in cluster.logs.items())
    return done


def cluster_with(n: int = 30, partitions: int = 2) -> FakeCluster:
    """A `transactions` topic of `partitions` partitions, `n` rows each (ids p * 1000 + i,
    three customers)."""
    cluster = FakeCluster(topic="transactions", partitions=partitions)
    for p in range(partitions):
        cluster.append(p, [encode(tx(i, f"c{i % 3}")) for i in range(p * 1000, p * 1000 + n)])
    return cluster


def scored_offsets(cluster: FakeCluster) -> list[tuple[int, int]]:
    """The (partition, offset) each scored row came from, sorted."""
    rows = [decode(r.value or b"", ScoredTransaction) for r in cluster.rows("transactions.scored")]
    return sorted((r.source_partition or 0, r.source_offset or 0) for r in rows)


def every_row_once(cluster: FakeCluster, n: int = 30, partitions: int = 2) -> bool:
    """Whether each row of `cluster_with(n, partitions)` was scored exactly once."""
    return scored_offsets(cluster) == [(p, i) for p in range(partitions) for i in range(n)]


def replaced_once(detector: Any, cluster: FakeCluster) -> None:
    """`detector` run until `cluster` is drained: its producer replaced once (the failed one),
    and every row published once."""
    before = cluster.producers
    detector.run(until=drained(cluster))
    assert cluster.producers == before + 1
    assert every_row_once(cluster)
