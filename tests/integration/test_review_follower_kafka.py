"""`review serve`'s follower after the reviews topic was deleted and created again under its
name (the leftover of the probe of 2026-12-06 that the sink already handles). The follower
was assigned the partitions the topic had when the page started: a topic created again with
more partitions (by hand, or a script that creates every topic alike) had the reviews of
the others never shown, without a word (4 of 12 shown on 3 partitions). It now asks the
topic's id before each batch, as the sink does, and reads a new topic, all its partitions,
from its start; what the old topic said stays shown. (With as many partitions, librdkafka
already went back to the start: the new topic is shorter than the old position when first
fetched, `Offset out of range`, reset to the assigned BEGINNING.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from auditstream.review.server import Outcomes, TopicFollower
from shared.kafka import make_producer
from shared.reviews import REVIEWS_PARTITIONS, Review, encode_review
from shared.settings import KafkaSettings
from tests import reviews_topic
from tests.integration.test_sink_reviews_kafka import _publish

pytestmark = pytest.mark.integration


def _until(check: Callable[[], bool], seconds: float = 40) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


@pytest.mark.parametrize("partitions", [REVIEWS_PARTITIONS, 3])
def test_the_page_follows_a_reviews_topic_deleted_and_created_again(
        kafka: KafkaSettings, topic_name: str, partitions: int) -> None:
    topic = f"{topic_name}.reviews"
    reviews_topic.create(kafka, topic)
    outcomes = Outcomes()
    follower = TopicFollower(kafka, topic, outcomes)
    follower.start()
    try:
        before = [("case", f"old-{i}", "confirmed") for i in range(3)]
        _publish(kafka, topic, before)
        assert _until(lambda: len(outcomes.snapshot()) == 3), outcomes.snapshot()
        reviews_topic.recreate(kafka, topic, partitions)
        after = [("case", f"new-{i}", "dismissed") for i in range(12)]  # on every partition
        _publish(kafka, topic, after)
        want = {f"case:{i}": o for _, i, o in before + after}
        _until(lambda: outcomes.snapshot() == want)
        time.sleep(1)  # a review shown late would come now
    finally:
        follower.stopping.set()
        follower.join(10)
    assert not follower.is_alive()
    assert outcomes.snapshot() == want
    assert follower.renewals == 1


def test_the_page_says_it_is_catching_up_until_every_earlier_review_is_shown(
        kafka: KafkaSettings, topic_name: str) -> None:
    """Right after `review serve` starts, a case decided before shows as open until the
    follower reads its review: the page says so (`Outcomes.caught_up` False) until the
    topic is read to where it ended, and not a moment longer than it takes."""
    topic = f"{topic_name}.reviews"
    reviews_topic.create(kafka, topic)
    producer = make_producer(kafka)
    for i in range(3000):
        key, value = encode_review(Review(target="case", id=f"c{i}", outcome="confirmed",
                                          reviewer="it", reviewed_at=datetime(2025, 2, 1,
                                                                              tzinfo=UTC)))
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0
    outcomes = Outcomes()
    follower = TopicFollower(kafka, topic, outcomes)
    assert not outcomes.caught_up
    seen: list[int] = []

    def caught_up() -> bool:
        if outcomes.caught_up:
            return True
        seen.append(len(outcomes.snapshot()))
        return False

    follower.start()
    try:
        assert _until(caught_up, 40)
        shown = len(outcomes.snapshot())
    finally:
        follower.stopping.set()
        follower.join(10)
    assert shown == 3000  # every earlier review shown when it says it is current
    assert all(n < 3000 for n in seen)  # said to be catching up only before that
