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
from tests.loopback import raw


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


# Hostile probe of 2026-12-05: the only listener the detector opens.

@pytest.mark.parametrize("request_line, status", [
    (b"GET /metrics HTTP/1.0", b"200"),
    (b"GET /metrics?name[]=detector_records_total HTTP/1.0", b"200"),
    (b"GET / HTTP/1.0", b"404"),
    (b"GET /metricsx HTTP/1.0", b"404"),
    (b"GET /../../etc/passwd HTTP/1.0", b"404"),
    (b"POST /metrics HTTP/1.0", b"405"),
    (b"OPTIONS /metrics HTTP/1.0", b"405"),
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.0", b"414"),
])
def test_only_a_get_of_the_metrics_path_is_answered_with_metrics(
        request_line: bytes, status: bytes) -> None:
    # Every path used to serve the metrics (the library's backwards-compatible default).
    port = free_port()
    Metrics(port, "127.0.0.1")
    reply = raw(port, request_line + f"\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode(), timeout=5)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split()[1] == status
    assert (b"detector_records_total" in body) == (status == b"200")
    if status == b"200":
        assert b"X-Content-Type-Options: nosniff" in head


def test_each_reply_says_its_own_length_whatever_came_before() -> None:
    # wsgiref adds Content-Length to the list of headers it is given: a list shared by the
    # replies carried the first one's length into the next (a 405 after a 404 said 39 bytes
    # for a body of 28, and a client waited for the rest).
    port = free_port()
    Metrics(port, "127.0.0.1")
    for line in (b"GET / HTTP/1.0", b"POST /metrics HTTP/1.0", b"GET /health HTTP/1.0",
                 b"GET /nowhere HTTP/1.0"):
        head, _, body = raw(port, line + b"\r\n\r\n", timeout=5).partition(b"\r\n\r\n")
        lengths = [h.split(b":")[1].strip() for h in head.split(b"\r\n")
                   if h.lower().startswith(b"content-length:")]
        assert lengths == [str(len(body)).encode()], (line, head, body)


def test_an_idle_scraper_connection_is_closed_and_the_next_scrape_is_served(
        monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    # Each connection holds a thread; one that never finished its request held it for ever
    # (200 idle connections: 200 threads in the detector's process).
    import socket

    import detector.metrics as metrics_module

    monkeypatch.setattr(metrics_module, "REQUEST_TIMEOUT_S", 0.5, raising=False)
    port = free_port()
    Metrics(port, "127.0.0.1")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as idle:
        idle.sendall(b"GET /met")
        scrape = f"GET /metrics HTTP/1.0\r\nHost: localhost:{port}\r\n\r\n".encode()
        assert b"200 OK" in raw(port, scrape, timeout=5)  # not blocked
        start = time.monotonic()
        assert idle.recv(100) == b""
        assert time.monotonic() - start < 4
    assert "Traceback" not in capfd.readouterr().err


def test_the_metrics_hold_no_setting_and_no_process_details(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "hunter2-secret")
    port = free_port()
    Metrics(port, "127.0.0.1")
    scrape = f"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    body = raw(port, scrape, timeout=5).partition(b"\r\n\r\n")[2].decode()
    names = {line.split()[2] for line in body.splitlines() if line.startswith("# TYPE")}
    assert names and all(n.startswith("detector_") for n in names)
    assert "hunter2" not in body and "python_info" not in body


def test_metrics_on_an_address_other_machines_reach_say_so(
        caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    with caplog.at_level(logging.INFO, logger="detector"):
        Metrics(port, "0.0.0.0")
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "reachable from other machines" in warned[0].getMessage()
    assert "DETECTOR_METRICS_HOST" in warned[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="detector"):
        Metrics(free_port(), "127.0.0.1")
    assert [r for r in caplog.records if r.levelno == logging.WARNING] == []
