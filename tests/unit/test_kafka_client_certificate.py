"""Mutual TLS from the client's side: a broker that refuses its certificate, a TLS client at a
listener without TLS, a key or certificate file librdkafka cannot load.

Before: a listener requiring client certificates (`ssl.client.auth=required`) answered a
client with none, or one its CAs did not sign, with a TLS alert that librdkafka logs as a
failed receive; every command logged it at ERROR several times a second (librdkafka's "No
matching issuer" warning too) for the whole start-up wait, then ended "no Kafka broker
answered ... start one with `auditstream broker start`" (exit 4). A TLS client at a PLAINTEXT
listener waited the same way. A key whose pass phrase was wrong said only "ssl.key.location
failed: ... PEM lib". The real broker's side: tests/integration/test_kafka_security.py.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import pytest
from confluent_kafka import KafkaError

from shared.kafka import file_problems
from shared.kafka_log import ClientLog, listener_mismatch, wait_line
from shared.settings import KafkaSettings

#: As librdkafka 2.x logs the alert of a broker that refused the client's certificate.
BAD_CERTIFICATE = ("ssl://127.0.0.1:{port}/bootstrap: Receive failed: error:0A000412:SSL "
                   "routines::ssl/tls alert bad certificate: SSL alert number 42 (after 0ms "
                   "in state APIVERSION_QUERY)")
FAIL = "FAIL [auditstream#producer-1] [thrd:ssl://127.0.0.1:{port}/bootstrap]: "
NO_ISSUER = ("SSL [auditstream#producer-1] [thrd:ssl://127.0.0.1:{port}/bootstrap]: No matching "
             "issuer found in server trusted certificate authorities, not sending any client "
             "certificates")
SSL_HUNG_UP = ("FAIL [auditstream#producer-1] [thrd:x]: ssl://127.0.0.1:{port}/bootstrap: SSL "
               "handshake failed: Disconnected: SSL connection closed by peer: connecting to a "
               "PLAINTEXT broker listener? (after 0ms in state SSL_HANDSHAKE)")
_PORTS = itertools.count(20000)  # a wait line is process-wide per address: one each


def _kafka(**settings: str) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=f"127.0.0.1:{next(_PORTS)}", log_interval_s=3600,
                         security_protocol="SSL", **settings)  # type: ignore[arg-type]


def _port(kafka: KafkaSettings) -> str:
    return kafka.bootstrap_servers.rsplit(":", 1)[1]


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "librdkafka"]


@pytest.mark.parametrize(("settings", "offered"), [
    ({}, "none offered: KAFKA_SSL_CERTIFICATE_LOCATION is not set"),
    ({"ssl_certificate_location": "/c.crt"},
     "KAFKA_SSL_CERTIFICATE_LOCATION=/c.crt without KAFKA_SSL_KEY_LOCATION"),
    ({"ssl_certificate_location": "/c.crt", "ssl_key_location": "/c.key"},
     "KAFKA_SSL_CERTIFICATE_LOCATION=/c.crt: one the broker's CAs must have signed, "
     "still valid"),
])
def test_a_refused_certificate_is_one_refusal_naming_what_was_offered(
    settings: dict[str, str], offered: str, caplog: pytest.LogCaptureFixture,
) -> None:
    kafka = _kafka(**settings)
    text = BAD_CERTIFICATE.format(port=_port(kafka))
    client = ClientLog(kafka)
    caplog.set_level(logging.DEBUG, logger="librdkafka")
    for _ in range(40):  # the log line and the client error of each connection
        client.log(logging.ERROR, "%s", FAIL.format(port=_port(kafka)) + text)
        client.error_cb(KafkaError(KafkaError._TRANSPORT, text))
    cause = f"client certificate not accepted ({offered}): {text}"
    assert _lines(caplog) == [f"Kafka at {kafka.bootstrap_servers} refused this client's SASL "
                              f"or TLS handshake ({cause})"]
    assert wait_line(kafka).take_refusal() == cause


@pytest.mark.parametrize("alert", ["tlsv13 alert certificate required", "tlsv1 alert unknown ca",
                                   "sslv3 alert certificate expired",
                                   "sslv3 alert certificate revoked",
                                   "sslv3 alert certificate unknown",
                                   "sslv3 alert unsupported certificate"])
def test_each_certificate_alert_is_a_refusal_from_the_client_error_alone(alert: str) -> None:
    kafka = _kafka()
    text = BAD_CERTIFICATE.format(port=_port(kafka)).replace("ssl/tls alert bad certificate",
                                                             alert)
    ClientLog(kafka, quiet=True).error_cb(KafkaError(KafkaError._TRANSPORT, text))
    cause = wait_line(kafka).take_refusal()
    assert cause is not None and cause.endswith(text) and "not accepted" in cause


def test_other_alerts_and_receive_failures_are_not_refusals() -> None:
    kafka = _kafka()
    client = ClientLog(kafka, quiet=True)
    for other in ("alert internal error", "alert decode error", "Connection reset by peer"):
        text = BAD_CERTIFICATE.format(port=_port(kafka)).replace(
            "ssl/tls alert bad certificate", other)
        client.log(logging.ERROR, "%s", text)
        client.error_cb(KafkaError(KafkaError._TRANSPORT, text))
    assert wait_line(kafka).take_refusal() is None


def test_no_matching_issuer_is_said_once_then_named_in_the_refusal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kafka = _kafka(ssl_certificate_location="/other.crt", ssl_key_location="/other.key")
    client, second = ClientLog(kafka), ClientLog(kafka)  # two clients of one process
    caplog.set_level(logging.DEBUG, logger="librdkafka")
    for log in (client, second) * 20:
        log.log(logging.WARNING, "%s", NO_ISSUER.format(port=_port(kafka)))
    assert _lines(caplog) == [NO_ISSUER.format(port=_port(kafka))]
    second.log(logging.ERROR, "%s", FAIL + BAD_CERTIFICATE.format(port=_port(kafka)))
    cause = wait_line(kafka).take_refusal()
    assert cause is not None and cause.startswith(
        "client certificate not accepted (KAFKA_SSL_CERTIFICATE_LOCATION=/other.crt: not sent, "
        "signed by none of the CAs the broker trusts): ")


@pytest.mark.parametrize(("protocol", "refused"), [
    ("SSL", True), ("SASL_SSL", True), ("PLAINTEXT", False), ("SASL_PLAINTEXT", False)])
def test_a_tls_handshake_hung_up_on_names_a_listener_without_tls(
    protocol: str, refused: bool,
) -> None:
    cause = listener_mismatch(SSL_HUNG_UP.format(port=1), protocol)
    assert (cause == "it hung up on every TLS handshake, as a listener without TLS (PLAINTEXT "
            "or SASL_PLAINTEXT) does") if refused else cause is None


def test_only_three_tls_hang_ups_in_a_row_are_a_refusal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One hang-up is waited for (a broker shutting down mid-handshake does that too)."""
    kafka = _kafka()
    client = ClientLog(kafka)
    caplog.set_level(logging.DEBUG, logger="librdkafka")
    hung_up = SSL_HUNG_UP.format(port=_port(kafka))
    for _ in range(2):  # one under
        client.log(logging.ERROR, "%s", hung_up)
        client.error_cb(KafkaError(KafkaError._SSL, hung_up.split("]: ", 1)[1]))
    client.log(logging.WARNING, "%s", "FAIL [p] [t]: x: Connect to ipv4#127.0.0.1:1 failed: "
               "Connection refused (after 0ms in state CONNECT)")  # another failure between
    client.log(logging.ERROR, "%s", hung_up)
    assert wait_line(kafka).take_refusal() is None
    assert [line for line in _lines(caplog) if "refused this client" in line] == []
    for _ in range(3):
        client.log(logging.ERROR, "%s", hung_up)
    assert wait_line(kafka).take_refusal() == (
        "it hung up on every TLS handshake, as a listener without TLS (PLAINTEXT or "
        "SASL_PLAINTEXT) does")


