"""The local broker's probe talks PLAINTEXT, whatever the KAFKA_ security settings say.

The local broker listens PLAINTEXT on loopback only; the `KAFKA_` security settings are for
a real cluster. Before: the probe read them too, so with `KAFKA_SECURITY_PROTOCOL=SASL_SSL`
in the environment `auditstream broker status` said the running broker "does not answer"
(exit 4) and `broker start` waited for an answer that could not come.
"""

from __future__ import annotations

import pytest

from auditstream.broker.process import local_client
from shared.settings import REBOOTSTRAP_MS, KafkaSettings

SECURITY = {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "auditor", "KAFKA_SASL_PASSWORD": "pw",
            "KAFKA_SSL_CA_LOCATION": "/etc/ca.pem", "KAFKA_SSL_KEY_PASSWORD": "kpw",
            "KAFKA_SSL_CERTIFICATE_LOCATION": "/etc/c.pem", "KAFKA_SSL_KEY_LOCATION": "/k.pem",
            "KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM": "none"}
# every SASL and TLS field the settings declare, also one added after this test
SECURITY |= {f"KAFKA_{name.upper()}": SECURITY.get(f"KAFKA_{name.upper()}", "set")
             for name in KafkaSettings.model_fields if name.startswith(("sasl_", "ssl_"))}


def test_the_probe_ignores_the_security_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECURITY.items():
        monkeypatch.setenv(name, value)
    conf = local_client("127.0.0.1:9").client_config()
    assert conf == {"bootstrap.servers": "127.0.0.1:9", "security.protocol": "PLAINTEXT",
                    "client.id": "auditstream",
                    "metadata.recovery.rebootstrap.trigger.ms": REBOOTSTRAP_MS}
