"""The rewind's second opinion: a new client of the detector's group reads the offsets its
transactions committed (detector.ownership `_read_committed`, after a timeout)."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

from detector.kafka_io import make_offset_reader
from detector.settings import DetectorSettings
from shared.settings import KafkaSettings
from tests.integration.detector_harness import (
    DetectorProcess,
    Topics,
    keyed,
    make_transactions,
    produce,
    read_all,
)

pytestmark = pytest.mark.integration


def committed_and_ends(settings: DetectorSettings, topic: str) -> tuple[list[int], list[int]]:
    """The group's committed offsets of `topic`'s two partitions, and their ends, as a new
    reader sees them."""
    reader = make_offset_reader(settings)
    try:
        tps = [TopicPartition(topic, p) for p in range(2)]
        committed = [tp.offset for tp in reader.committed(tps, timeout=20)]
        return committed, [reader.get_watermark_offsets(tp, timeout=20)[1] for tp in tps]
    finally:
        reader.close()


def test_a_new_client_of_the_group_reads_the_offsets_the_transactions_committed(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    txs = make_transactions(1_800, customers=100, seed=5)
    first, later = txs[:1_500], txs[1_500:]
    topics = Topics(topic_name, 2).create(kafka)
    settings = DetectorSettings(kafka=kafka, instance_id="a",
                                group_id=topics.env()["DETECTOR_GROUP_ID"])
    produce(kafka, topics.input, keyed(first))
    detector = DetectorProcess(kafka, topics, "a", tmp_path).start()
    try:
        assert len(read_all(kafka, topics.scored, 2, len(first), running=[detector])) == 1_500
        committed, ends = committed_and_ends(settings, topics.input)
        assert committed == ends and sum(ends) == len(first)
        # The reader never joined the group: the detector goes on, and commits on.
        produce(kafka, topics.input, keyed(later))
        assert len(read_all(kafka, topics.scored, 2, len(txs), running=[detector])) == 1_800
        committed, ends = committed_and_ends(settings, topics.input)
        assert committed == ends and sum(ends) == len(txs)
    finally:
        assert detector.terminate() == 0, detector.logs()
