"""A `KAFKA_SASL_*` / `KAFKA_SSL_*` variable auditstream does not read is named in one warning
(never its value), instead of being silently ignored.

Before: `KafkaSettings` ignores unknown `KAFKA_` variables (the broker image reads others),
so a misspelt `KAFKA_SASL_PASSWROD`, or an option it does not pass on such as
`KAFKA_SSL_KEYSTORE_LOCATION`, left the client without it and nothing said why.
"""

from __future__ import annotations

import logging

import pytest

from shared import kafka as kafka_mod
from shared.kafka import make_admin
from shared.settings import KafkaSettings, ignored_security_variables


def test_only_unread_security_variables_are_listed() -> None:
    env = {"KAFKA_SASL_PASSWROD": "x", "kafka_ssl_keystore_location": "x",
           "KAFKA_SASL_PASSWORD": "x", "KAFKA_SSL_CA_LOCATION": "x",
           "KAFKA_HEAP_OPTS": "x", "KAFKA_HOST_PORT": "x", "SASL_X": "x"}
    assert ignored_security_variables(env) == ["KAFKA_SASL_PASSWROD",
                                               "KAFKA_SSL_KEYSTORE_LOCATION"]


def test_a_client_warns_once_naming_them_never_their_values(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(kafka_mod, "_WARNED_IGNORED", set())
    monkeypatch.setenv("KAFKA_SASL_PASSWROD", "pw-typo-Hunter2")
    monkeypatch.setenv("KAFKA_SSL_KEYSTORE_LOCATION", "/etc/ks.p12")
    caplog.set_level(logging.DEBUG)
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    make_admin(kafka)
    make_admin(kafka)
    lines = [r.getMessage() for r in caplog.records if "not read" in r.getMessage()]
    assert lines == ["KAFKA_SASL_PASSWROD, KAFKA_SSL_KEYSTORE_LOCATION: not read by "
                     "auditstream, ignored (the KAFKA_SASL_* and KAFKA_SSL_* it reads: README, "
                     "Configuration)"]
    assert "pw-typo-Hunter2" not in caplog.text and "/etc/ks.p12" not in caplog.text


def test_no_warning_when_every_security_variable_is_read(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(kafka_mod, "_WARNED_IGNORED", set())
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "pw")
    monkeypatch.setenv("KAFKA_SSL_KEY_PASSWORD", "pw2")
    caplog.set_level(logging.DEBUG)
    make_admin(KafkaSettings(bootstrap_servers="127.0.0.1:1"))
    assert not [r for r in caplog.records if "not read" in r.getMessage()]
