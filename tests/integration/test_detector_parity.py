"""The streaming detector publishes exactly what offline scoring computes, row by row."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.core.config import CoreConfig
from detector.offline import score_transactions
from shared.settings import KafkaSettings
from tests.integration.detector_harness import (
    CORE_ENV,
    DetectorProcess,
    Topics,
    by_id,
    keyed,
    make_transactions,
    produce,
    read_all,
    scored_rows,
)

pytestmark = pytest.mark.integration

CORE = CoreConfig(**{k.removeprefix("DETECTOR_CORE__").lower(): int(v)
                     for k, v in CORE_ENV.items()})


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
    streamed = by_id(scored_rows(msgs))
    offline = by_id(score_transactions(txs, CORE, partitions=partitions))
    assert streamed.keys() == offline.keys()
    mismatched = [i for i in offline if streamed[i].model_dump() != offline[i].model_dump()]
    assert mismatched == []
    versions = {r.model_version for r in streamed.values()}
    assert len(versions) >= 3, versions  # rules only, then at least two fitted models
