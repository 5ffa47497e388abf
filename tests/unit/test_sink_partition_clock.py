"""The sink's clock (`sink.clock`): a watermark per partition, the stream's the smallest of
those with rows waiting. Boundaries, a partition at its end, one that appears later, the
same late rows whatever order a backlog's partitions are read in, and checkpoints of the
versions with one watermark for the topic (`tests/unit/test_sink_backlog_late.py`: the
sink's loop over a backlog).
"""

from __future__ import annotations

import itertools
import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.codec import encode
from sink import days as dy
from sink.clock import PartitionEnds, StreamClock
from sink.settings import ExportSettings
from sink.state import STATE_FILE, SinkStateError
from sink.watermark import Watermark
from sink.writer import SinkWriter
from tests.unit.test_sink_watermark import _reference, _tx

T0 = datetime(2025, 1, 1)
SCORED = "transactions.scored"
FIXTURES = Path(__file__).parents[1] / "data" / "sink"


# -- the clock itself: boundaries, a partition at its end, one that appears later -----------


def _rows(customers: str, at: str) -> list[tuple[str, str]]:
    return [(c, at) for c in customers]


def _take(clock: StreamClock, part: int, rows: list[tuple[str, str]],
          waiting: set[int] | frozenset[int] = frozenset()) -> dict[str, int]:
    return dy.count_late(clock, rows, [part] * len(rows), {ts[:10] for _c, ts in rows},
                         waiting)


CLOSE = "2025-01-02T01:00:00"  # 2025-01-01 closes here (`CLOSE_AFTER` after its end)


@pytest.mark.parametrize(("mark", "late"), [
    ("2025-01-02T00:59:59.999999", False), (CLOSE, True), ("2025-01-02T01:00:00.000001", True)])
def test_a_row_is_late_from_exactly_close_after_behind_its_partitions_watermark(
        mark: str, late: bool) -> None:
    """Partition 0's watermark (quorum 2) at its day's close, one microsecond either side;
    partition 1 still waiting far behind holds the stream's back, not partition 0's own."""
    clock = StreamClock(Watermark(2))
    _take(clock, 1, _rows("xy", "2025-01-01T00:00:00"), {0, 1})
    _take(clock, 0, _rows("ab", mark), {0, 1})
    assert clock.value == "2025-01-01T00:00:00"  # partition 1's, still waiting
    assert _take(clock, 0, [("a", "2025-01-01T12:00:00")], {0, 1}) == (
        {"2025-01-01": 1} if late else {})
    # partition 1's own rows of that day are not behind its own stream
    assert _take(clock, 1, [("x", "2025-01-01T12:00:00")], {0, 1}) == {}


@pytest.mark.parametrize(("mark", "late"), [
    ("2025-01-02T00:59:59.999999", False), (CLOSE, True), ("2025-01-02T01:00:00.000001", True)])
def test_a_partition_at_its_end_holds_nothing_back_and_its_next_row_is_late_by_the_stream(
        mark: str, late: bool) -> None:
    """Partition 1 read to its end (not waiting): the stream's watermark follows the rest
    (every row's, quorum 2). A row that then comes to partition 1 for a day that closed
    meanwhile is late (a reader may have refreshed that day): at the boundary, either side."""
    clock = StreamClock(Watermark(2))
    _take(clock, 1, _rows("xy", "2025-01-01T00:00:00"), {0, 1})
    _take(clock, 0, _rows("ab", mark), {0, 1})
    assert clock.value == "2025-01-01T00:00:00"  # partition 1 waiting holds it back
    clock.settle({0})  # partition 1 at its end
    assert clock.value == mark
    assert _take(clock, 1, [("x", "2025-01-01T12:00:00")]) == ({"2025-01-01": 1} if late else {})


