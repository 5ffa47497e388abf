"""`review import` and `review serve` as the mutation round of the changes `ea1c55a..467e97d`
found them untested (docs/mutation.md): which file each rejected row came from, the reviewer
cell of an edited row, the summary line without outcomes, what `serve` is handed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from auditstream.review.cli import summary_line
from auditstream.review.records import Exported, ImportResult, Layout, parse_rows

NOW = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
AT = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
CASE = Layout("case", "case_id")


def _row(case: str, outcome: str, reviewer: str = "", at: str = "", **more: str
         ) -> dict[str, str]:
    return {"case_id": case, "outcome": outcome, "reviewer": reviewer, "reviewed_at": at,
            "note": "", **more}


def test_each_rejected_row_names_the_file_it_came_from() -> None:
    """Every kind of reject carries the file's name (`RowError.source`, not compared by
    `==`): a bad outcome, one id given two outcomes, a case regrouped since the file was
    made, a row older than the exports' review."""
    exported = {"c1": Exported("confirmed", "alice", AT, "", "4", "2026-12-05T09:00:00Z"),
                "c2": Exported("confirmed", "alice", AT, "")}
    rows = [(2, _row("c0", "maybe")),
            (3, _row("c9", "confirmed")), (4, _row("c9", "dismissed")),
            (5, _row("c1", "dismissed", transactions="5", last_time="2026-12-05T09:00:00Z")),
            (6, _row("c2", "dismissed", "bob", (AT - timedelta(hours=1)).isoformat()))]
    result = parse_rows(rows, CASE, reviewer="me", now=NOW, exported=exported,
                        source="reviews.csv")
    assert [(e.line, e.source) for e in result.rejected] == [
        (line, "reviews.csv") for line in (2, 3, 4, 5, 6)]
    assert ("regrouped" in result.rejected[3].reason
            and "older than the review" in result.rejected[4].reason), result.rejected


def test_an_edited_row_is_published_under_its_reviewer_cell_if_that_was_changed() -> None:
    """A row left with the exported review's time but a new outcome is a new decision,
    stamped now: by the reviewer its cell names if that cell was changed (bob), else by the
    one importing (me), since the cell still names the earlier reviewer."""
    exported = {"c1": Exported("confirmed", "alice", AT, ""),
                "c2": Exported("confirmed", "alice", AT, "")}
    rows = [(2, _row("c1", "dismissed", "bob", AT.isoformat())),
            (3, _row("c2", "dismissed", "alice", AT.isoformat()))]
    result = parse_rows(rows, CASE, reviewer="me", now=NOW, exported=exported)
    assert [(r.id, r.outcome, r.reviewer, r.reviewed_at) for r in result.reviews] == [
        ("c1", "dismissed", "bob", NOW), ("c2", "dismissed", "me", NOW)]


def test_the_summary_line_says_nothing_of_outcomes_when_there_are_none() -> None:
    empty = ImportResult("case", skipped=2)
    assert summary_line(empty, 0, "reviews", dry_run=False) == (
        "review import: 0 case outcome(s) published to reviews; 2 row(s) without an "
        "outcome skipped; 0 rejected")
    some = parse_rows([(2, _row("c1", "confirmed"))], CASE, reviewer="me", now=NOW)
    assert summary_line(some, 1, "reviews", dry_run=False) == (
        "review import: 1 case outcome(s) published to reviews (1 confirmed); 0 row(s) "
        "without an outcome skipped; 0 rejected")


def test_review_serve_hands_the_server_its_port_and_kafka_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import auditstream.review.server as server
    from auditstream.cli import main
    from shared.settings import KafkaSettings, TopicSettings

    served: list[tuple[Any, ...]] = []
    def serve(*args: Any) -> int:
        served.append(args)
        return 0

    monkeypatch.setattr(server, "serve", serve)
    (tmp_path / "ex").mkdir()
    assert main(["review", "serve", "--exports", str(tmp_path / "ex"), "--port", "8123",
                 "--reviewer", "ana"]) == 0
    [(exports, port, reviewer, kafka, topics)] = served
    assert (exports, port, reviewer) == (tmp_path / "ex", 8123, "ana")
    assert isinstance(kafka, KafkaSettings) and isinstance(topics, TopicSettings)


