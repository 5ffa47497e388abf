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
from tests.integration.service_run import ROOT, running, wait_for

pytestmark = pytest.mark.integration


def test_a_detector_refuses_an_input_given_partitions_since_its_state_was_made(
    tmp_path: Path, kafka: KafkaSettings, topic_name: str
) -> None:
    name = topic_name
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KAFKA_BOOTSTRAP_SERVERS":
           kafka.bootstrap_servers, "DETECTOR_STATE_DIR": str(tmp_path / "state"),
           "DETECTOR_INSTANCE_ID": name, "DETECTOR_GROUP_ID": name,
           "AUDITSTREAM_TRANSACTIONS_TOPIC": f"{name}.in",
           "AUDITSTREAM_SCORED_TOPIC": f"{name}.scored", "AUDITSTREAM_DLQ_TOPIC": f"{name}.dlq",
           "AUDITSTREAM_PARTITIONS": "2", "DETECTOR_SNAPSHOT_TOPIC": f"{name}.snap"}
    with running(["detector"], env, tmp_path / "first.log") as proc:  # makes both topics
        wait_for(proc, tmp_path / "first.log", "consuming", 120)
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap_servers})
    for future in admin.create_partitions([NewPartitions(f"{name}.in", 4)]).values():
        future.result(30)
    time.sleep(1)  # metadata
    second = subprocess.run([sys.executable, "-m", "detector"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=180)
    assert second.returncode == 2, second.stderr[-3000:]
    errors = [line for line in second.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and "Traceback" not in second.stderr, second.stderr[-3000:]
    assert f"{name}.in has 4 partitions, not the 2 of its state topic {name}.snap" in errors[0]
    assert "start a new pipeline" in errors[0]
