"""Which partitions are at their end (`sink.clock.PartitionEnds`), one fact kept once.

The sink's loop kept a set of the partitions at their end beside `PartitionEnds.ended`,
both updated message by message; now `ended` is the only copy (`at_end`) and takes a
batch's rows at once (`took`). Proved here: `took` leaves exactly what the message-by-message
calls left, whatever the batch cuts; and the loop (a scripted consumer) drains only once
every partition's last event is its end, a partition that reached its end then got rows
again included, also when its consumer is replaced while it is at its end.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sink.app as sink_app
from shared.codec import encode
from sink.clock import PartitionEnds
from sink.settings import SinkSettings
from tests.unit.test_sink_backlog_late import _partition_rows, _whole
from tests.unit.test_sink_loop_reviews_renewed import (
    REVIEWS,
    ROWS,
    SCORED,
    FakeConsumer,
    FakeMessage,
)

PARTS = (0, 1, 2)
#: An event of a partition: a row ("row", p) or its end ("eof", p).
Event = tuple[str, int]
_event = st.tuples(st.sampled_from(["row", "eof"]), st.sampled_from(PARTS))
_batches = st.lists(st.lists(_event, max_size=8), min_size=1, max_size=8)


# -- took: the message-by-message calls, a batch at once ------------------------------------


@settings(max_examples=300, deadline=None)
@given(_batches, st.floats(5.0, 40.0), st.lists(st.floats(0.0, 20.0), min_size=64,
                                                max_size=64))
def test_took_leaves_what_the_calls_one_message_at_a_time_left(
        batches: list[list[Event]], idle_s: float, gaps: list[float]) -> None:
    """Each batch as the loop takes it (`quiet` before, `resumed` after rows of a quiet
    topic): `took` and `row`/`reached` per message (the loop before, with its second copy,
    a set of the partitions at their end) leave the same ends, times included, the same
    partitions at their end and holding."""
    ticks: Iterator[float] = iter(sum(gaps[:i + 1]) for i in range(len(gaps)))
    batched, each = PartitionEnds(PARTS, idle_s), PartitionEnds(PARTS, idle_s)
    at_end: set[int] = set()  # the copy the loop kept
    for batch in batches:
        now = next(ticks, 1_000.0)
        quiet = each.quiet(now)
        assert batched.quiet(now) is quiet
        rows: list[tuple[int, int, None]] = []
        eofs: list[tuple[int, int, float]] = []
        for i, (kind, p) in enumerate(batch):
            if kind == "row":
                rows.append((p, i, None))
                at_end.discard(p)
                each.row(p)
            else:
                eofs.append((p, len(rows), now + i / 1_000))
                at_end.add(p)
                each.reached(p, now + i / 1_000)
        batched.took(rows, eofs)
        if rows and quiet:
            each.resumed(now + 0.5)
            batched.resumed(now + 0.5)
        assert batched.ended == each.ended
        assert set(batched.at_end) == at_end == set(each.ended)
        for later in (now, now + idle_s - 0.001, now + idle_s, now + 2 * idle_s):
            assert batched.holding(later) == each.holding(later)


def test_a_row_after_its_partitions_end_in_the_same_batch_clears_it_and_an_end_after_sets_it(
) -> None:
    """Order inside a batch counts: end then row is not at its end; row then end is, from
    the end's time; a partition with no event keeps its earlier end and time."""
    ends = PartitionEnds({0, 1, 2}, 30.0)
    ends.reached(2, 1.0)
    ends.took([(0, 5, None), (1, 7, None)], [(0, 0, 10.0), (1, 2, 11.0)])
    assert ends.ended == {1: 11.0, 2: 1.0}
    ends.took([(1, 8, None)], [(1, 1, 20.0), (1, 1, 21.0)])
    assert ends.ended == {1: 20.0, 2: 1.0}  # the first end since the row counts
    ends.took([(2, 3, None)], [])
    assert set(ends.at_end) == {1}


# -- the loop: drained once every partition's last event is its end --------------------------


class ScriptedConsumer(FakeConsumer):
    """Each `consume` gives the next batch of `script` (rows of a partition at its next
    offsets, or its end), the reviews topic's end first; then every partition's end.
    `stranded` once after batch `strand_after` (the sink replaces the consumer:
    `sink.app._Reader`)."""

    def __init__(self, script: list[list[Event]], strand_after: int | None = None,
                 rows: dict[int, list[bytes]] | None = None,
                 pauses: dict[int, float] | None = None) -> None:
        logs: dict[str, dict[int, list[bytes]]] = {
            SCORED: rows or {p: ROWS * 2 for p in PARTS}, REVIEWS: {0: []}}
        super().__init__(logs)
        self.script, self.strand_after, self.calls = list(script), strand_after, 0
        self.pauses = pauses or {}  # call -> seconds slept before it gives its batch

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[FakeMessage]:
        self.calls += 1
        time.sleep(self.pauses.get(self.calls, 0.0))
        out: list[FakeMessage] = []
        if self.calls == 1:
            out.append(FakeMessage(REVIEWS, 0, 0, None, KafkaError(KafkaError._PARTITION_EOF)))
        ends = [("eof", p) for p in self.logs[SCORED]]
        for kind, p in self.script.pop(0) if self.script else ends:
            at = self.positions[SCORED, p]
            if kind == "row":
                out.append(FakeMessage(SCORED, p, at, self.logs[SCORED][p][at]))
                self.positions[SCORED, p] = at + 1
            else:
                out.append(FakeMessage(SCORED, p, at, None, KafkaError(KafkaError._PARTITION_EOF)))
        return out

    def stranded(self) -> bool:
        return self.calls == self.strand_after


