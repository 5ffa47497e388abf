"""Settings a hostile probe gave (2026-12-06, eleventh session) that Kafka cannot honour, or
that named another file than the user meant: each ran on (for ever, silently changed, or in
the working folder) or failed late blaming other settings; each is now refused in one line
naming the setting, exit 2, before anything connects (or, for a bound only the broker knows,
at the broker's first refusal)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from auditstream.broker.process import free_port
from auditstream.cli import main
from detector.app import DetectorError
from detector.settings import DetectorSettings
from producer.settings import ProducerSettings
from shared.errors import ExitCode
from shared.settings import LIBRDKAFKA_INT_MAX, KafkaSettings
from tests.unit.detector_fakes import FakeConsumer, cluster_with, fake_detector

HEADER = ("transaction_id,customer_id,timestamp,amount,country,channel,device,"
          "merchant_category,ip\n")


def _error_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]


# --- KAFKA_BOOTSTRAP_SERVERS ----------------------------------------------------------------

@pytest.mark.parametrize("servers", [
    "127.0.0.1:99999", "kafka:65536", "kafka:0", "kafka:9O92", "kafka:", "kafka:-1",
    "a:9092,b:70000", "[::1]:x", "PLAINTEXT://kafka:abc", "kafka:\u0669\u0660\u0669\u0662",
    ",,", " , ",
])
def test_a_bootstrap_address_no_broker_can_have_is_refused_naming_it(servers: str) -> None:
    # each waited the whole start-up window (180 s for the services), librdkafka saying
    # "connection refused", then exit 4 as if no broker ran
    with pytest.raises(ValidationError, match="bootstrap_servers"):
        KafkaSettings(bootstrap_servers=servers)


@pytest.mark.parametrize("servers", [
    "127.0.0.1:9092", "kafka:1", "kafka:65535", "kafka", "[::1]:9092", "[::1]", "::1",
    "a:9092,b:9093", "a:9092 b:9093", "a:9092,", "SASL_SSL://kafka:9093", " kafka:9092 ",
])
def test_every_address_librdkafka_takes_is_still_accepted(servers: str) -> None:
    assert KafkaSettings(bootstrap_servers=servers).bootstrap_servers == servers


def test_replay_with_a_port_no_broker_can_have_is_exit_2_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "in.csv").write_text(HEADER + "1,c1,2025-01-01 00:00:00,1.0,CH,app,pc,fuel,"
                                     "10.0.0.1\n")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port() + 65536}")
    monkeypatch.setenv("KAFKA_STARTUP_WAIT_S", "30")
    started = time.monotonic()
    assert main(["replay", str(tmp_path / "in.csv")]) == ExitCode.USAGE
    assert time.monotonic() - started < 10  # not the 30 s wait
    errors = _error_lines(capsys)
    assert len(errors) == 1 and "KAFKA_BOOTSTRAP_SERVERS" in errors[0], errors
    assert "1 to 65535" in errors[0], errors


# --- the detector's timeouts --------------------------------------------------------------

@pytest.mark.parametrize(("variable", "value", "prop"), [
    ("DETECTOR_TRANSACTION_TIMEOUT_MS", LIBRDKAFKA_INT_MAX, "transaction.timeout.ms"),
    ("DETECTOR_SESSION_TIMEOUT_MS", 3_600_000, "session.timeout.ms"),
    ("DETECTOR_MAX_POLL_INTERVAL_MS", 86_400_000, "max.poll.interval.ms"),
])
def test_a_detector_timeout_past_librdkafka_s_bound_is_refused_the_bound_itself_taken(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: int, prop: str,
) -> None:
    # 4294968296 wrapped round in librdkafka to 1000 (transactions of 1 s, without a word);
    # the others failed the consumer once the topics were made, blaming the KAFKA_ settings
    monkeypatch.setenv("DETECTOR_MAX_POLL_INTERVAL_MS", "86400000")
    monkeypatch.setenv(variable, str(value + 1))
    with pytest.raises(ValidationError, match=variable.removeprefix("DETECTOR_").lower()):
        DetectorSettings(instance_id="t")
    monkeypatch.setenv(variable, str(value))
    settings = DetectorSettings(instance_id="t")
    assert getattr(settings, variable.removeprefix("DETECTOR_").lower()) == value
    # the bound is librdkafka's own: one more is refused there too (or wraps round)
    kind: Any = Producer if prop == "transaction.timeout.ms" else Consumer
    conf = {"bootstrap.servers": "127.0.0.1:1", "group.id": "g", prop: value}
    if prop == "session.timeout.ms":
        conf["max.poll.interval.ms"] = value
    kind(conf)


@pytest.mark.parametrize(("session", "poll", "ok"), [
    (300_000, 300_000, True), (300_001, 300_000, False), (299_999, 300_000, True),
])
def test_a_session_timeout_above_the_poll_interval_is_refused_naming_both(
    monkeypatch: pytest.MonkeyPatch, session: int, poll: int, ok: bool,
) -> None:
    # librdkafka refused the consumer only after the topics were made: "invalid Kafka client
    # setting (`max.poll.interval.ms`must be >= `session.timeout.ms`); check the KAFKA_ ..."
    monkeypatch.setenv("DETECTOR_SESSION_TIMEOUT_MS", str(session))
    monkeypatch.setenv("DETECTOR_MAX_POLL_INTERVAL_MS", str(poll))
    if ok:
        assert DetectorSettings(instance_id="t").session_timeout_ms == session
        return
    with pytest.raises(ValidationError, match="DETECTOR_SESSION_TIMEOUT_MS") as refused:
        DetectorSettings(instance_id="t")
    assert refused.value.errors()[0]["loc"] == ("max_poll_interval_ms",)


@dataclass
class _RefusedMessage:
    """What librdkafka's consume() hands over while the broker refuses the JoinGroup."""

    err: KafkaError

    def error(self) -> KafkaError:
        return self.err