def test_a_partition_that_appears_later_holds_the_stream_while_it_waits_unread() -> None:
    """A partition with rows waiting but none read yet (a new one, or one the consumer
    has not fetched from) holds the stream's watermark where it is: its first rows, days
    behind the others', are not late. Once read, it moves with the rest."""
    clock = StreamClock(Watermark(2))
    assert _take(clock, 0, _rows("ab", "2025-01-05T00:00:00"), {0, 3}) == {}
    assert clock.value == ""  # partition 3 unread
    assert _take(clock, 3, _rows("xy", "2025-01-01T00:00:00"), {0, 3}) == {}
    assert clock.value == "2025-01-01T00:00:00"
    clock.settle({0})
    assert clock.value == "2025-01-05T00:00:00"
    # now behind the stream (partition 3 at its end meanwhile): late
    assert _take(clock, 3, [("x", "2025-01-02T00:00:00")]) == {"2025-01-02": 1}


def test_a_partition_far_ahead_never_moves_the_stream_past_every_rows_watermark() -> None:
    """The stream's watermark never passes every row's (`quorum` customers): partition 1's
    one customer dated 2100 moves it no more than before, while partition 0 reaches it."""
    clock = StreamClock(Watermark(2))
    _take(clock, 1, [("z", "2100-01-01T00:00:00")], {0, 1})
    assert clock.value == ""  # 1 customer: no watermark yet
    _take(clock, 0, [("a", "2025-01-03T00:00:00")], {1})
    assert clock.value == "2025-01-03T00:00:00"  # not partition 1's 2100, though it waits
    clock.settle(set())
    assert clock.value == "2025-01-03T00:00:00"
    assert _take(clock, 0, [("a", "2025-01-01T00:00:00")]) == {"2025-01-01": 1}
    assert _take(clock, 1, [("z", "2025-01-02T12:00:00")]) == {}


# -- the same late rows whatever the order the partitions are read in --------------------------

_PART = st.lists(st.tuples(st.sampled_from("abcd"), st.integers(0, 4 * 24 * 60)),
                 min_size=1, max_size=60)


def _stream(spec: list[tuple[str, int]], p: int, quorum: int) -> list[tuple[str, str]]:
    """A partition's rows: first one row of each of `quorum` customers of its own at its
    start, then `spec` (customer, minute) in any order."""
    first = [(f"p{p}s{i}", T0.isoformat()) for i in range(quorum)]
    return first + [(f"p{p}{c}", (T0 + timedelta(minutes=m)).isoformat()) for c, m in spec]


def _own_late(rows: list[tuple[str, str]], quorum: int) -> dict[str, int]:
    """Rows whose day its own partition's watermark had closed before it."""
    late: dict[str, int] = {}
    for i, (_c, ts) in enumerate(rows):
        before = _reference(quorum, rows[:i])
        if before and before >= dy.closes_at(ts[:10]):
            late[ts[:10]] = late.get(ts[:10], 0) + 1
    return late


@settings(max_examples=80, deadline=None)
@given(specs=st.lists(_PART, min_size=2, max_size=3), quorum=st.integers(1, 3),
       order=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 25)), max_size=40))
def test_a_backlog_counts_each_partitions_own_late_rows_whatever_the_read_order(
        specs: list[list[tuple[str, int]]], quorum: int, order: list[tuple[int, int]]) -> None:
    """Every partition waiting until its last row is read (a backlog), read in chunks in
    any order and cut into any batches: the late rows are the ones behind their own
    partition's watermark, and at the end the stream's watermark is every row's."""
    parts = {p: _stream(spec, p, quorum) for p, spec in enumerate(specs)}
    at = dict.fromkeys(parts, 0)
    batches: list[tuple[list[tuple[int, tuple[str, str]]], set[int]]] = []
    batch: list[tuple[int, tuple[str, str]]] = []
    for p, n in itertools.chain(order, ((p, 10**6) for p in parts)):
        if p in parts:
            batch += [(p, r) for r in parts[p][at[p]:at[p] + n]]
            at[p] = min(len(parts[p]), at[p] + n)
            if n % 3 == 0:  # a batch ends: the partitions not read to their end wait
                batches.append((batch, {q for q in parts if at[q] < len(parts[q])}))
                batch = []
    batches.append((batch, set()))
    clock, late = StreamClock(Watermark(quorum)), dict[str, int]()
    for batch, waiting in batches:
        for day, n in dy.count_late(clock, [r for _p, r in batch], [p for p, _r in batch],
                                    {r[1][:10] for _p, r in batch}, waiting).items():
            late[day] = late.get(day, 0) + n
    expected: dict[str, int] = {}
    for rows in parts.values():
        for day, n in _own_late(rows, quorum).items():
            expected[day] = expected.get(day, 0) + n
    assert late == expected
    assert clock.value == _reference(quorum, [r for rows in parts.values() for r in rows])


