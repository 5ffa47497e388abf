"""A service started at a wrong or unreachable Kafka address says so within seconds, keeps
waiting for its start-up wait (`DETECTOR_STARTUP_WAIT_S` / `SINK_STARTUP_WAIT_S`, one
meaning), then exits 4 with one line naming that setting.

Before: `detect` with a mistyped address printed "waiting for Kafka at X (cause)" with no
hint that it would go on for 180 s, or (an address where something listens but does not
answer as Kafka) its first line only after 10 s, behind librdkafka's "probably due to broker
version < 0.10"; and the sink gave up after `KAFKA_STARTUP_WAIT_S` (30 s), less than a
broker restart on a loaded machine, where the detector waits. No broker is needed: nothing
listens on a free port, and a listening socket that never answers stands for a wrong port.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditstream.broker.process import free_port
from shared import retry
from shared.errors import ExitCode, KafkaUnreachableError, KafkaWiringError
from shared.kafka_log import ClientLog, WaitLine
from shared.settings import KafkaSettings
from sink import app as sink_app
from sink.settings import SinkSettings
from tests.unit.outage_fakes import BrokerGoneAfterAnswering, Clock

ROOT = Path(__file__).resolve().parents[2]
LEFT = re.compile(r"still trying for (\d+) s \((\w+)\), then exit 4")


def test_a_wait_line_in_a_start_up_window_says_how_long_is_left_and_which_setting() -> None:
    clock = Clock(100.0)
    line = WaitLine("h:9092", 10.0, clock)
    assert line.note("connection refused") is not None  # before the window: a line
    with line.expect(clock.now + 180, "SINK_STARTUP_WAIT_S"):
        # The window's first failure is shown at once, though the last line was 0 s ago.
        assert line.note("connection refused") == (
            "waiting for Kafka at h:9092 (connection refused); still trying for 180 s "
            "(SINK_STARTUP_WAIT_S), then exit 4")
        clock.now += 9.999  # one unit under the interval: quiet
        assert line.note("connection refused") is None
        clock.now += 0.001  # at the interval
        assert line.note("connection refused") == (
            "waiting for Kafka at h:9092 (connection refused); 1 more like it since the last "
            "line; still trying for 170 s (SINK_STARTUP_WAIT_S), then exit 4")
        clock.now += 200  # past the deadline: never a negative time
        assert line.note("x") == ("waiting for Kafka at h:9092 (x); still trying for 0 s "
                                  "(SINK_STARTUP_WAIT_S), then exit 4")
    clock.now += 10
    assert line.note("x") == "waiting for Kafka at h:9092 (x)"  # outside: as before


#: What librdkafka 2.16 logged every 10 s at a port that accepts and never answers.
NOT_KAFKA_LINES = [
    (logging.INFO, "REQTMOUT [auditstream#producer-1] [thrd:127.0.0.1:1/bootstrap]: "
     "127.0.0.1:1/bootstrap: Timed out ApiVersionRequest in flight (after 10002ms, timeout #0)"),
    (logging.WARNING, "FAIL [auditstream#producer-1] [thrd:127.0.0.1:1/bootstrap]: "
     "127.0.0.1:1/bootstrap: ApiVersionRequest failed: Local: Timed out: probably due to "
     "broker version < 0.10 (see api.version.request configuration) (after 10002ms in state "
     "APIVERSION_QUERY)"),
    (logging.WARNING, "REQTMOUT [auditstream#producer-1] [thrd:127.0.0.1:1/bootstrap]: "
     "127.0.0.1:1/bootstrap: Timed out 1 in-flight, 0 retry-queued, 0 out-queue, 0 "
     "partially-sent requests"),
]


def test_an_address_that_is_not_kafka_is_one_plain_line_not_three_misleading_ones(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # An address of its own: the wait line is process-wide, per address and interval.
    client = ClientLog(KafkaSettings(bootstrap_servers="127.0.0.1:7", log_interval_s=3600))
    caplog.set_level(logging.DEBUG, logger="librdkafka")
    for level, text in NOT_KAFKA_LINES * 3:
        client.log(level, "%s", text)
    assert [r.getMessage() for r in caplog.records if r.name == "librdkafka"] == [
        "waiting for Kafka at 127.0.0.1:7 (connected, but no Kafka answer)"]


# --- the services, as a user starts them -------------------------------------------------


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port where something accepts connections and never answers (not Kafka)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)  # the kernel completes the handshakes; nobody reads
        yield server.getsockname()[1]


SERVICES = {
    "detector": (("-m", "detector"), "DETECTOR_STARTUP_WAIT_S", "python -m detector"),
    "sink": (("-m", "sink", "--once"), "SINK_STARTUP_WAIT_S", "python -m sink"),
}


def _spawn(service: str, port: int, wait_s: float, tmp_path: Path) -> subprocess.Popen[str]:
    args, setting, _ = SERVICES[service]
    if service == "sink":
        args = (*args, "--exports", str(tmp_path / "exports"))
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
           # the commands' shorter wait must not be the services' any more
           "KAFKA_STARTUP_WAIT_S": "1", setting: str(wait_s),
           "DETECTOR_STATE_DIR": str(tmp_path / "state")}
    return subprocess.Popen([sys.executable, *args], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("address", ["nothing listens", "not a Kafka listener"])
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_a_wrong_address_is_reported_within_seconds_with_the_wait_left(
    service: str, address: str, silent_port: int, tmp_path: Path,
) -> None:
    port = free_port() if address == "nothing listens" else silent_port
    wait_s = 60
    child = _spawn(service, port, wait_s, tmp_path)
    lines: list[str] = []
    try:
        assert child.stderr is not None
        for line in child.stderr:
            lines.append(line)
            if "waiting for Kafka at" in line:
                break
        child.send_signal(signal.SIGTERM)  # a signal still ends the wait at once, exit 0
        _, rest = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    stderr = "".join(lines) + rest
    first = next(line for line in lines if "waiting for Kafka at" in line)
    assert f"waiting for Kafka at 127.0.0.1:{port} (" in first
    found = LEFT.search(first)
    assert found is not None, first
    # The first line came within 5 s of the wait's start (import time aside).
    assert int(found.group(1)) >= wait_s - 5 and found.group(2) == SERVICES[service][1]
    assert "broker version < 0.10" not in stderr and "REQTMOUT" not in stderr
    assert child.returncode == 0 and "Traceback" not in stderr, stderr


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_past_its_start_up_wait_a_service_exits_4_with_one_line_naming_the_setting(
    service: str, tmp_path: Path,
) -> None:
    port = free_port()
    started = time.monotonic()
    child = _spawn(service, port, 4, tmp_path)
    _, stderr = child.communicate(timeout=90)
    took = time.monotonic() - started
    _, setting, prog = SERVICES[service]
    assert child.returncode == ExitCode.KAFKA_UNREACHABLE, stderr
    assert took >= 4  # its own wait, not KAFKA_STARTUP_WAIT_S (1 s)
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if ": error: " in line]
    assert errors == [
        f"{prog}: error: no Kafka broker answered at 127.0.0.1:{port} within 4 s ({setting}; "
        "last error: Failed to get metadata: Local: Broker transport failure); start one "
        "with `auditstream broker start`, or correct KAFKA_BOOTSTRAP_SERVERS if the address "
        "is wrong"], stderr
    assert len(stderr.splitlines()) <= 4, stderr  # a waiting line or two, then the error


# --- the sink's start-up steps (no process) ----------------------------------------------


class Broker:
    """Stands for `wait_for_broker` / `ensure_topics`: fails as told, then answers."""

    def __init__(self, failures: list[Exception], topic_failures: list[Exception] | None = None
                 ) -> None:
        self.failures = failures
        self.topic_failures = topic_failures or []
        self.topics_made = 0

    def wait(self, kafka: object, timeout: float, setting: str) -> int:
        assert setting == "SINK_STARTUP_WAIT_S" and timeout > 0
        if self.failures:
            raise self.failures.pop(0)
        return 1

    def ensure(self, kafka: object, specs: object, timeout: float) -> None:
        if self.topic_failures:
            raise self.topic_failures.pop(0)
        self.topics_made += 1


def _patched(monkeypatch: pytest.MonkeyPatch, broker: Broker) -> None:
    monkeypatch.setattr(sink_app, "wait_for_broker", broker.wait)
    monkeypatch.setattr(sink_app, "check_rights", lambda *a, **k: None)  # no ACLs
    monkeypatch.setattr(sink_app, "ensure_topics", broker.ensure)
    monkeypatch.setattr(sink_app, "topic_id", lambda *a, **k: None)
    monkeypatch.setattr(retry, "PAUSE_S", 0.01)


def test_the_sink_waits_for_a_broker_that_comes_late(monkeypatch: pytest.MonkeyPatch) -> None:
    # A broker still starting (compose) or restarting: out of reach, then its topics not in
    # the metadata yet; the sink goes on once both are there.
    broker = Broker([KafkaUnreachableError("no answer"), KafkaUnreachableError("no answer"),
                     KafkaWiringError("topics not visible", "_UNKNOWN_TOPIC")])
    _patched(monkeypatch, broker)
    sink_app._start_kafka(SinkSettings(startup_wait_s=30), [])
    assert broker.failures == [] and broker.topics_made == 1


def test_a_sink_configuration_error_is_not_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    broker = Broker([KafkaWiringError("could not create topic: policy", "POLICY_VIOLATION"),
                     KafkaUnreachableError("never reached")])
    _patched(monkeypatch, broker)
    with pytest.raises(KafkaWiringError, match="policy") as info:
        sink_app._start_kafka(SinkSettings(startup_wait_s=30), [])
    assert info.value.exit_code == ExitCode.USAGE and len(broker.failures) == 1


def test_topics_never_visible_past_the_wait_is_exit_4_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Not "no Kafka broker answered ... correct KAFKA_BOOTSTRAP_SERVERS": one did answer.
    broker = Broker([KafkaWiringError("topics not visible", "_UNKNOWN_TOPIC")] * 1000)
    _patched(monkeypatch, broker)
    with pytest.raises(KafkaUnreachableError, match=r"^starting: the Kafka cluster could not be "
                       r"reached for 0 s \(SINK_STARTUP_WAIT_S; last error: topics not visible\)"):
        sink_app._start_kafka(SinkSettings(startup_wait_s=0.2), [])
    assert broker.topics_made == 0


def test_a_broker_gone_after_answering_is_exit_4_naming_the_whole_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before: the line gave the last try's time ("within 0 s"), as if the wait were shorter.
    wait = BrokerGoneAfterAnswering()
    _patched(monkeypatch, Broker([], [KafkaWiringError("topics not visible", "_UNKNOWN_TOPIC")]))
    monkeypatch.setattr(sink_app, "wait_for_broker", wait)
    monkeypatch.setattr(sink_app, "check_rights", lambda *a, **k: None)  # no ACLs
    settings = SinkSettings(startup_wait_s=2)
    with pytest.raises(KafkaUnreachableError) as info:
        sink_app._start_kafka(settings, [])
    assert len(wait.calls) > 2 and wait.calls[-1] < 1.5  # the last try had less than the wait left
    assert str(info.value) == (
        f"no Kafka broker answered at {settings.kafka.bootstrap_servers} within 2 s "
        "(SINK_STARTUP_WAIT_S; last error: Broker transport failure); start one with "
        "`auditstream broker start`, or correct KAFKA_BOOTSTRAP_SERVERS if the address is "
        "wrong")
