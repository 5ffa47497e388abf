"""A local KRaft broker with SASL and TLS listeners, for the security tests.

Beside its PLAINTEXT listener (the readiness probe's, and the tests' own view of the topics)
it opens `SASL_PLAINTEXT` and `SASL_SSL`, both with the PLAIN and SCRAM-SHA-256 mechanisms,
and `MTLS`: plain `SSL` that requires a client certificate signed by its CA (mutual TLS, no
SASL). Its TLS certificate is signed by a throwaway CA made with `openssl` at test time (a
second, unrelated CA is made too: one that does not sign it, and signs a client certificate
the broker must refuse); the broker reads them as PEM (`ssl.keystore.type=PEM`). The
client's key is encrypted (`KAFKA_SSL_KEY_PASSWORD`). The SCRAM credential is created
through the AdminClient once the broker runs, as `kafka-configs --alter --add-config
SCRAM-SHA-256=...` would.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin._scram import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from auditstream.broker import BrokerSettings, LocalBroker
from auditstream.broker.listeners import Listener
from auditstream.broker.process import free_port
from shared.kafka import make_admin
from shared.settings import KafkaSettings

USER = "auditor"
#: Distinctive, so that a test can say it appears nowhere in a command's output or files.
PLAIN_PASSWORD = "plain-Pw-5f3e9a-never-printed"
SCRAM_PASSWORD = "scram-Pw-81c2d7-never-printed"
#: The pass phrase of the client's private key (mutual TLS).
KEY_PASSWORD = "key-Pw-3d9b70-never-printed"
MECHANISMS = "PLAIN,SCRAM-SHA-256"


@dataclass(frozen=True)
class Tls:
    """The throwaway PKI: the CA that signs the broker, the broker's PEM keystore, a CA that
    signs nothing of the broker's, and three client certificates with their encrypted keys:
    one signed by the broker's CA, one by the foreign CA, one by the broker's CA but expired."""

    ca: Path
    keystore: Path
    foreign_ca: Path
    client_cert: Path
    client_key: Path
    foreign_cert: Path
    foreign_key: Path
    expired_cert: Path
    expired_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {done.stderr}")


def _new_ca(folder: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc",
             "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
             "-subj", f"/CN=auditstream test {name}", cwd=folder)


def _client(folder: Path, name: str, ca: str, days: int = 2) -> None:
    """`name`.crt signed by `ca`, for a client, valid `days` (-1: it ended the day before it
    began, so it is expired now); its key `name`.key encrypted (AES-256)."""
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-keyout", f"{name}.key", "-passout", f"pass:{KEY_PASSWORD}", "-out",
             f"{name}.csr", "-subj", f"/CN=auditstream test {name}", cwd=folder)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-days", str(days), "-out", f"{name}.crt", cwd=folder)


def make_tls(folder: Path) -> Tls:
    """Two CAs, a broker certificate for 127.0.0.1 (and localhost) signed by the first, a
    client certificate signed by each, and an expired one signed by the first."""
    if shutil.which("openssl") is None:
        raise RuntimeError("openssl is not installed (needed to make the test CA)")
    folder.mkdir(parents=True, exist_ok=True)
    _new_ca(folder, "ca")
    _new_ca(folder, "foreign-ca")
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc",
             "-keyout", "broker.key", "-out", "broker.csr", "-subj", "/CN=127.0.0.1",
             cwd=folder)
    # librdkafka checks the host name by default (ssl.endpoint.identification.algorithm=https)
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "broker.crt",
             cwd=folder)
    keystore = folder / "broker-keystore.pem"  # Kafka's PEM keystore: key, then the chain
    keystore.write_text("".join((folder / f).read_text()
                                for f in ("broker.key", "broker.crt", "ca.pem")))
    _client(folder, "client", "ca")
    _client(folder, "foreign-client", "foreign-ca")
    _client(folder, "expired-client", "ca", days=-1)
    return Tls(folder / "ca.pem", keystore, folder / "foreign-ca.pem", folder / "client.crt",
               folder / "client.key", folder / "foreign-client.crt",
               folder / "foreign-client.key", folder / "expired-client.crt",
               folder / "expired-client.key")


def _sasl_properties(listener: str) -> dict[str, str]:
    prefix = f"listener.name.{listener.lower()}"
    return {
        f"{prefix}.sasl.enabled.mechanisms": MECHANISMS,
        f"{prefix}.plain.sasl.jaas.config": "org.apache.kafka.common.security.plain."
        f'PlainLoginModule required user_{USER}="{PLAIN_PASSWORD}";',
        f"{prefix}.scram-sha-256.sasl.jaas.config": "org.apache.kafka.common.security.scram."
        "ScramLoginModule required;",
    }


@dataclass
class SecureBroker:
    """The running broker: its addresses per listener, its PKI, and how to stop it."""

    local: LocalBroker
    sasl_plaintext: str
    sasl_ssl: str
    mtls: str
    tls: Tls

    @property
    def plaintext(self) -> KafkaSettings:
        """The tests' own view of the broker (not the path under test)."""
        return KafkaSettings(bootstrap_servers=self.local.bootstrap)

    def env(self, protocol: str, mechanism: str = "PLAIN") -> dict[str, str]:
        """The `KAFKA_` settings a user sets to reach it over `protocol` with `mechanism`
        (`SSL`: the mutual-TLS listener with the client certificate, no SASL)."""
        if protocol == "SSL":
            return {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_BOOTSTRAP_SERVERS": self.mtls,
                    "KAFKA_SSL_CA_LOCATION": str(self.tls.ca),
                    "KAFKA_SSL_CERTIFICATE_LOCATION": str(self.tls.client_cert),
                    "KAFKA_SSL_KEY_LOCATION": str(self.tls.client_key),
                    "KAFKA_SSL_KEY_PASSWORD": KEY_PASSWORD}
        password = PLAIN_PASSWORD if mechanism == "PLAIN" else SCRAM_PASSWORD
        env = {"KAFKA_SECURITY_PROTOCOL": protocol, "KAFKA_SASL_MECHANISM": mechanism,
               "KAFKA_SASL_USERNAME": USER, "KAFKA_SASL_PASSWORD": password}
        if protocol == "SASL_SSL":
            env |= {"KAFKA_BOOTSTRAP_SERVERS": self.sasl_ssl,
                    "KAFKA_SSL_CA_LOCATION": str(self.tls.ca)}
        else:
            env["KAFKA_BOOTSTRAP_SERVERS"] = self.sasl_plaintext
        return env


