"""`shared.kafka_rights` without a broker: the one line, and "unknown" is never "refused".

Against a broker that enforces ACLs: tests/integration/test_kafka_rights.py."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from shared.kafka_rights import (
    ASK_S,
    RightsRefused,
    check_rights,
    missing_rights,
    refused_line,
)
from shared.settings import KafkaSettings

SASL = KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                     sasl_username="auditor", sasl_password="pw-never-shown")


class _Op:
    def __init__(self, name: str) -> None:
        self.name = name


class _Answer:
    def __init__(self, ops: list[str] | None) -> None:
        self.authorized_operations = None if ops is None else [_Op(o) for o in ops]


class _Future:
    def __init__(self, answer: _Answer | Exception, waits: list[float]) -> None:
        self._answer = answer
        self._waits = waits

    def result(self, timeout: float) -> _Answer:
        self._waits.append(timeout)
        if isinstance(self._answer, Exception):
            raise self._answer
        return self._answer


class _Admin:
    """Answers DescribeTopics / DescribeGroups from `grants` (name -> operations, None:
    not listed, an exception: raised); `asked`: each request's names and options, `waits`:
    each answer's wait."""

    def __init__(self, grants: dict[str, Any]) -> None:
        self.grants = grants
        self.asked: list[tuple[str, list[str], dict[str, Any]]] = []
        self.waits: list[float] = []

    def _answer(self, names: list[str]) -> dict[str, _Future]:
        return {n: _Future(g if isinstance(g, Exception) else _Answer(g), self.waits)
                for n, g in ((n, self.grants[n]) for n in names)}

    def describe_topics(self, topics: Any, **options: Any) -> dict[str, _Future]:
        self.asked.append(("topics", list(topics.topic_names), options))
        return self._answer(list(topics.topic_names))

    def describe_consumer_groups(self, groups: list[str], **options: Any) -> dict[str, _Future]:
        self.asked.append(("groups", groups, options))
        return self._answer(groups)

    def poll(self, timeout: float) -> int:
        return 0


def _refusal(code: int) -> KafkaException:
    return KafkaException(KafkaError(code, "Broker: authorization failed"))


#: Each admin client made: (the settings, quiet, the client).
_MADE: list[tuple[KafkaSettings, bool, _Admin]] = []


