"""A security setting librdkafka refuses when the client is made (a CA file that is not
there, an unknown SASL mechanism) is exit 2 with one line naming it, not a traceback.

Before: `KafkaException(_INVALID_ARG)` escaped from the client's constructor, so every
command printed a traceback and exited 1 (the code of "some rows were rejected").
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.errors import ExitCode, KafkaWiringError
from shared.kafka import make_admin, make_consumer, make_producer
from shared.settings import KafkaSettings

ROOT = Path(__file__).resolve().parents[2]
BAD = {
    "missing CA file": ({"security_protocol": "SSL", "ssl_ca_location": "/nonexistent/ca.pem"},
                        "ssl.ca.location failed"),
    "unknown mechanism": ({"security_protocol": "SASL_SSL", "sasl_mechanism": "BOGUS",
                           "sasl_password": "pw-Hunter2-never-shown"},
                          "Unsupported SASL mechanism: BOGUS"),
}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("client", ["producer", "consumer", "admin"])
def test_a_refused_client_setting_is_a_wiring_error(case: str, client: str) -> None:
    fields, says = BAD[case]
    kafka = KafkaSettings.model_validate({"bootstrap_servers": "127.0.0.1:1", **fields})
    with pytest.raises(KafkaWiringError) as caught:
        if client == "producer":
            make_producer(kafka)
        elif client == "consumer":
            make_consumer(kafka, "g")
        else:
            make_admin(kafka)
    text = str(caught.value)
    assert caught.value.exit_code == ExitCode.USAGE
    assert says in text and "KAFKA_" in text and "pw-Hunter2" not in text


def test_a_command_with_a_missing_ca_file_exits_2_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
           "KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_LOCATION": "/nonexistent/ca.pem",
           "KAFKA_SSL_KEY_PASSWORD": "pw-Hunter2-never-shown"}
    done = subprocess.run([sys.executable, "-m", "auditstream", "generate", "--publish",
                           "--customers", "3", "--days", "1", "--out", str(tmp_path / "g.csv")],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False)
    out = done.stdout + done.stderr
    assert done.returncode == ExitCode.USAGE, out
    assert "Traceback" not in out and "pw-Hunter2" not in out
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and errors[0].startswith(
        "auditstream generate: error: invalid Kafka client setting (Failed to create "), out
    assert "ssl.ca.location failed" in errors[0] and "KAFKA_SSL_CA_LOCATION" in errors[0]


def test_the_error_names_each_ssl_file_that_is_not_there(tmp_path: Path) -> None:
    """librdkafka says only "ssl.ca.location failed: ... BIO lib" of a missing CA file."""
    there = tmp_path / "key.pem"
    there.write_text("not a key")
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:1", security_protocol="SSL",
                          ssl_ca_location=str(tmp_path / "gone-ca.pem"),
                          ssl_certificate_location=str(tmp_path / "gone-cert.pem"),
                          ssl_key_location=str(there))
    with pytest.raises(KafkaWiringError) as caught:
        make_admin(kafka)
    text = str(caught.value)
    assert f"KAFKA_SSL_CA_LOCATION={tmp_path / 'gone-ca.pem'}: no such file" in text
    assert f"KAFKA_SSL_CERTIFICATE_LOCATION={tmp_path / 'gone-cert.pem'}: no such " in text
    assert "KAFKA_SSL_KEY_LOCATION" not in text.split("); check")[0]  # it is there
