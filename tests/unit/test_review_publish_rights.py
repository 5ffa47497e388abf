"""The review publisher asks the cluster for its Write on the reviews topic at its start, as
the replay does: refused, one line naming the right (exit 2), before any review is sent
(each would fail: exit 3 with the broker's "Topic authorization failed", no right named)."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka.admin._acl import AclOperation

import auditstream.review.publish as publish
import shared.kafka
from shared.errors import ExitCode
from shared.kafka_rights import RightsRefused
from shared.settings import KafkaSettings, TopicSettings
from tests.unit.test_sink_group_refused import FakeAdmin

SASL = KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                     sasl_username="auditor", sasl_password="secret")
READ, WRITE, DESCRIBE = AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE


def _publisher(monkeypatch: pytest.MonkeyPatch, ops: tuple[AclOperation, ...], **kwargs: Any
               ) -> tuple[list[str], FakeAdmin]:
    """A `ReviewPublisher` made against a cluster granting `ops` on the reviews topic: (the
    producers made, the admin asked)."""
    admin, made = FakeAdmin(ops), []
    monkeypatch.setattr(shared.kafka, "make_admin", lambda *a, **k: admin)
    monkeypatch.setattr(publish, "ensure_topics", lambda *a, **k: None)
    monkeypatch.setattr(publish, "cleanup_policy", lambda *a, **k: "compact")
    monkeypatch.setattr(publish, "make_producer", lambda *a, **k: made.append("producer"))
    publish.ReviewPublisher(SASL, TopicSettings(), **kwargs)
    return made, admin


@pytest.mark.parametrize(("who", "kwargs"), [("the review import", {}),
                                             ("the review page", {"who": "the review page"})])
def test_a_publisher_refused_write_on_the_reviews_topic_is_one_line_naming_it(
        monkeypatch: pytest.MonkeyPatch, who: str, kwargs: dict[str, str]) -> None:
    with pytest.raises(RightsRefused) as info:
        _publisher(monkeypatch, (READ, DESCRIBE), **kwargs)
    topic = TopicSettings().reviews_topic
    assert str(info.value).startswith(
        f"Kafka refuses {who} Write on topic {topic}: grant it to its principal, "
        "User:auditor (KAFKA_SASL_USERNAME)")
    assert info.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize("ops", [(WRITE,), (READ, WRITE, DESCRIBE)])
def test_a_publisher_granted_write_makes_its_producer(
        monkeypatch: pytest.MonkeyPatch, ops: tuple[AclOperation, ...]) -> None:
    made, admin = _publisher(monkeypatch, ops)
    assert made == ["producer"] and admin.asked == ["topics"]
