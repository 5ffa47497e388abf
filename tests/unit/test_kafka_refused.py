"""A broker that refuses the client's SASL or TLS is one line per interval, not a flood.

Before: each refused handshake came twice (librdkafka's FAIL log line and its client error),
about 37 lines a second, for the whole start-up wait (over 6,000 lines at the services'
180 s), and the wait then ended "no Kafka broker answered ... start one" (exit 4), though
the broker had answered and only the settings were wrong.
"""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import KafkaError

from shared.kafka_log import ClientLog, WaitLine
from shared.settings import KafkaSettings
from tests.unit.outage_fakes import Clock

CAUSE = ("sasl_plaintext://127.0.0.1:9/bootstrap: SASL PLAIN mechanism handshake failed: "
         "Broker: Request not valid in current SASL state: broker's supported mechanisms:  "
         "(after 0ms in state AUTH_HANDSHAKE)")
#: The same failure as librdkafka logs it (level 3), beside the client error above.
FAIL_LINE = ("FAIL [auditstream#producer-1] [thrd:sasl_plaintext://127.0.0.1:9/bootstrap]: "
             + CAUSE)
WRONG_PASSWORD = ("sasl_ssl://k:9093/1: SASL authentication error: Authentication failed "
                  "during authentication due to invalid credentials with SASL mechanism "
                  "SCRAM-SHA-512 (after 304ms in state AUTH_REQ)")


def test_a_refusal_is_one_line_per_interval_at_the_boundary() -> None:
    clock = Clock(100.0)
    line = WaitLine("h:9092", 10.0, clock)
    assert line.refuse("bad") == ("Kafka at h:9092 refused this client's SASL or TLS "
                                  "handshake (bad)")
    clock.now += 9.999  # one unit under the interval: quiet
    assert line.refuse("bad") is None
    clock.now = 110.0  # at the interval: the next line, counting what it stood for
    assert line.refuse("bad") == ("Kafka at h:9092 refused this client's SASL or TLS "
                                  "handshake (bad); 1 more like it since the last line")
    assert line.take_refusal() == "bad"
    assert line.take_refusal() is None  # taken once


@pytest.mark.parametrize("code", [KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED,
                                  KafkaError._SSL])
def test_refused_handshakes_are_one_line_and_remembered(
    code: int, caplog: pytest.LogCaptureFixture,
) -> None:
    # An address of its own: the wait line is process-wide, per address and interval.
    kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{10 + code % 50}", log_interval_s=3600)
    client = ClientLog(kafka)
    caplog.set_level(logging.DEBUG, logger="librdkafka")
    for _ in range(300):
        client.log(logging.ERROR, "%s", FAIL_LINE)
        client.error_cb(KafkaError(code, CAUSE))
    lines = [r.getMessage() for r in caplog.records if r.name == "librdkafka"]
    assert lines == [f"Kafka at {kafka.bootstrap_servers} refused this client's SASL or TLS "
                     f"handshake ({CAUSE})"]
    from shared.kafka_log import wait_line

    assert wait_line(kafka).take_refusal() == CAUSE


def test_a_wrong_password_log_line_counts_as_a_refusal(caplog: pytest.LogCaptureFixture) -> None:
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:8", log_interval_s=3600)
    client = ClientLog(kafka)
    caplog.set_level(logging.DEBUG, logger="librdkafka")
    for _ in range(50):
        client.log(logging.ERROR, "%s", "FAIL [auditstream#consumer-2] [thrd:x]: " + WRONG_PASSWORD)
    assert [r.getMessage() for r in caplog.records if r.name == "librdkafka"] == [
        f"Kafka at 127.0.0.1:8 refused this client's SASL or TLS handshake ({WRONG_PASSWORD})"]


def test_a_quiet_client_still_remembers_a_refusal(caplog: pytest.LogCaptureFixture) -> None:
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:6", log_interval_s=3600)
    caplog.set_level(logging.DEBUG)
    ClientLog(kafka, quiet=True).error_cb(KafkaError(KafkaError._AUTHENTICATION, CAUSE))
    assert caplog.records == []
    from shared.kafka_log import wait_line

    assert wait_line(kafka).take_refusal() == CAUSE


def test_no_waiting_line_while_the_broker_refuses_the_handshake() -> None:
    """librdkafka follows a refusal with "all brokers down"; its "waiting for Kafka ...
    then exit 4" line would contradict the exit 2 that follows."""
    clock = Clock(100.0)
    line = WaitLine("h:9092", 10.0, clock)
    line.refuse("bad")
    assert line.note("all brokers down") is None
    clock.now += 9.999  # one unit under the interval: still quiet
    assert line.note("all brokers down") is None
    clock.now += 0.001  # at the interval after the refusal: waiting is news again
    assert line.note("connection refused") == (
        "waiting for Kafka at h:9092 (connection refused); 2 more like it since the last line")


#: A TLS client at a PLAINTEXT listener, as librdkafka 2.x says it: the broker hung up,
#: which a broker shutting down mid-handshake also does, so one stays a wait, saying the
#: likelier cause (three in a row are a refusal: test_kafka_client_certificate.py).
SSL_HUNG_UP = ("ssl://127.0.0.1:5/bootstrap: SSL handshake failed: Disconnected: SSL "
               "connection closed by peer: connecting to a PLAINTEXT broker listener? (after 0ms "
               "in state SSL_HANDSHAKE)")


