"""bench/term_calibration.py records each row's term as the engine computed it, in order;
the engine's tap, which it reads, holds what the engine scored each row with."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.knobs import Knobs
from detector.core.surprise import TERMS, combine, to_score
from tests.unit.test_core_surprise import habitual_stream

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import term_calibration


def test_the_tap_holds_what_each_row_was_scored_with() -> None:
    """Without a model, a row no rule flags scores its recalibrated terms' combined
    surprise: the tap's terms are the ones behind every verdict, row for row (enough rows
    that the recalibration maps some terms down, so raw terms would not do)."""
    rows = habitual_stream(customers=20, per_customer=80)
    config = CoreConfig(first_fit_after=10**9)
    engine = PartitionEngine(config)
    engine.tap = []
    verdicts = engine.verdicts(rows)
    assert len(engine.tap) == len(rows)
    knobs = Knobs(config)
    plain = 0
    for verdict, (raw, mapped, reasons, _) in zip(verdicts, engine.tap, strict=True):
        assert len(raw) == len(mapped) == len(TERMS)
        assert all(m <= r for m, r in zip(mapped, raw, strict=True))  # never mapped up
        assert set(reasons) <= set(TERMS)
        if not verdict.is_rule_flag:
            plain += 1
            assert verdict.score == round(min(max(to_score(combine(mapped, knobs), knobs),
                                                  0.0), 1.0), 6)
    assert plain > len(rows) // 2
    assert sum(raw != mapped for raw, mapped, _, _ in engine.tap) > len(rows) // 10
    assert any(combine(mapped, knobs) > 0 for _, mapped, _, _ in engine.tap)
    assert PartitionEngine(config).tap is None  # off unless asked for


def test_records_the_engines_terms_row_by_row() -> None:
    rows = habitual_stream(customers=4, per_customer=40)
    raw, calibrated, learnt = term_calibration.record(rows, CoreConfig(), "hour")
    engine = PartitionEngine(CoreConfig())
    engine.tap = []
    engine.process(rows)
    hour = TERMS.index("hour")
    assert raw.tolist() == [values[hour] for values, _, _, _ in engine.tap]
    assert len(calibrated) == len(learnt) == len(rows)
    assert np.all(calibrated <= raw)  # the recalibration never maps a term up
    per_customer: dict[str, int] = {}
    for row, seen in zip(rows, learnt.tolist(), strict=True):
        assert seen <= per_customer.get(row.customer_id, 0)
        per_customer[row.customer_id] = per_customer.get(row.customer_id, 0) + 1
    assert learnt.max() > CoreConfig().min_history