@pytest.fixture
def grants(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    grants: dict[str, Any] = {}

    def make_admin(kafka: KafkaSettings, quiet: bool = False) -> _Admin:
        _MADE.append((kafka, quiet, _Admin(grants)))
        return _MADE[-1][2]

    _MADE.clear()
    monkeypatch.setattr("shared.kafka.make_admin", make_admin)
    return grants


def test_only_the_operations_not_listed_are_missing(grants: dict[str, Any]) -> None:
    grants |= {"in": ["DESCRIBE", "READ"], "out": ["DESCRIBE", "READ", "CREATE"],
               "g": ["DESCRIBE", "READ"]}
    needs = [("topic", "in", "READ"), ("topic", "out", "WRITE"), ("group", "g", "READ")]
    assert missing_rights(SASL, needs) == [("topic", "out", "WRITE")]


def test_a_resource_refused_whole_lacks_every_right(grants: dict[str, Any]) -> None:
    grants |= {"t": _refusal(KafkaError.TOPIC_AUTHORIZATION_FAILED),
               "g": _refusal(KafkaError.GROUP_AUTHORIZATION_FAILED)}
    needs = [("topic", "t", "READ"), ("topic", "t", "WRITE"), ("group", "g", "READ")]
    assert missing_rights(SASL, needs) == needs


@pytest.mark.parametrize("answer", [None, _refusal(KafkaError._TIMED_OUT),
                                    RuntimeError("no admin")])
def test_a_cluster_that_does_not_say_is_unknown_not_refused(
    grants: dict[str, Any], answer: Any,
) -> None:
    grants |= {"t": answer}
    assert missing_rights(SASL, [("topic", "t", "READ")]) is None
    check_rights(SASL, "the sink", [("topic", "t", "READ")])  # does not raise


def test_a_group_not_answered_for_does_not_hide_a_topic_refused(
    grants: dict[str, Any],
) -> None:
    """A new cluster's first group has no coordinator yet: the check once said "unknown" of
    everything, and a detector refused its input's Read ran for ever (broker test)."""
    grants |= {"in": ["DESCRIBE", "WRITE"],
               "g": _refusal(KafkaError.COORDINATOR_NOT_AVAILABLE)}
    needs = [("topic", "in", "READ"), ("group", "g", "READ")]
    assert missing_rights(SASL, needs) == [("topic", "in", "READ")]


def test_the_line_names_each_right_the_principal_and_the_settings_never_the_password(
    grants: dict[str, Any],
) -> None:
    grants |= {"scored": ["DESCRIBE"], "g": []}
    with pytest.raises(RightsRefused) as info:
        check_rights(SASL, "the detector", [("topic", "scored", "WRITE"),
                                            ("group", "g", "READ")])
    assert str(info.value) == (
        "Kafka refuses the detector Write on topic scored and Read on group g: grant them to "
        "its principal, User:auditor (KAFKA_SASL_USERNAME), or correct the KAFKA_ settings it "
        "signs in with (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_USERNAME, KAFKA_SSL_*)")
    assert info.value.exit_code == 2


@pytest.mark.parametrize(("kafka", "principal"), [
    (KafkaSettings(security_protocol="SSL", ssl_certificate_location="/c.pem"),
     "the client certificate's (KAFKA_SSL_CERTIFICATE_LOCATION)"),
    (KafkaSettings(), "the one it signs in as"),
])
def test_a_principal_without_a_user_name_is_named_by_how_it_signs_in(
    kafka: KafkaSettings, principal: str,
) -> None:
    assert refused_line(kafka, "the sink", [("topic", "t", "READ")]) == (
        f"Kafka refuses the sink Read on topic t: grant it to its principal, {principal}, or "
        "correct the KAFKA_ settings it signs in with (KAFKA_SECURITY_PROTOCOL, "
        "KAFKA_SASL_USERNAME, KAFKA_SSL_*)")


def test_the_cluster_is_asked_as_the_service_signs_in_for_its_listed_operations_in_time(
    grants: dict[str, Any],
) -> None:
    """The admin client signs in with the service's own settings (another principal's rights
    say nothing of its own), logs no connection noise of its own, asks for the authorized
    operations (without them the broker lists none: every right "unknown") and waits at most
    the timeout, for the request and for each answer."""
    grants |= {"in": ["DESCRIBE"], "out": ["DESCRIBE"], "g": ["DESCRIBE"]}
    needs = [("topic", "out", "WRITE"), ("topic", "in", "READ"), ("group", "g", "READ")]
    assert missing_rights(SASL, needs, timeout=2.5) == needs
    [(kafka, quiet, admin)] = _MADE
    assert (kafka, quiet) == (SASL, True)
    options = {"include_authorized_operations": True, "request_timeout": 2.5}
    assert admin.asked == [("topics", ["in", "out"], options), ("groups", ["g"], options)]
    assert admin.waits == [2.5, 2.5, 2.5]
    _MADE.clear()
    with pytest.raises(RightsRefused) as info:
        check_rights(SASL, "the sink", [("group", "g", "READ")])
    [(kafka, quiet, admin)] = _MADE
    assert kafka is SASL
    assert admin.asked == [("groups", ["g"], {"include_authorized_operations": True,
                                              "request_timeout": ASK_S})]
    assert admin.waits == [ASK_S]
    assert "Read on group g" in str(info.value)


def test_an_answer_not_known_does_not_hide_the_next_one_refused(grants: dict[str, Any]) -> None:
    grants |= {"a": RuntimeError("timed out"), "b": [], "c": _refusal(KafkaError._TIMED_OUT),
               "d": ["DESCRIBE"]}
    needs = [("topic", n, "READ") for n in "abcd"]
    assert missing_rights(SASL, needs) == [("topic", "b", "READ"), ("topic", "d", "READ")]


@pytest.mark.parametrize("raised", [KafkaException(), KafkaException("no error object")])
def test_a_kafka_exception_without_an_error_code_is_unknown(
    grants: dict[str, Any], raised: KafkaException,
) -> None:
    grants |= {"t": raised}
    assert missing_rights(SASL, [("topic", "t", "READ")]) is None


def test_what_is_not_known_is_logged_naming_the_resource_and_the_error(
    grants: dict[str, Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, "shared.kafka_rights")
    timed_out = KafkaError(KafkaError._TIMED_OUT, "timed out")
    grants |= {"a": KafkaException(timed_out), "b": RuntimeError("no answer")}
    assert missing_rights(SASL, [("topic", "a", "READ"), ("topic", "b", "READ")]) is None

    def unreachable(kafka: KafkaSettings, quiet: bool = False) -> None:
        raise RuntimeError("no admin")

    monkeypatch.setattr("shared.kafka.make_admin", unreachable)
    assert missing_rights(SASL, [("topic", "a", "READ")]) is None
    assert [r.getMessage() for r in caplog.records] == [
        f"rights on topic a not known: {timed_out}",
        "rights on topic b not known: no answer",
        "rights not known: no admin",
    ]


@pytest.mark.parametrize(("code", "group_asked"), [
    (KafkaError._STATE, False),  # "Erroneous state": a broker restart's aborts give it too
    (KafkaError.INVALID_TXN_STATE, False),
    (KafkaError.TOPIC_AUTHORIZATION_FAILED, True),
    (KafkaError.GROUP_AUTHORIZATION_FAILED, True),
])
def test_an_abort_asks_the_group_s_rights_only_when_its_error_names_a_right(
    monkeypatch: pytest.MonkeyPatch, code: int, group_asked: bool
) -> None:
    # DescribeConsumerGroups while a broker's connection drops can abort the whole process
    # (librdkafka #4605): an abort of any other cause asks the topics' rights alone.
    import detector.app as app
    from detector.kafka_io import topic_rights
    from detector.txn import Abortable
    from tests.unit.detector_fakes import FakeCluster, fake_detector

    detector = fake_detector(monkeypatch, FakeCluster(partitions=1))
    asked: list[list[tuple[str, str, str]]] = []

    def missing(kafka: KafkaSettings, needs: list[tuple[str, str, str]], **_: Any) -> list[Any]:
        asked.append(needs)
        return []

    monkeypatch.setattr(app, "missing_rights", missing)
    try:
        raise KafkaException(KafkaError(code))
    except KafkaException as cause:
        abort = Abortable(str(cause))
        abort.__cause__ = cause
    detector._name_refusal(abort)
    assert len(asked) == 1
    assert any(kind == "group" for kind, _, _ in asked[0]) is group_asked
    assert {r for r in asked[0] if r[0] == "topic"} == set(topic_rights(detector.settings))


def test_the_sign_in_settings_named_are_settings_auditstream_reads() -> None:
    # declared once (`SIGN_IN_SETTINGS`) from `KafkaSettings`: a setting renamed there is
    # renamed in every refusal's line, and a name that is no setting fails at import
    from shared.kafka_rights import SIGN_IN_SETTINGS
    from shared.settings import env_name, env_names

    named = SIGN_IN_SETTINGS.partition("(")[2].rstrip(")").split(", ")
    assert named == ["KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_USERNAME", "KAFKA_SSL_*"]
    assert set(named[:2]) <= env_names(KafkaSettings)
    assert any(name.startswith(named[2].rstrip("*")) for name in env_names(KafkaSettings))
    with pytest.raises(KeyError, match="KafkaSettings has no setting 'sasl_user'"):
        env_name(KafkaSettings, "sasl_user")
    assert env_name(KafkaSettings, "sasl_username") == "KAFKA_SASL_USERNAME"


def test_the_detector_asks_every_abort_s_rights_with_one_admin_client_let_go_at_shutdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # an abort not of an outage asks the cluster; a new admin client each time was a new
    # connection and librdkafka's threads per abort, for as long as the aborts go on
    import gc
    import weakref
    from collections import defaultdict

    import detector.app as app
    import shared.kafka_rights as kafka_rights
    from detector.txn import Abortable
    from tests.unit.detector_fakes import FakeCluster, fake_detector

    detector = fake_detector(monkeypatch, FakeCluster(partitions=1))
    monkeypatch.setattr(app, "missing_rights", kafka_rights.missing_rights)  # the real one
    made: list[weakref.ref[_Admin]] = []

    def make_admin(kafka: KafkaSettings, quiet: bool = False) -> _Admin:
        admin = _Admin(defaultdict(lambda: ["DESCRIBE", "READ", "WRITE"]))  # all granted
        made.append(weakref.ref(admin))
        return admin

    monkeypatch.setattr("shared.kafka.make_admin", make_admin)
    for _ in range(2):
        try:
            raise KafkaException(KafkaError(KafkaError.INVALID_TXN_STATE))
        except KafkaException as cause:
            abort = Abortable(str(cause))
            abort.__cause__ = cause
        detector._name_refusal(abort)  # granted: returns
    gc.collect()
    assert len(made) == 1 and made[0]() is not None  # one client, kept for the next
    detector._shutdown(clean=True)
    gc.collect()
    assert made[0]() is None  # let go: librdkafka's handle destroyed with it
