"""`review import` of files made from the exports, as a careless auditor team uses them (probe
of 2026-12-06): an older export imported after a later decision, a row whose outcome was
edited with the earlier review's reviewer and time left in it, the same file twice."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditstream.cli import main
from auditstream.review.records import Layout, parse_rows
from shared.columns import AUDIT_SAMPLE_COLUMNS, CASES_COLUMNS
from shared.errors import ExitCode
from shared.reviews import Review
from tests.review_publisher import publish_to_list

NOW = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
T10 = "2026-12-05T10:00:00Z"


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[Review]:
    """Reviews go to a list (the import's Kafka seam), never to a broker; `now` is NOW."""
    out: list[Review] = publish_to_list(monkeypatch)
    monkeypatch.setattr("auditstream.review.cli.now_utc", lambda: NOW)
    return out


def _cases(folder: Path, reviews: dict[str, tuple[str, str, str, str]]) -> Path:
    """The sink's cases.csv: one row per case, its review cells (outcome, reviewer, time,
    note) as `sink.assurance_table.case_rows` writes them."""
    folder.mkdir(exist_ok=True)
    with (folder / "cases.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CASES_COLUMNS)
        for rank, (case, review) in enumerate(reviews.items(), start=1):
            w.writerow([str(rank), case, f"cust-{rank}", *[""] * (len(CASES_COLUMNS) - 7),
                        *review])
    return folder / "cases.csv"


def _file(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["case_id", "outcome", "reviewer", "reviewed_at", "note"])
        w.writerows(rows)
    return path


def _published(sent: list[Review]) -> list[tuple[str, str, str, str, str]]:
    return [(r.id, r.outcome, r.reviewer, r.reviewed_at.isoformat(), r.note) for r in sent]


def test_an_older_export_cannot_replace_a_later_decision_and_an_edit_is_stamped_anew(
    tmp_path: Path, sent: list[Review], capsys: pytest.CaptureFixture[str],
) -> None:
    """Before: every row published as read, so c1 went back to alice's `confirmed` over
    carol's later `dismissed`, c5's change was recorded as alice's at 10:00 (the time she
    confirmed it), c2 logged again; c7 one second older than the exports' review won."""
    exports = tmp_path / "exports"
    _cases(exports, {
        "c1": ("dismissed", "carol", "2026-12-05T12:00:00Z", ""),   # decided again since
        "c2": ("confirmed", "alice", T10, "card skimmed"),          # as the file says
        "c3": ("", "", "", ""),                                     # open
        "c5": ("confirmed", "alice", T10, ""),
        "c6": ("dismissed", "alice", T10, ""),
        "c7": ("confirmed", "alice", T10, ""),
    })
    f = _file(tmp_path / "old-export.csv", [
        ["c1", "confirmed", "alice", T10, ""],                      # line 2: stale
        ["c2", "confirmed", "alice", T10, "card skimmed"],          # unchanged
        ["c3", "dismissed", "", "", ""],                            # a new decision
        ["c5", "dismissed", "alice", T10, ""],                      # edited, stamp left
        ["c6", "dismissed", "alice", "2026-12-05T10:00:01Z", "x"],  # one second later
        ["c7", "unclear", "alice", "2026-12-05T09:59:59Z", ""],     # line 7: one earlier
    ])
    code = main(["review", "import", str(f), "--exports", str(exports), "--reviewer", "bob"])
    out, err = capsys.readouterr()
    assert _published(sent) == [
        ("c3", "dismissed", "bob", NOW.isoformat(), ""),
        ("c5", "dismissed", "bob", NOW.isoformat(), ""),
        ("c6", "dismissed", "alice", "2026-12-05T10:00:01+00:00", "x"),
    ]
    assert code == ExitCode.ROWS_REJECTED, err
    assert (f"{f}: line 2: reviewed_at: '{T10}' is older than the review cases.csv of "
            f"{exports} shows for 'c1' (dismissed by 'carol' at 2026-12-05T12:00:00Z): not "
            "published, it would replace that later decision; clear reviewed_at to record "
            "this outcome as a new one") in err.splitlines()
    assert f"{f}: line 7: reviewed_at: '2026-12-05T09:59:59Z' is older" in err
    assert "line 3" not in err and "line 5" not in err
    rejects = list(csv.reader((tmp_path / "old-export.rejects.csv").open(encoding="utf-8")))
    assert [r[0] for r in rejects[1:]] == ["2", "7"]
    assert out.strip() == (
        "review import: 3 case outcome(s) published to transactions.reviews (3 dismissed); "
        "0 row(s) without an outcome skipped; 1 row(s) as the exports already show them, "
        "not published again; 2 rejected")


def test_the_same_file_imported_twice_publishes_its_outcomes_once(
    tmp_path: Path, sent: list[Review], capsys: pytest.CaptureFixture[str],
) -> None:
    """Once the sink shows the first import's outcomes, the second finds nothing new (it
    published every row again: a second line per case in reviews_log.csv, a new time)."""
    exports = tmp_path / "exports"
    _cases(exports, {"c1": ("", "", "", ""), "c2": ("", "", "", ""), "c3": ("", "", "", "")})
    f = _file(tmp_path / "mine.csv", [["c1", "confirmed", "", "", ""],
                                      ["c2", "Dismissed ", "", "", "dup of c1"],
                                      ["c3", "", "", "", ""]])
    args = ["review", "import", str(f), "--exports", str(exports), "--reviewer", "bob"]
    assert main(args) == ExitCode.OK
    first = _published(sent)
    assert [r[:3] for r in first] == [("c1", "confirmed", "bob"), ("c2", "dismissed", "bob")]
    # what the sink then shows in cases.csv
    _cases(exports, {r.id: (r.outcome, r.reviewer, T10, r.note) for r in sent}
           | {"c3": ("", "", "", "")})
    sent.clear()
    capsys.readouterr()
    assert main(args) == ExitCode.OK
    assert sent == []
    assert "0 case outcome(s) published" in capsys.readouterr().out
    # another reviewer importing the same file asserts the outcomes anew, as theirs
    assert main([*args[:-1], "carol"]) == ExitCode.OK
    assert [r[:3] for r in _published(sent)] == [("c1", "confirmed", "carol"),
                                                 ("c2", "dismissed", "carol")]


def test_without_the_exports_rows_are_published_as_read(
    tmp_path: Path, sent: list[Review],
) -> None:
    """--no-check, or no cases.csv where the default folder is: nothing to compare with."""
    exports = tmp_path / "exports"
    _cases(exports, {"c1": ("dismissed", "carol", "2026-12-05T12:00:00Z", "")})
    f = _file(tmp_path / "old.csv", [["c1", "confirmed", "alice", T10, ""]])
    assert main(["review", "import", str(f), "--no-check"]) == ExitCode.OK
    assert _published(sent) == [("c1", "confirmed", "alice", "2026-12-05T10:00:00+00:00", "")]


def test_the_exported_reviews_come_from_cases_and_audit_sample(tmp_path: Path) -> None:
    from auditstream.review.files import exports_ids
    from auditstream.review.records import Exported

    assert exports_ids(tmp_path).exported == {"case": {}, "transaction": {}}
    _cases(tmp_path, {"c1": ("confirmed", "'=alice", T10, "'-n"), "c2": ("", "", "", ""),
                      "c3": ("dismissed", "x", "not a time", "")})
    with (tmp_path / "audit_sample.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(AUDIT_SAMPLE_COLUMNS)
        w.writerow(["2025-01-01", "0-50", "'=T9", *[""] * 6, "unclear", "r", T10, ""])
    at = datetime(2026, 12, 5, 10, tzinfo=UTC)
    assert exports_ids(tmp_path).exported == {
        "case": {"c1": Exported("confirmed", "=alice", at, "-n"), "c2": Exported(""),
                 "c3": Exported("")},  # c3's time does not read: no review to compare
        "transaction": {"=T9": Exported("unclear", "r", at, "")}}
    (tmp_path / "cases.csv").write_text("case_id\nc1\n")  # an older version's: no reviews
    assert exports_ids(tmp_path).exported["case"] == {"c1": Exported("")}


_AT = datetime(2026, 12, 5, 10, tzinfo=UTC)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(
    st.sampled_from(["c1", "c2", "c3"]),
    st.sampled_from(["confirmed", "dismissed", "unclear"]),
    st.sampled_from(["", "alice", "bob"]),
    st.sampled_from([None, -1, 0, 1]),
    st.sampled_from(["", "n"])), max_size=8),
    st.dictionaries(st.sampled_from(["c1", "c2", "c3"]), st.tuples(
        st.sampled_from(["confirmed", "dismissed", "unclear"]),
        st.sampled_from(["alice", "bob"]), st.sampled_from(["", "n"])), max_size=3))
def test_every_row_is_published_unchanged_or_rejected_and_none_goes_back_in_time(
    rows: list[tuple[str, str, str, int | None, str]],
    shown: dict[str, tuple[str, str, str]],
) -> None:
    from auditstream.review.records import Exported

    exported = {k: Exported(o, r, _AT, n) for k, (o, r, n) in shown.items()}
    cells: list[tuple[int, dict[str, Any]]] = [
        (i, {"case_id": c, "outcome": o, "reviewer": r, "note": n, "reviewed_at":
             "" if d is None else (_AT + timedelta(seconds=d)).isoformat()})
        for i, (c, o, r, d, n) in enumerate(rows, start=2)]
    result = parse_rows(cells, Layout("case", "case_id"), reviewer="me", now=NOW,
                        exported=exported)
    assert len(result.reviews) + len(result.rejected) + result.unchanged == len(rows)
    for review in result.reviews:
        cur = exported.get(review.id)
        if cur is not None:  # never the exported review again, never one older than it
            assert (review.outcome, review.reviewer, review.note) != (
                cur.outcome, cur.reviewer, cur.note)
            assert cur.reviewed_at is not None and review.reviewed_at > cur.reviewed_at


def _listed(folder: Path, cases: dict[str, tuple[str, str]]) -> None:
    """cases.csv of a run: each case's transactions and last time, no reviews."""
    folder.mkdir(exist_ok=True)
    at = CASES_COLUMNS.index("last_time"), CASES_COLUMNS.index("transactions")
    with (folder / "cases.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CASES_COLUMNS)
        for rank, (case, (n, last)) in enumerate(cases.items(), start=1):
            row = [""] * len(CASES_COLUMNS)
            row[:3], row[at[0]], row[at[1]] = [str(rank), case, "c"], last, n
            w.writerow(row)


def test_a_case_regrouped_since_the_file_was_made_is_not_reviewed_blind(
    tmp_path: Path, sent: list[Review], capsys: pytest.CaptureFixture[str],
) -> None:
    """A case id names a customer's first flagged transaction: a newer run (another
    threshold or case gap) or transactions joining later can give it other transactions.
    The file's `transactions` and `last_time` (what the reviewer saw) are compared with the
    exports' now; before, the outcome went to the other case without a word."""
    _listed(tmp_path / "exports", {"k1": ("1", "2025-01-18T14:46:59"),
                                   "k2": ("3", "2025-01-16T12:02:43"),
                                   "k3": ("2", "2025-01-16T12:00:01"),
                                   "k4": ("1", "2025-01-18T14:46:59"),
                                   "k5": ("2", "2025-01-18T14:46:59"),
                                   "k6": ("2", "2025-01-18T14:46:59")})
    f = tmp_path / "seen.csv"
    with f.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["case_id", "transactions", "last_time", "outcome"])
        w.writerows([["k1", "2", "2025-01-18T15:10:00", "confirmed"],   # regrouped
                      ["k2", "3.0", "2025-01-16 12:02:43", "dismissed"],  # as Excel saves it
                      ["k3", "2", "2025-01-16T12:00:00", "confirmed"],    # a second later now
                      ["k4", "", "", "unclear"],                         # cleared: published
                      ["k5", "2", "18/01/2025 14:46", "dismissed"],       # a spreadsheet's date
                      ["k6", "3", "18/01/2025 14:46", "dismissed"]])      # ... and a count off
    code = main(["review", "import", str(f), "--exports", str(tmp_path / "exports")])
    _out, err = capsys.readouterr()
    assert [(r.id, r.outcome) for r in sent] == [("k2", "dismissed"), ("k4", "unclear"),
                                                 ("k5", "dismissed")]
    assert code == ExitCode.ROWS_REJECTED
    assert (f"{f}: line 2: 'k1': this case is not the one the file shows any more (2 "
            "transactions to 2025-01-18T15:10:00 in the file, 1 to 2025-01-18T14:46:59 in "
            f"cases.csv of {tmp_path / 'exports'}; a newer run or new transactions regrouped "
            "it): not published; review it again from the current cases.csv, or clear this "
            "row's transactions and last_time cells to publish the outcome anyway"
            ) in err.splitlines()
    assert f"{f}: line 4: 'k3': this case is not the one" in err and "line 3" not in err
    assert f"{f}: line 7: 'k6': this case is not the one" in err and "line 6" not in err


@pytest.mark.parametrize(("ahead", "refused"), [
    (timedelta(days=1) - timedelta(seconds=1), False), (timedelta(days=1), False),
    (timedelta(days=1, seconds=1), True), (timedelta(days=365 * 36), True)])
def test_a_review_dated_after_the_import_is_refused(
    tmp_path: Path, sent: list[Review], capsys: pytest.CaptureFixture[str],
    ahead: timedelta, refused: bool,
) -> None:
    """A typo (2062 for 2026) was published: no later review with a real date could win
    over it where dates decide (a case's outcome from its transactions' reviews, the
    exports' check above). A day of slack for a local time written without its zone."""
    when = (NOW + ahead).isoformat()
    f = _file(tmp_path / "typo.csv", [["c1", "confirmed", "", when, ""]])
    code = main(["review", "import", str(f), "--no-check"])
    err = capsys.readouterr().err
    assert [r.reviewed_at for r in sent] == ([] if refused else [NOW + ahead])
    assert code == (ExitCode.ROWS_REJECTED if refused else ExitCode.OK)
    if refused:
        assert (f"{f}: line 2: reviewed_at: '{when}' is after the time of this import "
                f"({NOW.isoformat().replace('+00:00', 'Z')}, with a day's slack for a "
                "time zone): a decision is recorded after it is made; check the date"
                ) in err.splitlines()


def test_a_case_outcome_from_its_transactions_is_pinned_by_a_future_date() -> None:
    """Why the import refuses such a date: the sink takes a case's outcome from the latest
    of its transactions' reviews by `reviewed_at`, so one dated 2062 wins for ever."""
    from sink.reviews_state import ReviewBook

    book = ReviewBook()
    book.cases["k"] = {"reviewed_tx": ["t1", "t2"]}
    book.current = {"transaction:t1": ["transaction", "t1", "confirmed", "a",
                                       "2062-12-05T10:00:00Z", ""],
                    "transaction:t2": ["transaction", "t2", "dismissed", "b",
                                       "2026-12-06T10:00:00Z", ""]}
    assert book.case_outcome("k") == "confirmed"


@pytest.mark.parametrize("target", ["case", "transaction"])
def test_each_exports_file_is_read_once_for_the_ids_and_the_reviews(
    tmp_path: Path, sent: list[Review], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], target: str,
) -> None:
    """Before: cases.csv and audit_sample.csv were each read twice, once for the known ids
    and once for the reviews to compare with (a 128 MiB cases.csv parsed twice)."""
    from shared.outputs import open_text

    exports = tmp_path / "exports"
    _cases(exports, {"c1": ("dismissed", "carol", T10, ""), "c2": ("", "", "", "")})
    with (exports / "audit_sample.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(AUDIT_SAMPLE_COLUMNS)
        w.writerow(["2025-01-01", "0-50", "T9", *[""] * 6, "unclear", "r", T10, ""])
    (exports / "case_transactions.csv").write_text("case_id,transaction_id\nc1,T1\n")
    opened: list[str] = []

    def counted(path: Path, *args: Any, **kw: Any) -> Any:
        opened.append(Path(path).name)
        return open_text(path, *args, **kw)

    monkeypatch.setattr("auditstream.review.files.open_text", counted)
    f = tmp_path / "file.csv"
    f.write_text(f"{target}_id,outcome\n{'c1' if target == 'case' else 'T9'},confirmed\n"
                 f"{'c2' if target == 'case' else 'T1'},dismissed\n")
    assert main(["review", "import", str(f), "--exports", str(exports), "--reviewer", "bob",
                 "--dry-run"]) == ExitCode.OK
    assert sorted(opened) == ["audit_sample.csv", "case_transactions.csv", "cases.csv"]
    assert "2 " + target + " outcome(s) valid" in capsys.readouterr().out
