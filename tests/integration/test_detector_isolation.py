"""Records the detection core cannot score are dead letters, isolated to themselves, in live
batches and in the replays of restores after kill -9: every other row equals offline scoring
of the stream without them."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.codec import encode
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


def test_core_poison_is_dead_lettered_once_and_the_rest_scores_as_without_it(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    txs = make_transactions(6_000, customers=300, seed=31)
    poison = {txs[i].transaction_id for i in (700, 1_300, 2_500, 2_950, 4_100)}
    good = [t for t in txs if t.transaction_id not in poison]
    topics = Topics(topic_name, 2).create(kafka)
    # Small batches: snapshots land between commits, so restores replay some records.
    env = {"DETECTOR_SNAPSHOT_EVERY": "1000", "DETECTOR_BATCH_SIZE": "200"}
    detector = DetectorProcess(kafka, topics, "a", tmp_path, env, poison_ids=tuple(poison))
    produce(kafka, topics.input, keyed(txs[:3_000]))
    detector.start()
    read_all(kafka, topics.scored, 2, 3_000 - 4, running=[detector])
    detector.kill()  # the restore replays through poison records since the last snapshot
    produce(kafka, topics.input, keyed(txs[3_000:]))
    detector.start()
    try:
        scored = scored_rows(read_all(kafka, topics.scored, 2, len(good), running=[detector],
                                      settle=2.0))
        dead = read_all(kafka, topics.dlq, 2, len(poison), running=[detector])
    finally:
        assert detector.terminate() == 0, detector.logs()
    logs = detector.logs()
    assert "rewinding to isolate" in logs and "isolating those records" in logs, logs[-3000:]
    # Kafka offsets count the poison records, offline does not.
    assert offline_mismatches(scored, good, 2, ignore=("source_offset",)) == []
    by_value = {encode(t): t.transaction_id for t in txs if t.transaction_id in poison}
    assert sorted(by_value[m.value() or b""] for m in dead) == sorted(poison)
    for m in dead:
        h = headers(m)
        assert h["error.class"] == "ValueError" and h["error.stage"] == "core"
        assert h["error.message"].startswith("the core cannot score transaction")
