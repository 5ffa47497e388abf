"""`consume_ready` against a real broker: a batch smaller than the limit is not held back
for the timeout (`Consumer.consume(limit, timeout)` alone waits all of it)."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import TopicPartition

from shared.kafka import TopicSpec, consume_ready, ensure_topics, make_consumer, make_producer
from shared.settings import KafkaSettings

pytestmark = pytest.mark.integration

TIMEOUT_S = 3.0


def test_fewer_messages_than_the_limit_come_without_the_timeouts_wait(
        kafka: KafkaSettings, topic_name: str) -> None:
    ensure_topics(kafka, [TopicSpec(topic_name, partitions=1)])
    producer = make_producer(kafka)
    for i in range(10):
        producer.produce(topic_name, str(i).encode())
    assert producer.flush(30) == 0
    consumer = make_consumer(kafka, f"{topic_name}-ready")
    try:
        consumer.assign([TopicPartition(topic_name, 0, 0)])
        got: list[bytes | None] = []
        deadline = time.monotonic() + 30
        while len(got) < 10 and time.monotonic() < deadline:  # the first fetch, then the rest
            start = time.monotonic()
            batch = consume_ready(consumer, 5_000, TIMEOUT_S)
            took = time.monotonic() - start
            assert batch and took < TIMEOUT_S / 2, (len(batch), took)
            got += [m.value() for m in batch]
        assert got == [str(i).encode() for i in range(10)]
        start = time.monotonic()
        assert consume_ready(consumer, 5_000, 0.5) == []  # nothing more: the timeout, then []
        assert time.monotonic() - start >= 0.4
    finally:
        consumer.close()
