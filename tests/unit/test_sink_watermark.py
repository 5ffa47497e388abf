"""The sink's watermark (`sink.watermark`): the latest event time `quorum` customers reached.

It closes days (`sink.days.count_late`) and ages cases (`sink.cases`): one customer far
ahead moves nothing, `quorum` customers do; the value is exact whatever the batch cuts,
worker slices or restarts, and a checkpoint from before the quorum restores as its floor.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.codec import encode
from shared.schemas import ScoredTransaction
from sink import days as dy
from sink.clock import StreamClock
from sink.csvfmt import scored_cells
from sink.settings import ExportSettings
from sink.state import STATE_FILE, SinkStateError
from sink.watermark import DEFAULT_QUORUM, Watermark, time_key
from sink.writer import Record, SinkWriter

TOPIC = "transactions.scored"
T = "2025-01-01T10:00:00"
FAR = "2100-01-01T00:00:00"
T0 = datetime(2025, 1, 1)


def _mark(quorum: int, rows: list[tuple[str, str]], floor: str = "") -> Watermark:
    mark = Watermark(quorum, floor)
    mark.see_all(rows)
    return mark


@pytest.mark.parametrize("quorum", [1, 2, 8])
def test_customers_far_ahead_move_it_only_once_they_are_the_quorum(quorum: int) -> None:
    base = [(f"c{i}", T) for i in range(quorum)]
    assert _mark(quorum, base[:-1]).value == ""  # one customer short: no watermark yet
    assert _mark(quorum, base).value == T
    for ahead, value in ((quorum - 1, T), (quorum, FAR), (quorum + 1, FAR)):
        assert _mark(quorum, [*base, *((f"z{i}", FAR) for i in range(ahead))]).value == value


def test_one_customer_with_many_future_rows_counts_once() -> None:
    base = [("a", T), ("b", T)]
    stray = [("z", f"2100-01-01T00:00:{s:02d}") for s in range(60)]
    assert _mark(2, [*base, *stray]).value == T
    assert _mark(2, [*base, *stray, ("y", FAR)]).value == FAR


def test_a_customers_earlier_time_never_moves_its_kept_time_back() -> None:
    later = "2025-01-02T10:00:00"
    mark = _mark(2, [("a", later), ("b", later), ("a", T)])
    assert mark.kept == {"a": time_key(later), "b": time_key(later)}
    assert mark.value == later
    filling = _mark(3, [("a", later), ("a", T)])  # fewer than the quorum kept
    assert filling.kept == {"a": time_key(later)} and filling.value == ""


def test_the_floor_holds_it_up_until_the_quorum_passes_it() -> None:
    floor = "2025-01-05T00:00:00"
    assert _mark(2, [("a", T), ("b", T)], floor).value == floor
    assert _mark(2, [("a", FAR)], floor).value == floor
    assert _mark(2, [("a", FAR), ("b", FAR)], floor).value == FAR


def test_a_quorum_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Watermark(0)
    with pytest.raises(ValidationError):
        ExportSettings(watermark_customers=0)
    assert ExportSettings(watermark_customers=1).watermark_customers == 1
    assert ExportSettings().watermark_customers == DEFAULT_QUORUM == 8


_TIMES = st.builds(lambda s, us: (T0 + timedelta(seconds=s, microseconds=us)).isoformat(),
                   st.integers(0, 5 * 86400), st.sampled_from([0, 0, 1, 250_000]))
_ROW = st.tuples(st.sampled_from("abcdefg"), _TIMES)
_STREAM = st.lists(_ROW, max_size=300)


def _reference(quorum: int, rows: list[tuple[str, str]], floor: str = "") -> str:
    """From scratch: the `quorum`-th largest of the customers' latest times, or the floor."""
    latest: dict[str, datetime] = {}
    for customer, ts in rows:
        at = datetime.fromisoformat(ts)
        latest[customer] = max(at, latest.get(customer, at))
    ranked = sorted(latest.values(), reverse=True)
    value = ranked[quorum - 1] if len(ranked) >= quorum else None
    if floor and (value is None or value < datetime.fromisoformat(floor)):
        value = datetime.fromisoformat(floor)
    return "" if value is None else value.isoformat()


