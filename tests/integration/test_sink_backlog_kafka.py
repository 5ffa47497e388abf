"""A `replay` before `detect` and `sink` on 4 partitions: the sink reads a backlog, one
partition's rows ahead of another's, and counts no row late but those behind their own
partition's stream (before: 72% of the reference recipe's rows, every day, `sink.clock`)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from shared.settings import KafkaSettings
from tests.integration.detector_harness import Topics, read_all
from tests.integration.pipeline_harness import (
    base_env,
    detector,
    freeze_sources,
    read_scored_csv,
    replay,
    run_cli,
    sink,
)

pytestmark = pytest.mark.integration

PARTITIONS = 4
QUORUM = 8  # EXPORTS_WATERMARK_CUSTOMERS' default


def _quorum_time(latest: dict[str, datetime]) -> datetime | None:
    times = sorted(latest.values(), reverse=True)
    return times[QUORUM - 1] if len(times) >= QUORUM else None


def _own_late(rows: list[tuple[str, datetime]]) -> dict[str, int]:
    """Rows of one partition, in its order, whose day the partition's own watermark (the
    latest time 8 of its customers reached) had closed (its end plus one hour) before them."""
    latest: dict[str, datetime] = {}
    late: dict[str, int] = {}
    for customer, at in rows:
        mark = _quorum_time(latest)
        day = at.date()
        if mark is not None and mark >= datetime(day.year, day.month, day.day) + timedelta(
                days=1, hours=1):
            late[day.isoformat()] = late.get(day.isoformat(), 0) + 1
        latest[customer] = max(at, latest.get(customer, at))
    return late


def test_a_sink_started_after_the_detector_counts_only_rows_behind_their_partition_late(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    topics = Topics(topic_name, PARTITIONS).create(kafka)
    env = base_env(kafka, topics, {}, freeze_sources(tmp_path / "src"))
    source = tmp_path / "reference.csv"
    run_cli(["generate", "--recipe", "reference", "--seed", "42", "--out", str(source)], env)
    with source.open("rb") as fh:
        n = sum(1 for _ in fh) - 1
    assert n > 5_000, n

    feed = replay(source, env, tmp_path).start()
    assert feed.wait(120) == 0, feed.logs()[-3000:]
    det = detector("a", env, tmp_path).start()  # the whole input waits: a backlog
    try:
        published = read_all(kafka, topics.scored, PARTITIONS, n, timeout=180, settle=1.0)
    finally:
        assert det.terminate() == 0, det.logs()[-3000:]
    assert len(published) == n

    exports = tmp_path / "exports"
    exporter = sink(env, exports, tmp_path, "--until-idle", "1").start()
    assert exporter.wait(180) == 0, exporter.logs()[-3000:]

    run = json.loads((exports / "run.json").read_text())
    rows = read_scored_csv(exports)
    assert len(rows) == n
    # each partition's rows in its order: the detector keeps the input's partition and order
    expected: dict[str, int] = {}
    whole: dict[str, datetime] = {}
    for _p, part in rows.groupby("source_partition"):
        ordered = part.sort_values("source_offset", key=lambda s: s.astype(int))
        pairs = [(c, datetime.fromisoformat(t))
                 for c, t in zip(ordered["customer_id"], ordered["timestamp"], strict=True)]
        for day, k in _own_late(pairs).items():
            expected[day] = expected.get(day, 0) + k
        for c, at in pairs:
            whole[c] = max(at, whole.get(c, at))
    print(f"\nbacklog over {PARTITIONS} partitions: {n} rows, late {run['late_rows_by_day']}, "
          f"behind their own partition {expected}")
    assert run["late_rows_by_day"] == expected
    assert sum(expected.values()) < n // 100  # a few truly late rows at most
    mark = _quorum_time(whole)
    assert mark is not None and run["event_watermark"] == mark.isoformat()  # as `score`'s
    assert "late rows for closed day" not in exporter.logs() or expected
