"""EXPORTS_DAILY_CAPACITY: expected cases per day in thresholds.csv, and the recommended
threshold the cheapest among those whose cases per day fit (labels, or reviewed precision)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from shared.schemas import ScoredTransaction
from sink.bins import GRID
from sink.csvfmt import scored_cells
from sink.offline import write_exports
from sink.rollup import facts_of
from sink.settings import ExportSettings
from sink.tables import Capacity, cases_per_day, mode_stats, recommend
from sink.volume import SinkRollup
from tests.unit.test_rollup_pandas import random_scored


def _state(labelled: bool = True) -> SinkRollup:
    rows = random_scored(3_000, seed=31, labelled=labelled)
    state = SinkRollup()
    state.update([facts_of(t) for t in rows], [scored_cells(t) for t in rows])
    return state


def test_cases_per_day_in_thresholds_csv_from_scratch(tmp_path: Path) -> None:
    rows = random_scored(3_000, seed=31)
    write_exports(rows, tmp_path)
    th = pd.read_csv(tmp_path / "thresholds.csv")
    flagged = [t for t in rows if t.is_flag]
    cases = pd.read_csv(tmp_path / "cases.csv")  # every case is recent here: all listed
    times = [t.timestamp for t in rows]
    days = max(1.0, (max(times) - min(times)).total_seconds() / 86400)
    per_row = len(cases) / len(flagged)
    for k in (0, 37, 90, 100):
        t = GRID[k]
        n = sum((r.score if r.score is not None else -1.0) >= t for r in rows)
        assert th.loc[k, "combined_cases_per_day"] == pytest.approx(n * per_row / days)
        m = sum((r.model_score if r.model_score is not None else -1.0) >= t or r.is_rule_flag
                for r in rows)
        assert th.loc[k, "hybrid_cases_per_day"] == pytest.approx(m * per_row / days)


@pytest.mark.parametrize("delta", [0.0, -1e-9])
def test_the_capacity_at_a_thresholds_cases_per_day_admits_it_and_just_below_does_not(
    delta: float,
) -> None:
    state = _state()
    plain = ExportSettings(cost_fn=1000)  # a miss costs so much that more work pays
    stats = mode_stats(state, plain)
    per_day = cases_per_day(state, stats)
    free = recommend(stats, plain)
    assert free is not None
    day = [v or 0.0 for v in per_day["combined"]]
    # A capacity that binds: the cases per day of the first threshold below the cheapest's.
    k = next(j for j in range(len(GRID)) if day[j] < day[free.index])
    settings = ExportSettings(cost_fn=1000, daily_capacity=day[k] + delta)
    rec = recommend(stats, settings, Capacity(per_day, {}))
    assert rec is not None and rec.within_budget and "cases/day" in rec.criterion
    fits = [j for j in range(len(GRID)) if day[j] <= day[k] + delta]
    assert (k in fits) == (delta == 0.0)  # at the capacity it fits; a hair below, not
    best = min(fits, key=lambda j: (stats["combined"][j].expected_cost or 0.0, -j))
    assert rec.index == best and day[rec.index] <= day[k] + delta < day[free.index]


def test_without_labels_the_reviewed_precision_chooses_within_the_capacity() -> None:
    state = _state(labelled=False)
    stats = mode_stats(state, ExportSettings())
    per_day = cases_per_day(state, stats)
    assert recommend(stats, ExportSettings()) is None
    # reviewed precision: poor below 0.5, good from 0.5 up
    precision = {k: (0.05 if k < 50 else 0.9) for k in range(len(GRID))}
    settings = ExportSettings(daily_capacity=1e9, cost_fp=1, cost_fn=10)
    rec = recommend(stats, settings, Capacity(per_day, {"combined": precision}))
    assert rec is not None and "reviewed precision" in rec.criterion

    def cost(j: int) -> float:
        c, p = per_day["combined"][j] or 0.0, precision[j]
        return 1 * c * (1 - p) - 10 * c * p

    assert rec.index == min(range(len(GRID)), key=lambda j: (cost(j), -j))


def test_thresholds_csv_carries_the_capacity_on_every_row_or_leaves_it_empty(
    tmp_path: Path,
) -> None:
    rows = random_scored(500, seed=32)
    write_exports(rows, tmp_path / "set", ExportSettings(daily_capacity=12.5))
    write_exports(rows, tmp_path / "unset")
    got = pd.read_csv(tmp_path / "set" / "thresholds.csv", dtype=str, keep_default_na=False)
    assert set(got["daily_capacity"]) == {"12.5"} and len(got) == len(GRID)
    got = pd.read_csv(tmp_path / "unset" / "thresholds.csv", dtype=str, keep_default_na=False)
    assert set(got["daily_capacity"]) == {""}


def _per_day(rows: list[ScoredTransaction]) -> list[float | None]:
    state = SinkRollup()
    state.update([facts_of(t) for t in rows], [scored_cells(t) for t in rows])
    return cases_per_day(state, mode_stats(state, ExportSettings()))["combined"]


def _spread(days: int) -> list[ScoredTransaction]:
    """random_scored's rows moved onto `days` consecutive days, a few hours each."""
    rows = random_scored(3_000, seed=31)
    return [t.model_copy(update={"timestamp": datetime(2025, 3, 1) + timedelta(
        days=i % days, seconds=(i // days) * 7)}) for i, t in enumerate(rows)]


@pytest.mark.parametrize("when", [datetime(1970, 1, 1), datetime(2100, 12, 31, 23, 59, 59)])
@pytest.mark.parametrize("flagged", [False, True])
def test_one_row_dated_far_away_does_not_stretch_the_days_of_cases_per_day(
    when: datetime, flagged: bool,
) -> None:
    """One row dated 1970 or 2100 made the span of event time decades long, and every
    expected cases per day (and so the capacity rule) about zero (a hostile probe,
    2026-12-05). Days are never more than the days that have rows."""
    rows = _spread(30)
    far = rows[0].model_copy(update={"transaction_id": "far", "timestamp": when,
                                     "is_flag": flagged})
    before, after = _per_day(rows), _per_day([*rows, far])
    for k in (0, 37, 90):
        b, a = before[k], after[k]
        assert b is not None and a is not None and b > 0
        # 30 days of rows (a span of 29.x days) and one more day: 31 days at most
        assert b * 29 / 31 <= a <= b * 1.01, (k, b, a)


@pytest.mark.parametrize("days", [1, 2, 30])
def test_rows_on_every_day_keep_their_span_of_event_time(days: int) -> None:
    """Where every day has rows the span (first to last row) decides, as before."""
    rows = _spread(days)
    times = [t.timestamp for t in rows]
    span = max(1.0, (max(times) - min(times)).total_seconds() / 86400)
    flagged = sum(1 for t in rows if (t.score if t.score is not None else -1.0) >= GRID[0])
    state = SinkRollup()
    state.update([facts_of(t) for t in rows], [scored_cells(t) for t in rows])
    state.cases.fold()
    per_row = state.cases.created / state.cases.flagged
    assert _per_day(rows)[0] == pytest.approx(flagged * per_row / span)


def test_a_rollup_restored_without_its_days_falls_back_to_the_span() -> None:
    """A checkpoint of a sink from before the volume counts has no days of its earlier
    rows: the span alone, never the few days counted since."""
    rows = _spread(30)
    far = rows[0].model_copy(update={"transaction_id": "far",
                                     "timestamp": datetime(2025, 12, 31)})
    state = SinkRollup()
    state.update([facts_of(t) for t in rows], [scored_cells(t) for t in rows])
    data = state.to_json()
    del data["volume"]
    restored = SinkRollup.from_json(data)
    restored.update([facts_of(far)], [scored_cells(far)])
    times = [t.timestamp for t in [*rows, far]]
    span = (max(times) - min(times)).total_seconds() / 86400
    stats = mode_stats(restored, ExportSettings())
    flagged = stats["combined"][0].flagged
    restored.cases.fold()
    per_row = restored.cases.created / restored.cases.flagged
    assert cases_per_day(restored, stats)["combined"][0] == pytest.approx(
        flagged * per_row / span)
