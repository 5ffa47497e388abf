"""librdkafka's connection noise becomes one "waiting for Kafka" line per interval."""

from __future__ import annotations

import logging

import confluent_kafka
import pytest

from shared.kafka import client_versions, make_admin, wait_for_broker
from shared.kafka_log import ClientLog, WaitLine, is_transport_noise
from shared.settings import KafkaSettings
from tests.unit.outage_fakes import Clock

REFUSED = ("FAIL [rdkafka#producer-1] [thrd:127.0.0.1:1/bootstrap]: 127.0.0.1:1/bootstrap: "
           "Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state CONNECT)")


def test_one_line_per_interval_at_the_boundary() -> None:
    clock = Clock(100.0)
    line = WaitLine("h:9092", 10.0, clock)
    assert line.note("connection refused") == "waiting for Kafka at h:9092 (connection refused)"
    clock.now += 9.999  # one unit under the interval: quiet
    assert line.note("connection refused") is None
    assert line.note("connection refused") is None
    clock.now = 110.0  # exactly the interval: the next line, counting what it stood for
    assert line.note("connection refused") == (
        "waiting for Kafka at h:9092 (connection refused); 2 more like it since the last line")
    clock.now = 120.001  # one unit over
    assert line.note("connection refused") == "waiting for Kafka at h:9092 (connection refused)"


def test_client_log_summarises_noise_and_passes_other_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:1", log_interval_s=3600)
    sink = ClientLog(kafka)
    caplog.set_level(logging.DEBUG, logger="librdkafka")
    for _ in range(500):
        sink.log(logging.ERROR, "%s", REFUSED)
    sink.log(logging.WARNING, "%s [%s] %s", "CONFWARN", "rdkafka#producer-1", "odd setting")
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "librdkafka"]
    assert lines == [
        (logging.WARNING, "waiting for Kafka at 127.0.0.1:1 (connection refused)"),
        (logging.WARNING, "CONFWARN [rdkafka#producer-1] odd setting"),
    ]


def test_a_quiet_client_log_prints_nothing(caplog: pytest.LogCaptureFixture) -> None:
    sink = ClientLog(KafkaSettings(bootstrap_servers="127.0.0.1:2"), quiet=True)
    caplog.set_level(logging.DEBUG)
    sink.log(logging.ERROR, "%s", REFUSED)
    sink.log(logging.ERROR, "%s", "something else entirely")
    assert caplog.records == []


def test_transport_noise_is_recognised_and_nothing_else() -> None:
    assert is_transport_noise(REFUSED)
    assert is_transport_noise("1/1 brokers are down")
    assert not is_transport_noise("Topic x partition count changed from 1 to 4")


def test_no_broker_is_kafka_unreachable_naming_the_address_and_the_fix(
    capfd: pytest.CaptureFixture[str],
) -> None:
    from shared.errors import KafkaUnreachableError

    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    with pytest.raises(KafkaUnreachableError) as caught:
        wait_for_broker(kafka, timeout=2)
    text = str(caught.value)
    assert caught.value.exit_code == 4
    assert text.startswith("no Kafka broker answered at 127.0.0.1:1 within 2 s")
    assert "auditstream broker start" in text and "KAFKA_BOOTSTRAP_SERVERS" in text
    assert "\n" not in text
    make_admin(kafka)  # the factories' clients no longer print to stderr themselves
    assert "Connection refused" not in capfd.readouterr().err


def test_run_json_client_versions_are_full_strings() -> None:
    versions = client_versions()
    raw = confluent_kafka.version()
    full = raw[0] if isinstance(raw, tuple) else raw
    assert versions["confluent_kafka_version"] == full
    assert versions["confluent_kafka_version"].count(".") >= 2  # "2.16.1", never "2"
    assert versions["librdkafka_version"] == confluent_kafka.libversion()[0]


def test_a_consumer_close_that_hangs_is_given_up_after_the_timeout() -> None:
    import threading
    import time

    from shared.kafka import close_within

    release = threading.Event()

    class Hanging:
        closed = False

        def close(self) -> None:
            release.wait(30)  # as librdkafka waits for a coordinator that is gone
            self.closed = True

    class Quick:
        closed = False

        def close(self) -> None:
            self.closed = True

    started = time.monotonic()
    hanging = Hanging()
    assert close_within(hanging, 0.2) is False  # type: ignore[arg-type]
    assert 0.2 <= time.monotonic() - started < 5
    release.set()
    quick = Quick()
    assert close_within(quick, 5) is True  # type: ignore[arg-type]
    assert quick.closed
