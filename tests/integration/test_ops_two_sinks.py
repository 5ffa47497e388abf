"""One sink per exports folder: a second one is refused at once, the first goes on unharmed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared.folderlock import LOCK_FILE
from shared.kafka import TopicSpec, ensure_topics
from shared.settings import KafkaSettings
from tests.integration.test_sink_kafka import _produce
from tests.scored_days import read_scored, scored_lines
from tests.unit.test_rollup_pandas import random_scored

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _wait_rows(folder: Path, n: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and len(scored_lines(folder)) < n:
        time.sleep(0.1)
    assert len(scored_lines(folder)) >= n


def test_second_sink_on_a_folder_exits_6_naming_the_first_ones_pid(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    ensure_topics(kafka, [TopicSpec(topic_name, partitions=3)])
    rows = random_scored(2_000, seed=61)
    _produce(kafka, topic_name, rows[:1_000], per_txn=1_000)
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
           "AUDITSTREAM_SCORED_TOPIC": topic_name, "AUDITSTREAM_PARTITIONS": "3",
           "SINK_EXPORTS_DIR": str(tmp_path), "SINK_GROUP_ID": f"{topic_name}-sink",
           "SINK_CHECKPOINT_INTERVAL_S": "0.2", "SINK_ROLLUP_INTERVAL_S": "0.2"}
    first = subprocess.Popen([sys.executable, "-m", "sink"], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_rows(tmp_path, 1_000, first)
        assert (tmp_path / LOCK_FILE).read_text().split()[0] == str(first.pid)

        for cmd in ([sys.executable, "-m", "sink"],
                    [sys.executable, "-m", "auditstream", "sink", "--exports", str(tmp_path)]):
            started = time.monotonic()
            second = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                                    timeout=60, check=False)
            assert second.returncode == 6, second.stderr  # ExitCode.LOCKED
            assert time.monotonic() - started < 15  # at once: no wait for Kafka first
            assert f"pid {first.pid} (sink)" in second.stderr
            assert "Traceback" not in second.stderr
            assert len([ln for ln in second.stderr.splitlines() if ": error: " in ln]) == 1

        assert first.poll() is None  # the first sink is unaffected and goes on
        _produce(kafka, topic_name, rows[1_000:], per_txn=500, tag="more")
        _wait_rows(tmp_path, 2_000, first)
    finally:
        first.send_signal(signal.SIGTERM)
        code = first.wait(30)
    assert code == 0, first.stderr.read().decode()[-2000:] if first.stderr else ""

    df = read_scored(tmp_path)
    ids = df["transaction_id"].astype(int)
    assert len(df) == 2_000 and ids.is_unique and set(ids) == set(range(2_000))
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["rows"] == 2_000  # run.json agrees with the CSV
    assert run["confluent_kafka_version"].count(".") >= 2  # the full version, not "2"
