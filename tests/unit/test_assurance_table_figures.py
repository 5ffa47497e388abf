"""assurance.csv's glue (`sink.assurance_table`), recomputed from the reviews by hand: which
reviews count where, and with what weight (the formulas themselves are
test_assurance_stats.py's)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest

from shared.columns import RULE_NAMES, SCORED_COLUMNS
from shared.schemas import ScoredTransaction
from sink.assurance import implied_recall, wilson
from sink.assurance_table import assurance, transaction_rows
from sink.cases import Case
from sink.csvfmt import number, scored_cells
from sink.reviews_state import ReviewBook
from sink.rollup import RollupParams, facts_of
from sink.volume import SinkRollup
from tests.unit.test_rollup_pandas import random_scored


def _state(n: int = 2_000, seed: int = 11) -> SinkRollup:
    rows = random_scored(n, seed=seed)
    state = SinkRollup(RollupParams(sample_per_band=5, top_cases=10_000))
    state.update([facts_of(r) for r in rows], [scored_cells(r) for r in rows])
    state.cases.fold()
    return state


def _review_sample(state: SinkRollup, reviews: ReviewBook) -> None:
    for _day, _band, _rank, row in state.sample.rows():
        outcome = "confirmed" if row[7] == "True" else "dismissed"
        reviews.current[f"transaction:{row[1]}"] = ["transaction", row[1], outcome, "a", "", ""]


def test_implied_recall_weighs_decided_cases_by_their_transactions_and_leaves_unclear_out(
) -> None:
    """s = transactions of confirmed cases / transactions of confirmed or dismissed cases,
    on d = the confirmed or dismissed cases (docs/assurance.md); an `unclear` case counts in
    neither (it would pull s down as a dismissal, or up as a confirmation)."""
    state = _state()
    cases = sorted(state.cases.cases.values(), key=lambda c: c.id)
    outcomes = ("confirmed", "dismissed", "unclear")
    reviewed = [(c, outcomes[i % 3]) for i, c in enumerate(cases[:30])]
    reviews = ReviewBook()
    for case, outcome in reviewed:
        reviews.current[f"case:{case.id}"] = ["case", case.id, outcome, "a", "", ""]
    _review_sample(state, reviews)
    got = assurance(state, reviews)

    confirmed = sum(len(c.txs) for c, o in reviewed if o == "confirmed")
    decided_tx = sum(len(c.txs) for c, o in reviewed if o != "unclear")
    decided = sum(o != "unclear" for _c, o in reviewed)
    assert confirmed < decided_tx  # several transactions in some dismissed case
    flagged = sum(state.detector_flag)
    miss = got.summary["miss_rate"]
    want = implied_recall(flagged, wilson(confirmed / decided_tx * decided, decided),
                          state.rows - flagged, (miss["estimate"], miss["low"], miss["high"]))
    assert want is not None
    assert got.summary["implied_recall"] == {"estimate": want[0], "low": want[1],
                                             "high": want[2]}
    (row,) = [r for r in got.rows if r[0] == "recall"]
    assert row[1] == "implied" and [float(x) for x in row[7:10]] == list(want)


def test_every_groups_row_is_its_reviewed_cases_and_label_counts_from_scratch() -> None:
    """Each mode, rule and threshold row (section, name, threshold) counted from the
    transactions of its cases (docs/assurance.md: `rules` any rule flag, `model` any
    is_ml_flag, a rule where it fired on any, `score >= t` / `model_score >= t` the case's
    highest reaching t, so a case whose highest is exactly t counts at t and not at t +
    0.01), and the reviewed precision at each threshold handed on for thresholds.csv."""
    rows = random_scored(2_000, seed=11)
    state = SinkRollup(RollupParams(sample_per_band=5, top_cases=10_000))
    state.update([facts_of(r) for r in rows], [scored_cells(r) for r in rows])
    state.cases.fold()
    assert state.cases.retired == {}  # every case kept: the counts below are over all
    by_id = {r.transaction_id: r for r in rows}
    cases = sorted(state.cases.cases.values(), key=lambda c: c.id)
    outcomes = ("confirmed", "dismissed", "confirmed", "unclear")
    reviews, outcome = ReviewBook(), {}
    for i, case in enumerate(cases[::2]):
        outcome[case.id] = outcomes[i % 4]
        reviews.current[f"case:{case.id}"] = ["case", case.id, outcome[case.id], "a", "", ""]
    got = assurance(state, reviews)
    table = {(r[0], r[1], r[2]): r for r in got.rows}

    def txs(case: Case) -> list[ScoredTransaction]:
        return [by_id[tx[0]] for tx in case.txs]

    def highest(case: Case, field: str) -> float:
        """The case's highest `field`; -1 without any (below every threshold)."""
        return max((getattr(t, field) for t in txs(case) if getattr(t, field) is not None),
                   default=-1.0)

    def fired(rule: str, case: Case) -> bool:
        return any(t.rule_flags.get(rule) for t in txs(case))

    def reaches(field: str, k: int, case: Case) -> bool:
        return highest(case, field) >= k / 100

    groups: dict[tuple[str, str, str], Callable[[Case], bool]] = {
        ("mode", "hybrid", ""): lambda c: True,
        ("mode", "rules", ""): lambda c: any(t.is_rule_flag for t in txs(c)),
        ("mode", "model", ""): lambda c: any(t.is_ml_flag for t in txs(c)),
    }
    for rule in RULE_NAMES:
        groups[("rule", rule, "")] = partial(fired, rule)
    for name, field in (("combined", "score"), ("ml", "model_score")):
        for k in range(101):
            groups[("threshold", name, f"{k / 100:.2f}")] = partial(reaches, field, k)
    on_grid = [k for k in range(101) for c in cases if c.id in outcome
               and highest(c, "score") == k / 100]
    assert on_grid  # some reviewed case's highest score is exactly a threshold
    for key, member in groups.items():
        members = [c for c in cases if member(c)]
        said = [outcome[c.id] for c in members if c.id in outcome]
        confirmed, dismissed = said.count("confirmed"), said.count("dismissed")
        labelled = [c for c in members if any(t.is_anomaly is not None for t in txs(c))]
        anomalous = [c for c in labelled if any(t.is_anomaly for t in txs(c))]
        want = wilson(confirmed, confirmed + dismissed)
        row = table[key]
        assert row[3:7] == [str(len(said)), str(confirmed), str(dismissed),
                            str(said.count("unclear"))], key
        assert row[7:10] == ([number(v) for v in want] if want else ["", "", ""]), key
        assert row[10:12] == [str(len(labelled)), number(len(anomalous) / len(labelled))
                              if labelled else ""], key
        if key[0] == "threshold":
            k = round(float(key[2]) * 100)
            assert got.precision_at[key[1]].get(k) == (want[0] if want else None), key


