"""A client whose SASL settings the broker refuses stops at once: exit 2, one line naming the
settings to check, never the password, not a flood of librdkafka lines.

The session's broker listens PLAINTEXT only, so a `SASL_PLAINTEXT` client is refused at its
SASL handshake, as a broker refuses a wrong mechanism. Before: every command waited its whole
start-up wait printing about 37 lines a second, then exit 4 "no Kafka broker answered ...
start one with `auditstream broker start`", though the broker had answered.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared.errors import ExitCode
from shared.settings import KafkaSettings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pw-Hunter2-never-shown"
COMMANDS = {
    "generate": ["generate", "--customers", "5", "--days", "1", "--publish"],
    "sink": ["sink", "--once"],
    "detect": ["detect"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_refused_sasl_handshake_is_exit_2_at_once_without_the_password(
    command: str, kafka: KafkaSettings, topic_name: str, tmp_path: Path,
) -> None:
    args = COMMANDS[command]
    if command == "sink":
        args = [*args, "--exports", str(tmp_path / "exports")]
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
           "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN",
           "KAFKA_SASL_USERNAME": "auditor", "KAFKA_SASL_PASSWORD": PASSWORD,
           # long waits: the refusal must end the command, not the wait
           "KAFKA_STARTUP_WAIT_S": "60", "SINK_STARTUP_WAIT_S": "60",
           "DETECTOR_STARTUP_WAIT_S": "60", "DETECTOR_STATE_DIR": str(tmp_path / "state"),
           "AUDITSTREAM_TRANSACTIONS_TOPIC": topic_name,
           "AUDITSTREAM_SCORED_TOPIC": f"{topic_name}.scored",
           "AUDITSTREAM_DLQ_TOPIC": f"{topic_name}.dlq",
           "AUDITSTREAM_REVIEWS_TOPIC": f"{topic_name}.reviews"}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "auditstream", *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=90)
    took = time.monotonic() - started
    out = done.stdout + done.stderr
    assert PASSWORD not in out
    assert done.returncode == ExitCode.USAGE, out
    assert took < 30, (took, out)  # not the 60 s wait
    assert "Traceback" not in out
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1, out
    assert errors[0].startswith(
        f"auditstream {command}: error: Kafka at {kafka.bootstrap_servers} refused this "
        "client's SASL or TLS handshake ("), errors
    for setting in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_PASSWORD"):
        assert setting in errors[0]
    assert len(done.stderr.splitlines()) <= 5, out
