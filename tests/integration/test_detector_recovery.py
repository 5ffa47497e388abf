"""Committed offsets that fell out of retention are handled explicitly, never skipped silently."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

from shared.kafka import make_admin
from shared.settings import KafkaSettings
from tests.integration.detector_harness import (
    DetectorProcess,
    Topics,
    keyed,
    make_transactions,
    produce,
    read_all,
    scored_rows,
)

pytestmark = pytest.mark.integration


def test_offsets_out_of_retention_stop_the_detector_unless_policy_is_reset(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    txs = make_transactions(3_000, customers=50, seed=21)
    topics = Topics(topic_name, 1).create(kafka)
    produce(kafka, topics.input, keyed(txs[:1_000]))
    first = DetectorProcess(kafka, topics, "a", tmp_path).start()
    read_all(kafka, topics.scored, 1, 1_000, running=[first])
    assert first.terminate() == 0
    # 2,000 more arrive while the detector is down, and retention deletes up to offset 1,500.
    produce(kafka, topics.input, keyed(txs[1_000:]))
    admin = make_admin(kafka)  # kept alive until its futures resolve
    futures = admin.delete_records([TopicPartition(topics.input, 0, 1_500)])
    for fut in futures.values():
        fut.result(30)

    strict = DetectorProcess(kafka, topics, "a", tmp_path).start()
    assert strict.proc is not None
    assert strict.proc.wait(60) == 2
    assert "committed offset 1000 fell out of retention (log starts at 1500): 500 records " \
           "were never scored" in strict.logs()

    lenient = DetectorProcess(kafka, topics, "a", tmp_path,
                              {"DETECTOR_RECOVERY_POLICY": "reset"}).start()
    try:
        rows = scored_rows(read_all(kafka, topics.scored, 1, 2_500, running=[lenient]))
    finally:
        assert lenient.terminate() == 0
    assert "reset to empty state at offset 1500" in lenient.logs()
    assert [r.transaction_id for r in rows] == [t.transaction_id for t in
                                                txs[:1_000] + txs[1_500:]]
