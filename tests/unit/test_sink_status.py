"""status.csv: how fresh the exports are, from the sink and from `score`."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from shared import __version__
from shared.codec import encode
from shared.columns import STATUS_COLUMNS
from sink.offline import write_exports
from sink.settings import ExportSettings
from sink.status import STATUS_FILE, minutes_behind
from sink.writer import SinkWriter
from tests.scored_days import read_scored
from tests.unit.test_rollup_pandas import random_scored

TOPIC = "transactions.scored"


def _status(folder: Path) -> dict[str, str]:
    frame = pd.read_csv(folder / STATUS_FILE, dtype=str, keep_default_na=False)
    assert list(frame.columns) == list(STATUS_COLUMNS) and len(frame) == 1
    return dict(frame.iloc[0])


def test_minutes_behind_counts_whole_minutes_only_while_messages_wait() -> None:
    last = "2025-01-01T10:00:00"
    assert minutes_behind(0, last, "2025-01-01T12:00:00") == 0
    assert minutes_behind(3, last, "2025-01-01T10:04:59") == 4
    assert minutes_behind(3, last, "2025-01-01T10:05:00") == 5
    assert minutes_behind(3, last, "2025-01-01T10:05:01") == 5
    assert minutes_behind(None, last, "2025-01-01T10:05:00") is None
    assert minutes_behind(1, "", "2025-01-01T10:05:00") is None


def test_the_sink_writes_status_with_each_refresh_and_heartbeat(tmp_path: Path) -> None:
    rows = random_scored(900, seed=2)
    w = SinkWriter(tmp_path, TOPIC, ExportSettings())
    w.add([(0, i, encode(tx)) for i, tx in enumerate(rows)])
    w.checkpoint()
    w.write_rollups({"librdkafka_version": "2.x", "lag_messages": 0}, report=False)
    first = _status(tmp_path)
    scored = read_scored(tmp_path)
    assert first["rows"] == "900"
    assert first["data_as_of"] == max(scored["timestamp"])
    assert first["lag_messages"] == "0" and first["minutes_behind"] == "0"
    assert first["auditstream_version"] == __version__
    assert first["librdkafka_version"] == "2.x"
    assert first["model_versions"] == "m0:900"
    assert first["last_row_written_at"] <= first["heartbeat_at"]

    time.sleep(1.1)
    w.checkpoint()  # nothing new: the last write time stays
    w.heartbeat({"lag_messages": 7})
    beat = _status(tmp_path)
    assert beat["last_row_written_at"] == first["last_row_written_at"]
    assert beat["heartbeat_at"] > first["heartbeat_at"]
    assert beat["lag_messages"] == "7" and beat["minutes_behind"] == "0"
    assert beat["rows"] == "900"
    w.close()


def test_score_writes_status_with_no_lag(tmp_path: Path) -> None:
    rows = random_scored(300, seed=3)
    write_exports(rows, tmp_path)
    got = _status(tmp_path)
    assert got["rows"] == "300" and got["lag_messages"] == "0"
    assert got["data_as_of"] == max(tx.timestamp for tx in rows).isoformat()
