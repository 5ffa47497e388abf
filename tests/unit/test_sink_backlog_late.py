"""A backlog read over several partitions (`sink.app`'s loop, a fake consumer) counts no row late.

A sink reading a backlog over several partitions takes one partition's rows ahead of
another's; with one watermark for the topic the others' rows came for days it had already
closed: `make demo` counted 71% of its rows in `late_rows_by_day`. Now a row is late only
when it is behind its own partition's stream (or comes to a partition that was at its end
for a day the stream's watermark closed meanwhile); a partition at its end holds nothing
back; an older checkpoint's one watermark keeps every day it closed closed.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import KafkaError

import sink.app as sink_app
from shared.codec import encode
from shared.schemas import ScoredTransaction
from sink import days as dy
from sink.settings import SinkSettings
from tests.unit.test_sink_loop_reviews_renewed import REVIEWS, SCORED, FakeConsumer, FakeMessage
from tests.unit.test_sink_watermark import _reference, _tx

T0 = datetime(2025, 1, 1)


class ChunkedConsumer(FakeConsumer):
    """A backlog as librdkafka hands it over: each `consume` gives up to `chunks[p]`
    messages of each partition in turn (one partition's rows run ahead of another's), and
    each partition's end once, after its last message."""

    def __init__(self, logs: dict[str, dict[int, list[bytes]]], chunks: dict[int, int]) -> None:
        super().__init__(logs)
        self.chunks = chunks

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[FakeMessage]:
        out: list[FakeMessage] = []
        for (topic, part), at in self.positions.items():
            log = self.logs[topic][part]
            stop = min(len(log), at + self.chunks.get(part, num_messages))
            out += [FakeMessage(topic, part, o, log[o]) for o in range(at, stop)]
            self.positions[topic, part] = stop
            if stop == len(log) and (topic, part) not in self.at_eof:
                self.at_eof.add((topic, part))
                out.append(FakeMessage(topic, part, stop, None,
                                       KafkaError(KafkaError._PARTITION_EOF)))
        return out


