"""Which Kafka rights (ACLs) a service lacks, as the cluster says, and the one line naming them.

A right refused mid-stream reaches a service in ways that do not say which: the
transactional producer's "Erroneous state" or an abort's INVALID_TXN_STATE, a fetch's "Topic
authorization failed" without the operation, a JoinGroup refused every 2 s. So the services
ask the cluster itself: Metadata and DescribeGroups with the client's authorized operations
(KIP-430) list, per topic and group, what this principal may do; a resource it may not even
Describe is refused whole. Without an authorizer the broker lists every operation, and a
cluster that does not say (out of reach, too old) is "unknown", never "refused".

Each service asks at its start (before it consumes or sends anything) and again when a
request fails in a way a missing right could explain; a right missing is exit 2 at once
(`RightsRefused`), as the transactional id's and the cluster's (`detector.txn.REFUSED`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from confluent_kafka import KafkaError, KafkaException, TopicCollection

from shared.errors import KafkaWiringError
from shared.settings import SECURITY_PREFIXES, KafkaSettings, env_name

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

log = logging.getLogger(__name__)

#: ("topic" or "group", its name, the operation: "READ", "WRITE", "DESCRIBE").
Right = tuple[str, str, str]
#: The errors that say a right is missing (the transactional id's and the cluster's are
#: fatal, handled where they strike: `detector.txn.REFUSED`).
AUTHZ_CODES = frozenset({KafkaError.TOPIC_AUTHORIZATION_FAILED,
                         KafkaError.GROUP_AUTHORIZATION_FAILED})
#: What a refusal of rights asks to check beside the ACLs, in every service's line (this one,
#: the transactional producer's `detector.txn.REFUSED`, the detector's consumer refused):
#: the settings a client signs in with, named from `KafkaSettings`.
SIGN_IN_SETTINGS = (f"the {KafkaSettings.model_config['env_prefix']} settings it signs in with "
                    f"({env_name(KafkaSettings, 'security_protocol')}, "
                    f"{env_name(KafkaSettings, 'sasl_username')}, {SECURITY_PREFIXES[1]}*)")
#: The longest wait for the cluster's answer (it answers in milliseconds when it answers).
ASK_S = 5.0


class RightsRefused(KafkaWiringError):
    """The service lacks a right it needs (exit 2: waiting cannot grant it)."""


class RightsAdmin:
    """The one admin client a process that asks its rights more than once asks them with
    (the detector: at its start, then at each abort not of an outage), made at the first
    question and let go at `close()`. A new client per question was a connection and
    librdkafka's threads per abort, for as long as the aborts went on."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka
        self._admin: AdminClient | None = None

    def client(self) -> AdminClient:
        """The client, made at the first call (its settings refused: `KafkaWiringError`)."""
        if self._admin is None:
            from shared.kafka import make_admin

            self._admin = make_admin(self._kafka, quiet=True)
        else:  # its log lines and errors queued since the last question (quiet: dropped)
            self._admin.poll(0)
        return self._admin

    def close(self) -> None:
        """Let the client go: librdkafka's handle is destroyed with it (`AdminClient` has
        no close); a later question makes a new one."""
        self._admin = None


def missing_rights(kafka: KafkaSettings, needs: Iterable[Right], timeout: float = ASK_S,
                   admin: RightsAdmin | None = None) -> list[Right] | None:
    """Those of `needs` the cluster does not grant this client, in their order; None when
    it says nothing of any (out of reach, no authorized operations listed). A resource it
    does not answer for is left out: the group's coordinator may not be there yet (a new
    cluster's first group), and that must not hide a topic's right refused. `admin`: the
    process's client to ask with (None: one made for this question)."""
    needs = list(dict.fromkeys(needs))
    topics = sorted({name for kind, name, _ in needs if kind == "topic"})
    groups = sorted({name for kind, name, _ in needs if kind == "group"})
    granted: dict[tuple[str, str], set[str]] = {}
    try:
        client = (admin or RightsAdmin(kafka)).client()
        futures = [(("topic", n), f) for n, f in client.describe_topics(
            TopicCollection(topics), include_authorized_operations=True,
            request_timeout=timeout).items()] if topics else []
        if groups:
            futures += [(("group", n), f) for n, f in client.describe_consumer_groups(
                groups, include_authorized_operations=True, request_timeout=timeout).items()]
    except Exception as exc:  # unknown: the caller keeps its course
        log.debug("rights not known: %s", exc)
        return None
    for key, future in futures:
        try:
            ops = future.result(timeout=timeout).authorized_operations
        except KafkaException as exc:
            if _code(exc) in AUTHZ_CODES:
                granted[key] = set()  # not even Describe
            else:
                log.debug("rights on %s %s not known: %s", *key, exc)
            continue
        except Exception as exc:  # a future that timed out: unknown too
            log.debug("rights on %s %s not known: %s", *key, exc)
            continue
        if ops is not None:
            granted[key] = {op.name for op in ops}
    if not granted:
        return None
    return [(kind, name, op) for kind, name, op in needs
            if (kind, name) in granted and op not in granted[kind, name]]


def _code(exc: KafkaException) -> int | None:
    err = exc.args[0] if exc.args else None
    return err.code() if isinstance(err, KafkaError) else None


def refused_line(kafka: KafkaSettings, who: str, missing: list[Right]) -> str:
    """The one line of a service that lacks `missing`: each right named, whose principal,
    and the settings it signs in with."""
    rights = " and ".join(f"{op.capitalize()} on {kind} {name}" for kind, name, op in missing)
    if kafka.sasl_username:
        principal = (f"User:{kafka.sasl_username} "
                     f"({env_name(KafkaSettings, 'sasl_username')})")
    elif kafka.security_protocol == "SSL":
        principal = ("the client certificate's "
                     f"({env_name(KafkaSettings, 'ssl_certificate_location')})")
    else:
        principal = "the one it signs in as"
    return (f"Kafka refuses {who} {rights}: grant {'it' if len(missing) == 1 else 'them'} "
            f"to its principal, {principal}, or correct {SIGN_IN_SETTINGS}")


def check_rights(kafka: KafkaSettings, who: str, needs: Iterable[Right],
                 admin: RightsAdmin | None = None) -> None:
    """Raise `RightsRefused` naming each right of `needs` the cluster does not grant."""
    missing = missing_rights(kafka, needs, admin=admin)
    if missing:
        raise RightsRefused(refused_line(kafka, who, missing), "AUTHORIZATION_FAILED")
