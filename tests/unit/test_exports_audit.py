"""Edge cases an auditor recomputing the exports from the day files found (2026-12-05):
each figure below disagreed with its documented definition, or had none."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.schemas import ScoredTransaction
from sink.assurance import implied_recall
from sink.assurance_table import assurance
from sink.csvfmt import scored_cells
from sink.reviews_state import ReviewBook
from sink.rollup import RollupParams, facts_of
from sink.volume import SinkRollup
from tests.unit.test_rollup_pandas import random_scored

T0 = datetime(2025, 3, 1, 8)


def _tx(txid: str, amount: float, minute: int = 0, customer: str = "alice"
        ) -> ScoredTransaction:
    return ScoredTransaction(
        transaction_id=txid, customer_id=customer, timestamp=T0 + timedelta(minutes=minute),
        amount=amount, country="CH", channel="app", device="pc", merchant_category="food",
        score=0.9, model_score=0.5, rule_flags={"burst": True}, is_rule_flag=True,
        is_flag=True, triggered_rules=["burst"], reasons_top3=["r"],
    )


def _state(rows: list[ScoredTransaction], params: RollupParams | None = None) -> SinkRollup:
    state = SinkRollup(params)
    state.update([facts_of(r) for r in rows], [scored_cells(r) for r in rows])
    state.cases.fold()
    return state


def _total(rows: list[ScoredTransaction]) -> str:
    (case,) = _state(rows).cases.cases.values()
    return case.cells(1)[6]


def _cents(amounts: list[str]) -> str:
    """The auditor's total: the exact sum of the amount cells, to cents, half away from
    zero (Excel's and Power BI's ROUND)."""
    exact = sum((Decimal(a) for a in amounts), Decimal(0))
    return str(float(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)) + 0.0)  # -0 as 0


def test_a_case_total_ending_in_half_a_cent_rounds_away_from_zero_not_by_its_float_sum() -> None:
    # 9.06 + 13.1 + 8.615 + 14.47 + 12.31 = 57.555 exactly; the float sum is 57.554999...,
    # which round(x, 2) took down to 57.55 (found in a generated file with 3-decimal amounts).
    amounts = [9.06, 13.1, 8.615, 14.47, 12.31]
    assert _total([_tx(str(i), a, i) for i, a in enumerate(amounts)]) == "57.56"
    assert _total([_tx("r", -0.125)]) == "-0.13"  # a refund: away from zero too
    assert _total([_tx("a", 0.114), _tx("b", 0.0, 1)]) == "0.11"  # one either side
    assert _total([_tx("a", 0.116), _tx("b", 0.0, 1)]) == "0.12"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-10**7, 10**7), min_size=1, max_size=8))
def test_a_case_total_is_the_exact_sum_of_its_amount_cells_to_cents(mills: list[int]) -> None:
    rows = [_tx(str(i), m / 1000, i) for i, m in enumerate(mills)]
    assert _total(rows) == _cents([scored_cells(r)[3] for r in rows])


def _sample_reviewed(labelled: bool) -> dict[str, list[str]]:
    rows = random_scored(2_000, seed=11, labelled=labelled)
    state = _state(rows, RollupParams(sample_per_band=5, top_cases=10_000))
    reviews = ReviewBook()
    for _day, _band, _rank, row in state.sample.rows():
        outcome = "confirmed" if row[7] == "True" else "dismissed"
        reviews.current[f"transaction:{row[1]}"] = ["transaction", row[1], outcome, "a", "", ""]
    got = assurance(state, reviews).rows
    return {r[1]: r for r in got if r[0] == "miss_rate"}


def test_a_bands_miss_rate_row_has_no_label_figure_rather_than_0_labelled_rows() -> None:
    rows = _sample_reviewed(labelled=True)
    overall = rows.pop("audit_sample")
    assert overall[10] != "" and float(overall[10]) > 0 and overall[11] != ""
    assert rows and {(r[10], r[11]) for r in rows.values()} == {("", "")}, rows
    without = _sample_reviewed(labelled=False)
    assert without.pop("audit_sample")[11] == ""


def test_implied_recall_is_unknown_when_no_anomaly_is_estimated_at_all() -> None:
    # No confirmed case and no miss in the sample: T + M = 0, recall 0/0 (was 1.0).
    assert implied_recall(1_000, (0.0, 0.0, 0.3), 99_000, (0.0, 0.0, 0.01)) is None
    # One side known to be non-zero: a figure, at both ends of the boundary.
    assert implied_recall(1_000, (1e-9, 0.0, 0.3), 99_000, (0.0, 0.0, 0.01))[0] == 1.0  # type: ignore[index]
    assert implied_recall(1_000, (0.0, 0.0, 0.3), 99_000, (1e-9, 0.0, 0.01))[0] == 0.0  # type: ignore[index]


def test_a_cases_review_from_two_transactions_at_the_same_time_does_not_depend_on_order(
) -> None:
    at = datetime(2025, 2, 1, 9, tzinfo=UTC).isoformat().replace("+00:00", "Z")
    outcomes = []
    for order in (["t1", "t2"], ["t2", "t1"]):
        book = ReviewBook()
        book.current = {"transaction:t1": ["transaction", "t1", "confirmed", "a", at, ""],
                        "transaction:t2": ["transaction", "t2", "dismissed", "b", at, ""]}
        book.cases["c"] = {"reviewed_tx": order}
        outcomes.append(book.case_outcome("c"))
    assert outcomes[0] == outcomes[1] == "dismissed"  # equal times: the larger id's


def test_the_per_band_rows_are_the_stratified_rate_of_their_own_strata() -> None:
    """Every band's row from scratch with pandas (the overall one is in the auditor's
    script and test_assurance_stats): W_h over that band's reviewed strata only."""
    rows = random_scored(2_000, seed=12)
    state = _state(rows, RollupParams(sample_per_band=5, top_cases=10_000))
    reviews, rng = ReviewBook(), random.Random(1)
    sampled = []
    for day, band, _rank, row in state.sample.rows():
        if rng.random() < 0.7:
            outcome = "confirmed" if rng.random() < 0.3 else "dismissed"
            reviews.current[f"transaction:{row[1]}"] = ["transaction", row[1], outcome, "a",
                                                        "", ""]
            sampled.append((day, band, outcome))
    got = {r[1]: r for r in assurance(state, reviews).rows if r[0] == "miss_rate"}
    s = pd.DataFrame(sampled, columns=["day", "band", "outcome"])
    pop = pd.Series(state.sample.population)
    for band, g in s.groupby("band"):
        per = g.groupby("day")["outcome"].agg(n="size", x=lambda o: (o == "confirmed").sum())
        w = pop[[f"{d}|{band}" for d in per.index]].to_numpy(float)
        w /= w.sum()
        want = float((w * per["x"] / per["n"]).sum())
        assert abs(float(got[band][7]) - want) < 1e-12
        assert int(got[band][3]) == len(g)
