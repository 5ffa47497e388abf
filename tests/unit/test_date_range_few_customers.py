"""The dashboards' date range with fewer customers than the quorum (hostile probe leftover,
2026-12-06): one mistyped year must not stretch the axis to 2100 there either.

With EXPORTS_WATERMARK_CUSTOMERS (8) customers or more, the range is the days a quorum of
customers reached; with fewer it was the extremes, so 7 customers and one row dated 2100
gave a date table and a per-day axis of 1970..2100 (47,482 days). Now it is the earliest
and latest time 8 rows reached (`sink.watermark.RowQuorum`): with 7 customers, 7 stray
rows at an end are ignored and 8 are the data.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.pbix import date_rows
from shared.codec import encode
from shared.schemas import ScoredTransaction
from sink.offline import write_exports
from sink.rollup import RollupState
from sink.settings import ExportSettings
from sink.writer import SinkWriter
from tests.unit.test_rollup_pandas import random_scored

REAL = ("2025-01-01", "2025-01-02")  # random_scored's 3,000 rows, 37 s apart
FAR = {"late": datetime(2100, 12, 31, 23, 59, 59), "early": datetime(1970, 1, 1)}


def _rows(customers: int, strays: int) -> list[ScoredTransaction]:
    """3,000 rows of `customers` customers, and `strays` rows at each end of the schema's
    range (the last and first second it accepts) from one of those customers."""
    rows = [tx.model_copy(update={"customer_id": f"c{i % customers}"})
            for i, tx in enumerate(random_scored(3_000, seed=5))]
    far = [rows[i].model_copy(update={"transaction_id": f"{tag}-{i}", "timestamp": when})
           for tag, when in FAR.items() for i in range(strays)]
    return rows[:1500] + far + rows[1500:]


def _run(folder: Path) -> dict[str, Any]:
    run: dict[str, Any] = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    return run


def _range(run: dict[str, Any]) -> tuple[str, str]:
    return run["date_range_first"], run["date_range_last"]


@pytest.mark.parametrize("customers", [1, 6, 7, 8, 9])
def test_one_stray_row_at_each_end_moves_no_end_whatever_the_customers(
        tmp_path: Path, customers: int) -> None:
    write_exports(_rows(customers, 1), tmp_path, ExportSettings())
    run = _run(tmp_path)
    assert _range(run) == REAL
    # the true extremes stay recorded, so an auditor finds the stray rows by them
    assert (run["event_time_min"], run["event_time_max"]) == (
        "1970-01-01T00:00:00", "2100-12-31T23:59:59")
    assert [r["date"][:10] for r in date_rows(tmp_path)] == list(REAL)  # the date table


@pytest.mark.parametrize(("strays", "expected"), [
    (6, REAL), (7, REAL), (8, ("1970-01-01", "2100-12-31")), (9, ("1970-01-01", "2100-12-31"))])
def test_with_7_customers_a_far_day_joins_the_range_once_8_rows_reached_it(
        tmp_path: Path, strays: int, expected: tuple[str, str]) -> None:
    write_exports(_rows(7, strays), tmp_path, ExportSettings())
    assert _range(_run(tmp_path)) == expected


def test_fewer_rows_than_the_quorum_span_the_event_times(tmp_path: Path) -> None:
    rows = _rows(3, 1)
    write_exports(rows[1499:1502] + rows[-4:], tmp_path, ExportSettings())  # 7 rows
    assert _range(_run(tmp_path)) == ("1970-01-01", "2100-12-31")


def test_the_sink_gives_the_range_of_the_offline_exports_whatever_its_batches(
        tmp_path: Path) -> None:
    rows = _rows(7, 7)
    write_exports(rows, tmp_path / "offline", ExportSettings())
    writer = SinkWriter(tmp_path / "sink", "transactions.scored", ExportSettings())
    records = [(0, i, encode(tx)) for i, tx in enumerate(rows)]
    for start in range(0, len(records), 251):
        writer.add(records[start:start + 251])
        writer.checkpoint()
    writer.write_rollups(report=False)
    writer.close()
    assert _range(_run(tmp_path / "sink")) == _range(_run(tmp_path / "offline")) == REAL


def test_a_checkpoint_saved_before_the_row_marks_recounts_them_from_the_day_files(
        tmp_path: Path) -> None:
    from sink import state as st_

    rows = _rows(7, 1)
    writer = SinkWriter(tmp_path, "transactions.scored", ExportSettings())
    writer.add([(0, i, encode(tx)) for i, tx in enumerate(rows)])
    writer.checkpoint()
    writer.close()
    saved = json.loads((tmp_path / st_.STATE_FILE).read_text(encoding="utf-8"))
    saved["rollup"].pop("row_marks")  # as the version before wrote it
    (tmp_path / st_.STATE_FILE).write_text(json.dumps(saved), encoding="utf-8")
    writer = SinkWriter(tmp_path, "transactions.scored", ExportSettings())
    writer.write_rollups(report=False)
    writer.close()
    assert _range(_run(tmp_path)) == REAL


T0 = datetime(2025, 1, 1)
_times = st.integers(0, 10**6).map(
    lambda s: (T0 + timedelta(seconds=s // 7, microseconds=(s % 7) * 125_000)).isoformat())


@settings(max_examples=300, deadline=None)
@given(st.lists(_times, max_size=40), st.integers(1, 9), st.integers(0, 40))
def test_the_row_marks_are_the_quorum_th_times_however_split_and_merged(
        times: list[str], quorum: int, cut: int) -> None:
    from sink.watermark import RowQuorum, time_key

    whole, left, right = RowQuorum(quorum), RowQuorum(quorum), RowQuorum(quorum)
    whole.see_keys(map(time_key, times))
    left.see_keys(map(time_key, times[:cut]))
    right.see_keys(map(time_key, times[cut:]))
    left.absorb(right)
    ranked = sorted(times, key=datetime.fromisoformat)
    expected = (ranked[quorum - 1], ranked[-quorum]) if len(ranked) >= quorum else ("", "")
    assert whole.values == left.values == expected
    assert RowQuorum.from_json(whole.to_json()).values == expected
    state = RollupState()
    assert RollupState.from_json({**state.to_json(), "row_marks": whole.to_json()}
                                 ).row_marks.values == expected
