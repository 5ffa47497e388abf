"""Reasons never repeat a field's value unboundedly (a huge category made a 2.7 MB message)."""

from __future__ import annotations

from datetime import datetime, timedelta

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.rules import VALUE_CHARS, quoted
from shared.schemas import Transaction

LONG_CATEGORY = "c" * 128  # the schema's longest merchant_category
LONG_COUNTRY = "X" * 64  # and longest country


def _history_then_odd(category: str, country: str) -> list[Transaction]:
    start = datetime(2025, 3, 1, 10)
    rows = [Transaction(transaction_id=f"h{i}", customer_id="c1",
                        timestamp=start + timedelta(hours=7 * i), amount=40.0 + i % 5,
                        country="CH", channel="app", device="phone", merchant_category=category,
                        ip="10.0.0.1") for i in range(40)]
    rows.append(Transaction(transaction_id="odd", customer_id="c1",
                            timestamp=start + timedelta(hours=7 * 40, minutes=5), amount=9000.0,
                            country=country, channel="web", device="new-pc",
                            merchant_category=category, ip="203.0.113.9"))
    return rows


def test_quoted_cuts_at_the_limit_and_not_before() -> None:
    assert quoted("a" * VALUE_CHARS) == "a" * VALUE_CHARS
    assert quoted("a" * (VALUE_CHARS + 1)) == "a" * VALUE_CHARS + "\u2026"
    assert quoted("a" * (VALUE_CHARS - 1)) == "a" * (VALUE_CHARS - 1)


def test_long_values_are_cut_in_every_reason() -> None:
    last = PartitionEngine(CoreConfig(), 0).process(_history_then_odd(LONG_CATEGORY,
                                                                      LONG_COUNTRY))[-1]
    assert last.reasons_top3, last
    text = " ".join(last.reasons_top3)
    assert LONG_COUNTRY not in text and LONG_CATEGORY[:VALUE_CHARS + 1] not in text
    assert any(("X" * VALUE_CHARS + "\u2026") in r or ("c" * VALUE_CHARS + "\u2026") in r
               for r in last.reasons_top3), last.reasons_top3
    assert all(len(r) < 3 * VALUE_CHARS + 120 for r in last.reasons_top3), last.reasons_top3


def test_short_values_are_kept_whole() -> None:
    last = PartitionEngine(CoreConfig(), 0).process(_history_then_odd("grocery", "CN"))[-1]
    text = " ".join(last.reasons_top3)
    assert "CN" in text or "grocery" in text, last.reasons_top3
    assert "\u2026" not in text
