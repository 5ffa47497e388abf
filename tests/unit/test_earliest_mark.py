"""`sink.watermark.EarliestMark`: the earliest time `quorum` customers reached (where the
dashboards' date range starts), exact whatever the order, the batches or the merges."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.columns import SCORED_COLUMNS, SCORED_INDEX
from sink.rollup import RollupState
from sink.watermark import EarliestMark

T0 = datetime(2025, 1, 1)
_times = st.integers(0, 10**6).map(
    lambda s: (T0 + timedelta(seconds=s // 7, microseconds=(s % 7) * 125_000)).isoformat())
_rows = st.lists(st.tuples(st.sampled_from([f"c{i}" for i in range(12)]), _times), max_size=60)


def _expected(rows: list[tuple[str, str]], quorum: int) -> str:
    """The `quorum`-th smallest of the customers' first times, by brute force."""
    first: dict[str, datetime] = {}
    for customer, ts in rows:
        t = datetime.fromisoformat(ts)
        first[customer] = min(first.get(customer, t), t)
    ranked = sorted(first.values())
    return ranked[quorum - 1].isoformat() if len(ranked) >= quorum else ""


@settings(max_examples=300, deadline=None)
@given(_rows, st.integers(1, 6), st.integers(0, 60))
def test_the_mark_is_the_quorum_th_earliest_first_time_however_split_and_merged(
        rows: list[tuple[str, str]], quorum: int, cut: int) -> None:
    whole, left, right = EarliestMark(quorum), EarliestMark(quorum), EarliestMark(quorum)
    for customer, ts in rows:
        whole.see(customer, ts)
    for customer, ts in rows[:cut]:
        left.see(customer, ts)
    for customer, ts in rows[cut:]:
        right.see(customer, ts)
    left.absorb(right)
    assert whole.value == left.value == _expected(rows, quorum)
    assert EarliestMark.from_json(whole.to_json()).value == whole.value


def test_one_stray_customer_moves_it_not_and_a_quorum_does() -> None:
    mark = EarliestMark(3)
    mark.see("stray", "1970-01-01T00:00:00")
    for c in ("a", "b"):
        mark.see(c, "2025-01-01T10:00:00")
    assert mark.value == "2025-01-01T10:00:00"  # the 3rd earliest: the stray is 1 of 3
    mark.see("d", "2025-01-01T09:00:00")
    assert mark.value == "2025-01-01T10:00:00"
    mark.see("e", "1970-01-02T00:00:00")
    mark.see("f", "1970-01-03T00:00:00")  # three customers in 1970: the data starts there
    assert mark.value == "1970-01-03T00:00:00"


def test_a_rollup_saved_before_the_mark_keeps_its_earliest_time_as_the_floor() -> None:
    state = RollupState()
    saved = state.to_json()
    del saved["first_mark"]
    saved["event_min"] = "1970-01-01T00:00:00"
    restored = RollupState.from_json(saved)
    assert restored.first_mark.value == "1970-01-01T00:00:00"  # as it showed before


@settings(max_examples=200, deadline=None)
@given(_rows, st.lists(st.integers(1, 20), min_size=1, max_size=10))
def test_the_rollup_skips_only_batches_that_cannot_move_it(
        rows: list[tuple[str, str]], sizes: list[int]) -> None:
    """A batch no earlier than the kept customers' first times is not looked at row by row."""
    state, at, i = RollupState(), SCORED_INDEX, 0
    while i < len(rows):
        batch = rows[i: i + sizes[i % len(sizes)]]
        cells = [[""] * len(SCORED_COLUMNS) for _ in batch]
        for row, (customer, ts) in zip(cells, batch, strict=True):
            row[at["customer_id"]], row[at["timestamp"]] = customer, ts
        state._event_range(cells)  # the one place rows reach the mark
        i += len(batch)
    assert state.first_mark.value == _expected(rows, state.params.watermark_customers)
