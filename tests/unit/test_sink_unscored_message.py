"""A transaction with no verdict field at all on the scored topic (a producer pointed at
the wrong topic, another writer of it): found by the twentieth session's soak
(docs/reliability.md, "Randomized soak"), not fixed. The sink reads it as a scored row,
not flagged, with no score: a second row of a real transaction's id in the day files, and
an unscored one counted as a miss-free row in every rollup."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from shared.codec import encode
from shared.exports_folder import REJECTED_FILE
from shared.schemas import Transaction
from sink.settings import ExportSettings
from sink.writer import SinkWriter

TX = Transaction(transaction_id="t-1", customer_id="c-9", timestamp=datetime(2025, 1, 2, 3, 4),
                 amount=12.5, country="DE", channel="web", device="d1",
                 merchant_category="grocery")


def _rejected_lines(folder: Path, value: bytes) -> int:
    w = SinkWriter(folder, "transactions.scored", ExportSettings())
    w.add([(0, 0, value)])
    w.checkpoint()
    w.close()
    path = folder / REJECTED_FILE
    return path.read_text().count("\n") if path.exists() else 0


@pytest.mark.xfail(strict=True, reason="no verdict field is required of a scored message "
                   "(soak20, 2026-12-07): the fix touches the schema and the fast decoder")
def test_a_transaction_without_any_verdict_is_rejected(tmp_path: Path) -> None:
    assert _rejected_lines(tmp_path, encode(TX)) == 1


def test_a_message_that_is_no_transaction_is_rejected(tmp_path: Path) -> None:
    """The same writer's message cut short is rejected as it always was (the finding is
    about a whole transaction only)."""
    assert _rejected_lines(tmp_path, encode(TX)[:40]) == 1
