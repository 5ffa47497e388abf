"""A stream replayed twice: each transaction scored once, the copies dead-lettered, also across
a kill -9 that makes the index come back from a snapshot plus a replay."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import KafkaSettings
from tests.integration.detector_harness import (
    DetectorProcess,
    Topics,
    headers,
    keyed,
    make_transactions,
    offline_mismatches,
    produce,
    read_all,
    scored_rows,
)

pytestmark = pytest.mark.integration


def test_the_same_transactions_twice_are_scored_once_and_the_copies_dead_lettered(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    txs = make_transactions(6_000, customers=300, seed=23)
    topics = Topics(topic_name, 2).create(kafka)
    env = {"DETECTOR_SNAPSHOT_EVERY": "1000"}
    produce(kafka, topics.input, keyed(txs))
    first = DetectorProcess(kafka, topics, "a", tmp_path, env).start()
    # Every row committed before the kill, or the second run has no snapshot to restore.
    assert len(read_all(kafka, topics.scored, 2, len(txs), running=[first])) == len(txs)
    first.kill()  # no clean stop: the next run restores the index from snapshot + replay
    produce(kafka, topics.input, keyed(txs))  # the same file replayed again
    second = DetectorProcess(kafka, topics, "a", tmp_path, env).start()
    try:
        dead = read_all(kafka, topics.dlq, 2, len(txs), running=[second])
        scored = scored_rows(read_all(kafka, topics.scored, 2, len(txs), settle=2.0))
    finally:
        assert second.terminate() == 0, second.logs()
    assert "restored (snapshot, replayed" in second.logs()
    assert offline_mismatches(scored, txs, 2) == []  # fails on any id published twice
    assert len(dead) == len(txs)
    first_offset = {(r.source_partition, r.transaction_id): r.source_offset for r in scored}
    per_partition = {p: sum(r.source_partition == p for r in scored) for p in range(2)}
    for m in dead:
        h = headers(m)
        assert h["error.class"] == "DuplicateTransaction"
        assert h["error.message"] == "duplicate transaction_id"
        tid = (m.value() or b"").split(b'"transaction_id":"')[1].split(b'"')[0].decode()
        assert int(h["duplicate.first_offset"]) == first_offset[(m.partition(), tid)]
        assert int(h["source.offset"]) >= per_partition[m.partition() or 0]  # a copy
