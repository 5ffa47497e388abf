"""`score` formats a row's cells and rollup facts from its input and verdict
(`verdict_cells`, `verdict_facts`) without making the scored row: the same cells and facts,
for any valid input and any verdict the core can give, as through a `ScoredTransaction`
(`scored_cells`, `facts_of`)."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, reject
from hypothesis import strategies as st
from pydantic import ValidationError

from detector.core.engine import scored_row
from detector.core.verdict import Verdict, scored_fields
from shared.schemas import Transaction
from sink.csvfmt import scored_cells, verdict_cells
from sink.rollup import facts_of, verdict_facts
from tests.unit.test_fastcodec_encode import PROPERTY, positions, verdicts
from tests.unit.test_property_encode import fields as valid_transactions

#: Values a cell writes in a way of its own: None, NaN, infinities, -0.0, exponent notation.
odd_numbers = st.sampled_from([None, math.nan, math.inf, -math.inf, -0.0, 1e-05, 1e16, 5e-324])


def _same(tx: Transaction, verdict: Any) -> None:
    row = scored_row(scored_fields(tx, verdict))
    assert verdict_cells(tx.__dict__, verdict) == scored_cells(row)
    assert verdict_facts(tx.is_anomaly, verdict) == facts_of(row)


@PROPERTY
@given(valid_transactions, verdicts, positions)
def test_any_row_has_the_cells_and_facts_its_scored_row_has(
    data: dict[str, Any], verdict: Any, position: tuple[int | None, int | None]
) -> None:
    try:
        tx = Transaction.model_validate(data)
    except ValidationError:
        reject()
    partition, offset = position
    _same(tx, Verdict(**{**{f: getattr(verdict, f) for f in verdict.__struct_fields__},
                         "source_partition": partition, "source_offset": offset}))


@given(odd_numbers, odd_numbers, st.sampled_from(["=cmd", "+1", "-5", "@x", "a,\"b\""]))
def test_odd_numbers_and_formula_text_are_written_alike(
    score: float | None, model: float | None, text: str
) -> None:
    tx = Transaction(transaction_id=text, customer_id="-3", timestamp="2025-01-01T00:00:00.5",
                     amount=-0.0, country="CH", channel=text, device="pc",
                     merchant_category="grocery", is_anomaly=True, anomaly_type=text)
    _same(tx, Verdict(score=score, model_score=model, reasons_top3=[text, "b"],
                      triggered_rules=["burst"], rule_flags={"burst": True},
                      model_version=text, source_partition=0, source_offset=2**63 - 1))
