"""assurance.csv and the review columns of cases.csv / audit_sample.csv, from the state.

Joins the review book (`sink.reviews_state`) with the case book and the audit sample of
the rollup; the formulas are in `sink.assurance`. Cost: the listed cases, the sample and
the reviews, never the rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from shared.columns import RULE_NAMES
from shared.schemas import unguarded
from sink.assurance import Stratum, Tally, groups, implied_recall, miss_rate, wilson
from sink.bins import GRID
from sink.cases import CASE_CELLS, Case
from sink.csvfmt import number, ratio, text
from sink.reviews_state import ReviewBook
from sink.rollup import NEG, POS, RollupState
from sink.sampling import BAND_NAMES

Key = tuple[str, str, int | None]
_NO_REVIEW = ["", "", "", ""]


@dataclass
class Assurance:
    rows: list[list[str]]
    summary: dict[str, Any]
    #: grid index -> reviewed precision of cases with score >= t (combined) / model_score (ml)
    precision_at: dict[str, dict[int, float]] = field(default_factory=dict)


def _split(fact: str) -> tuple[int, int, bool, bool, list[str]]:
    sbin, mbin, ml, rule, rules = fact.split("|", 4)
    return int(sbin), int(mbin), ml == "1", rule == "1", rules.split(";") if rules else []


def _groups(fact: str) -> list[Key]:
    return groups(*_split(fact))


def assurance(state: RollupState, reviews: ReviewBook | None) -> Assurance:
    """Every figure of assurance.csv and run.json's `assurance`."""
    book, sample = state.cases, state.sample
    book.fold()
    reviews = reviews or ReviewBook()
    reviews.remember(book, sample)
    tallies: dict[Key, Tally] = {}

    def tally(key: Key) -> Tally:
        found = tallies.get(key)
        if found is None:
            found = tallies[key] = Tally()
        return found

    for case in book.cases.values():
        for key in _groups(case.fact()):
            t = tally(key)
            t.labelled += case.labels[1] > 0
            t.anomalous += case.labels[0] > 0
    for fact, (_n, labelled, anomalous) in book.retired.items():
        for key in _groups(fact):
            t = tally(key)
            t.labelled += labelled
            t.anomalous += anomalous
    tx_confirmed = tx_decided = decided = 0
    for cid, known in reviews.cases.items():
        outcome = reviews.case_outcome(cid)
        if outcome is None or "fact" not in known:
            continue
        for key in _groups(known["fact"]):
            tally(key).add_outcome(outcome)
        if outcome in ("confirmed", "dismissed"):
            decided += 1
            tx_decided += known["transactions"]
            tx_confirmed += known["transactions"] if outcome == "confirmed" else 0
    rows: list[list[str]] = []

    def emit(section: str, name: str, k: int | None, t: Tally,
             est: tuple[float, float, float] | None, truth: float | None,
             labelled: int | None = None, label_figures: bool = True) -> None:
        count = (t.labelled if labelled is None else labelled) if label_figures else None
        rows.append([section, text(name), "" if k is None else f"{GRID[k]:.2f}",
                     str(t.reviewed), str(t.confirmed), str(t.dismissed), str(t.unclear),
                     *(number(v) for v in (est or (None, None, None))),
                     number(count), number(truth)])

    for mode in ("rules", "model", "hybrid"):
        t = tally(("mode", mode, None))
        emit("mode", mode, None, t, t.precision(), t.labelled_precision())
    seen_rules = sorted({k[1] for k in tallies if k[0] == "rule"} - set(RULE_NAMES))
    for rule in (*RULE_NAMES, *seen_rules):
        t = tally(("rule", rule, None))
        emit("rule", rule, None, t, t.precision(), t.labelled_precision())
    precision_at: dict[str, dict[int, float]] = {"combined": {}, "ml": {}}
    for name in ("combined", "ml"):  # cases with score >= GRID[k]: bins k+1 and above
        above = Tally()
        for b in range(len(GRID), 0, -1):
            part = tallies.get(("bin", name, b))
            if part is not None:
                above = Tally(*(x + y for x, y in zip(_fields(above), _fields(part),
                                                      strict=True)))
            tallies[("threshold", name, b - 1)] = above
        for k in range(len(GRID)):
            t = tally(("threshold", name, k))
            est = t.precision()
            if est is not None:
                precision_at[name][k] = est[0]
            emit("threshold", name, k, t, est, t.labelled_precision())

    # The audit sample: per stratum, its population and the decisive reviews among it.
    per: dict[str, list[int]] = {s: [n, 0, 0, 0] for s, n in sample.population.items()}
    for txid, (stratum, _label) in reviews.sampled.items():
        got = reviews.outcome("transaction", txid)
        if got is None or stratum not in per:
            continue
        counts = per[stratum]
        counts[1 + ("confirmed", "dismissed", "unclear").index(got[2])] += 1
    flagged = sum(state.detector_flag)
    non_flagged = state.rows - flagged
    pos_nf = int(state.counts[POS].sum()) - state.detector_flag[POS]
    neg_nf = int(state.counts[NEG].sum()) - state.detector_flag[NEG]
    overall: tuple[float, float, float, float] | None = None
    for band in (None, *BAND_NAMES):
        strata = [(s, c) for s, c in per.items() if band is None or s.endswith("|" + band)]
        found = miss_rate([Stratum(c[0], c[1] + c[2], c[1]) for _s, c in strata])
        est = found[:3] if found is not None else None
        t = Tally(sum(c[1] for _s, c in strata), sum(c[2] for _s, c in strata),
                  sum(c[3] for _s, c in strata))
        if band is None:
            overall = found
            emit("miss_rate", "audit_sample", None, t, est, ratio(pos_nf, pos_nf + neg_nf),
                 pos_nf + neg_nf)
        elif t.reviewed:  # no label counts by band: empty, not "0 labelled rows"
            emit("miss_rate", band, None, t, est, None, label_figures=False)
    p_tx = wilson(tx_confirmed / tx_decided * decided, decided) if tx_decided else None
    recall = implied_recall(flagged, p_tx, non_flagged, overall[:3] if overall else None)
    n_pos = int(state.counts[POS].sum())
    emit("recall", "implied", None, Tally(), recall, ratio(state.detector_flag[POS], n_pos),
         n_pos + int(state.counts[NEG].sum()))
    hybrid = tally(("mode", "hybrid", None))
    summary = {
        "reviews_read": reviews.messages,
        "reviews_rejected": reviews.rejected,
        "reviews_current": len(reviews.current),
        "reviews_unmatched": reviews.unmatched(),
        "reviewed_cases": hybrid.reviewed,
        "reviewed_precision": _triple(hybrid.precision()),
        "labelled_precision": hybrid.labelled_precision(),
        "miss_rate": _triple(overall[:3] if overall else None),
        "miss_rate_effective_n": overall[3] if overall else None,
        "implied_recall": _triple(recall),
        "labelled_recall": ratio(state.detector_flag[POS], n_pos),
        "cases_total": book.created,
        "flagged_rows_in_cases": book.flagged,
    }
    return Assurance(rows, summary, precision_at)


