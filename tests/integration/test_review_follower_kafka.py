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

import pytest

from auditstream.review.server import Outcomes, TopicFollower
from shared.reviews import REVIEWS_PARTITIONS
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
