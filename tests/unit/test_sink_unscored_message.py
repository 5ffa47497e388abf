"""A transaction with no verdict field at all on the scored topic (a producer pointed at
the wrong topic, another writer of it): found by the twentieth session's soak
(docs/reliability.md, "Randomized soak"). The sink read it as a scored row, not flagged,
with no score: a second row of a real transaction's id in the day files, and an unscored
one counted as a miss-free row in every rollup. A scored message must now carry `is_flag`
(`shared.columns`: `required`), which every detector release wrote; without it the
message is rejected into sink_rejected.jsonl, by the schema and the fast decoder alike."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

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


def test_a_transaction_without_any_verdict_is_rejected(tmp_path: Path) -> None:
    assert _rejected_lines(tmp_path, encode(TX)) == 1


def test_a_message_that_is_no_transaction_is_rejected(tmp_path: Path) -> None:
    """The same writer's message cut short is rejected as it always was (the finding is
    about a whole transaction only)."""
    assert _rejected_lines(tmp_path, encode(TX)[:40]) == 1


def test_a_scored_message_without_is_flag_alone_is_rejected_and_with_it_taken(
        tmp_path: Path) -> None:
    """The one field required: a message with every other verdict field but `is_flag` is
    refused; the same message with it is exported (the fast decoder and the schema agree:
    `tests/unit/test_fastcodec_parity.py`)."""
    import orjson

    full = {**orjson.loads(encode(TX)), "score": 0.5, "model_score": 0.25,
            "is_ml_flag": False, "rule_flags": {}, "is_rule_flag": False,
            "reasons_top3": [], "triggered_rules": [], "model_version": "if-1",
            "source_partition": 0, "source_offset": 3}
    assert _rejected_lines(tmp_path / "without", orjson.dumps(full)) == 1
    assert _rejected_lines(tmp_path / "with", orjson.dumps({**full, "is_flag": True})) == 0
