"""Hostile probe of the sink's exports: every table's text cells stay inert in Excel."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.codec import encode
from shared.reviews import Review, encode_review
from shared.schemas import MAX_VERDICT_ITEMS, MAX_VERDICT_TEXT_CHARS, ScoredTransaction
from sink.csvfmt import _PLAIN_NUMBER, FORMULA_PREFIXES
from sink.exports import SCORED_FILE
from sink.settings import ExportSettings
from sink.state import SinkStateError
from sink.writer import REVIEWS_LOG_FILE, SinkWriter

TOPIC = "transactions.scored"


def _hostile(i: int, **over: object) -> bytes:
    """A flagged row whose rule names are formulas (the schema takes any text there)."""
    fields: dict[str, object] = dict(
        transaction_id=f"t{i}", customer_id="c1", timestamp=datetime(2025, 1, 1, 10, i),
        amount=10.0, country="DE", channel="web", device="pc", merchant_category="m",
        score=0.95, model_score=0.9, is_ml_flag=True, is_rule_flag=True, is_flag=True,
        rule_flags={'=HYPERLINK("http://evil")': True},
        triggered_rules=["b", "=1+1"], reasons_top3=["x"], model_version="v1")
    fields.update(over)
    return encode(ScoredTransaction(**fields))


def _formula_cells(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [c for row in csv.reader(fh) for c in row
                if c and c[0] in FORMULA_PREFIXES and not _PLAIN_NUMBER.match(c)]


def _exports(folder: Path) -> Path:
    w = SinkWriter(folder, TOPIC, ExportSettings())
    w.add([(0, i, _hostile(i)) for i in range(3)])
    w.add([(1, 3, _hostile(3, is_flag=False, transaction_id="@t3"))])
    w.checkpoint()
    case_id = w.cp.rollup.cases.listed()[0].id
    at = datetime(2025, 2, 1, 9, tzinfo=UTC)
    w.add_reviews([(0, 0, encode_review(Review(
        target="case", id=case_id, outcome="confirmed", reviewer="=ann", reviewed_at=at,
        note="+note"))[1])], "transactions.reviews")
    w.checkpoint()
    w.write_rollups(report=False)
    w.close()
    return folder


def test_cases_csv_rules_of_a_case_stay_inert(tmp_path: Path) -> None:
    """A row's triggered rules `b;=1+1` is safe as a cell; a case sorts them `=1+1;b`."""
    assert _formula_cells(_exports(tmp_path) / "cases.csv") == []


def test_metrics_by_type_rule_names_stay_inert(tmp_path: Path) -> None:
    """A `rule_flags` key beyond the known rules gets a row of its own, named as sent."""
    assert _formula_cells(_exports(tmp_path) / "metrics_by_type.csv") == []


def test_no_exported_table_holds_a_cell_excel_would_run(tmp_path: Path) -> None:
    folder = _exports(tmp_path)
    found = {p.relative_to(folder).as_posix(): _formula_cells(p)
             for p in sorted(folder.rglob("*.csv"))}
    assert {name: cells for name, cells in found.items() if cells} == {}


def _late_rows(folder: Path, batches: list[list[int]]) -> dict[str, int]:
    """late_rows_by_day after rows at 2025-01-02 02:00 (closing 2025-01-01) then
    2025-01-01 12:00, fed in `batches` of their indexes."""
    times = [datetime(2025, 1, 2, 2), datetime(2025, 1, 1, 12)]
    records = [(0, i, _hostile(i, timestamp=t, rule_flags={}, triggered_rules=[]))
               for i, t in enumerate(times)]
    # one customer: the watermark is the latest time seen
    w = SinkWriter(folder, TOPIC, ExportSettings(watermark_customers=1))
    for batch in batches:
        w.add([records[i] for i in batch])
    w.checkpoint()
    run = w.write_rollups(report=False)
    w.close()
    return dict(run["late_rows_by_day"])


