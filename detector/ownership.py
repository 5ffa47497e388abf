"""The partitions a detector owns, through rebalances and rewinds.

Each assigned partition gets its state as of its committed offset (kept in memory over a
clean revoke, else restored from the state topic and replayed); a lost one is dropped. After
an abort every owned partition goes back to its committed offset and state. A restore that
cannot reach the cluster (a broker restart) is retried for `REWIND_RETRY_S` in tries of at
most `REWIND_TRY_S` (then exit 4), and not at all once a stop is asked; a try whose committed
offsets time out asks them again of a new client of the group (`_read_committed`). An
exception inside librdkafka's callbacks is kept, stops the loop and is re-raised there. Part
of `detector.app.Detector` (a mixin).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from detector.ending import TransactionEnds
from detector.kafka_io import partitions_changed
from detector.outage import is_outage
from detector.partition import PartitionState
from detector.settings import DetectorSettings
from detector.txn import Abortable, DetectorError
from shared.errors import KafkaWiringError
from shared.health import NO_BROKER_S
from shared.kafka import WatchedConsumer, close_within, kafka_code, worth_waiting
from shared.retry import retry_within, unreachable_after

log = logging.getLogger("detector")

#: How long a rewind after an abort waits out an unreachable cluster (`shared.retry`).
#: A broker restart on a loaded machine (load 12-14) took 42-58 s, and the group coordinator
#: answered 16 s after that: 60 s was not enough (exit 2 in the fault suite).
REWIND_RETRY_S = 180.0
#: The longest one try waits for the committed offsets: librdkafka's `committed` blocks for
#: its whole timeout while the coordinator is out of reach, and a stop is seen between tries.
REWIND_TRY_S = 5.0


class PartitionOwnership(TransactionEnds):
    """Restores, rewinds and the rebalance callbacks of a `Detector`."""

    _stopping: bool
    #: A new consumer of the group that only reads committed offsets (`_read_committed`).
    _offset_reader: Callable[[], Consumer]
    #: States of partitions revoked cleanly, kept in case they come back at the same offset.
    _kept: dict[int, PartitionState]
    #: Member ids this process's consumers were assigned under (`Detector._newer_instance`).
    _own_members: set[str]
    _consumer: WatchedConsumer
    #: A new group consumer, as the first (`_renew_consumer`).
    _new_consumer: Callable[[], WatchedConsumer]
    #: The input topic's partition count at the start (partitions added since are refused).
    _snapshot_partitions: int
    settings: DetectorSettings

    def _subscribe(self) -> None:
        raise NotImplementedError

    def _waiting(self) -> int | None:
        """Messages waiting in the owned partitions, from the consumer's cached partition
        ends (no request); None when an end is not known yet, or the consumer has had no
        broker connection for `NO_BROKER_S` (the ends it knows are stale): the health's lag."""
        if self._consumer.out_of_touch(NO_BROKER_S):
            return None
        lags = list(self._partition_lag().values())
        return None if None in lags else sum(n or 0 for n in lags)

    def _renew_consumer(self) -> None:
        """Replace a group consumer librdkafka left with no broker (its #5301,
        docs/reliability.md), which would never fetch again: what it owned is given up as
        lost (`_on_lost`: the open transaction aborted, the partitions dropped); the old one
        closes in the background, its callbacks ignored from then on; the new one joins the
        group (with static membership, in the old one's place) and restores what it is
        assigned, as any new owner."""
        old = self._consumer
        log.warning("the group consumer has had no broker left (librdkafka #5301): giving "
                    "up its partitions and replacing it")
        self._on_lost(old, [])
        self._raise_failure()
        self._consumer = self._new_consumer()
        close_within(old, 1.0)
        self._subscribe()

    def _rewind(self) -> None:
        """After an abort: every owned partition back to its committed offset and state.

        The abort may have come from the cluster going away (a broker restart): a restore
        that cannot reach it is retried for `REWIND_RETRY_S` before the process gives up
        (exit 4, `KafkaUnreachableError`; a restart resumes exactly once). A fatal error, a
        configuration one (`shared.kafka.CONFIG_CODES`: authorization, authentication)
        is not retried, and any other Kafka error still failing at the deadline is exit 2."""
        owned = [TopicPartition(self._topic, p) for p in sorted(self.processor.parts)]
        self.processor.parts.clear()
        for tp in self._restore_retrying(owned, "rewinding after the abort"):
            self._consumer.seek(tp)

    def _restore_retrying(self, partitions: list[TopicPartition],
                          doing: str) -> list[TopicPartition]:
        """`_restore`, retried for `REWIND_RETRY_S` while the cluster cannot be reached (none
        once a stop is asked: nothing is open then, and the partitions' next owner restores)."""
        def gave_up(exc: Exception, waited: float) -> Exception:  # else exit 2, as it is
            return unreachable_after(exc, doing, waited) if is_outage(exc) else exc

        try:
            return retry_within(lambda left: self._restore(partitions, min(REWIND_TRY_S, left)),
                                worth_waiting, REWIND_RETRY_S, gave_up, doing, time.monotonic,
                                time.sleep, lambda: self._stopping)
        except KafkaException as exc:
            if not (self._stopping and worth_waiting(exc)):
                raise
            log.warning("%s: stopping as asked instead of waiting", doing)
            return []

    def _restore(self, partitions: list[TopicPartition], wait: float) -> list[TopicPartition]:
        """Give each partition its state as of its committed offset (waited for at most
        `wait` seconds); return start positions."""
        committed = self._read_committed(partitions, wait)
        out = []
        for tp in committed:
            # A failure below is this partition's: not at where the last one's replay was.
            self._restorer.ctx.position = None
            p, offset = tp.partition, (tp.offset if tp.offset >= 0 else None)
            kept = self._kept.pop(p, None)
            if kept is not None and offset == kept.next_offset:
                state = kept
                log.info("partition %d kept in memory at offset %d", p, offset)
            else:
                start = time.perf_counter()
                state, plan = self._restorer.restore(
                    p, offset, partial(self._committed_again, tp, wait))
                took = time.perf_counter() - start
                self.metrics.restored(took)
                log.info("partition %d restored (%s, replayed %d records) at offset %d in "
                         "%.2f s", p, "snapshot" if plan.use_snapshot else "empty state",
                         plan.replay_count, state.next_offset, took)
            self.processor.parts[p] = state
            self._committed[p] = state.next_offset
            out.append(TopicPartition(self._topic, p, state.next_offset))
        self._restorer.ctx.position = None
        self._kept.clear()
        return out

    def _committed_again(self, tp: TopicPartition, wait: float) -> int | None:
        """The group's committed offset of `tp`, read anew (None: none)."""
        offset = self._read_committed([TopicPartition(tp.topic, tp.partition)], wait)[0].offset
        return offset if offset >= 0 else None

    def _read_committed(self, partitions: list[TopicPartition],
                        wait: float) -> list[TopicPartition]:
        """The group's committed offsets of `partitions`, from the detector's consumer or,
        when it times out, from a new client of the group (each waited for `wait` seconds).

        After a broker restart librdkafka (2.16) was seen to lose its only broker and find it
        again only once the application polled, which a rewind does not do: `committed()`
        timed out for minutes while new clients were answered at once (docs/reliability.md,
        "Clients left without a broker after a broker restart"). The offsets are the group's,
        whichever client reads them; the consumer finds the broker at its next poll."""
        try:
            return self._consumer.committed(partitions, timeout=wait)
        except KafkaException as exc:
            if kafka_code(exc) != KafkaError._TIMED_OUT:
                raise
            log.warning("committed offsets timed out (%s); asking a new client of the group",
                        exc)
        reader = self._offset_reader()
        try:
            return reader.committed(partitions, timeout=wait)
        finally:
            reader.close()

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if consumer is not self._consumer:
            return  # a consumer replaced (`_renew_consumer`), closing
        self._own_members.add(consumer.memberid() or "")
        with self._callback("assign"):
            added = [tp.partition for tp in partitions
                     if tp.partition >= self._snapshot_partitions]
            if added:  # partitions added to the input since the start: refused, not restored
                raise KafkaWiringError(partitions_changed(
                    self.settings, max(added) + 1, self._snapshot_partitions,
                    "the topic when the detector started"))
            # Assigned right after a broker restart, the restore may not reach it at first.
            consumer.assign(self._restore_retrying(partitions, "restoring the assignment"))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if consumer is not self._consumer:
            return  # a consumer replaced (`_renew_consumer`), closing
        with self._callback("revoke"):
            clean = True
            if self._txn.open:
                try:
                    self._commit_or_abort()
                except Abortable:
                    clean = False
            revoked = {tp.partition for tp in partitions}
            for p in revoked & set(self.processor.parts):
                state = self.processor.parts.pop(p)
                if clean:
                    self._kept[p] = state

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if consumer is not self._consumer:
            return  # a consumer replaced (`_renew_consumer`), closing
        with self._callback("lost"):
            if not self._closing:
                # Lost also when this process was paused past its session: a newer one with
                # its id is not to be fenced by the abort's or the new producer (below).
                self._txn.leave_to_newer("lost its partitions")
            if self._txn.open:
                self._abort()
            elif not self._closing:
                # Lost partitions mean the cluster was out of reach; a producer that lived
                # through a broker restart was seen to block in send_offsets afterwards.
                # Not at the shutdown's close: nothing would use the new producer, and its
                # init_transactions could wait out the outage.
                self._txn.replace_producer()
            self.processor.parts.clear()
            self._kept.clear()

    @contextmanager
    def _callback(self, name: str) -> Iterator[None]:
        # An exception must not vanish inside librdkafka's callback: keep it, stop, re-raise.
        try:
            yield
        except Exception as exc:
            if not isinstance(exc, DetectorError):  # a DetectorError's reason is the exit line
                log.error("%s callback failed: %s", name, exc)
            self._txn.ok = False  # whatever is open now may only be aborted
            self._failure = exc
            self._stopping = True

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