def test_a_handshake_the_peer_hung_up_on_is_waited_for_not_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from shared.kafka_log import wait_line

    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:5", log_interval_s=3600)
    client = ClientLog(kafka)
    caplog.set_level(logging.DEBUG, logger="librdkafka")
    client.log(logging.ERROR, "%s", "FAIL [auditstream#producer-1] [thrd:x]: " + SSL_HUNG_UP)
    client.error_cb(KafkaError(KafkaError._SSL, SSL_HUNG_UP))
    assert wait_line(kafka).take_refusal() is None
    assert [r.getMessage() for r in caplog.records if r.name == "librdkafka"] == [
        "waiting for Kafka at 127.0.0.1:5 (TLS hung up on: a PLAINTEXT listener? check "
        "KAFKA_SECURITY_PROTOCOL)"]


#: A client without SASL at a SASL listener, as librdkafka 2.16 logs it: the broker answered
#: ApiVersion, then closed the connection at the first request ("Unexpected Kafka request of
#: type METADATA during SASL handshake" in its log). Before: "waiting for Kafka at ...
#: (disconnected)" for the whole wait, then exit 4 "no Kafka broker answered ... start one".
CLOSED_IN_UP = ("FAIL [auditstream#producer-1] [thrd:127.0.0.1:4/bootstrap]: 127.0.0.1:4/"
                "bootstrap: Disconnected: connection closed by peer: receive 0 after POLLIN "
                "(after 0ms in state UP)")
#: A client without TLS at a TLS listener: closed before ApiVersion was answered.
CLOSED_IN_APIVERSION = CLOSED_IN_UP.replace("0ms in state UP", "5ms in state APIVERSION_QUERY")


@pytest.mark.parametrize(("text", "protocol", "listener"), [
    (CLOSED_IN_UP, "PLAINTEXT", "SASL"),
    (CLOSED_IN_UP, "SSL", "SASL"),
    (CLOSED_IN_UP, "SASL_PLAINTEXT", None),  # it has SASL: some other cause, waited for
    (CLOSED_IN_UP.replace("0ms", "99ms"), "PLAINTEXT", "SASL"),  # the longest "at once"
    (CLOSED_IN_UP.replace("0ms", "100ms"), "PLAINTEXT", None),  # one unit over
    (CLOSED_IN_UP.replace("0ms", "600000ms"), "PLAINTEXT", None),  # an idle connection reaped
    (CLOSED_IN_UP.replace(")", ", 1 identical error(s) suppressed)"), "PLAINTEXT", "SASL"),
    (CLOSED_IN_APIVERSION, "PLAINTEXT", "TLS"),
    (CLOSED_IN_APIVERSION, "SASL_PLAINTEXT", "TLS"),
    (CLOSED_IN_APIVERSION, "SASL_SSL", None),
    (CLOSED_IN_UP.replace("Disconnected: connection closed by peer", "Connection refused"),
     "PLAINTEXT", None),
])
def test_a_connection_closed_at_once_names_the_listener_the_client_lacks(
    text: str, protocol: str, listener: str | None,
) -> None:
    from shared.kafka_log import listener_mismatch

    cause = listener_mismatch(text, protocol)
    if listener is None:
        assert cause is None
    else:
        assert cause is not None and f"as a {listener} listener does a client without " \
            f"{listener}" in cause


def test_only_three_closes_in_a_row_are_a_refusal(caplog: pytest.LogCaptureFixture) -> None:
    from shared.kafka_log import wait_line

    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:4", log_interval_s=3600)
    client = ClientLog(kafka)
    caplog.set_level(logging.DEBUG, logger="librdkafka")
    for _ in range(2):  # one under: a broker going down closes a connection too
        client.log(logging.WARNING, "%s", CLOSED_IN_UP)
    client.log(logging.WARNING, "%s", CLOSED_IN_UP.replace(
        "Disconnected: connection closed by peer: receive 0 after POLLIN", "Connection refused"))
    for _ in range(2):  # another failure between: the count starts again
        client.log(logging.WARNING, "%s", CLOSED_IN_UP)
    assert wait_line(kafka).take_refusal() is None
    for _ in range(3):
        client.log(logging.WARNING, "%s", CLOSED_IN_UP)
    cause = wait_line(kafka).take_refusal()
    assert cause is not None and "as a SASL listener does a client without SASL" in cause
    assert [r.getMessage() for r in caplog.records if "refused" in r.getMessage()] == [
        f"Kafka at 127.0.0.1:4 refused this client's SASL or TLS handshake ({cause})"]


#: librdkafka's own FAIL line of a broker certificate the CA did not sign (beside its client
#: error, which says "SSL handshake failed: ..."). Before: one log line per attempt until
#: the command stopped (6 in 0.1 s seen at a real broker).
NOT_VERIFIED = ("FAIL [auditstream#producer-1] [thrd:sasl_ssl://127.0.0.1:3/bootstrap]: "
                "sasl_ssl://127.0.0.1:3/bootstrap: error:0A000086:SSL routines::certificate "
                "verify failed (after 4ms in state SSL_HANDSHAKE)")


def test_a_certificate_not_verified_is_one_refusal_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:3", log_interval_s=3600)
    client = ClientLog(kafka)
    caplog.set_level(logging.DEBUG, logger="librdkafka")
    for _ in range(50):
        client.log(logging.ERROR, "%s", NOT_VERIFIED)
    cause = NOT_VERIFIED.split("]: ", 1)[1]
    assert [r.getMessage() for r in caplog.records if r.name == "librdkafka"] == [
        f"Kafka at 127.0.0.1:3 refused this client's SASL or TLS handshake ({cause})"]
