"""Every kind of poison, mixed into a valid stream on 4 partitions, is data, not a crash.

Each message of the corpus (`tests/poison_corpus.py`: invalid UTF-8, JSON that is not an
object, deep nesting, wrong types, timestamps at the edges of the calendar, NaN/inf/huge
amounts, unknown schema version, oversize fields, empty and null values, tombstones, ...) is
sent three times under its own keys, at seeded random places of the stream. The detector must
dead-letter each copy exactly once, unchanged, with the expected `error.class` and a reason,
score every valid row exactly once, and still be running at the end.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from shared.codec import encode
from shared.settings import KafkaSettings
from tests.integration.detector_harness import (
    DetectorProcess,
    Topics,
    by_id,
    make_transactions,
    produce,
    read_all,
    scored_rows,
)
from tests.integration.topic_reader import headers_of
from tests.poison_corpus import poison_messages

pytestmark = pytest.mark.integration

COPIES = 3


def test_the_poison_corpus_is_dead_lettered_once_each_and_the_detector_keeps_running(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    corpus = poison_messages()
    assert len({p.name for p in corpus}) >= 20
    rng = random.Random(20261130)
    txs = make_transactions(3_000, seed=9)
    items: list[tuple[bytes | None, bytes | None]] = [
        (t.customer_id.encode(), encode(t)) for t in txs]
    expected: dict[bytes, tuple[str, bytes | None]] = {}
    for copy in range(COPIES):
        for p in corpus:
            key = f"{p.name}-{copy}".encode()
            expected[key] = (p.error_class, p.value)
            items.insert(rng.randrange(len(items) + 1), (key, p.value))
    topics = Topics(topic_name, 4).create(kafka)
    produce(kafka, topics.input, items)
    detector = DetectorProcess(kafka, topics, "a", tmp_path).start()
    try:
        scored = read_all(kafka, topics.scored, 4, len(txs), running=[detector])
        dead = read_all(kafka, topics.dlq, 4, len(expected), running=[detector])
        assert detector.alive(), detector.logs()[-3000:]
    finally:
        code = detector.terminate()
    assert code == 0, detector.logs()[-3000:]

    rows = scored_rows(scored)
    assert len(rows) == len(txs)
    assert by_id(rows).keys() == {t.transaction_id for t in txs}
    assert sorted(m.key() or b"" for m in dead) == sorted(expected)
    partitions = set()
    for m in dead:
        error_class, value = expected[m.key() or b""]
        headers = headers_of(m)
        assert m.value() == value, m.key()  # unchanged bytes (None for a tombstone)
        assert headers["error.class"] == error_class, (m.key(), headers)
        assert headers["error.message"].strip(), m.key()
        assert headers["source.topic"] == topics.input
        partitions.add(int(headers["source.partition"]))
    assert partitions == {0, 1, 2, 3}
    assert f"{len(txs)} scored, {len(expected)} dead letters" in detector.logs()