def test_a_file_librdkafka_cannot_load_says_what_it_must_be(tmp_path: Path) -> None:
    ca, cert, key = (tmp_path / name for name in ("ca.pem", "c.crt", "c.key"))
    for path in (ca, cert, key):
        path.write_text("x")
    kafka = KafkaSettings(ssl_ca_location=str(ca), ssl_certificate_location=str(cert),
                          ssl_key_location=str(key))
    assert file_problems(kafka, "") == []  # there, and librdkafka said nothing against them
    assert file_problems(kafka, "ssl.key.location failed: error:0A080009:SSL routines::PEM "
                                "lib") == [
        f"KAFKA_SSL_KEY_LOCATION={key}: not read: a wrong or missing KAFKA_SSL_KEY_PASSWORD, "
        "or not a PEM private key"]
    assert file_problems(kafka, "ssl.certificate.location failed: x") == [
        f"KAFKA_SSL_CERTIFICATE_LOCATION={cert}: not a PEM certificate"]
    assert file_problems(kafka, "ssl.ca.location failed: x") == [
        f"KAFKA_SSL_CA_LOCATION={ca}: not PEM certificates"]
    # a key that reads, but is another certificate's: not a pass phrase to blame
    assert file_problems(kafka, "ssl.key.location failed: error:05800074:x509 certificate "
                                "routines::key values mismatch") == [
        f"KAFKA_SSL_KEY_LOCATION={key}: not the private key of the certificate in "
        "KAFKA_SSL_CERTIFICATE_LOCATION"]
    key.unlink()
    assert file_problems(kafka, "ssl.key.location failed: x") == [
        f"KAFKA_SSL_KEY_LOCATION={key}: no such file"]
