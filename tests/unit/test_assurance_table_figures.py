"""assurance.csv's glue (`sink.assurance_table`), recomputed from the reviews by hand: which
reviews count where, and with what weight (the formulas themselves are
test_assurance_stats.py's)."""

from __future__ import annotations

from sink.assurance import implied_recall, wilson
from sink.assurance_table import assurance
from sink.csvfmt import scored_cells
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
