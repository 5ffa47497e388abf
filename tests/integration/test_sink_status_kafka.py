"""status.csv from a running sink against the real broker: rows, no lag once drained
(transaction markers are not counted as waiting), a heartbeat while the stream is idle, and
"stopped at" once it stops."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from shared.kafka import TopicSpec, ensure_topics
from shared.settings import KafkaSettings
from sink import days as dy
from sink.app import run
from sink.status import STATUS_FILE
from tests.integration.test_sink_kafka import _produce, _settings, running_sink
from tests.unit.test_rollup_pandas import random_scored
from tests.unit.test_sink_status import expected_data_as_of

pytestmark = pytest.mark.integration


def _status(folder: Path) -> dict[str, str] | None:
    try:
        frame = pd.read_csv(folder / STATUS_FILE, dtype=str, keep_default_na=False)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return None
    return dict(frame.iloc[0]) if len(frame) == 1 else None


def test_status_shows_rows_no_lag_and_a_heartbeat_while_idle(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    ensure_topics(kafka, [TopicSpec(topic_name, partitions=3)])
    settings = _settings(kafka, topic_name, tmp_path).model_copy(
        update={"rollup_interval_s": 0.5, "idle_partition_s": 1.0})  # sink.clock
    with running_sink(settings):
        rows = random_scored(1_500, seed=43)
        _produce(kafka, topic_name, rows[:1_000], per_txn=250)  # 4 transactions: 4 markers
        _produce(kafka, topic_name, rows[1_000:], per_txn=500, tag="second")
        deadline = time.monotonic() + 30
        status = None
        every_row = expected_data_as_of((tx.customer_id, tx.timestamp) for tx in rows)
        while time.monotonic() < deadline:
            time.sleep(0.2)
            status = _status(tmp_path)
            # data as of every row's watermark once each partition was at its end 1 s
            if status and status["rows"] == "1500" and status["lag_messages"] == "0" and \
                    status["data_as_of"] == every_row:
                break
        assert status is not None and status["rows"] == "1500", status
        assert status["lag_messages"] == "0" and status["minutes_behind"] == "0", status
        assert status["data_as_of"] == every_row  # 8 customers' time
        assert status["librdkafka_version"]
        first_beat = status["heartbeat_at"]
        time.sleep(2.2)  # idle: no row, yet the heartbeat moves on
        later = _status(tmp_path)
        assert later is not None and later["heartbeat_at"] > first_beat
        assert later["last_row_written_at"] == status["last_row_written_at"]
    days = pd.concat(pd.read_csv(p, dtype=str) for p in dy.day_files(tmp_path))
    assert sorted(days["transaction_id"].astype(int)) == list(range(1_500))
    # Stopped (as by SIGTERM), then drained again by `--once`: each leaves "stopped at", its
    # last lag, and how far behind unknown, never "0 minutes behind" (docs/sink.md).
    for again in (False, True):
        if again:
            run(settings, once=True)
        stopped = _status(tmp_path)
        assert stopped is not None and stopped["stopped_at"] == stopped["heartbeat_at"] != ""
        assert (stopped["rows"], stopped["lag_messages"], stopped["minutes_behind"]) == (
            "1500", "0", ""), stopped
