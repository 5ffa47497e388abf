"""Exactly once under faults: kill -9 at random moments, and a second instance leaving."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from shared.settings import KafkaSettings
from tests.conftest import BrokerHandle
from tests.integration.detector_harness import (
    FAULT_ENV,
    DetectorProcess,
    Topics,
    assert_exactly_the_offline_result,
    keyed,
    make_transactions,
    produce,
    produce_in_background,
    read_all,
    supervised,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

def test_kill_9_at_random_moments_neither_loses_nor_duplicates_a_row(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    txs = make_transactions(100_000, customers=2_000)
    topics = Topics(topic_name, 4).create(kafka)
    feeder = produce_in_background(kafka, topics.input, txs, rate=8_000)
    detector = DetectorProcess(kafka, topics, "a", tmp_path, FAULT_ENV)
    kills = 0
    for i in range(6):
        detector.start().wait_for("restored")
        # Most kills at any moment of the first seconds; the last two once a snapshot (1,500
        # records a partition) is committed, so a later restore uses one. A time was not
        # enough: on a busy machine six short lives once committed none, and with 5 to 8 s
        # (flake17, 2026-12-07, load 20-26 on 2 cores) none of the six did either.
        if i >= 4:
            a_snapshot_committed(kafka, topics, detector)
        time.sleep(rng.uniform(0.0, 2.5))
        assert detector.alive(), detector.logs()
        detector.kill()
        kills += 1
    detector.start()
    feeder.join(60)
    try:
        assert_exactly_the_offline_result(kafka, topics, txs, [detector])
    finally:
        code = detector.terminate()
    logs = detector.logs()
    assert code == 0, logs
    assert kills >= 5, f"seed {seed}"
    assert "restored (snapshot, replayed" in logs, f"no restore used a snapshot (seed {seed})"


def a_snapshot_committed(kafka: KafkaSettings, topics: Topics, detector: DetectorProcess,
                         timeout: float = 180.0) -> None:
    """Wait until the state topic holds a committed record (a snapshot: its records commit
    with the rows and offsets); fails if `detector` ends or none comes within `timeout`."""
    assert read_all(kafka, topics.snapshots, topics.partitions, 1, timeout=timeout, settle=0.0,
                    running=[detector]), f"no snapshot committed within {timeout} s"


def test_second_instance_joining_and_one_leaving_mid_stream_keeps_exactly_once(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    txs = make_transactions(40_000, customers=1_000, seed=11)
    topics = Topics(topic_name, 4).create(kafka)
    feeder = produce_in_background(kafka, topics.input, txs, rate=4_000)
    a = DetectorProcess(kafka, topics, "a", tmp_path, FAULT_ENV).start()
    a.wait_for("restored")
    time.sleep(2)
    b = DetectorProcess(kafka, topics, "b", tmp_path, FAULT_ENV).start()
    b.wait_for("restored")  # b owns partitions now
    time.sleep(2)
    assert b.terminate() == 0, b.logs()
    feeder.join(60)
    try:
        assert_exactly_the_offline_result(kafka, topics, txs, [a])
    finally:
        assert a.terminate() == 0, a.logs()
    assert "partition" in b.logs() and "restored" in b.logs(), b.logs()


def test_broker_restart_mid_stream_aborts_rewinds_and_keeps_exactly_once(
    broker: BrokerHandle, topic_name: str, tmp_path: Path
) -> None:
    if broker.local is None:
        pytest.skip("needs the session's own broker (it is stopped and started)")
    kafka = broker.kafka
    txs = make_transactions(30_000, customers=1_000, seed=13)
    topics = Topics(topic_name, 4).create(kafka)
    produce(kafka, topics.input, keyed(txs[:15_000]))
    detector = DetectorProcess(kafka, topics, "a", tmp_path, FAULT_ENV).start()
    detector.wait_for("restored")
    time.sleep(2)  # mid-stream: transactions open, snapshots being written
    broker.local.kill()
    time.sleep(3)
    broker.local.start()
    produce(kafka, topics.input, keyed(txs[15_000:]))
    # A detector may exit (code 2) on an error it cannot resolve in place (e.g. its static
    # member fenced across the restart); its supervisor restarts it, as in production.
    try:
        with supervised(detector, every=0.5) as restarts:
            assert_exactly_the_offline_result(kafka, topics, txs, [])
    finally:
        assert detector.terminate() == 0, detector.logs()
    assert all(code in (2, 3) for code in restarts), restarts  # exit codes, never a crash
