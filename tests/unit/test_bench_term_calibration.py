"""bench/term_calibration.py records each row's term as the engine computed it, in order,
and leaves the engine as it found it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import detector.core.engine as engine_module
from detector.core.calibration import Recalibration
from detector.core.config import CoreConfig
from tests.unit.test_core_surprise import habitual_stream, scored_terms

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import term_calibration


def test_records_the_engines_terms_row_by_row_and_restores_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rows = habitual_stream(customers=4, per_customer=40)
    terms_before = getattr(engine_module, term_calibration.HOOK)
    apply_before = Recalibration.apply
    raw, calibrated, learnt = term_calibration.record(rows, CoreConfig(), "hour")
    assert getattr(engine_module, term_calibration.HOOK) is terms_before
    assert Recalibration.apply is apply_before
    expected = [t["hour"] for t in scored_terms(rows, monkeypatch)]
    assert raw.tolist() == expected
    assert len(calibrated) == len(learnt) == len(rows)
    assert np.all(calibrated <= raw)  # the recalibration never maps a term up
    per_customer: dict[str, int] = {}
    for row, seen in zip(rows, learnt.tolist(), strict=True):
        assert seen <= per_customer.get(row.customer_id, 0)
        per_customer[row.customer_id] = per_customer.get(row.customer_id, 0) + 1
    assert learnt.max() > CoreConfig().min_history
