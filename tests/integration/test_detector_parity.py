"""The streaming detector publishes exactly what offline scoring computes, row by row."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from detector.core.engine import PartitionEngine
from detector.offline import score_transactions
from shared.partitioning import partition_for
from shared.schemas import ScoredTransaction
from shared.settings import KafkaSettings
from tests.integration.detector_harness import (
    CORE,
    DetectorProcess,
    Topics,
    by_id,
    keyed,
    make_transactions,
    offline_mismatches,
    produce,
    read_all,
    scored_rows,
)

pytestmark = pytest.mark.integration

@pytest.mark.parametrize("partitions", [1, 4])
def test_streaming_output_equals_offline_scoring_row_by_row(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path, partitions: int
) -> None:
    txs = make_transactions(8_000)
    topics = Topics(topic_name, partitions).create(kafka)
    produce(kafka, topics.input, keyed(txs))
    detector = DetectorProcess(kafka, topics, "a", tmp_path).start()
    try:
        msgs = read_all(kafka, topics.scored, partitions, len(txs), running=[detector])
    finally:
        code = detector.terminate()
    assert code == 0, detector.logs()
    assert "detector stopped: 8000 scored, 0 dead letters" in detector.logs()

    assert all(m.key() == (m.value() or b"").split(b'"customer_id":"')[1].split(b'"')[0]
               for m in msgs[:100])
    rows = scored_rows(msgs)
    assert offline_mismatches(rows, txs, partitions) == []
    versions = {r.model_version for r in rows}
    assert len(versions) >= 3, versions  # rules only, then at least two fitted models


def test_late_events_are_scored_in_arrival_order_never_reordered(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    """Policy: a partition is scored in offset (arrival) order; a late event is measured
    against what arrived before it and never moves its customer's clock back. So a stream
    with late events equals the core fed in arrival order, not the time-sorted offline run."""
    txs = make_transactions(4_000, customers=100, seed=9)
    rng = random.Random(9)
    arrival = list(txs)
    for i in range(0, len(arrival) - 50, 97):  # every ~100th event arrives up to 50 later
        j = i + rng.randrange(5, 50)
        arrival.insert(j, arrival.pop(i))
    topics = Topics(topic_name, 2).create(kafka)
    produce(kafka, topics.input, keyed(arrival))
    detector = DetectorProcess(kafka, topics, "a", tmp_path).start()
    try:
        msgs = read_all(kafka, topics.scored, 2, len(arrival), running=[detector])
    finally:
        detector.terminate()
    streamed = by_id(scored_rows(msgs))
    in_arrival_order: dict[str, ScoredTransaction] = {}
    for p in range(2):
        engine = PartitionEngine(CORE, partition=p)
        mine = [t for t in arrival if partition_for(t.customer_id, 2) == p]
        in_arrival_order |= by_id(engine.process(mine))
    assert {i: r.model_dump() for i, r in streamed.items()} == {
        i: r.model_dump() for i, r in in_arrival_order.items()}
    time_sorted = by_id(score_transactions(arrival, CORE, partitions=2))
    assert any(streamed[i].model_dump() != time_sorted[i].model_dump() for i in time_sorted)


def test_the_kernel_streams_what_offline_scoring_computes_across_a_restart(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    """`AUDITSTREAM_CORE=kernel`, with 8 customers in slots a partition (the others parked):
    the stream equals offline scoring row by row, across a clean restart in the middle,
    whose restore parks every customer and puts each back into a slot when seen."""
    txs = make_transactions(6_000)
    topics = Topics(topic_name, 2).create(kafka)
    env = {"AUDITSTREAM_CORE": "kernel", "DETECTOR_CORE__HOT_CUSTOMERS": "8",
           "DETECTOR_SNAPSHOT_EVERY": "700"}  # checkpoints to restore from
    produce(kafka, topics.input, keyed(txs[:3_000]))
    first = DetectorProcess(kafka, topics, "a", tmp_path, extra_env=env).start()
    try:
        read_all(kafka, topics.scored, 2, 3_000, timeout=300.0, running=[first])
    finally:
        code = first.terminate()
    assert code == 0, first.logs()
    produce(kafka, topics.input, keyed(txs[3_000:]))
    second = DetectorProcess(kafka, topics, "a", tmp_path, extra_env=env).start()
    try:
        msgs = read_all(kafka, topics.scored, 2, len(txs), timeout=300.0, running=[second])
    finally:
        code = second.terminate()
    assert code == 0, second.logs()
    assert second.logs().count("restored (snapshot") == 2, second.logs()  # both partitions
    assert offline_mismatches(scored_rows(msgs), txs, 2) == []
