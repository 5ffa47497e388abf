"""Review outcomes through the real broker: a running sink joins them into cases.csv and
assurance.csv at its next refresh; a restart logs no change twice; last outcome wins."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from shared.kafka import TopicSpec, ensure_topics, make_producer
from shared.reviews import Review, encode_review
from shared.settings import KafkaSettings
from sink.app import run
from sink.writer import REVIEWS_LOG_FILE
from tests.integration.test_sink_kafka import _produce, _settings, running_sink
from tests.unit.test_rollup_pandas import random_scored

pytestmark = pytest.mark.integration


def _read(folder: Path, name: str) -> pd.DataFrame | None:
    try:
        return pd.read_csv(folder / name, dtype=str, keep_default_na=False)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return None


def _publish(kafka: KafkaSettings, topic: str, reviews: list[tuple[str, str, str]]) -> None:
    producer = make_producer(kafka)
    for minute, (target, id_, outcome) in enumerate(reviews):
        key, value = encode_review(Review(
            target=target, id=id_, outcome=outcome,
            reviewer="it", reviewed_at=datetime(2025, 2, 1, 9, minute, tzinfo=UTC)))
        producer.produce(topic, key=key, value=value)
    producer.flush(30)
    del producer


def _wait(folder: Path, check: object, seconds: float = 40) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if check():  # type: ignore[operator]
            return
    raise AssertionError(f"not reached in {seconds} s")


def test_reviews_reach_the_exports_at_the_next_refresh_and_survive_restarts(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    ensure_topics(kafka, [TopicSpec(topic_name, partitions=3)])
    settings = _settings(kafka, topic_name, tmp_path).model_copy(
        update={"rollup_interval_s": 0.5})
    reviews_topic = settings.topics.reviews_topic
    _produce(kafka, topic_name, random_scored(2_000, seed=61), per_txn=500)
    with running_sink(settings):
        _wait(tmp_path, lambda: (c := _read(tmp_path, "cases.csv")) is not None and len(c) > 3
              and (s := _read(tmp_path, "status.csv")) is not None and s["rows"][0] == "2000")
        cases = _read(tmp_path, "cases.csv")
        sample = _read(tmp_path, "audit_sample.csv")
        assert cases is not None and sample is not None
        c0, c1 = cases["case_id"][0], cases["case_id"][1]
        s0 = sample["transaction_id"][0]
        _publish(kafka, reviews_topic, [("case", c0, "confirmed"), ("case", c1, "dismissed"),
                                        ("transaction", s0, "dismissed")])

        def joined() -> bool:
            a = _read(tmp_path, "assurance.csv")
            return a is not None and a[(a["section"] == "mode")
                                       & (a["name"] == "hybrid")]["reviewed"].iloc[0] == "2"
        _wait(tmp_path, joined)
    _publish(kafka, reviews_topic, [("case", c1, "confirmed")])  # changed while the sink is down
    run(settings, once=True)
    run(settings, once=True)  # nothing new: nothing logged twice
    log = _read(tmp_path, REVIEWS_LOG_FILE)
    assert log is not None
    assert list(zip(log["id"], log["outcome"], strict=True)) == [
        (c0, "confirmed"), (c1, "dismissed"), (s0, "dismissed"), (c1, "confirmed")]
    cases = _read(tmp_path, "cases.csv")
    assert cases is not None
    outcomes = dict(zip(cases["case_id"], cases["outcome"], strict=True))
    assert (outcomes[c0], outcomes[c1]) == ("confirmed", "confirmed")
    a = _read(tmp_path, "assurance.csv")
    assert a is not None
    hybrid = a[(a["section"] == "mode") & (a["name"] == "hybrid")].iloc[0]
    assert (hybrid["confirmed"], hybrid["dismissed"], hybrid["precision"]) == ("2", "0", "1.0")
    miss = a[(a["section"] == "miss_rate") & (a["name"] == "audit_sample")].iloc[0]
    assert (miss["reviewed"], miss["dismissed"], miss["precision"]) == ("1", "1", "0.0")