# -- a checkpoint of a version with one watermark for the topic ------------------------------


def test_a_checkpoint_with_one_watermark_keeps_every_day_it_closed_closed(
        tmp_path: Path) -> None:
    """ec3e9ff's folder (2026-12-04: 2 partitions, its latest event time 2025-03-02T23:42
    the watermark): that value is every partition's floor. A row of 2025-03-01 (closed) is
    late in either partition, one of 2025-03-02 (open until 03-03 01:00) in neither; the
    checkpoint then holds the partitions' watermarks."""
    folder = tmp_path / "old"
    shutil.copytree(FIXTURES / "ec3e9ff" / "exports", folder)
    s = ExportSettings(sample_per_band=3)
    w = SinkWriter(folder, SCORED, s)
    assert w._clock.value == "2025-03-02T23:42:00" and w._clock.parts == {}
    rows = [_tx(900, "n1", datetime(2025, 3, 1, 12)), _tx(901, "n2", datetime(2025, 3, 2, 1)),
            _tx(902, "n3", datetime(2025, 3, 1, 13))]
    w.add([(0, 80, encode(rows[0])), (1, 80, encode(rows[1])), (1, 81, encode(rows[2]))])
    w.checkpoint()
    run = w.write_rollups(report=False)
    w.close()
    assert run["late_rows_by_day"] == {"2025-03-01": 1 + 2}  # the fixture's one, and two
    assert run["event_watermark"] == "2025-03-02T23:42:00"
    state = json.loads((folder / STATE_FILE).read_text())
    clock = state["extra"]["day_clock"]
    assert clock["value"] == "2025-03-02T23:42:00" and sorted(clock["partitions"]) == ["0", "1"]
    assert clock["partitions"]["1"]["kept"] == {"n2": "2025-03-02T01:00:00",
                                                "n3": "2025-03-01T13:00:00"}


def test_the_previous_versions_checkpoint_its_one_watermark_holds_for_every_partition(
        tmp_path: Path) -> None:
    """A checkpoint of the version just before (a quorum watermark for the topic,
    `day_watermark`, no `day_clock`): its value is the stream's; a damaged `day_clock`
    is refused in one line."""
    rows = [_tx(i, f"c{i % 8}", T0 + timedelta(hours=i)) for i in range(80)]  # to 01-04 07:00
    w = SinkWriter(tmp_path, SCORED, ExportSettings())
    w.add([(0, i, encode(tx)) for i, tx in enumerate(rows)])
    w.checkpoint()
    w.close()
    state = json.loads((tmp_path / STATE_FILE).read_text())
    del state["extra"]["day_clock"]
    (tmp_path / STATE_FILE).write_text(json.dumps(state))
    w = SinkWriter(tmp_path, SCORED, ExportSettings())
    assert w._clock.value == "2025-01-04T00:00:00"  # the 8th latest customer time
    w.add([(1, 0, encode(_tx(500, "n", datetime(2025, 1, 2, 23))))])  # 01-02 closed
    w.checkpoint()
    run = w.write_rollups(report=False)
    w.close()
    assert run["late_rows_by_day"] == {"2025-01-02": 1}
    state = json.loads((tmp_path / STATE_FILE).read_text())
    state["extra"]["day_clock"]["partitions"]["-1"] = state["extra"]["day_clock"][
        "partitions"]["1"]
    (tmp_path / STATE_FILE).write_text(json.dumps(state))
    with pytest.raises(SinkStateError, match="partitions' watermarks: '-1' is no partition"):
        SinkWriter(tmp_path, SCORED, ExportSettings())


