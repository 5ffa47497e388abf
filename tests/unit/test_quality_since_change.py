"""bench/quality.py's measure of how quickly a legitimate change is learnt (issue 13 item 5)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from quality import SINCE, learnt_after, since_change


def test_each_customers_events_are_counted_from_their_own_first() -> None:
    # a: 12 events, flagged at its 1st, 3rd and 11th; b: 2 events, flagged at its 2nd
    customers = ["a", "b", "a", "b", *["a"] * 10]
    flags = np.array([True, False, False, True, True, *[False] * 7, True, False])
    bins = since_change(customers, flags)
    assert len(bins) == len(SINCE)
    assert bins == [(2, 1), (2, 1), (1, 1), (2, 0), (5, 0), (2, 1), (0, 0)]


def test_bins_meet_at_their_edges() -> None:
    # one customer, 21 events, only the 5th, 6th, 10th, 11th, 20th and 21st flagged
    flagged = {5, 6, 10, 11, 20, 21}
    bins = since_change(["c"] * 21, np.array([k in flagged for k in range(1, 22)]))
    assert bins == [(1, 0), (1, 0), (1, 0), (2, 1), (5, 2), (10, 2), (1, 1)]


def test_learnt_after_is_the_first_bin_of_the_run_within_2x_at_the_boundary() -> None:
    base = 0.01
    within = [(100, 2)] * len(SINCE)  # exactly 2x: within
    assert learnt_after(within, base) == "1"
    over = [(100, 50), (100, 3), *[(100, 2)] * (len(SINCE) - 2)]  # 3%: over 2x at the 2nd
    assert learnt_after(over, base) == "3"
    late = [*[(100, 2)] * (len(SINCE) - 1), (100, 3)]  # the last bin over: never
    assert learnt_after(late, base) == "never"
    empty_late = [(100, 9), *[(100, 2)] * (len(SINCE) - 3), (100, 2), (0, 0)]
    assert learnt_after(empty_late, base) == "2"  # a bin without rows breaks nothing
    assert learnt_after([*[(100, 9)] * 4, (100, 1), (100, 1), (100, 1)], base) == "6-10"
    assert learnt_after([*[(100, 9)] * 6, (100, 1)], base) == "21+"


def test_a_whatif_summary_states_the_budgets_flags_per_kind_and_group() -> None:
    from quality import whatif_summary

    # 100 rows, a 2 % budget: the one rule row and the best-scored other row are flagged
    y = np.zeros(100, dtype=bool)
    y[[0, 1, 2]] = True
    scores = np.linspace(0.0, 0.5, 100)
    scores[1] = 0.9  # the best non-rule score: flagged
    rules = np.zeros(100, dtype=bool)
    rules[0] = True
    types = np.array(["NORMAL"] * 100, dtype=object)
    types[[0, 1]] = "BURST"
    types[2] = "DRIFT"
    groups = {"moved": np.arange(100) >= 50, "rest": np.arange(100) < 50}
    lines = whatif_summary("today", y, scores, rules, types, groups)
    assert lines[0].startswith("today: PR-AUC ")
    assert "recall at 2% 66.7%, precision 100.0% (threshold 0.9000)" in lines[0]
    assert lines[1] == "  per kind: BURST 100.0% (2/2), DRIFT 0.0% (0/1)"
    assert lines[2] == "  normal rows flagged: moved 0.00%, rest 0.00%"
    assert whatif_summary("x", y, scores, rules, types, {})[2] == "  normal rows flagged: 0.00%"