def test_review_serve_starts_on_a_cases_csv_it_cannot_read_yet(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """cases.csv unreadable (no permission, an I/O error; as root no permission can be
    withheld, so the read is made to fail): damage the sink may yet repair is a 503 page
    per request, not a refusal to start. Only a name that is no regular file is refused."""
    import auditstream.review.server as server

    def unreadable(path: Path) -> list[Any]:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(server, "read_cases", unreadable)
    (tmp_path / "ex").mkdir()
    server.check_exports(tmp_path / "ex")  # returns: no refusal


@pytest.mark.parametrize("extent", [{"transactions": "5"},
                                    {"last_time": "2026-12-05T09:00:00Z"}])
def test_a_file_saying_half_a_case_extent_publishes_an_edit_as_the_importer(
        extent: dict[str, str]) -> None:
    """No `reviewer` column: the edit is the importer's (no cell names another); only one of
    `transactions` and `last_time`: the row does not say the case's extent, so nothing is
    compared (a count or a time that differs alone does not reject the row)."""
    exported = {"c1": Exported("confirmed", "alice", AT, "", "4", "2026-12-05T09:00:00Z")}
    row = {"case_id": "c1", "outcome": "dismissed", "reviewed_at": AT.isoformat(), **extent}
    result = parse_rows([(2, row)], CASE, reviewer="me", now=NOW, exported=exported)
    assert result.rejected == []
    assert [(r.id, r.outcome, r.reviewer, r.reviewed_at) for r in result.reviews] == [
        ("c1", "dismissed", "me", NOW)]


def test_the_exports_review_is_read_with_its_extent_and_its_note_as_written(
        tmp_path: Path) -> None:
    """A reviewed case keeps its extent (`transactions`, `last_time`) for the comparison,
    and a note holding a line break (CR LF inside its quotes) is read as written, so the
    same note re-imported is `unchanged`, not a new decision."""
    import csv

    from auditstream.review.files import exports_ids
    from shared.columns import CASES_COLUMNS

    cells = {"case_id": "c1", "transactions": "4", "last_time": "2026-12-05T09:00:00Z",
             "outcome": "confirmed", "reviewer": "alice", "reviewed_at": AT.isoformat(),
             "note": "line one\r\nline two"}
    assert set(cells) <= set(CASES_COLUMNS)
    with (tmp_path / "cases.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, CASES_COLUMNS, restval="")
        w.writeheader()
        w.writerow(cells)
    assert exports_ids(tmp_path).exported["case"] == {"c1": Exported(
        "confirmed", "alice", AT, "line one\r\nline two", "4", "2026-12-05T09:00:00Z")}


@pytest.mark.parametrize("damage", ["not utf-8", "csv error"])
def test_review_serve_starts_on_a_damaged_cases_csv(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    """A cases.csv that does not decode (a ValueError) or does not parse (csv.Error) is
    damage the sink may yet repair: a 503 page per request, not a refusal at start."""
    import csv

    import auditstream.review.server as server

    (tmp_path / "ex").mkdir()
    (tmp_path / "ex" / "cases.csv").write_bytes(b"case_id\nc\xff1\n")
    if damage == "csv error":
        def bad(path: Path) -> list[Any]:
            raise csv.Error("field larger than field limit")
        monkeypatch.setattr(server, "read_cases", bad)
    server.check_exports(tmp_path / "ex")  # returns: no refusal


def test_review_simulate_reads_a_csv_saved_with_a_byte_order_mark(tmp_path: Path) -> None:
    """Excel's 'CSV UTF-8' starts with a BOM: the first column is still `case_id`."""
    from auditstream.review.simulate import read_rows

    path = tmp_path / "case_transactions.csv"
    path.write_bytes(b"\xef\xbb\xbfcase_id,transaction_id\r\nc1,t1\r\n")
    assert read_rows(path) == [{"case_id": "c1", "transaction_id": "t1"}]


def _import(tmp_path: Path, exports_rows: list[dict[str, str]], review_rows: list[list[str]],
            capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`review import --dry-run` of a CSV of `case_id,outcome,reviewer,reviewed_at` rows
    against an exports folder whose cases.csv holds `exports_rows`; (exit code, stderr)."""
    import csv

    from auditstream.cli import main
    from shared.columns import CASES_COLUMNS

    exports = tmp_path / "ex"
    exports.mkdir()
    with (exports / "cases.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, CASES_COLUMNS, restval="")
        w.writeheader()
        w.writerows(exports_rows)
    f = tmp_path / "r.csv"
    with f.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["case_id", "outcome", "reviewer", "reviewed_at"],
                                  *review_rows])
    code = main(["review", "import", str(f), "--exports", str(exports), "--dry-run",
                 "--reviewer", "me"])
    return code, capsys.readouterr().err


def test_an_exported_review_without_a_reviewer_is_read_as_by_nobody(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The exports' review of a case whose reviewer cell is empty (an edited cases.csv) is
    said as by '' when an older row is rejected against it: no reviewer made up."""
    code, err = _import(tmp_path, [{"case_id": "c1", "outcome": "confirmed",
                                    "reviewed_at": AT.isoformat()}],
                        [["c1", "dismissed", "", (AT - timedelta(hours=1)).isoformat()]],
                        capsys)
    assert code == 1
    assert err.splitlines()[0] == (
        f"{tmp_path / 'r.csv'}: line 2: reviewed_at: '2026-12-05T09:00:00+00:00' is older "
        f"than the review cases.csv of {tmp_path / 'ex'} shows for 'c1' (confirmed by '' at "
        "2026-12-05T10:00:00Z): not published, it would replace that later decision; clear "
        "reviewed_at to record this outcome as a new one")


def test_a_cases_csv_saved_with_a_byte_order_mark_knows_its_ids(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A cases.csv saved as Excel's "CSV UTF-8" (a BOM) with `case_id` as its first column:
    the column is still `case_id` and its ids known (no BOM in the column's name)."""
    (tmp_path / "ex").mkdir()
    (tmp_path / "ex" / "cases.csv").write_bytes(b"\xef\xbb\xbfcase_id,rank\r\nc1,1\r\n")
    (tmp_path / "r.csv").write_text("case_id,outcome\nc1,confirmed\nc2,confirmed\n")
    from auditstream.cli import main

    code = main(["review", "import", str(tmp_path / "r.csv"), "--exports",
                 str(tmp_path / "ex"), "--dry-run", "--reviewer", "me"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.splitlines()[0] == (
        f"{tmp_path / 'r.csv'}: line 3: case_id: 'c2' is not a known case in cases.csv of "
        f"{tmp_path / 'ex'}")


@pytest.mark.parametrize(("error", "said"), [
    (PermissionError(13, "Permission denied"), "Permission denied"),
    (OSError("an I/O error without an errno"), "an I/O error without an errno")])
def test_an_exports_file_that_cannot_be_read_is_one_line_with_the_reason(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        error: OSError, said: str) -> None:
    """cases.csv there but not readable (as root no permission can be withheld, so the open
    is made to fail): one line, exit 2, naming the file and the reason (the system's words
    when it gives them, else the error's own)."""
    import auditstream.review.files as files
    from auditstream.cli import main

    def unreadable(path: Path, *args: Any, **kwargs: Any) -> Any:
        raise error

    (tmp_path / "ex").mkdir()
    (tmp_path / "ex" / "cases.csv").write_text("case_id\nc1\n")
    (tmp_path / "r.csv").write_text("case_id,outcome\nc1,confirmed\n")
    monkeypatch.setattr(files, "open_text", unreadable)
    code = main(["review", "import", str(tmp_path / "r.csv"), "--exports",
                 str(tmp_path / "ex"), "--dry-run", "--reviewer", "me"])
    assert code == 2
    assert capsys.readouterr().err == (
        f"auditstream review: error: cannot check the ids: cannot read "
        f"{tmp_path / 'ex' / 'cases.csv'}: {said}; or give --no-check\n")


def test_an_exports_row_with_a_time_but_no_outcome_is_no_review(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A case the exports list with a `reviewed_at` but no outcome (an edited cases.csv) has
    no review to compare: a row decided before that time is published as read, not
    rejected as older than a review that is not there."""
    code, err = _import(tmp_path, [{"case_id": "c1", "reviewed_at": AT.isoformat()}],
                        [["c1", "dismissed", "", (AT - timedelta(hours=1)).isoformat()]],
                        capsys)
    assert (code, err) == (0, "")


def _reviewed_cases_csv(path: Path, note: str, bom: bytes = b"") -> None:
    """A CSV of one case, c1, confirmed by alice at `AT` with `note`, its `case_id` first
    (as a user's copy of cases.csv may order it), written as Excel writes CSV (CR LF)."""
    import csv
    import io

    text = io.StringIO(newline="")
    w = csv.writer(text)
    w.writerow(["case_id", "outcome", "reviewer", "reviewed_at", "note"])
    w.writerow(["c1", "confirmed", "alice", AT.isoformat(), note])
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(bom + text.getvalue().encode())


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["no BOM", "BOM"])
def test_the_exports_review_is_compared_whether_cases_csv_starts_with_a_bom_or_not(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], bom: bytes) -> None:
    """The exports' review of c1 is read whether cases.csv starts with a BOM (Excel's "CSV
    UTF-8") or not, `case_id` its first column: the same row re-imported is unchanged
    (nothing published), and another outcome decided before it is rejected against it."""
    from auditstream.cli import main

    _reviewed_cases_csv(tmp_path / "ex" / "cases.csv", "seen", bom)
    for name, outcome, at in (("same", "confirmed", AT),
                              ("older", "dismissed", AT - timedelta(hours=1))):
        _reviewed_cases_csv(tmp_path / f"{name}.csv", "seen")
        text = (tmp_path / f"{name}.csv").read_bytes().replace(
            AT.isoformat().encode(), at.isoformat().encode()).replace(
            b"c1,confirmed", f"c1,{outcome}".encode())
        (tmp_path / f"{name}.csv").write_bytes(text)
    assert main(["review", "import", str(tmp_path / "same.csv"), "--exports",
                 str(tmp_path / "ex"), "--dry-run", "--reviewer", "me"]) == 0
    assert capsys.readouterr().out == (
        "review import: 0 case outcome(s) valid, not published (--dry-run) to "
        "transactions.reviews; 0 row(s) without an outcome skipped; 1 row(s) as the exports "
        "already show them, not published again; 0 rejected\n")
    assert main(["review", "import", str(tmp_path / "older.csv"), "--exports",
                 str(tmp_path / "ex"), "--dry-run", "--reviewer", "me"]) == 1
    assert "is older than the review cases.csv" in capsys.readouterr().err


def test_a_file_without_reviewed_at_publishes_even_against_a_review_stamped_later(
        ) -> None:
    """No `reviewed_at` column: the row's decision is stamped now and is not compared as
    older, even with the exports' review stamped after now (a reviewer's clock ahead)."""
    exported = {"c1": Exported("confirmed", "alice", NOW + timedelta(hours=1), "")}
    row = {"case_id": "c1", "outcome": "dismissed"}
    result = parse_rows([(2, row)], CASE, reviewer="me", now=NOW, exported=exported)
    assert result.rejected == []
    assert [(r.id, r.outcome, r.reviewer, r.reviewed_at) for r in result.reviews] == [
        ("c1", "dismissed", "me", NOW)]


def test_an_exports_row_without_an_id_gives_no_id_its_review(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A cases.csv row with its case_id cell empty (an edited file) is no case: its review
    is nobody's, not that of a case named like a placeholder (`XXXX`)."""
    code, err = _import(tmp_path, [
        {"case_id": "XXXX"},
        {"case_id": "", "outcome": "confirmed", "reviewer": "alice",
         "reviewed_at": AT.isoformat()}],
        [["XXXX", "dismissed", "", (AT - timedelta(hours=1)).isoformat()]], capsys)
    assert (code, err) == (0, "")


@pytest.mark.parametrize("extent", [("4", ""), ("", "2026-12-05T09:00:00Z")],
                         ids=["no last_time exported", "no count exported"])
def test_an_extent_the_exports_give_only_in_part_is_not_compared(
        extent: tuple[str, str]) -> None:
    """The exports' case without its `last_time` or its `transactions` (an older release's
    cases.csv, an edited one): its extent is not compared, and the edit is published."""
    exported = {"c1": Exported("confirmed", "alice", AT, "", *extent)}
    row = {"case_id": "c1", "outcome": "dismissed", "reviewed_at": AT.isoformat(),
           "transactions": "5", "last_time": "2026-12-05T10:00:00Z"}
    result = parse_rows([(2, row)], CASE, reviewer="me", now=NOW, exported=exported)
    assert result.rejected == []
    assert [(r.id, r.outcome, r.reviewer, r.reviewed_at) for r in result.reviews] == [
        ("c1", "dismissed", "me", NOW)]
