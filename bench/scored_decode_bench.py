"""The sink's decode of one typical scored row (`decode(value, ScoredTransaction)`): the median
microseconds per row of 7 runs of 20,000.

    python bench/scored_decode_bench.py LABEL

Run it from two trees, in turns, to compare them (docs/benchmarks.md, "Verdict text rule").
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))  # the tree it is run from, to compare two

from shared.codec import decode, encode
from shared.columns import RULE_NAMES
from shared.schemas import ScoredTransaction

ROWS, RUNS = 20_000, 7


def typical() -> bytes:
    """A flagged row with three reasons, two rules and every rule's flag."""
    return encode(ScoredTransaction(
        transaction_id="t-000123", customer_id="c-0042",
        timestamp=datetime(2025, 1, 1, 10, 5), amount=123.45, country="DE", channel="web",
        device="pc-7", merchant_category="groceries", score=0.91, model_score=0.8,
        is_ml_flag=True, is_rule_flag=True, is_flag=True,
        rule_flags={r: i % 3 == 0 for i, r in enumerate(RULE_NAMES)},
        triggered_rules=[RULE_NAMES[0], RULE_NAMES[3]],
        reasons_top3=["amount 1,234.00 is 9.1x this customer's usual 135.00",
                      "new device 'pc-7' (never seen in 40 purchases)",
                      "03 h purchase; 0 of 30 earlier ones at night"],
        model_version="iforest-7-a1b2c3", source_partition=1, source_offset=12345))


def main() -> None:
    value = typical()
    runs = []
    for _ in range(RUNS):
        start = time.perf_counter()
        for _ in range(ROWS):
            decode(value, ScoredTransaction)
        runs.append((time.perf_counter() - start) / ROWS * 1e6)
    label = sys.argv[1] if len(sys.argv) > 1 else "this tree"
    print(f"{label}: {statistics.median(runs):.2f} us/row")


if __name__ == "__main__":
    main()
