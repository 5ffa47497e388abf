"""The sink rides out a broker restart while assigning, and a failed group commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

import sink.assign as app


@dataclass
class _Topic:
    partitions: dict[int, object]
    error: KafkaError | None = None


@dataclass
class _Meta:
    topics: dict[str, _Topic]


@dataclass
class FlakyConsumer:
    """Metadata and watermarks that fail `failures` times first, as while a broker restarts."""

    failures: list[KafkaException | None]
    assigned: list[TopicPartition] = field(default_factory=list)
    commits: int = 0

    def _next(self) -> None:
        exc = self.failures.pop(0) if self.failures else None
        if exc is not None:
            raise exc

    def list_topics(self, topic: str, timeout: float = 0) -> _Meta:
        self._next()
        return _Meta({topic: _Topic({0: None, 1: None})})

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float = 0) -> tuple[int, int]:
        self._next()
        return 0, 100

    def assign(self, tps: list[TopicPartition]) -> None:
        self.assigned = tps

    def commit(self, offsets: Any = None, asynchronous: bool = True) -> None:
        self.commits += 1
        raise KafkaException(KafkaError(KafkaError._UNKNOWN_PARTITION, "no leader"))


def transient(code: int = KafkaError._UNKNOWN_PARTITION) -> KafkaException:
    return KafkaException(KafkaError(code, "Local: Unknown partition"))


def test_assigning_while_the_broker_restarts_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    # Seen in the fault suite (exit 1 with a traceback): a sink restarted while the broker
    # restarted got "Failed to get watermark offsets: Local: Unknown partition".
    monkeypatch.setattr(app, "ASSIGN_RETRY_PAUSE_S", 0.0)
    consumer = FlakyConsumer([None, transient(), transient(KafkaError._TIMED_OUT)])
    parts = app.assign_from_checkpoint(consumer, "scored", {0: 5})  # type: ignore[arg-type]
    assert parts == {0, 1}
    assert [(tp.partition, tp.offset) for tp in consumer.assigned] == [(0, 5), (1, -2)]


def test_a_topic_without_partitions_in_the_metadata_is_retried(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app, "ASSIGN_RETRY_PAUSE_S", 0.0)
    consumer = FlakyConsumer([])
    answers = [_Meta({"scored": _Topic({}, KafkaError(KafkaError.LEADER_NOT_AVAILABLE))}),
               _Meta({"scored": _Topic({0: None})})]
    consumer.list_topics = lambda topic, timeout=0: answers.pop(0)  # type: ignore[method-assign]
    assert app.assign_from_checkpoint(consumer, "scored", {}) == {0}  # type: ignore[arg-type]


def test_an_assignment_error_still_there_after_the_wait_is_raised(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app, "ASSIGN_RETRY_PAUSE_S", 0.0)
    monkeypatch.setattr(app, "ASSIGN_RETRY_S", 0.0)
    consumer = FlakyConsumer([transient()])
    with pytest.raises(KafkaException):
        app.assign_from_checkpoint(consumer, "scored", {})  # type: ignore[arg-type]


def test_a_failed_group_commit_is_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    consumer = FlakyConsumer([])
    app.commit(consumer, "scored", {0: 7})  # type: ignore[arg-type]
    assert consumer.commits == 1
    assert "not committed to the group" in caplog.text
