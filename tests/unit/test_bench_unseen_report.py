"""bench/accumulate_whatif.py's proposed term and bench/unseen_report.py's incident order."""

from __future__ import annotations

import math
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from shared.schemas import ScoredTransaction

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from accumulate_whatif import accumulated, binomial_tail
from unseen_report import incident_order

T0 = datetime(2025, 1, 1)


def _row(i: int, customer: str, kind: str | None = None) -> ScoredTransaction:
    return ScoredTransaction.model_construct(
        transaction_id=str(i), customer_id=customer, timestamp=T0 + timedelta(hours=i),
        amount=10.0, country="CH", channel="web", device="pc", merchant_category="grocery",
        ip="10.0.0.1", is_anomaly=kind is not None, anomaly_type=kind, is_flag=False)


def test_binomial_tail_is_the_exact_upper_tail() -> None:
    assert math.isclose(binomial_tail(0, 5, 0.3), 1.0)
    assert math.isclose(binomial_tail(3, 3, 0.5), 0.125)
    assert math.isclose(binomial_tail(2, 3, 0.5), 0.5)


def test_a_run_of_tail_events_accumulates_and_a_lone_one_does_not() -> None:
    rows = [_row(i, "c") for i in range(8)]
    terms = np.zeros((8, 12))
    terms[0, 3] = 5.0  # a lone tail event
    terms[4:, 3] = 4.5  # then four in a row
    out = accumulated(rows, terms, cap=12.0)
    assert out[0] == 0.0 and out[1:4].tolist() == [0.0, 0.0, 0.0]
    assert 0.0 < out[5] < out[6] < out[7] <= 12.0


def test_other_customers_tail_events_do_not_count() -> None:
    rows = [_row(i, f"c{i}") for i in range(6)]
    terms = np.full((6, 12), 0.0)
    terms[:, 2] = 6.0
    assert accumulated(rows, terms, cap=12.0).tolist() == [0.0] * 6


def test_incident_order_counts_a_customers_rows_of_each_kind() -> None:
    rows = [_row(0, "a", "X"), _row(1, "b", "X"), _row(2, "a"), _row(3, "a", "X"),
            _row(4, "a", "Y")]
    assert incident_order(rows).tolist() == [1, 1, 0, 2, 1]
