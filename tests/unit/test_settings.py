"""Settings come from the environment; secrets reach librdkafka but never repr()."""

from __future__ import annotations

import pytest

from detector.settings import DetectorSettings
from shared.settings import KafkaSettings, TopicSettings, env_names


def test_kafka_settings_read_environment_and_pass_security_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9093,kafka-2:9093")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "auditor")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("KAFKA_SSL_CA_LOCATION", "/etc/ssl/ca.pem")
    settings = KafkaSettings()
    conf = settings.client_config()
    assert conf["bootstrap.servers"] == "kafka-1:9093,kafka-2:9093"
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert conf["sasl.password"] == "s3cret"
    assert conf["ssl.ca.location"] == "/etc/ssl/ca.pem"
    assert "s3cret" not in repr(settings)


def test_unset_security_options_are_left_to_librdkafka() -> None:
    conf = KafkaSettings(bootstrap_servers="127.0.0.1:9092").client_config()
    assert set(conf) == {"bootstrap.servers", "security.protocol", "client.id",
                         "metadata.recovery.rebootstrap.trigger.ms"}


def test_invalid_security_protocol_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "TELNET")
    with pytest.raises(ValueError, match="security_protocol"):
        KafkaSettings()


def test_service_settings_nest_shared_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITSTREAM_PARTITIONS", "12")
    monkeypatch.setenv("AUDITSTREAM_SCORED_TOPIC", "audit.scored")
    monkeypatch.setenv("DETECTOR_GROUP_ID", "det-eu")
    s = DetectorSettings()
    assert s.topics.partitions == 12
    assert (s.topics.scored_topic, s.group_id) == ("audit.scored", "det-eu")


def test_topic_defaults_match_the_design() -> None:
    t = TopicSettings()
    assert (t.transactions_topic, t.scored_topic, t.dlq_topic) == (
        "transactions", "transactions.scored", "transactions.dlq")


def test_env_names_lists_nested_variables() -> None:
    names = env_names(DetectorSettings)
    assert {"KAFKA_BOOTSTRAP_SERVERS", "AUDITSTREAM_PARTITIONS", "DETECTOR_GROUP_ID"} <= names


def test_the_architecture_topic_table_says_what_the_topic_settings_create() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()
    rows = {cells[1].strip("` "): cells[3].strip() for line in doc.splitlines()
            if line.startswith("| `transactions") and len(cells := line.split("|")) > 4}
    expected = f"{TopicSettings().partitions} (setting)"
    # The detector creates all three with `AUDITSTREAM_PARTITIONS` partitions (kafka_io).
    assert rows["transactions.dlq"] == rows["transactions"] == expected


def test_every_client_bootstraps_again_well_within_the_fault_suites_patience() -> None:
    """After a broker restart a metadata answer can list no broker; librdkafka then waits
    `metadata.recovery.rebootstrap.trigger.ms` (5 min by default) before it bootstraps again.
    The fault suite saw the sink and a producer idle for over 3 min (its stall limit). Every
    producer, consumer and admin client is built on `client_config`."""
    from shared.kafka import consumer_config, producer_config

    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:9092")
    for conf in (kafka.client_config(), producer_config(kafka), consumer_config(kafka, "g")):
        assert conf["metadata.recovery.rebootstrap.trigger.ms"] <= 30_000
