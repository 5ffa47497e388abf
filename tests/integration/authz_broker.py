"""A local KRaft broker that enforces ACLs, for the tests of rights refused.

Kafka's `StandardAuthorizer` checks every request. Its PLAINTEXT and CONTROLLER listeners
sign in as `User:ANONYMOUS`, a super user: the broker's own inter-broker and controller
requests, the readiness probe and the tests' own view (creating topics, granting and taking
back ACLs). The services under test sign in over a `SASL_PLAINTEXT` listener as `User:auditor`
(PLAIN), who may do only what an ACL grants (`allow.everyone.if.no.acl.found` stays false).

Ports: free loopback ports, or, where several test runs share a machine and each has its own
range, the first free ones of `AUDITSTREAM_TEST_PORTS` (`lo-hi`, e.g. `20920-20929`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka.admin._acl import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
)
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType

from auditstream.broker import BrokerSettings, LocalBroker
from auditstream.broker.listeners import Listener
from auditstream.broker.process import _port_taken, free_port
from shared.kafka import make_admin
from shared.settings import KafkaSettings
from tests.integration.secure_broker import PLAIN_PASSWORD, USER, _sasl_properties

PRINCIPAL = f"User:{USER}"
#: One ACL of the user: what kind of resource, its name, the operation.
Acl = tuple[ResourceType, str, AclOperation]


def test_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports, from `AUDITSTREAM_TEST_PORTS` when it is set."""
    span = os.environ.get("AUDITSTREAM_TEST_PORTS")
    if not span:
        ports: list[int] = []
        while len(ports) < count:
            port = free_port()
            if port not in ports:
                ports.append(port)
        return ports
    lo, hi = (int(x) for x in span.split("-"))
    ports = [p for p in range(lo, hi + 1) if not _port_taken("127.0.0.1", p)][:count]
    if len(ports) < count:
        raise RuntimeError(f"AUDITSTREAM_TEST_PORTS={span}: fewer than {count} free ports")
    return ports


test_ports.__test__ = False  # type: ignore[attr-defined]  # not a test for pytest


@dataclass
class AuthzBroker:
    """The running broker, the `KAFKA_` settings of its restricted user, its ACLs."""

    local: LocalBroker
    sasl_plaintext: str

    @property
    def admin_view(self) -> KafkaSettings:
        """The super user's view (PLAINTEXT): the tests' own, never the path under test."""
        return KafkaSettings(bootstrap_servers=self.local.bootstrap)

    def env(self) -> dict[str, str]:
        """The `KAFKA_` settings of `User:auditor`, as a user sets them."""
        return {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN",
                "KAFKA_SASL_USERNAME": USER, "KAFKA_SASL_PASSWORD": PLAIN_PASSWORD,
                "KAFKA_BOOTSTRAP_SERVERS": self.sasl_plaintext}

    def grant(self, rights: Iterable[Acl]) -> None:
        """Allow `User:auditor` each of `rights` (from any host)."""
        admin = make_admin(self.admin_view)
        bindings = [AclBinding(kind, name, ResourcePatternType.LITERAL, PRINCIPAL, "*", op,
                               AclPermissionType.ALLOW) for kind, name, op in rights]
        for future in admin.create_acls(bindings).values():
            future.result(timeout=30)

    def revoke(self, rights: Iterable[Acl]) -> None:
        """Take back each of `rights` from `User:auditor`."""
        admin = make_admin(self.admin_view)
        filters = [AclBindingFilter(kind, name, ResourcePatternType.LITERAL, PRINCIPAL, "*",
                                    op, AclPermissionType.ALLOW) for kind, name, op in rights]
        for future in admin.delete_acls(filters).values():
            future.result(timeout=30)

    def revoke_all(self) -> None:
        """Take back every right of `User:auditor` (between tests)."""
        admin = make_admin(self.admin_view)
        anything: Any = None  # any name, any host (the stubs say str)
        every = AclBindingFilter(ResourceType.ANY, anything, ResourcePatternType.ANY,
                                 PRINCIPAL, anything, AclOperation.ANY, AclPermissionType.ANY)
        admin.delete_acls([every])[every].result(timeout=30)


def start_authz_broker(home: Path) -> AuthzBroker:
    """Start the broker under `home` (see the module doc for its ports)."""
    port, controller, sasl = test_ports(3)
    listener = Listener("SASL_PLAINTEXT", "SASL_PLAINTEXT", sasl)
    properties = {
        **_sasl_properties(listener.name),
        # Every request is checked against the ACLs (KRaft's authorizer).
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        # The PLAINTEXT and CONTROLLER listeners' principal: the broker itself and the tests.
        "super.users": "User:ANONYMOUS",
    }
    settings = BrokerSettings(home=home / "kafka", port=port, controller_port=controller)
    local = LocalBroker(settings, [listener], properties)
    local.start()
    return AuthzBroker(local, f"{settings.host}:{sasl}")
