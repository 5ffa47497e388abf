"""Small hand-checked cases for the rollup state and tables."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from shared.schemas import ScoredTransaction
from sink.csvfmt import scored_cells
from sink.offline import write_exports
from sink.rollup import RollupParams, RollupState, facts_of, score_bin


@pytest.mark.parametrize(("score", "threshold_index"), [
    (0.29, 29), (0.3, 30), (0.57, 57), (1.0, 100), (0.0, 0), (0.009999, 0), (0.995, 99),
])
def test_a_score_on_the_grid_counts_as_reaching_that_threshold(
    score: float, threshold_index: int
) -> None:
    # bin k+1 means "score >= k/100 and < (k+1)/100", with the very floats pandas compares
    assert score_bin(score) == threshold_index + 1
    assert score >= threshold_index / 100


@pytest.mark.parametrize("score", [None, float("nan"), -0.5])
def test_a_missing_or_negative_score_is_never_ml_flagged(score: float | None) -> None:
    assert score_bin(score) == 0


def _tx(i: int, kind: str | None, burst: bool, score: float = 0.1) -> ScoredTransaction:
    return ScoredTransaction(
        transaction_id=str(i), customer_id="c", timestamp=datetime(2025, 1, 1, 0, 0, i),
        amount=10.0, country="CH", channel="app", device="pc", merchant_category="food",
        is_anomaly=kind is not None, anomaly_type=kind or "normal", score=score,
        rule_flags={"burst": burst}, is_rule_flag=burst, is_flag=burst,
        triggered_rules=["burst"] if burst else [],
    )


def test_rule_precision_counts_every_row_the_rule_flagged_not_one_types_rows(
    tmp_path: Path,
) -> None:
    # burst fires on one BURST anomaly and on three normal rows: precision 1/4, not 1.0
    rows = [_tx(0, "BURST", True), _tx(1, None, True), _tx(2, None, True), _tx(3, None, True),
            _tx(4, "HIGH_AMOUNT", False), _tx(5, None, False)]
    write_exports(rows, tmp_path)
    m = pd.read_csv(tmp_path / "metrics_by_type.csv", dtype=str, keep_default_na=False)
    burst = m[(m["section"] == "rule") & (m["name"] == "burst")].iloc[0]
    assert (burst["flags"], burst["true_flags"], float(burst["precision"])) == ("4", "1", 0.25)
    kinds = m[m["section"] == "anomaly_type"].set_index("name")
    assert kinds.loc["BURST", "recall"] == "1.0" and kinds.loc["HIGH_AMOUNT", "support"] == "1"
    assert kinds.loc["BURST", "precision"] == ""  # no per-type precision to get wrong


def test_rollup_state_round_trips_through_json_exactly() -> None:
    rows = [_tx(i, "BURST" if i % 3 == 0 else None, i % 2 == 0, i / 10) for i in range(10)]
    state = RollupState(RollupParams(top_cases=5))
    state.update([facts_of(t) for t in rows], [scored_cells(t) for t in rows])
    again = RollupState.from_json(json.loads(json.dumps(state.to_json())))
    assert again.to_json() == state.to_json()
    assert again.rows == 10 and again.event_min == "2025-01-01T00:00:00"
