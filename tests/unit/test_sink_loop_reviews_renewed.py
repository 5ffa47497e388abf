"""The sink's whole run (`sink.app.run`: start-up, `_loop`, stop) against a fake consumer,
when the reviews topic is deleted and created again while the sink runs.

No unit test ran `_loop` before (it takes a consumer): the mutants of 2026-12-06 that asked
the reviews topic's id at other moments, or of no reader, or kept the old topic's batch,
survived (docs/mutation.md). `FakeConsumer` does what confluent_kafka's Consumer does for
the calls the sink makes: it reads each assigned partition from its offset, says the end of
each partition once (`enable.partition.eof`), and reports errors as messages.
"""

from __future__ import annotations

import csv
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_INVALID, KafkaError, TopicPartition

import sink.app as sink_app
from shared.codec import encode
from shared.reviews import Review, encode_review
from sink import state as sink_state
from sink.settings import SinkSettings
from sink.status import STATUS_FILE
from tests.unit.test_rollup_pandas import random_scored

SETTINGS = SinkSettings()
SCORED, REVIEWS = SETTINGS.topics.scored_topic, SETTINGS.topics.reviews_topic
ROWS = [encode(tx) for tx in random_scored(40, seed=12)]

#: topic -> partition -> the values at offsets 0, 1, ...
Logs = dict[str, dict[int, list[bytes]]]


class FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int, value: bytes | None,
                 error: KafkaError | None = None) -> None:
        self._topic, self._partition, self._offset = topic, partition, offset
        self._value, self._error = value, error

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def error(self) -> KafkaError | None:
        return self._error


class _Topic:
    def __init__(self, partitions: list[int]) -> None:
        self.partitions, self.error = dict.fromkeys(partitions), None


class _Meta:
    def __init__(self, topics: dict[str, _Topic]) -> None:
        self.topics = topics


class FakeConsumer:
    """A consumer of `logs`: each assigned partition's messages from its position
    (`num_messages` at most), one end-of-partition event for each partition at its end;
    `errors` (messages as librdkafka gives them) end the first batch, their partitions
    giving nothing else in it."""

    def __init__(self, logs: Logs, errors: list[FakeMessage] | None = None) -> None:
        self.logs, self.errors = logs, list(errors or [])
        self.positions: dict[tuple[str, int], int] = {}
        self.at_eof: set[tuple[str, int]] = set()
        self.assigned: list[tuple[str, int, int]] = []
        self.closed = False

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> _Meta:
        assert topic is not None
        return _Meta({topic: _Topic(sorted(self.logs[topic]))})

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float = -1,
                              cached: bool = False) -> tuple[int, int]:
        return 0, len(self.logs[tp.topic][tp.partition])

    def assign(self, tps: list[TopicPartition]) -> None:
        self.assigned = [(tp.topic, tp.partition, tp.offset) for tp in tps]
        self.positions = {(tp.topic, tp.partition): max(tp.offset, 0) for tp in tps}

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in self.positions]

    def position(self, tps: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.positions[tp.topic, tp.partition])
                for tp in tps]

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[FakeMessage]:
        errors, self.errors = self.errors, []
        failing = {(e.topic(), e.partition()) for e in errors}
        out: list[FakeMessage] = []
        for (topic, part), at in self.positions.items():
            if (topic, part) in failing:
                continue
            log = self.logs[topic][part]
            while at < len(log) and len(out) < num_messages:
                out.append(FakeMessage(topic, part, at, log[at]))
                at += 1
                self.at_eof.discard((topic, part))
            self.positions[topic, part] = at
            if at == len(log) and (topic, part) not in self.at_eof and len(out) < num_messages:
                self.at_eof.add((topic, part))
                out.append(FakeMessage(topic, part, at, None,
                                       KafkaError(KafkaError._PARTITION_EOF)))
        return out + errors

    def commit(self, offsets: Any = None, asynchronous: bool = True) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def stranded(self) -> bool:  # WatchedConsumer: librdkafka has left it a broker
        return False

    def out_of_touch(self, seconds: float) -> bool:
        return False