def test_the_label_truths_and_run_jsons_counts_from_scratch() -> None:
    """Beside the estimates, the truth from the labels (generated data): the miss rate's is
    the labelled anomalies among the labelled non-flagged rows, the recall's the flagged
    share of the labelled anomalies, each over its labelled rows; run.json's `assurance`
    counts the reviews read, rejected, current and counting nowhere, and the cases."""
    rows = random_scored(2_000, seed=11)
    state = _state()
    reviews = ReviewBook()
    _review_sample(state, reviews)
    reviews.current["case:no-such-case"] = ["case", "no-such-case", "confirmed", "a", "", ""]
    reviews.messages, reviews.rejected = len(reviews.current) + 3, 3
    got = assurance(state, reviews)
    table = {(r[0], r[1]): r for r in got.rows}

    labelled = [r for r in rows if r.is_anomaly is not None]
    quiet = [r for r in labelled if not r.is_flag]
    anomalies = [r for r in labelled if r.is_anomaly]
    assert table[("miss_rate", "audit_sample")][10:12] == [
        str(len(quiet)), number(sum(bool(r.is_anomaly) for r in quiet) / len(quiet))]
    assert table[("recall", "implied")][10:12] == [
        str(len(labelled)), number(sum(r.is_flag for r in anomalies) / len(anomalies))]
    summary = got.summary
    assert {k: summary[k] for k in ("reviews_read", "reviews_rejected", "reviews_current",
                                    "reviews_unmatched", "reviewed_cases", "cases_total",
                                    "flagged_rows_in_cases")} == {
        "reviews_read": len(reviews.current) + 3, "reviews_rejected": 3,
        "reviews_current": len(reviews.current), "reviews_unmatched": 1,
        "reviewed_cases": 0, "cases_total": len(state.cases.cases),
        "flagged_rows_in_cases": sum(r.is_flag for r in rows)}
    assert summary["labelled_recall"] == sum(r.is_flag for r in anomalies) / len(anomalies)
    # Kish's effective sample size of the stratified miss rate: 1 / sum_h W_h^2 / n_h
    n: dict[str, int] = {}
    for day, band, _rank, _row in state.sample.rows():
        n[f"{day}|{band}"] = n.get(f"{day}|{band}", 0) + 1
    pop = {s: state.sample.population[s] for s in n}
    w = {s: pop[s] / sum(pop.values()) for s in n}
    kish = 1 / sum(w[s] ** 2 / n[s] for s in n)
    assert len(n) > 1 and summary["miss_rate_effective_n"] == pytest.approx(kish, rel=1e-12)


def test_case_transactions_repeat_each_flagged_rows_cells_as_the_day_files_write_them() -> None:
    """case_transactions.csv: a listed case's transactions, each once, with the customer,
    timestamp, amount, score and label cells of transactions_scored.csv (the drill-through
    shows them beside the fact's)."""
    rows = random_scored(2_000, seed=11)
    cells = {r.transaction_id: scored_cells(r) for r in rows}
    state = _state()
    cases = sorted(state.cases.cases.values(), key=lambda c: c.id)[:40]
    col = {c: SCORED_COLUMNS.index(c) for c in ("customer_id", "timestamp", "amount",
                                                "score", "is_anomaly")}
    want = [[c.id, tx[0], *(cells[tx[0]][i] for i in col.values())]
            for c in cases for tx in c.txs]
    assert len({w[1] for w in want}) == len(want) > 40
    assert transaction_rows(cases) == want