@settings(max_examples=200, deadline=None)
@given(quorum=st.integers(1, 5), rows=_STREAM, cut=st.integers(0, 300),
       floor=st.sampled_from(["", "2025-01-03T00:00:00"]))
def test_it_is_the_quorum_th_latest_customer_time_after_every_row_and_restore(
        quorum: int, rows: list[tuple[str, str]], cut: int, floor: str) -> None:
    mark = Watermark(quorum, floor)
    for i, (customer, ts) in enumerate(rows):
        mark.see(customer, ts)
        assert mark.value == _reference(quorum, rows[: i + 1], floor)
    saved = json.loads(json.dumps(_mark(quorum, rows[:cut], floor).to_json()))
    restored = Watermark.from_json(saved, quorum=99)  # the saved quorum holds
    restored.see_all(rows[cut:])
    assert (restored.value, restored.to_json()) == (mark.value, mark.to_json())


@settings(max_examples=200, deadline=None)
@given(quorum=st.integers(1, 5), rows=_STREAM, cuts=st.lists(st.integers(0, 300), max_size=4),
       floor=st.sampled_from(["", "2025-01-03T00:00:00"]), in_order=st.booleans())
def test_a_batch_seen_by_each_customers_latest_row_gives_every_rows_watermark(
        quorum: int, rows: list[tuple[str, str]], cuts: list[int], floor: str,
        in_order: bool) -> None:
    """`see_latest` (score's run.json) gives the watermark `see_all` gives, batch after
    batch, whether the batch's times go back (every row seen) or not (the last per
    customer); ties, equal times written with and without microseconds, included."""
    if in_order:
        rows = sorted(rows, key=lambda r: time_key(r[1]))
    mark, every = Watermark(quorum, floor), Watermark(quorum, floor)
    bounds = sorted({0, len(rows), *(c for c in cuts if c < len(rows))})
    for lo, hi in itertools.pairwise(bounds):
        batch = rows[lo:hi]
        mark.see_latest([c for c, _t in batch], [t for _c, t in batch])
        every.see_all(batch)
        assert (mark.key, mark.value) == (every.key, every.value)
    assert mark.value == _reference(quorum, rows, floor)


def test_a_batch_in_order_is_seen_by_each_customers_last_row_only() -> None:
    """The ordered batch takes the dict's way (its earlier rows never reach `see`); one
    whose times go back is seen row by row."""
    seen: list[tuple[str, str]] = []

    class Spy(Watermark):
        def see(self, customer: str, ts: str) -> None:
            seen.append((customer, ts))
            super().see(customer, ts)

    Spy(2).see_latest(["a", "b", "a"], [T, T, "2025-01-01T11:00:00"])
    assert seen == [("a", "2025-01-01T11:00:00.000000"), ("b", T + ".000000")]
    seen.clear()
    Spy(2).see_latest(["a", "b", "a"], [T, "2025-01-01T11:00:00", T])
    assert seen == [("a", T), ("b", "2025-01-01T11:00:00"), ("a", T)]


# -- days: late rows, row by row ------------------------------------------------------------


def _late_reference(quorum: int, rows: list[tuple[str, str]]) -> dict[str, int]:
    """A row is late when the watermark of the rows before it is at or past its day's end
    plus one hour."""
    late: dict[str, int] = {}
    for i, (_customer, ts) in enumerate(rows):
        before = _reference(quorum, rows[:i])
        end = datetime.fromisoformat(ts[:10]) + timedelta(days=1, hours=1)
        if before and datetime.fromisoformat(before) >= end:
            late[ts[:10]] = late.get(ts[:10], 0) + 1
    return late


