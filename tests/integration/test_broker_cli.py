"""`auditstream broker start|stop|status` manages a real broker process honestly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditstream.broker.process import _alive, free_port
from shared.kafka import TopicSpec, ensure_topics, topic_partitions
from shared.settings import KafkaSettings

pytestmark = pytest.mark.integration


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditstream", "broker", *args],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )


def test_start_twice_status_stop_leaves_no_process(tmp_path: Path) -> None:
    port, cport = free_port(), free_port()
    env = {**os.environ, "BROKER_HOME": str(tmp_path / "broker"), "BROKER_PORT": str(port),
           "BROKER_CONTROLLER_PORT": str(cport)}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)

    first = _cli(env, "start")
    assert first.returncode == 0, first.stderr
    assert "started" in first.stdout and f"127.0.0.1:{port}" in first.stdout
    # Quiet start: the probes' "connection refused" while the JVM starts is not news.
    assert "Connection refused" not in first.stderr and "|FAIL|" not in first.stderr
    assert "librdkafka" not in first.stderr, first.stderr
    pid = int((tmp_path / "broker" / "broker.pid").read_text())
    try:
        second = _cli(env, "start")
        assert second.returncode == 0 and "already running" in second.stdout
        assert int((tmp_path / "broker" / "broker.pid").read_text()) == pid

        status = _cli(env, "status")
        assert status.returncode == 0 and status.stdout.startswith("running")
    finally:
        stop = _cli(env, "stop")
    assert stop.returncode == 0 and "broker stopped" in stop.stdout
    assert not _alive(pid)
    assert not (tmp_path / "broker" / "broker.pid").exists()

    after = _cli(env, "status")  # no broker answers: ExitCode.KAFKA_UNREACHABLE
    assert after.returncode == 4 and after.stdout.startswith("stopped")


def test_topics_survive_stop_and_start(tmp_path: Path) -> None:
    port, cport = free_port(), free_port()
    env = {**os.environ, "BROKER_HOME": str(tmp_path / "broker"), "BROKER_PORT": str(port),
           "BROKER_CONTROLLER_PORT": str(cport)}
    kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}")
    assert _cli(env, "start").returncode == 0
    try:
        ensure_topics(kafka, [TopicSpec("kept", partitions=2)])
        assert _cli(env, "stop").returncode == 0
        assert _cli(env, "start").returncode == 0
        assert topic_partitions(kafka, "kept") == 2
    finally:
        _cli(env, "stop")


def test_taken_port_gives_a_clear_message(tmp_path: Path) -> None:
    import socket

    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        env = {**os.environ, "BROKER_HOME": str(tmp_path / "b"), "BROKER_PORT": str(port),
               "BROKER_CONTROLLER_PORT": str(free_port())}
        result = _cli(env, "start")
    assert result.returncode == 2
    assert f"port 127.0.0.1:{port} is already in use" in result.stderr
    assert "BROKER_PORT" in result.stderr
