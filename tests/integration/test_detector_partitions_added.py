"""Partitions added to the input topic between two runs of the detector, on a real broker:
the second start is exit 2 in one line saying why and what to do (before: the start-up
asked to add partitions to the state topic, after which the detector ran on with customers
split across partitions; a hostile probe's replay was then exported twice)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewPartitions

from shared.settings import KafkaSettings
from tests.integration.detector_harness import keyed, make_transactions, produce
from tests.integration.service_run import ROOT, running, wait_for
from tests.integration.topic_reader import read_all

pytestmark = pytest.mark.integration


def detector_env(kafka: KafkaSettings, name: str, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "KAFKA_BOOTSTRAP_SERVERS":
            kafka.bootstrap_servers, "DETECTOR_STATE_DIR": str(tmp_path / "state"),
            "DETECTOR_INSTANCE_ID": name, "DETECTOR_GROUP_ID": name,
            "AUDITSTREAM_TRANSACTIONS_TOPIC": f"{name}.in",
            "AUDITSTREAM_SCORED_TOPIC": f"{name}.scored", "AUDITSTREAM_DLQ_TOPIC": f"{name}.dlq",
            "AUDITSTREAM_PARTITIONS": "2", "DETECTOR_SNAPSHOT_TOPIC": f"{name}.snap",
            "DETECTOR_SNAPSHOT_EVERY": "50"}


def add_partitions(kafka: KafkaSettings, topics: list[str], count: int) -> None:
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap_servers})
    for future in admin.create_partitions([NewPartitions(t, count) for t in topics]).values():
        future.result(30)
    time.sleep(1)  # metadata


def refused(env: dict[str, str]) -> str:
    """The detector's start, which must be exit 2 in one error line: that line."""
    second = subprocess.run([sys.executable, "-m", "detector"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=180)
    assert second.returncode == 2, second.stderr[-3000:]
    errors = [line for line in second.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and "Traceback" not in second.stderr, second.stderr[-3000:]
    assert "start a new pipeline" in errors[0]
    return errors[0]


def test_a_detector_refuses_an_input_given_partitions_since_its_state_was_made(
    tmp_path: Path, kafka: KafkaSettings, topic_name: str
) -> None:
    name = topic_name
    env = detector_env(kafka, name, tmp_path)
    with running(["detector"], env, tmp_path / "first.log") as proc:  # makes both topics
        wait_for(proc, tmp_path / "first.log", "consuming", 120)
    add_partitions(kafka, [f"{name}.in"], 4)
    error = refused(env)
    assert f"{name}.in has 4 partitions, not the 2 of its state topic {name}.snap" in error


def test_partitions_added_to_the_input_and_the_state_topic_are_refused_by_the_checkpoints(
    tmp_path: Path, kafka: KafkaSettings, topic_name: str
) -> None:
    # Both topics given partitions by hand while no detector ran: the start-up's counts agree
    # again; before the checkpoints kept the count, the detector ran on with customers split.
    name = topic_name
    env = detector_env(kafka, name, tmp_path)
    txs = make_transactions(400, customers=40, seed=3)
    with running(["detector"], env, tmp_path / "first.log") as proc:
        wait_for(proc, tmp_path / "first.log", "consuming", 120)
        produce(kafka, f"{name}.in", keyed(txs))
        assert len(read_all(kafka, f"{name}.scored", 2, len(txs), settle=0.5)) == len(txs)
    add_partitions(kafka, [f"{name}.in", f"{name}.snap"], 4)
    error = refused(env)
    assert f"{name}.in has 4 partitions, not the 2 of the checkpoint of its partition" in error
    assert f"in {name}.snap: partitions added to it would split customers" in error
