"""Kafka wiring of the detector: client configs, topics, the transactional output, restores."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from detector.checkpoints import (
    CheckpointAssembler,
    Ledger,
    Restored,
    encode_checkpoint,
    state_prefix,
)
from detector.core.stateparts import Changes, NewerStateError
from detector.dedupe import DedupeIndex
from detector.loop import CoreFailure, ReplayContext, replay
from detector.partition import Engine, EngineFactory, PartitionState, Record
from detector.recovery import RecoveryError, RecoveryPlan, plan_recovery
from detector.resume import dedupe_of, engine_of, partition_state
from detector.settings import DetectorSettings
from detector.snapshots import SnapshotError, snapshot_prefix
from shared.errors import KafkaWiringError
from shared.gcpause import gc_paused
from shared.kafka import (
    TopicSpec,
    WatchedConsumer,
    WatchedProducer,
    ensure_topics,
    make_admin,
    make_consumer,
    make_watched_consumer,
    make_watched_producer,
    topic_partitions,
)
from shared.kafka_rights import AUTHZ_CODES, Right, RightsRefused, refused_line
from shared.settings import KafkaSettings

log = logging.getLogger("detector")

READ_TIMEOUT_S = 60.0
#: How long the broker may hold the detector's fetch for more records, and how many bytes
#: answer it sooner (`make_group_consumer`; docs/benchmarks.md, "latency at 50,000 tx/s").
FETCH_WAIT_MS = 10
FETCH_MIN_BYTES = 1_000_000
#: How long a fenced detector waits for its group's member list (`group_members`).
MEMBERS_TIMEOUT_S = 5.0


def ensure_detector_topics(s: DetectorSettings, kafka: KafkaSettings | None = None,
                           timeout: float = 30.0) -> int:
    """Create missing topics (through `kafka`, default `s.kafka`; each step within
    `timeout`); return the input topic's partition count."""
    t = s.topics
    kafka = kafka or s.kafka
    specs = [TopicSpec(n, t.partitions, t.replication_factor)
             for n in (t.transactions_topic, t.scored_topic, t.dlq_topic)]
    ensure_topics(kafka, specs, timeout)
    partitions = topic_partitions(kafka, t.transactions_topic, timeout)
    snapshot_config = {
        # Only the latest record of each key matters (customers, parts, manifest).
        "cleanup.policy": "compact",
        # Roll segments often so old snapshots become compactable within minutes.
        "segment.ms": "600000",
        # Headroom above the chunk size (chunks are <= 900 KiB by validation).
        "max.message.bytes": str(2 * 1024 * 1024),
    }
    ensure_topics(kafka, [TopicSpec(s.snapshot_topic, partitions, t.replication_factor,
                                    snapshot_config)], timeout)
    have = topic_partitions(kafka, s.snapshot_topic, timeout)
    if have != partitions:
        # Made with the input's count, the state topic keeps it: more partitions on the
        # input than on it means partitions were added to the input since (and a state topic
        # with more would let them pass, later). Partition p's state goes to state
        # partition p % `partitions`.
        raise KafkaWiringError(partitions_changed(s, partitions, have, "its state topic "
                                                  f"{s.snapshot_topic}"))
    return partitions


#: Who the one line of a right refused names.
WHO = "the detector"


def detector_rights(s: DetectorSettings) -> list[Right]:
    """The rights the detector needs beside its transactional id's (`detector.txn.REFUSED`):
    Read of the input and of its state topic (restores), Write of its outputs, Read of its
    group (joining it, and the input offsets each transaction commits there)."""
    t = s.topics
    return [("topic", t.transactions_topic, "READ"), ("topic", t.scored_topic, "WRITE"),
            ("topic", t.dlq_topic, "WRITE"), ("topic", s.snapshot_topic, "READ"),
            ("topic", s.snapshot_topic, "WRITE"), ("group", s.group_id, "READ")]


def topic_rights(s: DetectorSettings) -> list[Right]:
    """`detector_rights` without its group's: what the detector asks at its start and at an
    abort whose error names no right (DescribeConsumerGroups while a broker's connection
    drops can abort the process, librdkafka #4605)."""
    return [right for right in detector_rights(s) if right[0] == "topic"]