def _scored() -> dict[int, list[bytes]]:
    return {0: ROWS[:25], 1: ROWS[25:]}


def _run(monkeypatch: pytest.MonkeyPatch, folder: Path, consumers: list[FakeConsumer],
         reviews_ids: list[str]) -> tuple[sink_app.SinkResult, list[str]]:
    """`run(once=True)` with `consumers` made in turn and the reviews topic's id as asked
    each time (`reviews_ids`, the last one repeated): (the result, the topics asked)."""
    asked: list[str] = []

    def topic_id(kafka: object, name: str, *, timeout: float) -> str | None:
        asked.append(name)
        if name != REVIEWS:
            return "scored-id"
        return reviews_ids.pop(0) if len(reviews_ids) > 1 else reviews_ids[0]

    made = list(consumers)
    monkeypatch.setattr(sink_app, "wait_for_broker", lambda *a, **k: 1)
    monkeypatch.setattr(sink_app, "check_rights", lambda *a, **k: None)  # no ACLs
    monkeypatch.setattr(sink_app, "ensure_topics", lambda *a, **k: None)
    monkeypatch.setattr(sink_app, "topic_id", topic_id)
    monkeypatch.setattr(sink_app, "make_watched_consumer", lambda *a, **k: made.pop(0))
    result = sink_app.run(SinkSettings(exports_dir=folder, batch_size=500), once=True)
    return result, asked


def _stop_row(folder: Path) -> dict[str, str]:
    with (folder / STATUS_FILE).open(newline="", encoding="utf-8") as fh:
        (row,) = csv.DictReader(fh)
    return row


def _reviews_topic_id(folder: Path) -> object:
    cp = sink_state.load(folder)
    assert cp is not None
    return cp.extra.get("reviews_topic_id")


