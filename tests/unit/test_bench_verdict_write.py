"""bench/verdict_write_bench.py's writer from columns gives today's scored messages byte for
byte on the engine's own verdict inputs (so its measured cost is that of the same output):
rows before and after the first model, fired rules, reasons, flagged rows, new offsets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import verdict_write_bench as bench

from detector.core.config import CoreConfig


def test_the_columns_writer_gives_todays_bytes_for_every_row() -> None:
    jobs = bench.capture(1_500, customers=60, config=CoreConfig(
        first_fit_after=400, refit_every=500, n_trees=10))
    assert bench.check(jobs) == 1_500
    rows = [row for job in jobs for row in bench.today(*job)]
    assert [row for job in jobs for row in bench.columns(*job)] == rows
    # the cases the writer joins by hand are all there
    assert any(b'"model_score":null' in r for r in rows)
    assert any(b'"model_score":0.' in r for r in rows)
    assert any(b'"is_rule_flag":true' in r for r in rows)
    assert any(b'"is_flag":true' in r and b'"is_rule_flag":false' in r for r in rows)
    assert any(b'"reasons_top3":["' in r for r in rows)
    assert rows[0].endswith(b'"source_partition":0,"source_offset":7}')


def test_a_row_written_differently_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = bench.capture(200, customers=20)
    real = bench.today

    def one_byte_off(*job: Any) -> list[bytes]:
        rows = real(*job)
        return [*rows[:-1], rows[-1].replace(b'"score":', b'"score": ')]

    monkeypatch.setattr(bench, "today", one_byte_off)
    with pytest.raises(AssertionError):
        bench.check(jobs)