def test_a_late_row_counts_late_whatever_the_batch_cut(tmp_path: Path) -> None:
    """The second row arrives after its day closed: late, in one batch as in two."""
    assert _late_rows(tmp_path / "two", [[0], [1]]) == {"2025-01-01": 1}
    assert _late_rows(tmp_path / "one", [[0, 1]]) == {"2025-01-01": 1}


@pytest.mark.parametrize("name", [SCORED_FILE, REVIEWS_LOG_FILE])
def test_an_appended_file_cut_while_the_sink_runs_stops_it(tmp_path: Path, name: str) -> None:
    """As for a day file: cut to its header by a user, the file must not be appended to
    and checkpointed as if whole (its earlier rows would be gone, silently)."""
    w = SinkWriter(tmp_path, TOPIC, ExportSettings(single_file=True))
    at = datetime(2025, 2, 1, 9, tzinfo=UTC)
    review = encode_review(Review(target="case", id="c", outcome="confirmed",
                                  reviewed_at=at))[1]
    w.add([(0, i, _hostile(i)) for i in range(3)])
    w.add_reviews([(0, 0, review)], "transactions.reviews")
    w.checkpoint()
    path = tmp_path / name
    header = path.read_bytes().split(b"\n", 1)[0] + b"\n"
    path.write_bytes(header)  # "cleared" by a user
    w.add([(0, 3, _hostile(3))])
    w.add_reviews([(0, 1, review)], "transactions.reviews")
    with pytest.raises(SinkStateError):
        w.checkpoint()
    w.close()


def test_a_case_takes_the_latest_review_of_its_transactions_within_a_second(
        tmp_path: Path) -> None:
    """`09:00:00.500000Z` is after `09:00:00Z`, though it sorts before it as text."""
    w = SinkWriter(tmp_path, TOPIC, ExportSettings())
    w.add([(0, i, _hostile(i, rule_flags={}, triggered_rules=[])) for i in range(2)])
    (case,) = w.cp.rollup.cases.listed()
    reviews = [Review(target="transaction", id=tx, outcome=outcome,
                      reviewed_at=datetime(2025, 2, 1, 9, 0, 0, micro, tzinfo=UTC))
               for tx, outcome, micro in (("t0", "confirmed", 0), ("t1", "dismissed", 500_000))]
    w.add_reviews([(0, i, encode_review(r)[1]) for i, r in enumerate(reviews)],
                  "transactions.reviews")
    w.checkpoint()
    run = w.write_rollups(report=False)
    w.close()
    assert w.reviews.case_outcome(case.id) == "dismissed"
    assert run["assurance"]["reviewed_precision"]["estimate"] == 0.0


@pytest.mark.parametrize("quorum", [2, 8])
def test_one_row_dated_2100_does_not_end_the_recent_cases_and_days(tmp_path: Path,
                                                                   quorum: int) -> None:
    """A device clock off by decades (2100 passes the schema) should not close every day
    (each later row counted late) nor drop this week's cases from cases.csv: the watermark
    is the latest time `quorum` customers reached (2: the stray and one other)."""
    w = SinkWriter(tmp_path, TOPIC, ExportSettings(top_cases=1, watermark_customers=quorum))
    rows = [_hostile(i, customer_id=f"c{i}", rule_flags={}, triggered_rules=[])
            for i in range(3)]
    w.add([(0, i, row) for i, row in enumerate(rows)])
    assert len(w.cp.rollup.cases.listed()) == 3  # the top one and the two other recent
    stray = _hostile(3, customer_id="z", score=0.5, rule_flags={}, triggered_rules=[],
                     timestamp=datetime(2100, 1, 1))
    w.add([(0, 3, stray), (0, 4, _hostile(4, customer_id="c4", rule_flags={},
                                          triggered_rules=[], timestamp=datetime(2025, 1, 2)))])
    w.checkpoint()
    run = w.write_rollups(report=False)
    w.close()
    listed = sorted(c.customer for c in w.cp.rollup.cases.listed())
    assert (run["late_rows_by_day"], listed) == ({}, ["c0", "c1", "c2", "c4", "z"])