def _drained_after(script: list[list[Event]]) -> int:
    """How many batches the loop takes before it is drained: through the first batch after
    which every partition's last event was its end (or the whole script, then the batch of
    every partition's end, if none)."""
    last: dict[int, str] = {}
    for n, batch in enumerate(script, 1):
        last.update({p: kind for kind, p in batch})
        if all(last.get(p) == "eof" for p in PARTS):
            return n
    return len(script) + 1


def _run(monkeypatch: pytest.MonkeyPatch, folder: Path, consumers: list[FakeConsumer],
         idle_s: float = 30.0) -> sink_app.SinkResult:
    made = list(consumers)
    monkeypatch.setattr(sink_app, "wait_for_broker", lambda *a, **k: 1)
    monkeypatch.setattr(sink_app, "check_rights", lambda *a, **k: None)  # no ACLs
    monkeypatch.setattr(sink_app, "ensure_topics", lambda *a, **k: None)
    monkeypatch.setattr(sink_app, "topic_id", lambda *a, **k: "id")
    monkeypatch.setattr(sink_app, "make_watched_consumer", lambda *a, **k: made.pop(0))
    return sink_app.run(SinkSettings(exports_dir=folder, idle_partition_s=idle_s), once=True)


def _offsets(script: list[list[Event]]) -> dict[int, int]:
    rows = [p for batch in script for kind, p in batch if kind == "row"]
    return {p: rows.count(p) for p in PARTS if p in rows}


def test_a_partition_that_reached_its_end_then_got_rows_is_read_to_its_new_end(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Partition 1 at its end, then rows again in the same batch (the detector wrote more):
    the sink does not take itself for drained until partition 1 is at its end again (had
    the row not cleared the end, `--once` stopped after batch 1: 7 of the 9 rows)."""
    script = [[*[("row", 0)] * 4, ("eof", 0), ("row", 1), ("eof", 1), ("row", 1),
               ("row", 2), ("eof", 2)],
              [("row", 1), ("row", 1)],
              [("eof", 1)],
              [("row", 0)]]  # never read: drained before
    result = _run(monkeypatch, tmp_path, [ScriptedConsumer(script)])
    assert (result.rows, result.offsets) == (9, {0: 4, 1: 4, 2: 1})


def test_a_partition_idle_at_its_end_that_gets_rows_again_holds_the_stream_back_again(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Partition 0 read to its end (day 1) and idle there longer than
    `SINK_IDLE_PARTITION_S` (here 0.2 s) while partition 1 has a backlog; then the detector
    writes partition 0's days 2-6 and the sink reads them in two batches, partition 1 read to
    day 6 between. Partition 0's rows hold the stream's watermark back again from its first
    new row: none is late (had its end not been cleared, the stream's watermark followed
    partition 1 to day 6 and partition 0's days 3-6 came late)."""
    parts = {p: _partition_rows(p, 10, 6) for p in (0, 1)}
    day = 10 * 48  # a partition's rows a day
    script: list[list[Event]] = [
        [*[("row", 0)] * day, ("eof", 0), *[("row", 1)] * day],
        [*[("row", 0)] * day, *[("row", 1)] * 5 * day, ("eof", 1)],
        [*[("row", 0)] * 4 * day, ("eof", 0)]]
    consumer = ScriptedConsumer(script, rows={p: [encode(tx) for tx in rows]
                                              for p, rows in parts.items()}, pauses={2: 0.3})
    result = _run(monkeypatch, tmp_path, [consumer], idle_s=0.2)
    assert result.rows == 12 * day
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["late_rows_by_day"] == {}
    assert run["event_watermark"] == _whole(parts)


def test_a_partition_at_its_end_when_the_consumer_is_replaced_stays_at_its_end(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The sink assigns partitions by hand (no group rebalance); what takes them from one
    consumer to another is the consumer replaced (`_Reader.checked`). Partition 0 at its
    end before, and the new consumer says nothing of it: still at its end, so the sink is
    drained once the others are."""
    old = ScriptedConsumer([[("row", 0), ("eof", 0), ("row", 1)]], strand_after=1)
    new = ScriptedConsumer([[("row", 1), ("eof", 1), ("row", 2), ("eof", 2)],
                            [("row", 1)]])  # never read: drained before
    result = _run(monkeypatch, tmp_path, [old, new])
    assert old.closed
    assert (result.rows, result.offsets) == (4, {0: 1, 1: 2, 2: 1})


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_batches)
def test_the_loop_is_drained_exactly_when_every_partitions_last_event_is_its_end(
        monkeypatch: pytest.MonkeyPatch, batches: list[list[Event]]) -> None:
    """Any script of rows and ends cut in batches: `--once` reads through the first batch
    after which every partition is at its end (no row since its last end), not one
    batch sooner or later: the rows of those batches, each once."""
    taken = batches[:_drained_after(batches)]
    with tempfile.TemporaryDirectory() as folder:
        result = _run(monkeypatch, Path(folder), [ScriptedConsumer(batches)])
    assert (result.rows, result.offsets) == (
        sum(kind == "row" for batch in taken for kind, _p in batch), _offsets(taken))