def _count_late(quorum: int, rows: list[tuple[str, str]], cuts: list[int]) -> dict[str, int]:
    mark, late = StreamClock(Watermark(quorum)), dict[str, int]()
    bounds = sorted({0, len(rows), *(c for c in cuts if c < len(rows))})
    for lo, hi in itertools.pairwise(bounds):
        batch = rows[lo:hi]
        for day, n in dy.count_late(mark, batch, [0] * len(batch),
                                    {ts[:10] for _c, ts in batch}).items():
            late[day] = late.get(day, 0) + n
    return late


@settings(max_examples=150, deadline=None)
@given(quorum=st.integers(1, 4), rows=st.lists(_ROW, min_size=8,
                                                max_size=300),
       cuts=st.lists(st.integers(0, 300), max_size=8))
def test_late_rows_are_counted_row_by_row_whatever_the_batch_cuts(
        quorum: int, rows: list[tuple[str, str]], cuts: list[int]) -> None:
    assert _count_late(quorum, rows, cuts) == _late_reference(quorum, rows)


def test_a_row_of_a_day_closed_by_the_quorum_is_late_and_one_customer_closes_nothing() -> None:
    day2 = "2025-01-02T01:00:00"  # closes 2025-01-01, at the boundary
    late_row = [("c", "2025-01-01T12:00:00")]
    assert _count_late(2, [("a", day2), *late_row], []) == {}
    assert _count_late(2, [("a", day2), ("b", "2025-01-02T00:59:59.999999"), *late_row],
                       []) == {}
    assert _count_late(2, [("a", day2), ("b", day2), *late_row], []) == {"2025-01-01": 1}
    assert _count_late(2, [("a", day2), ("b", day2), *late_row], [2]) == {"2025-01-01": 1}


# -- the sink: batch cuts, workers, restarts, a checkpoint from before the quorum -------------


def _tx(i: int, customer: str, at: datetime, flag: bool = True,
        score: float = 0.5) -> ScoredTransaction:
    return ScoredTransaction(
        transaction_id=f"t{i}", customer_id=customer, timestamp=at, amount=10.0,
        country="CH", channel="app", device="pc", merchant_category="food", score=score,
        model_score=score / 2, rule_flags={"burst": flag}, is_rule_flag=flag, is_flag=flag,
        triggered_rules=["burst"] if flag else [], reasons_top3=["r"])


def _records(rows: list[ScoredTransaction]) -> list[Record]:
    return [(0, i, encode(tx)) for i, tx in enumerate(rows)]


def _run(folder: Path, records: list[Record], cuts: list[int], quorum: int,
         workers: int = 0) -> tuple[dict[str, int], dict[str, object], list[str]]:
    """(late rows by day, the day watermark's state, the listed cases' ids) after `records`
    fed in batches cut at `cuts`, checkpointed and reopened at each cut."""
    bounds = sorted({0, len(records), *(c for c in cuts if c < len(records))})
    s = ExportSettings(top_cases=1, case_days=1.0, watermark_customers=quorum)
    for lo, hi in itertools.pairwise(bounds):
        w = SinkWriter(folder, TOPIC, s, workers=workers)
        try:
            w.add(records[lo:hi])
            w.checkpoint()
        finally:
            w.close()
    state = json.loads((folder / STATE_FILE).read_text())
    w = SinkWriter(folder, TOPIC, s)
    listed = [c.id for c in w.cp.rollup.cases.listed()]
    w.close()
    return state["extra"].get("late_rows_by_day", {}), state["extra"]["day_watermark"], listed


_HOURS = st.just(-1) | st.integers(0, 96) | st.integers(0, 96) | st.integers(0, 96)
_ROWS = st.lists(st.tuples(st.integers(0, 4), _HOURS,
                           st.booleans(), st.integers(1, 99)), min_size=6, max_size=40)


