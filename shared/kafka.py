"""Kafka wiring: client factories, topic creation, delivery tracking, broker readiness.

The only module in `shared` that imports confluent_kafka; the pure core never does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from shared.errors import KafkaWiringError
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    """A topic to create when missing."""

    name: str
    partitions: int
    replication_factor: int = 1
    config: dict[str, str] = field(default_factory=dict)


def producer_config(kafka: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    """Safe producer defaults; callers add `transactional.id` and the like as overrides."""
    conf = kafka.client_config()
    conf.update(
        {
            # Idempotence: retries can never duplicate or reorder a message in a partition.
            "enable.idempotence": True,
            # Every in-sync replica must have the message before it counts as delivered.
            "acks": "all",
            # The Java client's partitioner, so keys land where offline emulation expects.
            "partitioner": "murmur2_random",
            # Small batching delay: large batches at a negligible latency cost.
            "linger.ms": 5,
            # LZ4 is cheap on CPU and shrinks repetitive JSON several times.
            "compression.type": "lz4",
        }
    )
    conf.update(overrides)
    return conf


def consumer_config(kafka: KafkaSettings, group_id: str, **overrides: Any) -> dict[str, Any]:
    """Consumer defaults for at-least/exactly-once processing with manual commits."""
    conf = kafka.client_config()
    conf.update(
        {
            "group.id": group_id,
            # Offsets are committed by the application (or its transaction), never on a timer.
            "enable.auto.commit": False,
            # A new group starts at the beginning: no transaction may be skipped.
            "auto.offset.reset": "earliest",
            # Only committed transactional output is visible downstream.
            "isolation.level": "read_committed",
        }
    )
    conf.update(overrides)
    return conf


def make_producer(kafka: KafkaSettings, **overrides: Any) -> Producer:
    return Producer(producer_config(kafka, **overrides))


def make_consumer(kafka: KafkaSettings, group_id: str, **overrides: Any) -> Consumer:
    return Consumer(consumer_config(kafka, group_id, **overrides))


def make_admin(kafka: KafkaSettings) -> AdminClient:
    return AdminClient(kafka.client_config())


def wait_for_broker(kafka: KafkaSettings, timeout: float = 30.0) -> int:
    """Block until the cluster answers a metadata request; return its broker count."""
    admin = make_admin(kafka)
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            meta = admin.list_topics(timeout=min(2.0, max(0.1, deadline - time.monotonic())))
            return len(meta.brokers)
        except KafkaException as exc:
            last = exc
            time.sleep(0.2)
    raise KafkaWiringError(
        f"no Kafka broker answered at {kafka.bootstrap_servers} within {timeout:.0f}s: {last}"
    )


def ensure_topics(kafka: KafkaSettings, specs: Iterable[TopicSpec], timeout: float = 30.0) -> None:
    """Create missing topics and wait until they exist; existing ones are left as they are."""
    admin = make_admin(kafka)
    new = [
        NewTopic(s.name, num_partitions=s.partitions, replication_factor=s.replication_factor,
                 config=dict(s.config))
        for s in specs
    ]
    if not new:
        return
    futures = admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout)
    for name, fut in futures.items():
        try:
            fut.result(timeout=timeout)
            log.info("created topic %s", name)
        except KafkaException as exc:
            err = exc.args[0]
            if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise KafkaWiringError(f"could not create topic {name}: {err}", str(err)) from exc
    _wait_topics_visible(admin, [s.name for s in specs], timeout)


def _wait_topics_visible(admin: AdminClient, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        meta = admin.list_topics(timeout=timeout)
        ready = all(
            n in meta.topics and meta.topics[n].error is None and meta.topics[n].partitions
            for n in names
        )
        if ready:
            return
        time.sleep(0.1)
    raise KafkaWiringError(f"topics not visible after {timeout:.0f}s: {names}")


def topic_partitions(kafka: KafkaSettings, topic: str, timeout: float = 10.0) -> int:
    """How many partitions `topic` has (0 when it does not exist)."""
    meta = make_admin(kafka).list_topics(topic=topic, timeout=timeout)
    t = meta.topics.get(topic)
    if t is None or t.error is not None:
        return 0
    return len(t.partitions)


class DeliveryTracker:
    """A producer delivery callback that counts successes and keeps the first failures."""

    def __init__(self, keep: int = 20) -> None:
        self.delivered = 0
        self.failed = 0
        self.errors: list[str] = []
        self._keep = keep

    def __call__(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.delivered += 1
            return
        self.failed += 1
        if len(self.errors) < self._keep:
            raw = msg.key()
            key = raw.decode(errors="replace") if raw else None
            self.errors.append(f"topic={msg.topic()} key={key}: {err}")
            log.error("delivery failed: topic=%s key=%s error=%s", msg.topic(), key, err)
