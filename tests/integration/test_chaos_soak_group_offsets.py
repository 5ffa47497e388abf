"""bench/chaos_soak.py's `group_offsets` against a broker: the detectors' group offsets set
and read back as `reset_offsets` does (seed 860's first run: an admin client collected before
its answer never answered, `TimeoutError` after 30 s at every reset)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import chaos_soak

from shared.kafka import make_producer
from shared.settings import KafkaSettings
from tests.integration.detector_harness import Topics

pytestmark = pytest.mark.integration


def test_the_group_offsets_are_reset_and_set_back(kafka: KafkaSettings) -> None:
    topics = Topics(f"soak-offsets-{uuid.uuid4().hex[:8]}", chaos_soak.PARTITIONS).create(kafka)
    producer = make_producer(kafka)
    for p in range(chaos_soak.PARTITIONS):
        for i in range(10):
            producer.produce(topics.input, value=b"%d" % i, partition=p)
    assert producer.flush(30) == 0
    offsets = chaos_soak.group_offsets(kafka, topics)
    assert offsets.committed() == {}  # a group that never committed
    saved = {0: 7, 1: 3, 2: 10, 3: 1}
    offsets.alter(saved)
    assert offsets.committed() == saved
    assert offsets.earliest() == {0: 0, 1: 0, 2: 0, 3: 0}
    offsets.alter(offsets.earliest())
    assert offsets.committed() == {0: 0, 1: 0, 2: 0, 3: 0}
    offsets.alter(saved)
    assert offsets.committed() == saved