def start_secure_broker(home: Path) -> SecureBroker:
    """Start the broker under `home` (free loopback ports) and create the SCRAM user."""
    tls = make_tls(home / "tls")
    sasl_plaintext = Listener("SASL_PLAINTEXT", "SASL_PLAINTEXT", free_port())
    sasl_ssl = Listener("SASL_SSL", "SASL_SSL", free_port())
    mtls = Listener("MTLS", "SSL", free_port())
    properties = {
        **_sasl_properties(sasl_plaintext.name), **_sasl_properties(sasl_ssl.name),
        # Mutual TLS: a client without a certificate signed by the test CA is refused.
        "listener.name.mtls.ssl.client.auth": "required",
        "listener.name.mtls.ssl.truststore.type": "PEM",
        "listener.name.mtls.ssl.truststore.location": str(tls.ca),
        # The broker's key and certificate chain in one PEM file, the key not encrypted
        # (so no ssl.key.password; a PEM keystore takes no store password).
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(tls.keystore),
    }
    settings = BrokerSettings(home=home / "kafka", port=free_port(),
                              controller_port=free_port())
    local = LocalBroker(settings, [sasl_plaintext, sasl_ssl, mtls], properties)
    local.start()
    try:
        _add_scram_user(KafkaSettings(bootstrap_servers=local.bootstrap))
    except BaseException:
        local.stop()
        raise
    host = settings.host
    return SecureBroker(local, f"{host}:{sasl_plaintext.port}", f"{host}:{sasl_ssl.port}",
                        f"{host}:{mtls.port}", tls)


def _add_scram_user(kafka: KafkaSettings) -> None:
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096)
    upsert = UserScramCredentialUpsertion(USER, info, SCRAM_PASSWORD.encode())
    admin = make_admin(kafka)  # kept: the futures fail when the client is collected
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(timeout=30)