class _RefusedConsumer(FakeConsumer):
    def consume(self, num_messages: int = 1, timeout: float = 0) -> list[Any]:
        self.consumes += 1
        return [_RefusedMessage(KafkaError(
            KafkaError.INVALID_SESSION_TIMEOUT, "JoinGroup failed: Broker: Invalid session "
            "timeout"))]


def test_a_session_timeout_the_broker_refuses_ends_the_detector_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    # DETECTOR_SESSION_TIMEOUT_MS=5000 (under the broker's 6000) or 2000000 (over its
    # 1800000): a "consumer error: ... Invalid session timeout" warning every 2 s for ever,
    # no partition, nothing scored, never an exit (seen against a real broker)
    cluster = cluster_with(3)
    monkeypatch.setattr(cluster, "consumer", lambda: _RefusedConsumer(cluster))
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path, session_timeout_ms=5000)
    turns = 0

    def fifty_turns(_: Any) -> bool:
        nonlocal turns
        turns += 1
        return turns >= 50

    with pytest.raises(DetectorError) as ended:
        detector.run(until=fifty_turns)
    assert turns == 0
    assert ended.value.exit_code == ExitCode.USAGE
    text = str(ended.value)
    assert "DETECTOR_SESSION_TIMEOUT_MS=5000" in text and "group.min.session.timeout.ms" in text
    assert "\n" not in text


def test_a_transaction_timeout_the_broker_refuses_is_named_at_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # "Kafka client error: KafkaError{FATAL,code=INVALID_TRANSACTION_TIMEOUT,...}" (seen
    # against a real broker at DETECTOR_TRANSACTION_TIMEOUT_MS=1000000): the setting to
    # change was not named
    import detector.app as app

    def refused(code: int) -> Any:
        def start(*_: Any, **__: Any) -> Any:
            raise KafkaException(KafkaError(code, "Failed to acquire transactional PID from "
                                            "broker: Broker: Transaction timeout is larger "
                                            "than the maximum", fatal=True))
        return start

    settings = DetectorSettings(instance_id="t", transaction_timeout_ms=1_000_000)
    monkeypatch.setattr(app, "Detector", refused(KafkaError.INVALID_TRANSACTION_TIMEOUT))
    with pytest.raises(DetectorError) as ended:
        app.run_service(settings)
    assert "DETECTOR_TRANSACTION_TIMEOUT_MS=1000000" in str(ended.value)
    assert "transaction.max.timeout.ms" in str(ended.value)
    monkeypatch.setattr(app, "Detector", refused(KafkaError.UNSUPPORTED_VERSION))  # not a setting's
    with pytest.raises(DetectorError, match=r"^Kafka client error: ") as other:
        app.run_service(settings)
    assert "DETECTOR_" not in str(other.value)
    monkeypatch.setattr(app, "Detector", refused(KafkaError._FENCED))  # the fenced line
    with pytest.raises(DetectorError, match=r"^transactional producer .* was fenced "):
        app.run_service(settings)


