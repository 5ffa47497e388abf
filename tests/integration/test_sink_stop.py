"""SIGTERM ends the sink with exit 0 whatever it is doing, even waiting for a broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_sigterm_while_waiting_for_the_broker_exits_0_at_once(tmp_path: Path) -> None:
    # Seen in the fault suite: a sink restarted while the broker restarted, then SIGTERM.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
           "KAFKA_STARTUP_WAIT_S": "60"}  # nothing listens on port 9: start-up waits
    log = tmp_path / "sink.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "sink", "--exports",
                                 str(tmp_path / "exports")], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while "waiting for Kafka" not in log.read_text(errors="replace"):
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(20)
    assert code == 0, log.read_text()
    assert time.monotonic() - started < 15, log.read_text()
    assert "Traceback" not in log.read_text()
