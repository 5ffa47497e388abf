"""review serve's follower when the reviews topic is renewed and the cluster then fails it
(probe of 2026-12-06, fakes, no broker): the new topic's id seen, but its partitions not
asked in time (broker restarting, a request timing out, the admin call's error). The
follower went on with a closed consumer: the error ended its thread (a traceback on
stderr) and the page showed no later review, for as long as it ran. It must keep its old
assignment, say so, and read the new topic from its start once the cluster answers."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from confluent_kafka import KafkaError, KafkaException

from auditstream.review import follower as server
from shared.errors import KafkaUnreachableError
from shared.reviews import Review, encode_review
from shared.settings import KafkaSettings

TOPIC = "reviews"


class _Msg:
    def __init__(self, review: Review, offset: int) -> None:
        self._value, self._offset = encode_review(review)[1], offset

    def error(self) -> None:
        return None

    def value(self) -> bytes:
        return self._value

    def offset(self) -> int:
        return self._offset

    def partition(self) -> int:
        return 0


def _review(id_: str, outcome: str) -> Review:
    return Review(target="case", id=id_, outcome=outcome, reviewer="ana",
                  reviewed_at=datetime(2026, 12, 6, tzinfo=UTC))


class _Consumer:
    """Each consumer: the batches of the topic it was made for, then nothing."""

    made: ClassVar[list[_Consumer]] = []

    def __init__(self, batches: list[list[_Msg]]) -> None:
        self.batches, self.closed = list(batches), False
        _Consumer.made.append(self)

    def assign(self, parts: Any) -> None:
        assert not self.closed

    def consume(self, n: int, timeout: float) -> list[_Msg]:
        if self.closed:
            raise RuntimeError("Consumer closed")  # as confluent_kafka's
        return self.batches.pop(0) if self.batches else []

    def close(self) -> None:
        self.closed = True

    def stranded(self) -> bool:
        return False

    def assignment(self) -> list[Any]:
        return []  # read to its end at once: not what this test is about

    def position(self, parts: Any) -> list[Any]:
        return []

    def out_of_touch(self, seconds: float) -> bool:
        return False


@pytest.mark.parametrize("failure", [
    KafkaUnreachableError("broker at 127.0.0.1:9 not reachable within 5 s"),
    KafkaException(KafkaError(KafkaError._TIMED_OUT, "list_topics timed out"))])
def test_a_renewed_topic_whose_partitions_cannot_be_asked_is_read_once_they_can(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        failure: Exception) -> None:
    old = [_Msg(_review("a", "confirmed"), 0)]
    new = [_Msg(_review("b", "dismissed"), 0), _Msg(_review("a", "unclear"), 1)]
    # the old topic's consumer (its third batch: what it reads after the renewal), then
    # the new topic's, from its start
    consumers = iter([[old, old, old], [new]])
    ids = iter(["id-old", "id-old", "id-new", "id-new", "id-new", "id-new"])
    asked: list[int] = []

    def partitions(kafka: KafkaSettings, topic: str, timeout: float = 10.0) -> int:
        if timeout != 10.0:  # the check of its partition count (`_regrown`): unchanged
            return 1
        asked.append(1)
        if len(asked) == 2:  # the first question after the renewal fails
            raise failure
        return 1

    monkeypatch.setattr(server, "make_watched_consumer", lambda *a: _Consumer(next(consumers)))
    monkeypatch.setattr(server, "topic_id", lambda *a, **k: next(ids))
    monkeypatch.setattr(server, "topic_partitions", partitions)
    monkeypatch.setattr(server, "topic_gone", lambda *a: False)  # created again: it exists
    _Consumer.made = []
    outcomes = server.Outcomes()
    follower = server.TopicFollower(KafkaSettings(), TOPIC, outcomes)
    turns = iter(range(6))  # six turns of its loop, then stopped
    monkeypatch.setattr(follower.stopping, "is_set", lambda: next(turns, None) is None)
    with caplog.at_level(logging.WARNING, logger=server.log.name):
        follower.run()  # in this thread
    assert outcomes.lapse is None  # an exception is said there (it ended the thread)
    assert outcomes.snapshot() == {"case:a": "unclear", "case:b": "dismissed"}
    assert follower.renewals == 1
    assert [c.closed for c in _Consumer.made] == [True, True]
    assert any("not read anew yet" in r.getMessage() for r in caplog.records), caplog.text
