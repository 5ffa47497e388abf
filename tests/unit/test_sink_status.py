"""status.csv: how fresh the exports are, from the sink and from `score`."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pandas as pd

from shared import __version__
from shared.codec import encode
from shared.columns import STATUS_COLUMNS
from shared.schemas import ScoredTransaction
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


def expected_data_as_of(rows: Iterable[tuple[str, datetime]], quorum: int = 8) -> str:
    """The latest time `quorum` customers reached, or the latest time while fewer were seen
    (what `data_as_of` says), from (customer, time) pairs (also for the broker's test)."""
    latest: dict[str, datetime] = {}
    for customer, at in rows:
        latest[customer] = max(at, latest.get(customer, at))
    times = sorted(latest.values(), reverse=True)
    return (times[quorum - 1] if len(times) >= quorum else times[0]).isoformat()


def _pairs(rows: list[ScoredTransaction]) -> list[tuple[str, datetime]]:
    return [(tx.customer_id, tx.timestamp) for tx in rows]


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
    assert first["data_as_of"] == expected_data_as_of(zip(
        scored["customer_id"], map(datetime.fromisoformat, scored["timestamp"]), strict=True))
    assert first["data_as_of"] < max(scored["timestamp"])  # 200 customers: the 8th latest
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
    assert got["data_as_of"] == expected_data_as_of(_pairs(rows))


def _stray(rows: list[ScoredTransaction], n: int) -> list[ScoredTransaction]:
    """`rows` and one row dated 2100 for each of `n` customers of their own."""
    return [*rows, *(rows[0].model_copy(update={
        "timestamp": datetime(2100, 1, 1), "customer_id": f"stray{i}",
        "transaction_id": f"stray{i}"}) for i in range(n))]


def test_data_as_of_is_not_moved_by_fewer_customers_far_ahead_than_the_quorum(
        tmp_path: Path) -> None:
    """A device clock off by decades said "data as of 2100" on the dashboard: now 7 customers
    that far ahead move nothing, the 8th does (the quorum, `EXPORTS_WATERMARK_CUSTOMERS`)."""
    rows = random_scored(300, seed=3)
    for n, moved in ((1, False), (7, False), (8, True)):
        write_exports(_stray(rows, n), tmp_path / f"score{n}")
        w = SinkWriter(tmp_path / f"sink{n}", TOPIC, ExportSettings())
        w.add([(0, i, encode(tx)) for i, tx in enumerate(_stray(rows, n))])
        w.checkpoint()
        w.write_rollups(report=False)
        w.close()
        for folder in (f"score{n}", f"sink{n}"):
            got = _status(tmp_path / folder)["data_as_of"]
            assert (got == "2100-01-01T00:00:00") is moved, (n, folder)
            assert got == expected_data_as_of(_pairs(_stray(rows, n))), (n, folder)


def test_data_as_of_is_the_latest_time_while_fewer_customers_than_the_quorum_were_seen(
        tmp_path: Path) -> None:
    rows = [tx.model_copy(update={"customer_id": f"c{i % 7}"})
            for i, tx in enumerate(random_scored(50, seed=4))]
    write_exports(rows, tmp_path)
    assert _status(tmp_path)["data_as_of"] == max(tx.timestamp for tx in rows).isoformat()
