"""The session broker warmed before its first test: one transaction and one group commit.

A KRaft broker just started creates `__consumer_offsets` (50 partitions) and
`__transaction_state` at their first use and loads their coordinators; on a loaded machine
that took minutes. The first integration test of a CI worker met it (2026-12-07, load 13-23:
`Coordinator load in progress`, `Not coordinator`, `Unknown partition` for over 90 s, 0 of
1,014 rows scored within the test's 90 s), so the wait is taken here, once a worker, by the
fixture, not by a test's own timeout."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, KafkaException, Producer

from shared.kafka import TopicSpec, ensure_topics
from shared.settings import KafkaSettings

#: Long enough for a loaded 2-core machine; a broker still not serving then fails its tests.
WARM_TIMEOUT_S = 300.0


def warm(kafka: KafkaSettings, timeout: float = WARM_TIMEOUT_S) -> float:
    """Commit one transaction and one group offset on a throwaway topic; the seconds it
    took. Raises `KafkaException` or `TimeoutError` if the broker does not serve in time."""
    started = time.monotonic()
    deadline = started + timeout
    topic = f"warm-{uuid.uuid4().hex[:12]}"
    ensure_topics(kafka, [TopicSpec(topic, partitions=1)])
    base = {"bootstrap.servers": kafka.bootstrap_servers}
    producer = Producer({**base, "transactional.id": topic})
    producer.init_transactions(max(1.0, deadline - time.monotonic()))
    producer.begin_transaction()
    producer.produce(topic, b"warm")
    producer.commit_transaction(max(1.0, deadline - time.monotonic()))
    consumer = Consumer({**base, "group.id": topic, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    try:
        consumer.subscribe([topic])
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            while True:
                try:
                    consumer.commit(message=msg, asynchronous=False)
                    return time.monotonic() - started
                except KafkaException:  # the group coordinator still loading: retried
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(1.0)
        raise TimeoutError(f"the broker at {kafka.bootstrap_servers} served no group "
                           f"within {timeout:.0f} s")
    finally:
        consumer.close()
