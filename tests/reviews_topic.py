"""The reviews topic created, or deleted and created again under its name, on a real broker:
as the sink and `review serve` create it, with as many partitions as a test asks."""

from __future__ import annotations

import time

from confluent_kafka.admin import AdminClient

from shared.kafka import TopicSpec, ensure_topics
from shared.reviews import REVIEWS_PARTITIONS, REVIEWS_TOPIC_CONFIG
from shared.settings import KafkaSettings


def create(kafka: KafkaSettings, topic: str, partitions: int = REVIEWS_PARTITIONS) -> None:
    """Create `topic` as the reviews topic is created, retried for up to 60 s: a deletion
    just before takes a moment to be final."""
    spec = TopicSpec(topic, partitions, config=dict(REVIEWS_TOPIC_CONFIG))
    deadline = time.monotonic() + 60
    while True:
        try:
            ensure_topics(kafka, [spec])
            return
        except Exception:
            assert time.monotonic() < deadline
            time.sleep(0.5)


def recreate(kafka: KafkaSettings, topic: str, partitions: int = REVIEWS_PARTITIONS) -> None:
    """Delete `topic` and create it again (a new topic id) with `partitions`."""
    admin = AdminClient(kafka.client_config())
    admin.delete_topics([topic], operation_timeout=30)[topic].result(60)
    create(kafka, topic, partitions)
