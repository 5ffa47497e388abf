"""review serve's follower when its reviews topic gets other partitions while it runs
(twelfth hostile probe, 2026-12-06, fakes): created again with 3 partitions (a script with
the broker's default count) or partitions added, and reviews land only on a partition not
assigned. Against a broker, 2 reviews so published were not shown 40 s later (nor 3 more),
the page saying nothing: only a record on an assigned partition made the follower look."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from confluent_kafka import OFFSET_BEGINNING

from auditstream.review import follower as server
from shared.reviews import Review, encode_review
from shared.settings import KafkaSettings

TOPIC = "reviews"


class _Msg:
    def __init__(self, id_: str, outcome: str, partition: int, offset: int) -> None:
        review = Review(target="case", id=id_, outcome=outcome, reviewer="ana",
                        reviewed_at=datetime(2026, 12, 6, tzinfo=UTC))
        self._value = encode_review(review)[1]
        self._partition, self._offset = partition, offset

    def error(self) -> None:
        return None

    def value(self) -> bytes:
        return self._value

    def offset(self) -> int:
        return self._offset

    def partition(self) -> int:
        return self._partition


class _Consumer:
    """Reads what the topic holds on the partitions assigned, from the offsets given: the
    first `before` calls of `consume` (by any consumer) the old topic's, then the new's."""

    made: ClassVar[list[_Consumer]] = []
    before: ClassVar[int] = 1
    old: ClassVar[list[_Msg]] = []
    new: ClassVar[list[_Msg]] = []
    calls: ClassVar[int] = 0

    def __init__(self) -> None:
        self.given: dict[int, int] = {}
        self.at: dict[int, int] = {}
        self.closed = False
        _Consumer.made.append(self)

    def assign(self, parts: Any) -> None:
        self.given = {tp.partition: tp.offset for tp in parts}
        self.at = dict(self.given)

    def consume(self, n: int, timeout: float) -> list[_Msg]:
        assert not self.closed
        _Consumer.calls += 1
        topic = _Consumer.old if _Consumer.calls <= _Consumer.before else _Consumer.new
        batch = []
        for m in topic:
            at = self.at.get(m.partition())
            if at is not None and (at == OFFSET_BEGINNING or m.offset() >= at):
                batch.append(m)
                self.at[m.partition()] = m.offset() + 1
        return batch

    def close(self) -> None:
        self.closed = True

    def stranded(self) -> bool:
        return False

    def assignment(self) -> list[Any]:
        return []

    def position(self, parts: Any) -> list[Any]:
        return []

    def out_of_touch(self, seconds: float) -> bool:
        return False


def _follow(monkeypatch: pytest.MonkeyPatch, ids: list[str], counts: list[int],
            turns: int) -> tuple[server.TopicFollower, server.Outcomes]:
    """The follower run for `turns` turns; the topic's id and partition count as asked in
    turn (the last answer kept); every turn a check of the topic is due."""
    said_ids, said_counts = iter(ids), iter(counts)
    last_id, last_count = [ids[0]], [counts[0]]

    def topic_id(*a: Any, **k: Any) -> str:
        last_id[0] = next(said_ids, last_id[0])
        return last_id[0]

    def partitions(*a: Any, **k: Any) -> int:
        last_count[0] = next(said_counts, last_count[0])
        return last_count[0]

    monkeypatch.setattr(server, "make_watched_consumer", lambda *a: _Consumer())
    monkeypatch.setattr(server, "topic_id", topic_id)
    monkeypatch.setattr(server, "topic_partitions", partitions)
    monkeypatch.setattr(server, "topic_gone", lambda *a: False)
    monkeypatch.setattr(server, "GONE_EVERY_S", 0.0)
    _Consumer.made, _Consumer.calls = [], 0
    outcomes = server.Outcomes()
    follower = server.TopicFollower(KafkaSettings(), TOPIC, outcomes)
    left = iter(range(turns))
    monkeypatch.setattr(follower.stopping, "is_set", lambda: next(left, None) is None)
    follower.run()  # in this thread
    return follower, outcomes


def test_a_topic_created_again_with_more_partitions_is_read_on_all_of_them(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Its first turn reads the old topic; then it is created again with 3 partitions, its
    reviews only on partition 1 (offsets below the old position: 2)."""
    _Consumer.old = [_Msg("a", "confirmed", 0, 0), _Msg("b", "confirmed", 0, 1)]
    _Consumer.new = [_Msg("c", "dismissed", 1, 0), _Msg("a", "unclear", 1, 1)]
    with caplog.at_level(logging.WARNING, logger=server.log.name):
        follower, outcomes = _follow(monkeypatch, ["id-old", "id-old", "id-new"],
                                     [1, 3], turns=4)
    assert outcomes.snapshot() == {"case:a": "unclear", "case:b": "confirmed",
                                   "case:c": "dismissed"}
    assert follower.renewals == 1
    assert _Consumer.made[-1].given == dict.fromkeys(range(3), OFFSET_BEGINNING)
    assert "was deleted and created again" in caplog.text


def test_partitions_added_to_the_topic_are_read_from_their_start(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The same topic (its id unchanged), 3 partitions where it had 1: the new ones read
    from their start, the first on from where it was read."""
    _Consumer.old = [_Msg("a", "confirmed", 0, 0)]
    _Consumer.new = [*_Consumer.old, _Msg("c", "dismissed", 2, 0)]
    with caplog.at_level(logging.WARNING, logger=server.log.name):
        follower, outcomes = _follow(monkeypatch, ["id-1"], [1, 3], turns=4)
    assert outcomes.snapshot() == {"case:a": "confirmed", "case:c": "dismissed"}
    assert follower.renewals == 0
    assert _Consumer.made[-1].given == {0: 1, 1: OFFSET_BEGINNING, 2: OFFSET_BEGINNING}
    assert "has 3 partitions, not 1: reading the new ones from their start" in caplog.text


def test_a_topic_of_the_partitions_assigned_is_not_assigned_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _Consumer.old = _Consumer.new = [_Msg("a", "confirmed", 0, 0)]
    follower, outcomes = _follow(monkeypatch, ["id-1"], [1], turns=4)
    assert outcomes.snapshot() == {"case:a": "confirmed"}
    assert (len(_Consumer.made), follower.renewals) == (1, 0)