def partitions_changed(s: DetectorSettings, now: int, before: int, where: str) -> str:
    """Why the detector refuses an input topic whose partition count is not `before`, the
    count `where` holds (docs/detector.md, "Partitions of the input")."""
    t = s.topics
    return (f"{t.transactions_topic} has {now} partitions, not the {before} of {where}: "
            "partitions added to it would split customers (the input is keyed by "
            "customer_id; each partition keeps its customers' history and its duplicate "
            "check), so a customer would be scored as new and a replay exported twice. "
            "To use another count, start a new pipeline: a new input topic with that many "
            "partitions replayed from the source files, with new DETECTOR_SNAPSHOT_TOPIC, "
            "scored topic and exports (docs/detector.md)")


def check_partitions(s: DetectorSettings, partition: int, snap: Restored | None,
                     now: int) -> None:
    """Refuse a checkpoint written when the input had another partition count: partitions
    added to both the input and the state topic while no detector ran (the start-up's check
    sees equal counts again) would split customers all the same."""
    if snap is not None and snap.partitions is not None and snap.partitions != now:
        raise KafkaWiringError(partitions_changed(
            s, now, snap.partitions, f"the checkpoint of its partition {partition} in "
            f"{s.snapshot_topic}"))


def newer_state(s: DetectorSettings, partition: int, exc: NewerStateError) -> RecoveryError:
    """The one line of a checkpoint a newer release wrote (a rollback): rebuilding over it
    would replay the whole input history and delete the newer release's state."""
    return RecoveryError(
        f"partition {partition}: its checkpoint in {s.snapshot_topic} was written by a newer "
        f"auditstream release ({exc}): run that release (or a later one) again; to go back "
        "to this one anyway, set DETECTOR_SNAPSHOT_TOPIC to a new topic, and the state is "
        "rebuilt from the input history (docs/detector.md, \"Upgrades and rollbacks\")")


#: The broker's refusals of a setting of the detector's own (not a state of the cluster that
#: waiting mends): the setting's field and the broker's bound it must fit, at Kafka's defaults.
#: A session timeout outside them was a warning every 2 s for ever, never a partition.
REFUSED_SETTINGS = {
    KafkaError.INVALID_SESSION_TIMEOUT: (
        "session_timeout_ms", "within the broker's group.min.session.timeout.ms and "
        "group.max.session.timeout.ms (6000 and 1800000 unless the broker sets others)"),
    KafkaError.INVALID_TRANSACTION_TIMEOUT: (
        "transaction_timeout_ms", "at most the broker's transaction.max.timeout.ms "
        "(900000 unless the broker sets another)"),
}


def client_error(s: DetectorSettings, err: object) -> str:
    """The one line of a Kafka error that ends the detector: a refused setting named."""
    code = err.code() if isinstance(err, KafkaError) else None
    if code not in REFUSED_SETTINGS:
        return f"Kafka client error: {err}"
    field, bound = REFUSED_SETTINGS[code]
    said = err.str() if isinstance(err, KafkaError) else err
    name = f"{s.model_config.get('env_prefix', '')}{field}".upper()
    return (f"Kafka refused {name}={getattr(s, field)} ({said}); it must be {bound}: "
            f"change {name}")


def make_transactional_producer(s: DetectorSettings) -> WatchedProducer:
    """Watched (`stranded()`, librdkafka #5301): the loop polls it every turn."""
    return make_watched_producer(
        s.kafka,
        **{
            # Stable per instance: a restart fences its predecessor and aborts its open
            # transaction at once instead of leaving readers blocked until it times out.
            "transactional.id": s.transactional_id,
            # Bounds how long a vanished process's open transaction can hold back readers.
            "transaction.timeout.ms": s.transaction_timeout_ms,
            # Room for a whole consumed batch of rows plus snapshot chunks before a flush.
            "queue.buffering.max.messages": 1_000_000,
        },
    )


