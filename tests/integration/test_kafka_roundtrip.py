"""The wiring against a real broker: topics, keyed produce, consume back."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import pytest

from shared.codec import decode, encode
from shared.kafka import DeliveryTracker, TopicSpec, ensure_topics, make_producer
from shared.partitioning import partition_for
from shared.schemas import Transaction
from shared.settings import KafkaSettings
from tests.integration.topic_reader import read_all

pytestmark = pytest.mark.integration


def test_keyed_messages_round_trip_and_keep_their_partition(
    kafka: KafkaSettings, topic_name: str
) -> None:
    ensure_topics(kafka, [TopicSpec(topic_name, partitions=4)])
    producer = make_producer(kafka)
    tracker = DeliveryTracker()
    start = datetime(2025, 1, 1)
    n = 10_000
    for i in range(n):
        tx = Transaction(
            transaction_id=str(i), customer_id=str(i % 137), timestamp=start + timedelta(seconds=i),
            amount=10 + i % 50, country="CH", channel="app", device="pc",
            merchant_category="grocery", ip="10.0.0.1",
        )
        producer.produce(topic_name, key=tx.customer_id, value=encode(tx), on_delivery=tracker)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert (tracker.delivered, tracker.failed) == (n, 0)

    seen: dict[str, set[int]] = defaultdict(set)
    ids: set[str] = set()
    msgs = read_all(kafka, topic_name, partitions=4, expected=n, timeout=60)
    assert len(msgs) == n
    for msg in msgs:
        value, key, partition = msg.value(), msg.key(), msg.partition()
        assert value is not None and key is not None and partition is not None
        tx = decode(value, Transaction)
        assert key.decode() == tx.customer_id
        seen[tx.customer_id].add(partition)
        ids.add(tx.transaction_id)

    assert len(ids) == n
    assert all(len(parts) == 1 for parts in seen.values())
    # The broker placed each key where the offline emulation says it goes.
    assert {c: next(iter(p)) for c, p in seen.items()} == {
        c: partition_for(c, 4) for c in seen
    }
    assert len({next(iter(p)) for p in seen.values()}) == 4
