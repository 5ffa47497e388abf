"""With no broker, `replay` and `sink` exit 4 with one line, not a TimeoutError traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auditstream.broker.process import free_port
from shared.csv_io import write_transactions_csv
from tests.unit.test_core_engine import stream

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
           "KAFKA_STARTUP_WAIT_S": "2"}
    return env


def _run(*args: str, **extra_env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, *args], env={**_env(), **extra_env}, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    return done, time.monotonic() - started


def _assert_unreachable(done: subprocess.CompletedProcess[str], prog: str) -> None:
    assert done.returncode == 4, done.stderr
    assert "Traceback" not in done.stderr and "TimeoutError" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(f"{prog}: error: no Kafka broker answered at 127.0.0.1:")
    assert "auditstream broker start" in errors[0]
    assert len(done.stderr.splitlines()) <= 4, done.stderr  # no librdkafka line per attempt


def test_replay_without_broker_exits_4_not_1(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    write_transactions_csv(stream(n=20, customers=3, seed=1), source)
    done, took = _run("-m", "auditstream", "replay", str(source))
    _assert_unreachable(done, "auditstream replay")
    assert took < 20  # KAFKA_STARTUP_WAIT_S, not a 31 s TimeoutError


def test_replay_s_line_names_the_setting_its_wait_took(tmp_path: Path) -> None:
    # As the services' line names DETECTOR_/SINK_STARTUP_WAIT_S (walk through the docs,
    # 2026-12-06: replay, generate --publish, review and demo said "within 2 s" and no more).
    source = tmp_path / "in.csv"
    write_transactions_csv(stream(n=20, customers=3, seed=1), source)
    done, _ = _run("-m", "auditstream", "replay", str(source))
    _assert_unreachable(done, "auditstream replay")
    assert " within 2 s (KAFKA_STARTUP_WAIT_S; last error: " in done.stderr, done.stderr


def test_producer_entry_without_broker_exits_4(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    write_transactions_csv(stream(n=20, customers=3, seed=1), source)
    done, _ = _run("-m", "producer", PRODUCER_MODE="replay", PRODUCER_FILES=f'["{source}"]')
    _assert_unreachable(done, "python -m producer")


@pytest.mark.parametrize("entry", [("-m", "auditstream", "sink"), ("-m", "sink")])
def test_sink_without_broker_exits_4(tmp_path: Path, entry: tuple[str, ...]) -> None:
    # The sink waits SINK_STARTUP_WAIT_S (default 180 s), as the detector its own.
    done, _ = _run(*entry, "--exports", str(tmp_path / "ex"), "--once", SINK_STARTUP_WAIT_S="2")
    prog = "auditstream sink" if entry[1] == "auditstream" else "python -m sink"
    _assert_unreachable(done, prog)


@pytest.mark.slow
@pytest.mark.parametrize("entry", [("-m", "auditstream", "detect"), ("-m", "detector")])
def test_detect_without_broker_exits_4_after_its_wait_with_a_few_lines(
    entry: tuple[str, ...],
) -> None:
    # The detector waits DETECTOR_STARTUP_WAIT_S (default 180 s), not KAFKA_STARTUP_WAIT_S.
    done, took = _run(*entry, DETECTOR_STARTUP_WAIT_S="25")
    assert 25 <= took < 60, took
    prog = "auditstream detect" if entry[1] == "auditstream" else "python -m detector"
    assert done.returncode == 4, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and errors[0].startswith(f"{prog}: error: no Kafka broker")
    waiting = [line for line in done.stderr.splitlines() if "waiting for Kafka at" in line]
    # One line per KAFKA_LOG_INTERVAL_S (10 s) instead of ~18 librdkafka lines a second.
    assert 1 <= len(waiting) <= took / 10 + 1
    assert len(done.stderr.splitlines()) <= len(waiting) + 3, done.stderr[-3000:]


@pytest.mark.parametrize("entry", [("-m", "auditstream", "detect"), ("-m", "detector")])
def test_sigterm_while_detect_waits_for_kafka_ends_it_at_once_with_0(
    tmp_path: Path, entry: tuple[str, ...],
) -> None:
    """SIGTERM while the detector waits for a broker at start-up used to be noted and then
    waited out: the whole startup wait (60 s here), then exit 4 with an error. As the sink,
    it now leaves at once, exit 0 (nothing was consumed). (That the start-up's retries of
    other outage errors stop at once too: test_detector_startup.py.)"""
    env = {**_env(), "DETECTOR_STARTUP_WAIT_S": "60", "DETECTOR_STATE_DIR": str(tmp_path)}
    child = subprocess.Popen([sys.executable, *entry], env=env, cwd=ROOT, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert child.stderr is not None
        lines = []
        for line in child.stderr:  # the first "waiting for Kafka" line: the handler is set
            lines.append(line)
            if "waiting for Kafka at" in line:
                break
        signalled = time.monotonic()
        child.send_signal(signal.SIGTERM)
        _, rest = child.communicate(timeout=90)
        took = time.monotonic() - signalled
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    stderr = "".join(lines) + rest
    assert child.returncode == 0, stderr
    assert took < 10, stderr
    assert "Traceback" not in stderr and ": error: " not in stderr