def make_group_consumer(s: DetectorSettings) -> WatchedConsumer:
    conf: dict[str, Any] = {
        # A crashed process is replaced after this long (static members keep their
        # partitions until then; a restart within it is no rebalance at all).
        "session.timeout.ms": s.session_timeout_ms,
        # Must exceed the slowest batch plus a restore (replay is bounded by snapshot_every).
        "max.poll.interval.ms": s.max_poll_interval_ms,
        # Positions come from the transaction's offsets only.
        "enable.auto.offset.store": False,
        # Eager assignment: every rebalance revokes all, so revoke/assign are simple; engines
        # whose offsets did not move are kept across it (see Detector._on_assign).
        "partition.assignment.strategy": "range",
        # A fetch waits up to 10 ms for more records (librdkafka's 500 ms with 1 byte answered
        # at the first): a detector that keeps up turned ~600 times a second on ~4 records at
        # 5,000 tx/s, each turn's fixed cost making its loop 2x dearer a record and the
        # broker's fetches a quarter of a core; a turn now takes 10 ms of records. 10 ms is a
        # tenth of the commit interval a row waits anyway; 1 MB there (a backlog) answers at
        # once.
        "fetch.wait.max.ms": FETCH_WAIT_MS,
        "fetch.min.bytes": FETCH_MIN_BYTES,
    }
    if s.static_membership:
        # Static membership: a restarted instance gets its partitions back without a rebalance.
        conf["group.instance.id"] = s.transactional_id
    # Names the instance in the group's member list: a process fenced after a pause asks
    # whether a newer one with its id has joined (`group_members`).
    conf["client.id"] = member_client_id(s)
    return make_watched_consumer(s.kafka, s.group_id, **conf)


def member_client_id(s: DetectorSettings) -> str:
    """The group consumer's client.id: `<KAFKA_CLIENT_ID>-<transactional id>`."""
    return f"{s.kafka.client_id}-{s.transactional_id}"


def group_members(s: DetectorSettings, timeout: float = MEMBERS_TIMEOUT_S
                  ) -> list[tuple[str, str]] | None:
    """(client id, member id) of each member of the detector's group, or None when the
    cluster does not say within `timeout` (it may be restarting)."""
    try:
        admin = make_admin(s.kafka, quiet=True)
        future = admin.describe_consumer_groups([s.group_id],
                                                request_timeout=timeout)[s.group_id]
        group = future.result(timeout=timeout)
    except Exception as exc:  # any failure is "unknown": the caller keeps its old course
        log.warning("could not list the members of group %s: %s", s.group_id, exc)
        return None
    return [(m.client_id, m.member_id) for m in group.members]


def make_offset_reader(s: DetectorSettings) -> Consumer:
    """A consumer of the group that only reads its committed offsets: it never subscribes
    (so never joins the group), and has no static member id (it must not stand in for the
    detector's own consumer)."""
    return make_consumer(s.kafka, s.group_id)


class TransactionAge(Protocol):
    """The open transaction's age (`detector.txn.Transactions`): `started` stays None until
    `sending` marks its first send."""

    started: float | None

    def sending(self) -> None: ...


