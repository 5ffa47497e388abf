"""Messages counted by their delivery reports, not by the producer's queue length, which
counts callbacks waiting to be served too (librdkafka's `rd_kafka_outq_len`: statistics,
errors). A CI run's feeder reported "4 of 3 messages still undelivered"; the replay's
summary and `review import` read the same length."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest


class _PendingCallback:
    """A producer that takes messages and reports deliveries (`delivered`: whether each is
    acknowledged) while one callback stays waiting: its length is always one more."""

    def __init__(self, delivered: bool, on_delivery: Any = None) -> None:
        self.delivered, self.on_delivery = delivered, on_delivery
        self.waiting: list[Any] = []

    def produce(self, topic: str, value: bytes, key: bytes, on_delivery: Any = None) -> None:
        self.waiting.append(on_delivery or self.on_delivery)

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        if self.delivered:
            for report in self.waiting:
                if report is not None:
                    report(None, None)
            self.waiting = []
        return len(self)

    def purge(self, **kwargs: Any) -> None:
        self.waiting = []

    def stranded(self) -> bool:
        return False

    def __len__(self) -> int:
        return len(self.waiting) + 1  # e.g. a statistics callback not yet served


def test_a_replay_to_no_broker_counts_its_messages_undelivered_never_more(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from producer import app
    from producer.settings import ProducerSettings

    monkeypatch.setattr(app, "ensure_topics", lambda *a, **k: None)
    monkeypatch.setattr(app, "check_rights", lambda *a, **k: None)  # no ACLs
    monkeypatch.setattr(app, "make_watched_producer",
                        lambda *a, **k: _PendingCallback(delivered=False))
    records = [(datetime(2025, 1, 1), b"k", b"v")] * 3
    report = app.publish(records, ProducerSettings(flush_timeout_s=0.05), len(records))
    # before: 4 queued of 3 sent, delivered -1
    assert (report.sent, report.queued_after_flush, report.delivered) == (3, 3, 0)


def _publish_two(monkeypatch: pytest.MonkeyPatch, delivered: bool) -> int:
    """Two reviews through a `ReviewPublisher` on a `_PendingCallback` producer."""
    import auditstream.review.publish as publish
    from shared.reviews import Review
    from shared.settings import KafkaSettings, TopicSettings

    monkeypatch.setattr(publish, "ensure_topics", lambda *a, **k: None)
    monkeypatch.setattr(publish, "cleanup_policy", lambda *a, **k: "compact")
    monkeypatch.setattr(publish, "check_rights", lambda *a, **k: None)  # no ACLs
    monkeypatch.setattr(publish, "make_producer",
                        lambda *a, **k: _PendingCallback(delivered=delivered))
    publisher = publish.ReviewPublisher(KafkaSettings(), TopicSettings(), flush_timeout_s=0.05)
    reviews = [Review(target="transaction", id=i, outcome="confirmed",
                      reviewed_at=datetime(2025, 2, 1, 9)) for i in ("a", "b")]
    return publisher.publish(reviews)


def test_reviews_all_confirmed_are_published_whatever_else_waits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # before: ReviewsUndeliveredError "1 of 2 review(s) not confirmed" (exit 3)
    assert _publish_two(monkeypatch, delivered=True) == 2


def test_reviews_not_confirmed_are_counted_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    from auditstream.review.publish import ReviewsUndeliveredError

    with pytest.raises(ReviewsUndeliveredError, match=r"^2 of 2 review"):
        _publish_two(monkeypatch, delivered=False)  # before: "3 of 2"