# --- the detector's ids (its transactional id and failure count's file) ------------------

@pytest.mark.parametrize("value", ["", " ", "\t"])
def test_an_empty_instance_id_is_refused_not_shared_by_every_detector(
    monkeypatch: pytest.MonkeyPatch, value: str,
) -> None:
    # DETECTOR_INSTANCE_ID= (an unset variable in a compose file) gave every detector the
    # transactional id "auditstream-detector-": each one started fenced the one before
    monkeypatch.setenv("DETECTOR_INSTANCE_ID", value)
    with pytest.raises(ValidationError, match="instance_id"):
        DetectorSettings()
    monkeypatch.setenv("DETECTOR_INSTANCE_ID", "a")
    assert DetectorSettings().transactional_id == "auditstream-detector-a"


def test_detect_instance_id_empty_is_exit_2_naming_the_option(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("DETECTOR_STARTUP_WAIT_S", "30")
    started = time.monotonic()
    assert main(["detect", "--instance-id", ""]) == ExitCode.USAGE
    assert time.monotonic() - started < 10
    errors = _error_lines(capsys)
    assert len(errors) == 1 and "--instance-id" in errors[0], errors


@pytest.mark.parametrize(("field", "value"), [
    ("instance_id", "a/b"), ("instance_id", "../../tmp/x"), ("group_id", "team/detector"),
])
def test_an_id_holding_a_slash_is_refused_as_it_names_the_failure_count_s_file(
    field: str, value: str,
) -> None:
    # <state_dir>/<group>-<instance>.failures.json: `a/b` a folder no one made (the count
    # lost at every restart with a warning: a crash loop, never exit 7); `../` outside it
    with pytest.raises(ValidationError, match=field):
        DetectorSettings.model_validate({"instance_id": "t", field: value})


def test_an_instance_id_is_at_most_what_its_file_name_holds() -> None:
    # 255 bytes with the group id and ".failures.json": ENAMETOOLONG lost the count as above
    group = "g"
    most = 255 - len(f"{group}-.failures.json")
    assert DetectorSettings(group_id=group, instance_id="i" * most).instance_id == "i" * most
    with pytest.raises(ValidationError, match="too long"):
        DetectorSettings(group_id=group, instance_id="i" * (most + 1))
    with pytest.raises(ValidationError, match="too long"):  # bytes, not characters
        DetectorSettings(group_id=group, instance_id="é" * (most // 2 + 1))


# --- python -m producer's paths and queue ------------------------------------------------

@pytest.mark.parametrize("value", ["data/", "data/.", "data/..", ""])
def test_producer_out_naming_a_folder_is_refused_as_generate_out_is(
    monkeypatch: pytest.MonkeyPatch, value: str,
) -> None:
    # PRODUCER_OUT=data/ wrote a file named `data` ("wrote data", exit 0); `generate --out
    # data/` is refused
    monkeypatch.setenv("PRODUCER_OUT", value)
    with pytest.raises(ValidationError, match="out"):
        ProducerSettings()
    monkeypatch.setenv("PRODUCER_OUT", "data/tx.csv")
    assert ProducerSettings().out == Path("data/tx.csv")


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_producer_rejects_dir_is_refused_not_the_working_folder(
    monkeypatch: pytest.MonkeyPatch, value: str,
) -> None:
    # Path(""): the rejects reports went to the folder the producer was started in, as
    # `replay --rejects-dir ''` did before it was refused
    monkeypatch.setenv("PRODUCER_REJECTS_DIR", value)
    with pytest.raises(ValidationError, match="rejects_dir"):
        ProducerSettings()
    monkeypatch.delenv("PRODUCER_REJECTS_DIR")
    assert ProducerSettings().rejects_dir is None


def test_a_producer_queue_past_librdkafka_s_bound_is_refused_not_wrapped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 4294967796 reached librdkafka as 500, under the setting's own floor of 1000
    monkeypatch.setenv("PRODUCER_QUEUE_MAX_MESSAGES", str(2**32 + 500))
    with pytest.raises(ValidationError, match="queue_max_messages"):
        ProducerSettings()
    monkeypatch.setenv("PRODUCER_QUEUE_MAX_MESSAGES", str(LIBRDKAFKA_INT_MAX))
    assert ProducerSettings().queue_max_messages == LIBRDKAFKA_INT_MAX
    Producer({"bootstrap.servers": "127.0.0.1:1",
              "queue.buffering.max.messages": LIBRDKAFKA_INT_MAX})


# --- the local broker ----------------------------------------------------------------------

@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1"])
def test_a_broker_start_timeout_not_positive_and_finite_is_refused_before_java_starts(
    monkeypatch: pytest.MonkeyPatch, value: str,
) -> None:
    # `broker start` launched Java, stopped it at once and said "the broker did not answer
    # at HOST:PORT within nans" (or "-1s") above 30 lines of an older run's log
    from auditstream.broker import BrokerSettings

    monkeypatch.setenv("BROKER_START_TIMEOUT", value)
    with pytest.raises(ValidationError, match="start_timeout"):
        BrokerSettings(home=Path("h"), cache_dir=Path("c"))
    monkeypatch.setenv("BROKER_START_TIMEOUT", "0.5")
    assert BrokerSettings(home=Path("h"), cache_dir=Path("c")).start_timeout == 0.5


@pytest.mark.parametrize(("heap", "ok"), [
    ("512m", True), ("1g", True), ("1G", True), ("2048k", True), ("536870912", True),
    ("1t", True), ("abc", False), ("", False), ("512 m", False), ("0m", False),
    ("-1g", False), ("512mb", False), ("1.5g", False),
])
def test_a_broker_heap_the_jvm_cannot_read_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, heap: str, ok: bool,
) -> None:
    # "the broker exited during start (code 1)" after the jar fetch and the storage format,
    # the cause ("Invalid initial heap size: -Xmsabc") somewhere in a 30-line log tail
    from auditstream.broker import BrokerSettings

    monkeypatch.setenv("BROKER_HEAP", heap)
    if ok:
        assert BrokerSettings(home=Path("h"), cache_dir=Path("c")).heap == heap
        return
    with pytest.raises(ValidationError, match="not a JVM heap size"):
        BrokerSettings(home=Path("h"), cache_dir=Path("c"))


@pytest.mark.parametrize("variable", ["BROKER_HOME", "BROKER_CACHE_DIR"])
@pytest.mark.parametrize("value", ["", " "])
def test_an_empty_broker_folder_is_refused_not_taken_for_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    variable: str, value: str,
) -> None:
    """`BROKER_HOME=` (an unset variable in a .env file) was Path("."): `broker start` kept
    the broker's data, log and pid file in whatever folder it was started from, where
    `broker stop` from another never found it; `broker status` said "not running" of
    `home: .` (hostile probe of the environment, 2026-12-06, fifteenth)."""
    from auditstream.broker import BrokerSettings
    from auditstream.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match="empty"):
        BrokerSettings()
    assert main(["broker", "status"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"invalid setting {variable}" in err[0], err
    assert list(tmp_path.iterdir()) == []


# --- a variable's name mistyped ------------------------------------------------------------

def _settings_classes() -> dict[str, Any]:
    from auditstream.broker import BrokerSettings
    from shared.settings import TopicSettings
    from sink.settings import ExportSettings, SinkSettings

    return {"kafka": KafkaSettings, "topics": TopicSettings, "detector": DetectorSettings,
            "sink": SinkSettings, "exports": ExportSettings, "producer": ProducerSettings,
            "broker": BrokerSettings}


@pytest.mark.parametrize(("variable", "meant", "settings"), [
    ("KAFKA_BOOTSTRAP_SERVER", "KAFKA_BOOTSTRAP_SERVERS", "kafka"),
    ("AUDITSTREAM_PARTITION", "AUDITSTREAM_PARTITIONS", "topics"),
    ("DETECTOR_BATCHSIZE", "DETECTOR_BATCH_SIZE", "detector"),
    ("DETECTOR_COR__SEED", "DETECTOR_CORE__SEED", "detector"),
    ("detector_instance_ids", "DETECTOR_INSTANCE_ID", "detector"),
    ("SINK_EXPORT_DIR", "SINK_EXPORTS_DIR", "sink"),
    ("EXPORTS_TOP_CASE", "EXPORTS_TOP_CASES", "exports"),
    ("PRODUCER_REJECT_DIR", "PRODUCER_REJECTS_DIR", "producer"),
    ("BROKER_STAR_TIMEOUT", "BROKER_START_TIMEOUT", "broker"),
])
def test_a_mistyped_variable_is_named_once_with_the_one_meant_never_its_value(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, variable: str,
    meant: str, settings: str,
) -> None:
    # ignored without a word: KAFKA_BOOTSTRAP_SERVER=kafka:9092 left 127.0.0.1:9092 in
    # force (another cluster, or none), AUDITSTREAM_PARTITION=8 made 4 partitions
    import shared.settings

    monkeypatch.setattr(shared.settings, "_WARNED_TYPOS", set(), raising=False)
    monkeypatch.setenv("DETECTOR_INSTANCE_ID", "t")
    monkeypatch.setenv(variable, "s3cr3t-value")
    cls = _settings_classes()[settings]
    kwargs = {"home": Path("h"), "cache_dir": Path("c")} if settings == "broker" else {}
    with caplog.at_level("WARNING", logger="shared.settings"):
        cls(**kwargs)
        cls(**kwargs)  # once a process
    said = [r.getMessage() for r in caplog.records if r.name == "shared.settings"]
    assert len(said) == 1, said
    assert said[0].startswith(f"{variable} is not read by auditstream") and meant in said[0]
    assert "s3cr3t" not in caplog.text


def test_no_variable_the_project_or_the_kafka_image_sets_is_taken_for_a_typo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other variables of these prefixes that this repository's compose files, CI, tests
    and docs set (and the broker image's `KAFKA_`), and every one a class reads."""
    from shared.settings import env_names, mistyped

    others = ["AUDITSTREAM_CORE", "AUDITSTREAM_UID", "AUDITSTREAM_KERNEL_CACHE",
              "AUDITSTREAM_FAULT_SEED", "AUDITSTREAM_FAULT_PLAN", "AUDITSTREAM_FAULT_REPORT",
              "KAFKA_NODE_ID", "KAFKA_PROCESS_ROLES", "KAFKA_LISTENERS",
              "KAFKA_ADVERTISED_LISTENERS", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
              "KAFKA_CONTROLLER_LISTENER_NAMES", "KAFKA_CONTROLLER_QUORUM_VOTERS",
              "KAFKA_INTER_BROKER_LISTENER_NAME", "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
              "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
              "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "KAFKA_SASL_ENABLED_MECHANISMS",
              "KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL", "KAFKA_SSL_KEYSTORE_LOCATION",
              "KAFKA_HEAP_OPTS", "KAFKA_LOG_DIRS"]
    classes = _settings_classes().values()
    environ = dict.fromkeys(others + [n for c in classes for n in env_names(c)], "x")
    for cls in classes:
        assert mistyped(cls, environ) == {}, cls


_HOSTS = st.one_of(
    st.from_regex(r"[a-z][a-z0-9.-]{0,20}", fullmatch=True),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
)


@given(hosts=st.lists(st.tuples(_HOSTS, st.integers(-10, 70_000)), min_size=1, max_size=4),
       scheme=st.sampled_from(["", "PLAINTEXT://", "SASL_SSL://"]),
       separator=st.sampled_from([",", " ", ", "]))
def test_a_bootstrap_list_is_accepted_exactly_when_every_port_is_1_to_65535(
    hosts: list[tuple[str, int]], scheme: str, separator: str,
) -> None:
    servers = separator.join(f"{scheme}{host}:{port}" for host, port in hosts)
    if all(0 < port <= 65535 for _, port in hosts):
        assert KafkaSettings(bootstrap_servers=servers).bootstrap_servers == servers
    else:
        with pytest.raises(ValidationError, match="1 to 65535"):
            KafkaSettings(bootstrap_servers=servers)
