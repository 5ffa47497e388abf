"""Malformed messages go to the dead letter topic unchanged, with reasons; the rest is scored."""

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

pytestmark = pytest.mark.integration

MALFORMED: list[tuple[str, bytes | None]] = [
    ("InvalidJSON", b"{this is not json"),
    ("InvalidJSON", b"\xff\xfe\x00garbage"),
    ("SchemaError", b'{"transaction_id": "x", "customer_id": "c1"}'),
    ("SchemaError", b'{"schema_version": 99}'),
    ("SchemaError", b"[1, 2, 3]"),
    ("EmptyMessage", None),
]


def test_one_percent_malformed_all_dead_lettered_with_reasons_all_valid_scored(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    rng = random.Random(3)
    txs = make_transactions(9_900, seed=5)
    items: list[tuple[bytes | None, bytes | None]] = []
    expected_bad: dict[bytes, tuple[str, bytes | None]] = {}
    for t in txs:
        items.append((t.customer_id.encode(), encode(t)))
        if rng.random() < 0.0101:
            kind, value = MALFORMED[len(expected_bad) % len(MALFORMED)]
            if value is not None and kind == "SchemaError" and value.startswith(b'{"tr'):
                bad_amount = encode(t).replace(b'"amount":', b'"amount":"NaN?",' b'"x":', 1)
                value = bad_amount
            key = f"bad-{len(expected_bad)}".encode()
            expected_bad[key] = (kind, value)
            items.append((key, value))
    assert 80 <= len(expected_bad) <= 120
    topics = Topics(topic_name, 4).create(kafka)
    produce(kafka, topics.input, items)
    detector = DetectorProcess(kafka, topics, "a", tmp_path).start()
    try:
        scored = read_all(kafka, topics.scored, 4, len(txs), running=[detector])
        dead = read_all(kafka, topics.dlq, 4, len(expected_bad), running=[detector])
    finally:
        code = detector.terminate()
    assert code == 0
    assert by_id(scored_rows(scored)).keys() == {t.transaction_id for t in txs}
    assert {m.key() for m in dead} == set(expected_bad)
    positions = set()
    for m in dead:
        kind, value = expected_bad[m.key() or b""]
        raw = m.headers() or []
        assert isinstance(raw, list)
        headers = {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in raw}
        assert m.value() == value  # unchanged bytes
        assert headers["error.class"] == kind
        assert headers["error.message"]
        assert headers["source.topic"] == topics.input
        positions.add((int(headers["source.partition"]), int(headers["source.offset"])))
    assert len(positions) == len(dead)
    assert (f"{len(txs)} scored, {len(expected_bad)} dead letters") in detector.logs()
