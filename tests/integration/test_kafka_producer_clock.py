"""A producing host whose clock disagrees with the broker's (hostile probe of time,
2026-12-06, sixteenth).

A record's Kafka timestamp is its producer's wall clock (CreateTime, librdkafka's default).
Kafka 4's brokers refuse a record stamped more than `log.message.timestamp.after.max.ms`
(1 hour by default, KIP-1030) ahead of their own clock, and fail the whole batch with it:
`replay`, the detector or a review import on a host whose clock runs over an hour ahead
(a VM's clock after resume, a wrong time zone taken for UTC) published nothing
(`INVALID_RECORD`). A record stamped far behind is deleted by time retention as soon as
its segment rolls. The topics this project creates take the broker's clock instead
(`message.timestamp.type=LogAppendTime`, `shared.kafka.TOPIC_DEFAULTS`); no reader here
uses a record's Kafka timestamp, the event time is in the message.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME
from confluent_kafka.admin._config import ConfigResource

from shared.kafka import DeliveryTracker, TopicSpec, ensure_topics, make_admin, make_producer
from shared.settings import KafkaSettings
from tests.integration.topic_reader import read_all

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000


@pytest.mark.parametrize("ahead_ms", [HOUR_MS - 60_000, HOUR_MS + 60_000, 10 * 365 * 24 * HOUR_MS,
                                      -365 * 24 * HOUR_MS])
def test_a_producer_clock_an_hour_ahead_or_a_year_behind_still_publishes(
        kafka: KafkaSettings, topic_name: str, ahead_ms: int) -> None:
    ensure_topics(kafka, [TopicSpec(topic_name, partitions=1)])
    producer = make_producer(kafka)
    tracker = DeliveryTracker()
    before = int(time.time() * 1000)
    for i in range(3):  # one batch: a refused record fails the others with it
        producer.produce(topic_name, key=b"c", value=str(i).encode(),
                         timestamp=before + ahead_ms, on_delivery=tracker)
    assert producer.flush(30) == 0
    assert (tracker.delivered, tracker.failed) == (3, 0)
    msgs = read_all(kafka, topic_name, partitions=1, expected=3, timeout=30)
    assert [m.value() for m in msgs] == [b"0", b"1", b"2"]
    for m in msgs:  # stamped by the broker's clock, not the producer's
        kind, stamp = m.timestamp()
        assert kind == TIMESTAMP_LOG_APPEND_TIME
        assert abs(stamp - before) < 5 * 60_000


def test_a_spec_naming_its_own_timestamp_type_keeps_it(kafka: KafkaSettings,
                                                       topic_name: str) -> None:
    ensure_topics(kafka, [TopicSpec(topic_name, 1,
                                    config={"message.timestamp.type": "CreateTime"})])
    resource = ConfigResource("topic", topic_name)
    admin = make_admin(kafka)  # kept: a destroyed handle fails its futures
    configs = admin.describe_configs([resource])[resource].result(timeout=30)
    assert configs["message.timestamp.type"].value == "CreateTime"
