"""Operational signals: Prometheus on loopback when asked, and the periodic log line."""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
import urllib.request

import pytest

from auditstream.broker.process import free_port
from auditstream.score import register
from detector.metrics import Metrics
from detector.settings import settings_from_args


def test_metrics_are_served_on_loopback_when_a_port_is_set() -> None:
    port = free_port()
    metrics = Metrics(port, "127.0.0.1")
    metrics.batch(records=120, dead=2, seconds=0.01)
    metrics.committed()
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert "detector_records_total 120.0" in body
    assert "detector_dead_letters_total 2.0" in body
    assert "detector_transactions_committed_total 1.0" in body


def test_metrics_are_off_by_default() -> None:
    metrics = Metrics()
    metrics.batch(records=5, dead=0, seconds=0.001)
    assert metrics.total_records == 5 and metrics._prom == {}


def test_log_line_reports_rate_lag_latency_and_model(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    metrics.batch(records=1000, dead=3, seconds=0.02)
    metrics.batch(records=1000, dead=0, seconds=0.04)
    with caplog.at_level(logging.INFO, logger="detector"):
        line = metrics.report({0: 10, 1: 5}, {"if-v2"})
    assert "tx/s" in line and "lag 15" in line and "batch mean 30.0 ms max 40.0 ms" in line
    assert "dlq 3" in line and "model if-v2" in line and "partitions [0, 1]" in line
    assert line in caplog.text


def test_detect_command_options_reach_the_settings() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["detect", "--group", "g1", "--instance-id", "node-7",
                              "--metrics-port", "9400", "--batch-size", "100",
                              "--snapshot-every", "50", "--recovery-policy", "reset"])
    s = settings_from_args(args)
    assert (s.group_id, s.instance_id, s.metrics_port) == ("g1", "node-7", 9400)
    assert (s.batch_size, s.snapshot_every, s.recovery_policy) == (100, 50, "reset")
    assert s.transactional_id == "g1-node-7"


def test_watchdog_ends_a_process_stuck_in_a_guarded_call() -> None:
    code = ("import time\nfrom detector.metrics import Watchdog\nw = Watchdog(0.3)\n"
            "with w.guard('commit'):\n    time.sleep(30)\n")
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=20,
                          check=False)
    assert done.returncode == 3
    assert time.monotonic() - start < 15
    assert b"commit blocked for over" in done.stderr


def test_watchdog_leaves_a_quick_call_alone() -> None:
    code = ("from detector.metrics import Watchdog\nimport time\nw = Watchdog(0.5)\n"
            "with w.guard('commit'):\n    pass\ntime.sleep(1.2)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=20,
                          check=False)
    assert done.returncode == 0


def test_metrics_on_a_port_in_use_is_one_usage_error_naming_it() -> None:
    # `detect --metrics-port P` with P taken ended in an OSError traceback (exit 1).
    import socket

    from shared.errors import AuditstreamError, ExitCode

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(AuditstreamError) as refused:
            Metrics(port, "127.0.0.1")
    assert refused.value.exit_code == ExitCode.USAGE
    assert f"127.0.0.1:{port} is in use" in str(refused.value)
    assert "DETECTOR_METRICS_PORT" in str(refused.value)
