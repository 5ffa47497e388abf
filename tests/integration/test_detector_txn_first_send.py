"""A transaction's age starts at its first send, against a real coordinator: fenced by
another instance after a gap between `begin` (local in librdkafka) and the first row longer
than transaction.timeout.ms, the detector's producer must end with the fenced line, not
take the fence for the coordinator's timeout and make a new producer, which fences the
other instance in turn (`tests/unit/test_detector_txn_first_send.py` with fakes)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from detector.kafka_io import KafkaOutput, make_transactional_producer
from detector.metrics import Metrics, Watchdog
from detector.settings import DetectorSettings
from detector.txn import DetectorError, Transactions
from shared.settings import KafkaSettings, TopicSettings
from tests.integration.detector_harness import Topics, read_all

pytestmark = pytest.mark.integration

#: The shortest the settings allow: the gap outlasts it in a second or two.
TIMEOUT_MS = 1_000


def test_fenced_by_another_instance_after_a_gap_before_the_first_send_is_the_fenced_exit(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    topics = Topics(topic_name, 1).create(kafka)
    s = DetectorSettings(kafka=kafka, instance_id="gap", transaction_timeout_ms=TIMEOUT_MS,
                         group_id=topics.env()["DETECTOR_GROUP_ID"], state_dir=tmp_path,
                         topics=TopicSettings(transactions_topic=topics.input,
                                              scored_topic=topics.scored,
                                              dlq_topic=topics.dlq, partitions=1))
    # A watchdog thread as the detector runs one: without it a check reads no run-queue wait,
    # and the busy loop below, given under half a core on a loaded machine, read as a pause
    # (CI of 2026-12-07: 'paused about 2 s', then the new producer this test forbids)
    a = Transactions(s, Watchdog(45.0), Metrics(), lambda: False, init_wait=30)
    made: list[object] = []
    a.on_new_producer = made.append  # a new producer would fence B's
    output = KafkaOutput(a.producer, s, 1, a)
    a.begin()  # nothing reaches the coordinator yet
    b = make_transactional_producer(s)  # another instance with the same id: A's is fenced
    b.init_transactions(30)
    # A scores a slow batch: busy, not paused (a pause since begin is judged from begin, the
    # zombie's path: tests/unit/test_detector_txn_first_send.py)
    busy_until = time.monotonic() + TIMEOUT_MS / 1000 + 1.5
    while time.monotonic() < busy_until:
        pass
    output.scored(b"c", b"from A")  # its first send: AddPartitionsToTxn, refused
    with pytest.raises(DetectorError, match="was fenced"):
        a.commit([], lambda: None)
    assert made == []
    # B goes on: its transaction commits, A's row was never committed
    b.begin_transaction()
    b.produce(topics.scored, b"from B", b"c")
    b.commit_transaction(30)
    rows = read_all(kafka, topics.scored, 1, 1, timeout=30)
    assert [m.value() for m in rows] == [b"from B"]