def _with(field: str, value: object) -> bytes:
    """A hostile row with one verdict field replaced, as raw JSON (no validation)."""
    row = json.loads(_hostile(0, rule_flags={}, triggered_rules=[]))
    row[field] = value
    return json.dumps(row).encode()


@pytest.mark.parametrize(("field", "value"), [
    ("model_version", "v1\u0000\u2028\u202e"),
    ("reasons_top3", ["fine", "a\u2028b"]),
    ("triggered_rules", ["\u202eburst"]),
    ("rule_flags", {"burst\u0000": True}),
    ("reasons_top3", ["x" * (MAX_VERDICT_TEXT_CHARS + 1)]),  # one over
    ("model_version", "v" * (MAX_VERDICT_TEXT_CHARS + 1)),
    ("triggered_rules", ["r"] * (MAX_VERDICT_ITEMS + 1)),
    ("rule_flags", {f"r{i}": True for i in range(MAX_VERDICT_ITEMS + 1)}),
])
def test_a_control_character_or_oversize_verdict_text_is_rejected_not_exported(
        tmp_path: Path, field: str, value: object) -> None:
    """The input text rule (no NUL, U+2028, bidi override: they cut or break a cell in
    Excel and Power BI) holds for the verdict's text too, and it is bounded: another writer
    of the scored topic had both exported as they came (a hostile probe)."""
    w = SinkWriter(tmp_path, TOPIC, ExportSettings())
    w.add([(0, 0, _with(field, value))])
    w.checkpoint()
    w.close()
    assert (w.rows, w.cp.rejected) == (0, 1)


@pytest.mark.parametrize(("field", "value"), [
    ("reasons_top3", ["x" * MAX_VERDICT_TEXT_CHARS]),  # at the bound
    ("model_version", "v" * MAX_VERDICT_TEXT_CHARS),
    ("triggered_rules", ["r"] * MAX_VERDICT_ITEMS),
    ("rule_flags", {f"r{i}": True for i in range(MAX_VERDICT_ITEMS)}),
    ("reasons_top3", ["Zürich, 03 h, ünïcödé"]),
])
def test_verdict_text_at_its_bounds_is_exported(tmp_path: Path, field: str,
                                                value: object) -> None:
    w = SinkWriter(tmp_path, TOPIC, ExportSettings())
    w.add([(0, 0, _with(field, value))])
    w.checkpoint()
    w.close()
    assert (w.rows, w.cp.rejected) == (1, 0)


def test_a_review_of_a_transaction_id_the_exports_guarded_joins_its_row(
        tmp_path: Path) -> None:
    """`review import` sends the id `@t3` of the cell `'@t3` (as the producer spelt it):
    the sample row and the case transaction must get its outcome."""
    w = SinkWriter(tmp_path, TOPIC, ExportSettings())
    w.add([(0, 0, _hostile(0, transaction_id="=t0", rule_flags={}, triggered_rules=[])),
           (0, 1, _hostile(1, transaction_id="@t1", is_flag=False))])
    at = datetime(2025, 2, 1, 9, tzinfo=UTC)
    w.add_reviews([(0, i, encode_review(Review(target="transaction", id=tx, outcome="dismissed",
                                               reviewed_at=at))[1])
                   for i, tx in enumerate(("=t0", "@t1"))], "transactions.reviews")
    w.checkpoint()
    run = w.write_rollups(report=False)
    w.close()
    with open(tmp_path / "audit_sample.csv", newline="", encoding="utf-8") as fh:
        (sampled,) = list(csv.DictReader(fh))
    with open(tmp_path / "reviews_log.csv", newline="", encoding="utf-8") as fh:
        matched = [r["matched"] for r in csv.DictReader(fh)]
    assert (sampled["transaction_id"], sampled["outcome"]) == ("'@t1", "dismissed")
    assert matched == ["case_transaction", "audit_sample"]
    assert run["assurance"]["reviewed_cases"] == 1