def _fields(t: Tally) -> tuple[int, int, int, int, int]:
    return t.confirmed, t.dismissed, t.unclear, t.labelled, t.anomalous


def _triple(v: tuple[float, float, float] | None) -> dict[str, float] | None:
    return None if v is None else {"estimate": v[0], "low": v[1], "high": v[2]}


def case_rows(listed: list[Case], reviews: ReviewBook | None) -> list[list[str]]:
    """cases.csv rows with each case's current review: its own, else its transactions'
    latest (`ReviewBook.case_review`; a case counted reviewed is never in the backlog)."""
    out = []
    for rank, case in enumerate(listed, start=1):
        cells = case.cells(rank)
        assert len(cells) == CASE_CELLS
        got = reviews.case_review(case.id) if reviews else None
        out.append([*cells, *(_review_cells(got) if got else _NO_REVIEW)])
    return out


def sample_rows(state: RollupState, reviews: ReviewBook | None) -> list[list[str]]:
    """audit_sample.csv rows with each sampled transaction's current review."""
    out = []
    for day, band, rank, row in state.sample.rows():
        got = reviews.outcome("transaction", unguarded(row[1])) if reviews else None
        out.append([day, band, *row[1:7], str(rank),
                    *(_review_cells(got) if got else _NO_REVIEW)])
    return out


def transaction_rows(cases: Iterable[Case]) -> list[list[str]]:
    """case_transactions.csv rows: each listed case's transactions, in arrival order. A
    transaction id appears once (the first case holding it wins: a replayed id), because
    the Power BI model relates the fact to this table by it."""
    seen: set[str] = set()
    rows = []
    for c in cases:
        for tx in c.txs:
            if tx[0] not in seen:
                seen.add(tx[0])
                rows.append([c.id, tx[0], c.customer, tx[1], tx[2], tx[3], tx[4]])
    return rows


def _review_cells(got: list[str]) -> list[str]:
    return [got[2], text(got[3]), got[4], text(got[5])]


__all__ = ["Assurance", "assurance", "case_rows", "sample_rows", "transaction_rows"]
