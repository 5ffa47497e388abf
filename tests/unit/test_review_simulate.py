"""The simulated reviewer of `demo --review` and the end-to-end tests."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditstream.review.simulate import (
    Reviewer,
    keyed_uniform,
    labels_from_csv,
    simulate,
    simulated_outcome,
)

NOW = datetime(2025, 5, 1, tzinfo=UTC)


def test_anomalies_are_confirmed_below_the_accuracy_and_missed_at_it() -> None:
    assert simulated_outcome(True, 0.7999, 0.8) == "confirmed"
    assert simulated_outcome(True, 0.8, 0.8) == "dismissed"
    assert simulated_outcome(False, 0.0, 0.8) == "dismissed"  # false_confirm 0: never


def test_normal_items_are_confirmed_below_the_false_confirm_rate_only() -> None:
    assert simulated_outcome(False, 0.0499, 0.8, 0.05) == "confirmed"
    assert simulated_outcome(False, 0.05, 0.8, 0.05) == "dismissed"


def test_share_of_right_answers_matches_the_accuracy() -> None:
    r = Reviewer(accuracy=0.8, seed=7)
    n = 20_000
    right = sum(r.outcome("case", f"c{i}", True) == "confirmed" for i in range(n))
    # Binomial(20000, 0.8): sd = 56.6; 5 sd either side.
    assert abs(right - 0.8 * n) < 5 * 56.6


def test_fraction_picks_a_seeded_subset() -> None:
    assert Reviewer(fraction=0.0).outcome("case", "c1", True) is None
    picked = {i for i in range(2000) if Reviewer(fraction=0.3, seed=1).outcome(
        "transaction", str(i), False) is not None}
    assert abs(len(picked) - 600) < 5 * 20.5
    again = {i for i in range(2000) if Reviewer(fraction=0.3, seed=1).outcome(
        "transaction", str(i), False) is not None}
    assert picked == again
    assert keyed_uniform(1, "a", "x") != keyed_uniform(2, "a", "x")


def test_bad_accuracy_is_refused() -> None:
    with pytest.raises(ValueError, match="accuracy, false_confirm and fraction"):
        Reviewer(accuracy=1.01)
    with pytest.raises(ValueError, match="must lie in"):
        Reviewer(false_confirm=-0.01)


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def test_cases_are_true_when_any_transaction_is_and_unknown_truth_stays_open(
    tmp_path: Path,
) -> None:
    _csv(tmp_path / "cases.csv", ["rank", "case_id", "outcome"],
         [["1", "case-a", ""], ["2", "case-b", ""], ["3", "case-c", ""]])
    _csv(tmp_path / "case_transactions.csv", ["case_id", "transaction_id"],
         [["case-a", "T1"], ["case-a", "T2"], ["case-b", "T3"], ["case-c", "T4"],
          ["case-c", "T99"]])
    _csv(tmp_path / "audit_sample.csv", ["day", "transaction_id"],
         [["d", "T5"], ["d", "'-T6"], ["d", "T98"]])
    labels = {"T1": False, "T2": True, "T3": False, "T4": True, "T5": False, "-T6": True}
    reviews = simulate(tmp_path, labels, Reviewer(accuracy=1.0), NOW)
    assert [(r.target, r.id, r.outcome) for r in reviews] == [
        ("case", "case-a", "confirmed"), ("case", "case-b", "dismissed"),
        ("transaction", "T5", "dismissed"), ("transaction", "-T6", "confirmed")]
    assert {r.reviewer for r in reviews} == {"simulated reviewer"}
    wrong = simulate(tmp_path, labels, Reviewer(accuracy=0.0, false_confirm=1.0), NOW)
    assert [r.outcome for r in wrong] == ["dismissed", "confirmed", "confirmed", "dismissed"]


def test_labels_from_a_generated_csv(tmp_path: Path) -> None:
    _csv(tmp_path / "g.csv", ["transaction_id", "is_anomaly"],
         [["T1", "True"], ["T2", "False"], ["T3", ""]])
    assert labels_from_csv(tmp_path / "g.csv") == {"T1": True, "T2": False}