def _partition_rows(p: int, customers: int, days: int,
                    late: int | None = None) -> list[ScoredTransaction]:
    """One partition's rows in event order: `customers` customers of its own, one row each
    every 30 minutes over `days` days (row `late`, if given, two days behind)."""
    rows = []
    for i in range(days * 48 * customers):
        at = T0 + timedelta(minutes=30 * (i // customers), seconds=p)
        if i == late:
            at -= timedelta(days=2)
        rows.append(_tx(p * 100_000 + i, f"p{p}c{i % customers}", at, flag=i % 37 == 0))
    return rows


class LateStartConsumer(FakeConsumer):
    """A sink started on an empty topic, as in the demo: every partition at its end for
    `quiet` calls (`QUIET_CALL_S` each), then the partitions' rows come one partition per
    call, each whole (the detector's first batches: partition 0's days, then 1's)."""

    def __init__(self, logs: dict[str, dict[int, list[bytes]]], quiet: int) -> None:
        super().__init__(logs)
        self.quiet = quiet

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[FakeMessage]:
        if self.quiet > 0:
            self.quiet -= 1
            time.sleep(QUIET_CALL_S)
            out = [FakeMessage(t, p, 0, None, KafkaError(KafkaError._PARTITION_EOF))
                   for t, p in self.positions if (t, p) not in self.at_eof]
            self.at_eof.update(self.positions)
            return out
        for (topic, part), at in self.positions.items():
            log = self.logs[topic][part]
            if at < len(log):
                self.positions[topic, part] = len(log)
                return [*(FakeMessage(topic, part, o, log[o]) for o in range(at, len(log))),
                        FakeMessage(topic, part, len(log), None,
                                    KafkaError(KafkaError._PARTITION_EOF))]
        return []


QUIET_CALL_S = 0.05


def _run_loop(monkeypatch: pytest.MonkeyPatch, folder: Path,
              partitions: dict[int, list[ScoredTransaction]],
              chunks: dict[int, int], quiet: int = 0) -> dict[str, object]:
    """`sink.app.run(once=True)` over the partitions' rows read in `chunks` (or, `quiet`
    given, after that many calls of an empty topic, a partition a call); run.json."""
    logs: dict[str, dict[int, list[bytes]]] = {
        SCORED: {p: [encode(tx) for tx in rows] for p, rows in partitions.items()},
        REVIEWS: {0: []}}
    consumer = (LateStartConsumer(logs, quiet) if quiet else ChunkedConsumer(logs, chunks))
    monkeypatch.setattr(sink_app, "wait_for_broker", lambda *a, **k: 1)
    monkeypatch.setattr(sink_app, "check_rights", lambda *a, **k: None)  # no ACLs
    monkeypatch.setattr(sink_app, "ensure_topics", lambda *a, **k: None)
    monkeypatch.setattr(sink_app, "topic_id", lambda *a, **k: "id")
    monkeypatch.setattr(sink_app, "make_watched_consumer", lambda *a, **k: consumer)
    settings = SinkSettings(exports_dir=folder, batch_size=100_000, idle_partition_s=0.3)
    # an empty topic is drained at once: wait 1 s of idleness (after the rows) instead
    result = (sink_app.run(settings, until_idle=1.0) if quiet
              else sink_app.run(settings, once=True))
    assert result.rows == sum(len(r) for r in partitions.values())
    run: dict[str, object] = json.loads((folder / "run.json").read_text())
    return run


def _whole(partitions: dict[int, list[ScoredTransaction]]) -> str:
    """The latest time 8 customers reached over every row (`score`'s watermark)."""
    return _reference(8, [(tx.customer_id, tx.timestamp.isoformat())
                          for rows in partitions.values() for tx in rows])


@pytest.mark.parametrize("chunks", [{0: 500, 1: 40}, {0: 40, 1: 500}, {0: 97, 1: 101}])
def test_a_backlog_read_over_two_partitions_counts_no_row_late(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, chunks: dict[int, int]) -> None:
    """Two partitions of 10 customers each over 6 days, read in chunks: one partition runs
    days ahead of the other. No row is behind its own partition's stream, so none is late,
    and once both are read to their end the stream's watermark is every row's, as score's."""
    parts = {p: _partition_rows(p, 10, 6) for p in (0, 1)}
    run = _run_loop(monkeypatch, tmp_path, parts, chunks)
    assert run["late_rows_by_day"] == {}
    assert run["event_watermark"] == _whole(parts) == "2025-01-06T23:30:01"
    days = {p.name[-14:-4]: p.read_text().count("\n") - 1 for p in dy.day_files(tmp_path)}
    assert days == {f"2025-01-0{d}": 2 * 10 * 48 for d in range(1, 7)}


def test_a_row_behind_its_own_partitions_stream_is_late_whatever_the_other_partition(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Partition 1's row 2,000 (day 5, dated two days back: day 3, closed by its own
    partition's watermark) is late, and only it, however far partition 0 was read."""
    for chunks in ({0: 500, 1: 40}, {0: 40, 1: 500}):
        folder = tmp_path / str(chunks[0])
        parts = {0: _partition_rows(0, 10, 6), 1: _partition_rows(1, 10, 6, late=2_000)}
        run = _run_loop(monkeypatch, folder, parts, chunks)
        assert run["late_rows_by_day"] == {"2025-01-03": 1}





def test_a_sink_started_on_an_empty_topic_lets_no_partition_run_ahead_of_the_others_first_rows(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every partition at its end since the start (longer than `SINK_IDLE_PARTITION_S`,
    here 0.3 s), then partition 0's first six days come before partition 1's: partition 1
    holds the days open again for the idle time, so its rows are not late (the demo counted
    1,106 rows of its first two days late so, before the idle time restarted)."""
    parts = {p: _partition_rows(p, 10, 6) for p in (0, 1)}
    run = _run_loop(monkeypatch, tmp_path, parts, {}, quiet=10)
    assert run["late_rows_by_day"] == {}
    assert run["event_watermark"] == _whole(parts)
