"""The detector's consumer asks the broker to hold a fetch a few milliseconds for more
records (`fetch.wait.max.ms`, with a `fetch.min.bytes` above a handful of records) instead
of answering at the first one: a detector that kept up turned ~600-750 times a second on
a median of 4-5 records at 5,000 tx/s (over half a core for its loop, a quarter of one for
the broker's fetches; docs/benchmarks.md, "latency at 50,000 tx/s"). The wait is bounded well
below the commit interval, so it adds little to a row's latency, and librdkafka accepts the
properties as given (a misspelt one is refused as the client is made)."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import Consumer

from detector import kafka_io
from detector.settings import DetectorSettings
from shared.kafka import consumer_config


def group_consumer_overrides(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def made(kafka: Any, group_id: str, **overrides: Any) -> None:
        seen.update(overrides)

    monkeypatch.setattr(kafka_io, "make_watched_consumer", made)
    kafka_io.make_group_consumer(DetectorSettings(instance_id="fetch-test"))
    return seen


def test_a_fetch_is_held_for_more_records_than_the_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    conf = group_consumer_overrides(monkeypatch)
    # librdkafka's default 1 answers a fetch at the first record's bytes
    assert conf["fetch.min.bytes"] >= 100_000


def test_the_wait_is_bounded_well_below_the_commit_interval(
        monkeypatch: pytest.MonkeyPatch) -> None:
    conf = group_consumer_overrides(monkeypatch)
    interval = DetectorSettings(instance_id="fetch-test").commit_interval_ms
    # the default 500 ms would be 5 commit intervals a row could wait for its fetch
    assert 0 < conf["fetch.wait.max.ms"] <= interval / 10


def test_librdkafka_takes_the_consumer_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    s = DetectorSettings(instance_id="fetch-test")
    conf = consumer_config(s.kafka.model_copy(update={"bootstrap_servers": "127.0.0.1:1"}),
                           s.group_id, **group_consumer_overrides(monkeypatch))
    Consumer(conf).close()  # a property it does not know, or a value out of range, raises