# -- which partitions hold it back: rows waiting, or at their end for a while -----------------


@pytest.mark.parametrize(("ago", "holds"), [(29.999, True), (30.0, False), (30.001, False)])
def test_a_partition_at_its_end_holds_the_days_open_for_the_idle_time_then_nothing(
        ago: float, holds: bool) -> None:
    """`SINK_IDLE_PARTITION_S` (30 s): at its end that long, a partition holds nothing back;
    one with rows waiting (never at its end) always holds, one with a row since again."""
    now = 1_000.0
    ends = PartitionEnds({0, 1, 2, 3}, 30.0)
    ends.reached(1, now - ago)
    ends.reached(2, now - 5)
    ends.reached(3, now - 100)
    ends.row(3)
    assert ends.holding(now) == ({0, 1, 2, 3} if holds else {0, 2, 3})


@pytest.mark.parametrize(("quiet_for", "resumed"), [(29.9, False), (30.0, True)])
def test_rows_after_the_whole_topic_was_quiet_give_the_others_the_idle_time_again(
        quiet_for: float, resumed: bool) -> None:
    """A sink started on an empty topic (every partition at its end from the start): the
    first rows of one partition do not let the stream's watermark run ahead of the others'
    first rows, which come seconds later (the demo: 1,106 rows of its first two days were
    late). A short lull (under the idle time) restarts nothing: a partition that never gets
    a row holds no day open for ever."""
    ends = PartitionEnds({0, 1}, 30.0)
    ends.reached(0, 0.0)
    ends.reached(1, 1.0)
    now = 1.0 + quiet_for
    assert ends.quiet(now) is resumed
    ends.row(0)  # rows of partition 0 come: the loop restarts the idle time if it was quiet
    if resumed:
        ends.resumed(now)
    assert ends.holding(now + 29.9) == ({0, 1} if resumed else {0})
    assert ends.holding(now + 30.0) == {0}


def test_worker_slices_count_two_partitions_late_rows_as_one_process(tmp_path: Path) -> None:
    """Slices of one batch (`SINK_DECODE_WORKERS`): a partition whose rows come in a later
    slice still holds the stream's watermark while the earlier slices are counted."""
    rows = {p: [_tx(p * 10_000 + i, f"p{p}c{i % 8}", T0 + timedelta(minutes=15 * i + p))
                for i in range(700)] for p in (0, 1)}  # 8 customers each, over 7 days
    rows[1][600] = _tx(19_999, "p1c0", T0)  # behind its own partition's stream
    batch = [(0, i, encode(tx)) for i, tx in enumerate(rows[0])] + [
        (1, i, encode(tx)) for i, tx in enumerate(rows[1])]  # partition 0 read days ahead
    got = []
    for workers in (0, 2):
        w = SinkWriter(tmp_path / str(workers), SCORED, ExportSettings(), workers=workers)
        w.add(batch, set())  # both at their end after the batch
        w.checkpoint()
        got.append((w.write_rollups(report=False)["late_rows_by_day"], w._clock.to_json()))
        w.close()
    assert got[0] == got[1]
    assert got[0][0] == {"2025-01-01": 1}
    # both at their end: every row's watermark (the 8th latest of 16 customers)
    assert got[0][1]["value"] == (T0 + timedelta(minutes=15 * 696)).isoformat()


def test_a_stream_watermark_no_sink_wrote_is_refused_in_one_line(tmp_path: Path) -> None:
    w = SinkWriter(tmp_path, SCORED, ExportSettings())
    w.add([(0, 0, encode(_tx(0, "c", T0)))])
    w.checkpoint()
    w.close()
    state = json.loads((tmp_path / STATE_FILE).read_text())
    state["extra"]["day_clock"]["value"] = "zzzz"
    (tmp_path / STATE_FILE).write_text(json.dumps(state))
    with pytest.raises(SinkStateError, match="partitions' watermarks: Invalid isoformat"):
        SinkWriter(tmp_path, SCORED, ExportSettings())