class KafkaOutput:
    """Produces scored rows, dead letters and snapshots (the caller owns the transaction).
    The first send of the open transaction starts its age (`txn.sending`), asked only while
    `txn.started` is None: called for every row it was a fifth of `scored`'s own CPU
    (docs/benchmarks.md)."""

    def __init__(self, producer: Producer, s: DetectorSettings, snapshot_partitions: int,
                 txn: TransactionAge) -> None:
        self._producer = producer
        self._txn = txn
        self._s = s
        self._snapshot_partitions = snapshot_partitions
        self._scored = s.topics.scored_topic
        self._dlq = s.topics.dlq_topic

    def _produce(self, topic: str, **kwargs: Any) -> None:
        if self._txn.started is None:
            self._txn.sending()
        while True:
            try:
                self._producer.produce(topic, **kwargs)
                return
            except BufferError:
                self._producer.poll(0.05)

    def scored(self, key: bytes, value: bytes) -> None:
        if self._txn.started is None:
            self._txn.sending()
        try:  # positional (topic, value, key): a quarter less per call than keywords
            self._producer.produce(self._scored, value, key)
        except BufferError:
            self._produce(self._scored, value=value, key=key)

    def dead(self, record: Record, headers: list[tuple[str, bytes]]) -> None:
        try:
            self._produce(self._dlq, key=record.key(), value=record.value(), headers=headers)
        except KafkaException as exc:
            err = exc.args[0]
            if not (isinstance(err, KafkaError) and err.code() == KafkaError.MSG_SIZE_TOO_LARGE):
                raise
            # The record with our headers no longer fits: keep the reason and where it is.
            size = len(record.value() or b"")
            self._produce(self._dlq, key=record.key(), value=None, headers=[
                *headers, ("error.value_dropped", f"{size} bytes, over the size limit".encode())])

    def checkpoint(self, partition: int, next_offset: int, changes: Changes,
                   ledger: Ledger) -> None:
        prefix = state_prefix(self._s.group_id, self._s.topics.transactions_topic, partition)
        target = partition % self._snapshot_partitions
        for rec in encode_checkpoint(prefix, next_offset, changes, ledger,
                                     self._s.snapshot_chunk_bytes, self._snapshot_partitions):
            self._produce(self._s.snapshot_topic, key=rec.key, value=rec.value,
                          headers=rec.headers, partition=target)