def _stream(spec: list[tuple[int, int, bool, int]]) -> list[ScoredTransaction]:
    """Rows of 5 customers over 4 days, some dated 2100 (hour -1), some flagged."""
    return [_tx(i, f"c{c}", T0 + timedelta(hours=h) if h >= 0 else datetime(2100, 1, 1, c),
                flag, score / 100) for i, (c, h, flag, score) in enumerate(spec)]


@settings(max_examples=40, deadline=None)
@given(spec=_ROWS, cuts=st.lists(st.integers(0, 40), max_size=5), quorum=st.integers(1, 3))
def test_the_sink_counts_the_same_late_rows_watermark_and_cases_whatever_the_batch_cuts(
        spec: list[tuple[int, int, bool, int]], cuts: list[int], quorum: int) -> None:
    rows = _stream(spec)
    with tempfile.TemporaryDirectory() as tmp:
        one = _run(Path(tmp) / "one", _records(rows), [], quorum)
        cut = _run(Path(tmp) / "cut", _records(rows), cuts, quorum)
    assert cut == one
    cells = [scored_cells(tx) for tx in rows]
    assert one[0] == _late_reference(quorum, dy.event_times(cells))
    assert Watermark.from_json(one[1], quorum).value == _reference(
        quorum, dy.event_times(cells))


def test_worker_slices_count_late_rows_as_one_process(tmp_path: Path) -> None:
    """Slices of a batch (`SINK_DECODE_WORKERS`) know nothing of the watermark: the sink
    counts late rows row by row after them, as in one process."""
    rows = [_tx(i, f"c{i % 12}", T0 + timedelta(minutes=5 * i), flag=i % 7 == 0)
            for i in range(1_200)]  # 12 customers over 4 days
    rows[300:300] = [_tx(5_000 + i, f"z{i}", datetime(2100, 1, 1), flag=True)
                     for i in range(3)]  # 3 customers far ahead: below the quorum of 4
    rows[900:900] = [_tx(6_000 + i, f"c{i}", T0 + timedelta(hours=i), flag=True)
                     for i in range(5)]  # late: days 1 closed by then
    records = _records(rows)
    alone = _run(tmp_path / "alone", records, [], 4)
    workers = _run(tmp_path / "workers", records, [], 4, workers=2)
    assert workers == alone
    assert alone[0] == {"2025-01-01": 5}
    assert Watermark.from_json(alone[1], 4).value < "2100"


def _as_before_the_quorum(folder: Path) -> str:
    """Make the folder's checkpoint one a version before the quorum wrote: the latest event
    time seen as text only (`event_watermark`, the case book's `watermark`), no quorum in
    the settings it started with. Return that time."""
    state = json.loads((folder / STATE_FILE).read_text())
    latest = max(state["extra"].pop("day_watermark")["kept"].values(), key=time_key)
    del state["extra"]["day_clock"]  # the partitions' watermarks came later still
    flagged = state["rollup"]["case_book"].pop("clock")
    del state["rollup"]["params"]["watermark_customers"]
    state["extra"]["event_watermark"] = latest
    state["rollup"]["case_book"]["watermark"] = max(flagged["kept"].values(), key=time_key)
    (folder / STATE_FILE).write_text(json.dumps(state))
    return str(latest)