def test_an_out_of_range_reviews_offset_of_a_renewed_topic_reassigns_and_loses_no_row(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    """The reviews topic re-created while the sink runs: its old offset is out of range.
    The sink asks the topic's id, finds it new, and reads it again from its start with a
    new consumer, assigned before the batch's scored rows are written (at the offsets in the
    files): they come again and are written once, none skipped."""
    old = FakeConsumer({SCORED: _scored(), REVIEWS: {0: []}}, errors=[FakeMessage(
        REVIEWS, 0, 3, None, KafkaError(KafkaError._AUTO_OFFSET_RESET))])
    new = FakeConsumer({SCORED: _scored(), REVIEWS: {0: []}})
    with caplog.at_level(logging.WARNING, logger="sink.app"):
        result, asked = _run(monkeypatch, tmp_path, [old, new], ["r1", "r2"])
    assert asked == [SCORED, REVIEWS, REVIEWS]  # at the start, then at the error
    assert old.closed and new.assigned == [
        (SCORED, 0, OFFSET_BEGINNING), (SCORED, 1, OFFSET_BEGINNING),
        (REVIEWS, 0, OFFSET_BEGINNING)]
    assert (result.rows, result.offsets) == (40, {0: 25, 1: 15})
    assert _reviews_topic_id(tmp_path) == "r2"
    assert _stop_row(tmp_path)["lag_messages"] == "0"  # measured at the stop: drained
    said = [r.getMessage() for r in caplog.records if r.name == "sink.app"]
    assert [m.split(" was deleted")[0] for m in said] == [f"reviews topic {REVIEWS}"]


@pytest.mark.parametrize(("reviews_ids", "logged"), [(["r1", "r2"], []), (["r1"], ["tx-9"])])
def test_a_batch_of_reviews_of_a_renewed_topic_is_dropped_and_read_from_the_new_start(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, reviews_ids: list[str],
        logged: list[str]) -> None:
    """A batch of reviews taken while the topic was re-created is the old topic's: dropped
    (the new consumer reads the new topic from its start); the scored rows of the same
    batch are written, once. The topic not re-created, the batch is logged as it came."""
    review = encode_review(Review(target="transaction", id="tx-9", outcome="confirmed",
                                  reviewer="ann", reviewed_at=datetime(2026, 12, 6, tzinfo=UTC)))
    old = FakeConsumer({SCORED: _scored(), REVIEWS: {0: [review[1]]}})
    new = FakeConsumer({SCORED: _scored(), REVIEWS: {0: []}})
    result, asked = _run(monkeypatch, tmp_path, [old, new], list(reviews_ids))
    assert asked == [SCORED, REVIEWS, REVIEWS]  # at the start, then before the batch
    renewed = not logged
    assert new.assigned == ([(SCORED, 0, 25), (SCORED, 1, 15), (REVIEWS, 0, OFFSET_BEGINNING)]
                            if renewed else [])
    assert (result.rows, result.offsets) == (40, {0: 25, 1: 15})
    with (tmp_path / "reviews_log.csv").open(newline="", encoding="utf-8") as fh:
        assert [row["id"] for row in csv.DictReader(fh)] == logged
    assert _reviews_topic_id(tmp_path) == reviews_ids[-1]


@pytest.mark.parametrize("code", [KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN])
def test_a_transient_reviews_error_asks_no_topic_id(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, code: int) -> None:
    """A transient error on the reviews topic (librdkafka retries) is no reason to ask the
    cluster for the topic's id (a round trip of up to `TRY_S` per batch through an outage),
    let alone to reassign: only an out-of-range offset or a batch of reviews is."""
    only = FakeConsumer({SCORED: _scored(), REVIEWS: {0: []}},
                        errors=[FakeMessage(REVIEWS, 0, 0, None, KafkaError(code))])
    spare = FakeConsumer({SCORED: _scored(), REVIEWS: {0: []}})
    result, asked = _run(monkeypatch, tmp_path, [only, spare], ["r1", "r2"])
    assert asked == [SCORED, REVIEWS]
    assert spare.assigned == []  # no consumer made anew
    assert (result.rows, result.offsets) == (40, {0: 25, 1: 15})
    assert _reviews_topic_id(tmp_path) == "r1"


def test_a_reviews_topic_renewed_while_the_sink_was_stopped_is_said_by_name_at_its_start(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    """The sink stopped, the reviews topic deleted and created again, the sink started:
    the start says which topic, its old and new ids, and records the new one."""
    _run(monkeypatch, tmp_path, [FakeConsumer({SCORED: _scored(), REVIEWS: {0: []}})], ["r1"])
    assert _reviews_topic_id(tmp_path) == "r1"
    with caplog.at_level(logging.WARNING, logger="sink.app"):
        _run(monkeypatch, tmp_path, [FakeConsumer({SCORED: _scored(), REVIEWS: {0: []}})],
             ["r2"])
    assert [r.getMessage() for r in caplog.records if r.name == "sink.app"] == [
        f"reviews topic {REVIEWS} was deleted and created again since this folder's "
        "checkpoint (id r1, now r2): reading the new topic from its start; the 0 outcomes "
        "of the old one stay as logged in reviews_log.csv (docs/review.md)"]
    assert _reviews_topic_id(tmp_path) == "r2"


class _NoPositions(FakeConsumer):
    """A consumer that does not know its position (librdkafka's `OFFSET_INVALID`, as
    before it has fetched from a partition)."""

    def position(self, tps: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, OFFSET_INVALID) for tp in tps]


def test_the_lag_at_the_stop_counts_from_the_files_offsets_where_the_position_is_unknown(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No position known: the lag counts from the next offsets the files hold (25 and 15
    of 25 and 15 messages: none waiting), not from nothing."""
    result, _ = _run(monkeypatch, tmp_path,
                     [_NoPositions({SCORED: _scored(), REVIEWS: {0: []}})], ["r1"])
    assert (result.rows, result.offsets) == (40, {0: 25, 1: 15})
    assert _stop_row(tmp_path)["lag_messages"] == "0"