class Restorer:
    """Rebuilds a partition's state as of its committed offset (see detector.recovery)."""

    def __init__(self, s: DetectorSettings, factory: EngineFactory, snapshot_partitions: int,
                 ctx: ReplayContext | None = None):
        self._s = s
        self._factory = factory
        #: Shared with the live processor: poison ranges, fault hook, current position.
        self.ctx = ctx or ReplayContext(factory)
        self._snapshot_partitions = snapshot_partitions
        # A plain reader (assign only, never commits); EOF events end each read.
        self._consumer = make_consumer(
            s.kafka, f"{s.group_id}.restore",
            **{
                # The end of a partition is signalled, so a read knows when it is complete.
                "enable.partition.eof": True,
                # At the end of a partition, answer at once: restores must be quick.
                "fetch.wait.max.ms": 10,
            },
        )

    def close(self) -> None:
        self._consumer.close()

    def restore(self, partition: int, committed: int | None,
                reread: Callable[[], int | None] | None = None
                ) -> tuple[PartitionState, RecoveryPlan]:
        """`committed`: the group's offset, read before; `reread` reads it again."""
        topic = self._s.topics.transactions_topic
        low, high = self._consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=READ_TIMEOUT_S)
        snap, stale, unusable_at = self._load_checkpoint(partition)
        ahead = snap.next_offset if snap is not None else unusable_at
        if (reread is not None and ahead is not None
                and (committed is None or ahead > committed)):
            # A checkpoint ahead of the offset read before it: another member committed both
            # in between (a rewind of partitions lost to a rebalance). They commit together.
            committed = reread()
            high = max(high, self._consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=READ_TIMEOUT_S)[1])
        engine: Engine | None = None
        index: DedupeIndex | None = None
        if snap is not None:
            try:
                engine = self._engine(snap)
                # the duplicate index too, here: one it cannot read makes the checkpoint
                # unusable like its engine's parts (it raised out of the restore)
                index = dedupe_of(snap, self._s.dedupe_horizon)
            except NewerStateError as exc:
                raise newer_state(self._s, partition, exc) from None
            except Exception as exc:
                # A checkpoint of an incompatible core version is not fatal: the whole history
                # is replayed instead, when it is still there (else the policy decides).
                log.warning("partition %d: checkpoint @%d unusable (%s); rebuilding from the "
                            "input history", partition, snap.next_offset, exc)
                unusable_at = snap.next_offset  # its offsets must still have reached it
                snap = None
        plan = plan_recovery(partition, committed, snap.next_offset if snap else None, low,
                             high, self._s.recovery_policy, unusable_at)
        if plan.warning:
            log.warning("%s", plan.warning)
        while True:
            state = self._initial_state(partition, snap if plan.use_snapshot else None, plan,
                                        engine, stale, index)
            engine = index = None  # a second attempt restores the checkpoint again
            try:
                if plan.replay_count:
                    self._replay(partition, state, plan.resume_at)
                break
            except CoreFailure as exc:
                # Poison in the replayed history: replay again, isolating that range.
                log.warning("replaying %s; isolating those records", exc)
                self.ctx.careful.setdefault(partition, []).append((exc.first, exc.last))
        state.next_offset = plan.resume_at
        state.since_snapshot = plan.resume_at - plan.replay_from
        return state, plan

    def _engine(self, snap: Restored) -> Engine:
        return engine_of(snap, self._factory)

    def _initial_state(self, partition: int, snap: Restored | None, plan: RecoveryPlan,
                       engine: Engine | None, stale: list[bytes],
                       index: DedupeIndex | None = None) -> PartitionState:
        return partition_state(partition, snap, self._factory, self._s.dedupe_horizon,
                               plan.replay_from, stale, engine, index)

    def _load_checkpoint(self, partition: int
                         ) -> tuple[Restored | None, list[bytes], int | None]:
        """The partition's latest checkpoint (None when there is none or it is broken),
        every key under its prefixes (deleted if a new epoch starts) and, for a broken one,
        how far its manifest says it covered (None: no manifest, or none that says)."""
        s = self._s
        topic = s.topics.transactions_topic
        target = partition % self._snapshot_partitions
        asm = CheckpointAssembler(state_prefix(s.group_id, topic, partition),
                                  snapshot_prefix(s.group_id, topic, partition))
        with gc_paused():
            for msg in self._read(s.snapshot_topic, target, OFFSET_BEGINNING, None):
                asm.feed(msg.key(), msg.value(), msg.headers())
        try:
            snap = asm.result()
        except NewerStateError as exc:
            raise newer_state(s, partition, exc) from None
        except SnapshotError as exc:
            log.warning("partition %d: %s; rebuilding from the input history", partition, exc)
            return None, asm.keys(), exc.next_offset
        check_partitions(s, partition, snap, self._snapshot_partitions)
        return snap, asm.keys(), None

    def _replay(self, partition: int, state: PartitionState, until: int) -> None:
        topic = self._s.topics.transactions_topic
        batch: list[Any] = []
        for msg in self._read(topic, partition, state.next_offset, until):
            batch.append(msg)
            if len(batch) >= self._s.batch_size:
                replay(state, batch, until, self.ctx)
                batch = []
        replay(state, batch, until, self.ctx)
        if state.next_offset != until:
            raise RecoveryError(f"partition {partition}: the replay of {topic} ended at offset "
                                f"{state.next_offset}, not at the committed offset {until}")

    def _read(self, topic: str, partition: int, start: int, until: int | None) -> Any:
        """Yield messages of one partition from `start` to its end (or to before `until`)."""
        c = self._consumer
        low, high = c.get_watermark_offsets(TopicPartition(topic, partition),
                                            timeout=READ_TIMEOUT_S)
        if high <= low or (until is not None and start >= until):
            return
        c.assign([TopicPartition(topic, partition, start)])
        deadline = time.monotonic() + READ_TIMEOUT_S
        try:
            while True:
                if time.monotonic() > deadline:
                    # Retriable: the rewind's retries wait out a broker restart (ownership).
                    raise KafkaException(KafkaError(
                        KafkaError._TIMED_OUT, f"reading {topic}[{partition}]: nothing for "
                        f"{READ_TIMEOUT_S:.0f}s", retriable=True))
                for msg in c.consume(num_messages=self._s.batch_size, timeout=0.05):
                    if msg.topic() != topic or msg.partition() != partition:
                        continue  # left over from the previous read's assignment
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            return
                        if err.code() in AUTHZ_CODES:
                            raise RightsRefused(refused_line(
                                self._s.kafka, WHO, [("topic", topic, "READ")]), err.name())
                        raise KafkaWiringError(f"reading {topic}[{partition}]: {err}",
                                               err.name())
                    deadline = time.monotonic() + READ_TIMEOUT_S
                    yield msg
                    if until is not None and (msg.offset() or 0) >= until - 1:
                        return
        finally:
            c.unassign()