def test_a_checkpoint_from_before_the_quorum_restores_its_watermark_as_the_floor(
        tmp_path: Path) -> None:
    """A checkpoint written before this change keeps the latest event time seen (as text,
    `event_watermark`, and the case book's `watermark`): the days it closed stay closed and
    the case cutoff does not go back, though fewer customers than the quorum were seen."""
    rows = [_tx(i, "c0", T0 + timedelta(hours=6 * i)) for i in range(10)]  # to 01-03 06:00
    started = ExportSettings(top_cases=1, case_days=1.0, watermark_customers=1)
    w = SinkWriter(tmp_path, TOPIC, started)
    w.add(_records(rows))
    w.checkpoint()
    w.close()
    assert _as_before_the_quorum(tmp_path) == "2025-01-03T06:00:00"

    w = SinkWriter(tmp_path, TOPIC, started)
    assert w.cp.rollup.params.watermark_customers == DEFAULT_QUORUM  # as it started
    for clock in (w._clock.whole, w.cp.rollup.cases.clock):
        assert clock.value == "2025-01-03T06:00:00"  # the floor: one customer of 8
        assert clock.kept == {"c0": time_key("2025-01-03T06:00:00")}  # from the day files
    # day 1 is closed, and a case of day 1 is not recent (1 day before the floor)
    w.add([(0, 10, encode(_tx(10, "c1", datetime(2025, 1, 1, 12), score=0.1)))])
    w.checkpoint()
    run = w.write_rollups(report=False)
    listed = [c.customer for c in w.cp.rollup.cases.listed()]
    w.close()
    assert run["late_rows_by_day"] == {"2025-01-01": 1}
    assert run["event_watermark"] == "2025-01-03T06:00:00"
    assert "c1" not in listed and len(listed) == 5  # the top case and 4 of the last day
    state = json.loads((tmp_path / STATE_FILE).read_text())
    assert state["extra"]["day_watermark"] == {
        "quorum": 8, "floor": "2025-01-03T06:00:00",
        "kept": {"c0": "2025-01-03T06:00:00", "c1": "2025-01-01T12:00:00"}}
    assert state["extra"]["event_watermark"] == "2025-01-03T06:00:00"


def test_a_folder_from_before_the_quorum_continues_as_one_written_by_this_version(
        tmp_path: Path) -> None:
    """The customers are read back from the day files and the floor is dropped once passed:
    late rows, watermarks and cases as a sink of this version that read the whole stream."""
    rows = [_tx(i, f"c{i % 20}", T0 + timedelta(minutes=7 * i), flag=i % 3 == 0,
                score=(i % 10) / 10) for i in range(800)]  # 20 customers, about 4 days
    rows[250:250] = [_tx(901, "c4", T0 + timedelta(hours=2))]  # a late row in each half
    rows[500:500] = [_tx(900, "c3", datetime(2100, 1, 1))]  # a stray
    rows[650:650] = [_tx(902, "c5", T0 + timedelta(hours=30))]
    records = _records(rows)
    s = ExportSettings(top_cases=1, case_days=1.0)
    whole = _run(tmp_path / "whole", records, [400], 8)
    _run(tmp_path / "old", records[:400], [], 8)
    _as_before_the_quorum(tmp_path / "old")
    w = SinkWriter(tmp_path / "old", TOPIC, s)
    w.add(records[400:])
    w.checkpoint()
    w.close()
    state = json.loads((tmp_path / "old" / STATE_FILE).read_text())
    w = SinkWriter(tmp_path / "old", TOPIC, s)
    listed = [c.id for c in w.cp.rollup.cases.listed()]
    w.close()
    assert (state["extra"]["late_rows_by_day"], state["extra"]["day_watermark"],
            listed) == whole
    assert whole[0] == {"2025-01-01": 1, "2025-01-02": 1}
    assert state["rollup"]["case_book"] == json.loads(
        (tmp_path / "whole" / STATE_FILE).read_text())["rollup"]["case_book"]


@pytest.mark.parametrize("saved", [{"quorum": 1, "floor": "", "kept": {"a": T, "b": T}},
                                   {"quorum": 0, "floor": "", "kept": {}}, {"kept": {}}, 7])
def test_a_checkpoint_with_a_broken_day_watermark_is_refused_in_one_line(
        tmp_path: Path, saved: object) -> None:
    SinkWriter(tmp_path, TOPIC, ExportSettings()).close()
    state = json.loads((tmp_path / STATE_FILE).read_text())
    state["extra"]["day_watermark"] = saved
    (tmp_path / STATE_FILE).write_text(json.dumps(state))
    with pytest.raises(SinkStateError, match=r"unreadable \(its day watermark"):
        SinkWriter(tmp_path, TOPIC, ExportSettings())
