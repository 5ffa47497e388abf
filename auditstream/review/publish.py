"""Reviews onto the compacted reviews topic: an idempotent producer, keyed by target and id."""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Sequence

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._resource import ResourceType

from shared.errors import AuditstreamError, ExitCode
from shared.kafka import DeliveryTracker, TopicSpec, ensure_topics, make_admin, make_producer
from shared.kafka_rights import check_rights
from shared.reviews import REVIEWS_PARTITIONS, REVIEWS_TOPIC_CONFIG, Review, encode_review
from shared.settings import KafkaSettings, TopicSettings

log = logging.getLogger(__name__)


class ReviewsUndeliveredError(AuditstreamError):
    """Kafka did not confirm every review in time."""

    exit_code = ExitCode.KAFKA_INCOMPLETE


def reviews_topic_spec(topics: TopicSettings) -> TopicSpec:
    return TopicSpec(topics.reviews_topic, REVIEWS_PARTITIONS, topics.replication_factor,
                     dict(REVIEWS_TOPIC_CONFIG))


def cleanup_policy(kafka: KafkaSettings, topic: str, timeout: float = 10.0) -> str | None:
    """The topic's `cleanup.policy` (None when the broker does not say)."""
    admin = make_admin(kafka)
    resource = ConfigResource(ResourceType.TOPIC, topic)
    try:
        configs = admin.describe_configs([resource])[resource].result(timeout=timeout)
    except (KafkaException, concurrent.futures.TimeoutError) as exc:
        log.debug("cannot describe %s: %s", topic, exc)
        return None
    entry = configs.get("cleanup.policy")
    return None if entry is None else str(entry.value)


class ReviewPublisher:
    """One producer for many publishes (the review page keeps one for its lifetime).

    Write on the reviews topic refused is `RightsRefused` (exit 2), one line naming it
    for `who`, before any review is sent."""

    def __init__(self, kafka: KafkaSettings, topics: TopicSettings,
                 flush_timeout_s: float = 30.0, who: str = "the review import") -> None:
        ensure_topics(kafka, [reviews_topic_spec(topics)])
        self.topic = topics.reviews_topic
        # Write refused: one line naming it (each review failed: exit 3, no right named)
        check_rights(kafka, who, [("topic", self.topic, "WRITE")])
        policy = cleanup_policy(kafka, self.topic)
        if policy is not None and "compact" not in policy:
            log.warning("topic %s has cleanup.policy=%s, not compact: old outcomes will be "
                        "deleted with their segments; set cleanup.policy=compact on it "
                        "(docs/review.md)", self.topic, policy)
        self.flush_timeout_s = flush_timeout_s
        self._kafka = kafka
        self._producer = self._new_producer()

    def _new_producer(self) -> Producer:
        # make_producer's defaults: idempotence on, acks=all (a retry never duplicates).
        return make_producer(self._kafka, **{"client.id": "auditstream-review"})

    def publish(self, reviews: Sequence[Review]) -> int:
        """Send `reviews` in order and wait until Kafka confirms each; return how many.

        Anything not confirmed within the flush timeout is `ReviewsUndeliveredError` (exit 3):
        re-running the same import is safe, the topic keeps the last outcome per key.
        """
        tracker = DeliveryTracker()
        for review in reviews:
            key, value = encode_review(review)
            self._producer.produce(self.topic, value=value, key=key, on_delivery=tracker)
            self._producer.poll(0)
        self._producer.flush(self.flush_timeout_s)
        # By the delivery reports: the producer's queue length (`flush`'s return) counts
        # callbacks waiting to be served too (its statistics), not only reviews.
        left = len(reviews) - tracker.delivered - tracker.failed
        if left:
            # A producer that could not deliver in time may be one librdkafka left with no
            # broker for good (its #5301, docs/reliability.md): the review page keeps its
            # publisher for its lifetime, so the next publish gets a new one. What this
            # one held is dropped (purged), not sent behind the error's back.
            self._producer.purge(in_queue=True, in_flight=True, blocking=False)
            self._producer.poll(0)
            self._producer = self._new_producer()
        if left or tracker.failed:
            raise ReviewsUndeliveredError(
                f"{tracker.failed + left} of {len(reviews)} review(s) not confirmed by Kafka "
                f"on {self.topic} ({'; '.join(tracker.errors[:3]) or 'flush timed out'}); "
                "run the same command again (the last outcome per id wins)")
        return tracker.delivered
