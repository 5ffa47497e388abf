"""A sink stopped while the broker is down still exits 0 at once, every row it had kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared.kafka import TopicSpec, ensure_topics
from tests.ci import unavailable
from tests.conftest import BrokerHandle
from tests.integration.test_sink_kafka import _produce
from tests.scored_days import scored_lines
from tests.unit.test_rollup_pandas import random_scored

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_sigterm_with_the_broker_gone_exits_0_within_the_close_timeout(
    broker: BrokerHandle, topic_name: str, tmp_path: Path
) -> None:
    if broker.local is None:
        unavailable(f"{broker.description} is not ours to stop (this test needs the "
                    "session's own broker)")
    kafka = broker.kafka
    ensure_topics(kafka, [TopicSpec(topic_name, partitions=2)])
    _produce(kafka, topic_name, random_scored(500, seed=5), per_txn=500)
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
           "AUDITSTREAM_SCORED_TOPIC": topic_name, "AUDITSTREAM_PARTITIONS": "2",
           "SINK_EXPORTS_DIR": str(tmp_path), "SINK_GROUP_ID": f"{topic_name}-sink",
           "SINK_CHECKPOINT_INTERVAL_S": "0.2", "SINK_ROLLUP_INTERVAL_S": "0.2"}
    sink = subprocess.Popen([sys.executable, "-m", "sink"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while len(scored_lines(tmp_path)) < 500 and time.monotonic() < deadline:
            assert sink.poll() is None
            time.sleep(0.1)
        broker.local.stop()
        time.sleep(1.0)
        started = time.monotonic()
        sink.send_signal(signal.SIGTERM)
        code = sink.wait(40)
        took = time.monotonic() - started
    finally:
        if sink.poll() is None:
            sink.kill()
        broker.local.start()
    assert code == 0, sink.stderr.read().decode()[-2000:] if sink.stderr else ""
    assert took < 20, f"the sink took {took:.1f} s to stop with the broker gone"
    assert len(scored_lines(tmp_path)) == 500
