"""The producer's Kafka loop: publish encoded transactions keyed by customer, checked delivery.

Idempotent, `acks=all` producer (shared.kafka.make_producer); every delivery report is
counted; Ctrl-C stops sending, flushes what is queued and reports how far it got. A producer
librdkafka leaves with no broker (its bug #5301) is replaced by one that sends what it held
(`shared.kafka.renew_producer`, docs/reliability.md).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from confluent_kafka import KafkaException

from producer.pacing import Pacer, Progress
from producer.settings import ProducerSettings
from shared.codec import encode_fast, encode_fields
from shared.errors import KafkaWiringError
from shared.kafka import (
    DeliveryTracker,
    TopicSpec,
    WatchedProducer,
    ensure_topics,
    kafka_code,
    make_watched_producer,
    unstranded,
)
from shared.kafka_rights import AUTHZ_CODES, check_rights, refused_line
from shared.schemas import Transaction
from shared.startup import batch_stops

log = logging.getLogger(__name__)

#: (event time, key, value) of one message, ready to send.
Record = tuple[datetime, bytes, bytes]


def to_record(tx: Transaction) -> Record:
    return tx.timestamp, tx.customer_id.encode(), encode_fast(tx)


def dict_to_record(data: dict[str, Any]) -> Record:
    """A record from a validated `Transaction` field dict (`shared.csv_io.iter_records`)."""
    return data["timestamp"], data["customer_id"].encode(), encode_fields(data)


@dataclass
class PublishReport:
    """What happened to the messages handed to `publish`."""

    total: int
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    queued_after_flush: int = 0
    elapsed: float = 0.0
    interrupted: bool = False
    errors: list[str] = field(default_factory=list)
    #: The one line of a Write refused while rows were sent ("" when none was): the
    #: sending stopped at it.
    refused: str = ""

    @property
    def undelivered(self) -> int:
        """Messages handed over but not acknowledged (failed or still queued)."""
        return self.sent - self.delivered

    @property
    def rate(self) -> float:
        return self.delivered / self.elapsed if self.elapsed > 0 else 0.0

    def refused_error(self, rows: int, rerun: str) -> KafkaWiringError | None:
        """The one line (exit 2) for a Write refused while rows were sent, said after the
        summary: the right, how many of `rows` were delivered, and that `rerun` once granted
        sends each again; None when none was refused (`replay`, `generate --publish`)."""
        if not self.refused:
            return None
        return KafkaWiringError(f"{self.refused}; {self.delivered:,} of {rows:,} row(s) were "
                                f"delivered before it ({rerun} once granted sends each "
                                "again: the detector drops a transaction_id it has had)")


def publish_overrides(settings: ProducerSettings, on_delivery: Any) -> dict[str, Any]:
    """`publish`'s settings on top of `shared.kafka.producer_config` (also the probe's)."""
    return {
        # Larger in-memory queue so a replay at full speed rarely blocks on BufferError.
        "queue.buffering.max.messages": settings.queue_max_messages,
        # Report failures only: a Python callback per success costs a third of the
        # throughput; delivered = sent - failed - still queued after the final flush.
        "delivery.report.only.error": True,
        "on_delivery": on_delivery,
    }


def publish(
    records: Sequence[Record] | Iterable[Record],
    settings: ProducerSettings,
    total: int,
    pacer: Pacer | None = None,
    progress: Progress | None = None,
) -> PublishReport:
    """Send `records` to the transactions topic in order; return the delivery outcome."""
    topics = settings.topics
    ensure_topics(
        settings.kafka,
        [TopicSpec(topics.transactions_topic, topics.partitions, topics.replication_factor)],
    )
    # Write refused: one line naming it before any row is sent (each row failed: exit 3)
    check_rights(settings.kafka, "the producer", [("topic", topics.transactions_topic, "WRITE")])
    tracker = DeliveryTracker()

    def make() -> WatchedProducer:
        return make_watched_producer(settings.kafka, **publish_overrides(settings, tracker))

    def checked(current: WatchedProducer) -> WatchedProducer:
        return unstranded(current, tracker, make)

    producer = make()
    report = PublishReport(total=total)
    topic = topics.transactions_topic
    produce, poll = producer.produce, producer.poll
    paced = pacer is not None and not pacer.unpaced
    start = time.monotonic()
    try:
        with StopRequests() as stop:
            for i, (event_time, key, value) in enumerate(records):
                if paced and pacer is not None:
                    wait = pacer.delay(i, event_time, time.monotonic())
                    while wait > 0 and not stop.asked:
                        poll(min(wait, 0.1))
                        wait = pacer.delay(i, event_time, time.monotonic())
                while not stop.asked:
                    try:
                        produce(topic, value, key)
                    except KafkaException as exc:  # the topic's Write taken back meanwhile
                        if kafka_code(exc) not in AUTHZ_CODES:
                            raise
                        tracker.refused = True
                        raise _Refused from exc
                    except BufferError:
                        poll(0.05)  # queue full: let deliveries drain
                        producer = checked(producer)
                        produce, poll = producer.produce, producer.poll
                        continue
                    report.sent += 1
                    break
                if stop.asked:
                    raise KeyboardInterrupt  # between two messages: each one counted
                if report.sent & 1023 == 0 or paced:
                    poll(0)
                    if tracker.refused:  # an ACL taken back: every row to come fails too
                        raise _Refused
                    producer = checked(producer)
                    produce, poll = producer.produce, producer.poll
                    if progress is not None:
                        progress.update(report.sent - len(producer))
    except _Refused:
        log.warning("Write on %s refused after %d of %d messages: stopping; flushing",
                    topic, report.sent, total)
    except KeyboardInterrupt:
        report.interrupted = True
        log.warning("interrupted after %d of %d messages; flushing", report.sent, total)
    queued = _flush(producer, checked, settings.flush_timeout_s, progress, report.sent)
    # At most the messages not yet reported failed: the producer's queue length counts
    # callbacks waiting to be served too (statistics, errors), and with only failures
    # reported (throughput) nothing else tells a message from them ("4 of 3" undelivered,
    # delivered -1, for 3 messages to no broker).
    report.queued_after_flush = min(queued, report.sent - tracker.failed)
    report.elapsed = time.monotonic() - start
    report.failed = tracker.failed
    report.delivered = report.sent - tracker.failed - report.queued_after_flush
    report.errors = list(tracker.errors)
    if tracker.refused:
        report.refused = refused_line(settings.kafka, "the producer",
                                      [("topic", topic, "WRITE")])
    if progress is not None:
        progress.close(report.delivered)
    return report


class _Refused(Exception):
    """The topic's Write refused while rows are sent: the sending stops there."""


class StopRequests:
    """Ctrl-C, SIGTERM and SIGHUP while messages are handed over: noted, and acted on
    between two messages. Raised where they struck (`KeyboardInterrupt`), one could land after a
    message was handed to Kafka and before it was counted: a replay's summary said 779
    handed over while the topic held 780. Outside the main thread (no handlers there) they
    strike as before."""

    def __init__(self) -> None:
        self.asked = False
        self._previous: dict[int, Any] = {}

    def _note(self, signum: int, frame: Any) -> None:
        self.asked = True

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, *batch_stops()):  # SIGHUP too, unless ignored
                self._previous[sig] = signal.signal(sig, self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            if previous is not None:  # None: set outside Python, nothing to put back
                signal.signal(sig, previous)


def _flush(producer: WatchedProducer, checked: Callable[[WatchedProducer], WatchedProducer],
           timeout: float, progress: Progress | None, sent: int) -> int:
    """Flush in short steps (so the bar moves, and a producer left with no broker is
    replaced: `checked`); return messages still queued at the end.

    A second Ctrl-C stops waiting; what is still queued is then reported as undelivered.
    """
    deadline = time.monotonic() + timeout
    remaining: int = len(producer)
    try:
        remaining = producer.flush(0)
        while remaining and time.monotonic() < deadline:
            producer = checked(producer)
            remaining = producer.flush(min(0.5, max(0.0, deadline - time.monotonic())))
            if progress is not None:
                progress.update(sent - remaining)
    except KeyboardInterrupt:
        remaining = len(producer)
        log.warning("flush interrupted with %d message(s) still queued", remaining)
    return remaining
