"""`review import` without a broker: CSV and .xlsx rows -> reviews or numbered rejects."""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditstream.broker.process import free_port
from auditstream.cli import main
from auditstream.review.files import ReviewFileError, cell_text, exports_ids, read_table
from auditstream.review.records import (
    ERROR_KEY,
    HeaderError,
    Layout,
    layout_of,
    normalise_header,
    parse_rows,
)
from shared.errors import ExitCode
from shared.reviews import MAX_NOTE_CHARS, MAX_REVIEWER_CHARS
from shared.schemas import CONTROL_CHARACTERS, CONTROL_RULE

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 4, 1, 12, 0, tzinfo=UTC)
CASES_HEADER = ["rank", "case_id", "customer_id", "reasons_top3", "outcome", "reviewer",
                "reviewed_at", "note"]


def test_each_row_is_a_review_a_skip_or_a_reject_naming_its_line() -> None:
    result = parse_rows(enumerate([
        {"case_id": "case-1", "outcome": "confirmed"},
        {"case_id": "case-2", "outcome": ""},
        {"case_id": "case-3", "outcome": " Dismissed ", "reviewer": "ana", "note": "ok"},
        {"case_id": "case-4", "outcome": "confirmd"},
        {"case_id": "", "outcome": "unclear"},
        {"case_id": "case-9", "outcome": "unclear"},
        {"case_id": "case-5", "outcome": "unclear", "reviewed_at": "yesterday"},
        {"case_id": "case-6", "outcome": "unclear", "reviewed_at": "2025-03-01 10:00:00+01:00"},
    ], start=2), Layout("case", "case_id"), reviewer="default", now=NOW,
        known={"case-1", "case-2", "case-3", "case-4", "case-5", "case-6"},
        known_where="cases.csv of ex")
    assert [(r.id, r.outcome, r.reviewer, r.note, r.reviewed_at) for r in result.reviews] == [
        ("case-1", "confirmed", "default", "", NOW),
        ("case-3", "dismissed", "ana", "ok", NOW),
        ("case-6", "unclear", "default", "", datetime(2025, 3, 1, 9, tzinfo=UTC)),
    ]
    assert result.skipped == 1
    assert [(e.line, e.reason) for e in result.rejected] == [
        (5, "outcome: 'confirmd' is not one of confirmed, dismissed, unclear"),
        (6, "case_id: missing"),
        (7, "case_id: 'case-9' is not a known case in cases.csv of ex"),
        (8, "reviewed_at: 'yesterday' is not a date-time (expected ISO 8601, "
            "e.g. 2025-01-31T14:05:00Z)"),
    ]
    assert result.rejected[0].raw == {"case_id": "case-4", "outcome": "confirmd"}


def test_a_field_over_its_limit_rejects_that_row_only() -> None:
    result = parse_rows(enumerate([
        {"case_id": "c1", "outcome": "confirmed", "note": "n" * MAX_NOTE_CHARS},
        {"case_id": "c2", "outcome": "confirmed", "note": "n" * (MAX_NOTE_CHARS + 1)},
    ], start=2), Layout("case", "case_id"), reviewer="r", now=NOW)
    assert [r.id for r in result.reviews] == ["c1"]
    assert [(e.line, e.reason.split(":")[0]) for e in result.rejected] == [(3, "note")]


def test_ids_the_sink_guarded_against_formulas_are_read_as_meant() -> None:
    result = parse_rows(enumerate([{"transaction_id": "'-T7", "outcome": "confirmed"}], start=2),
                        Layout("transaction", "transaction_id"), reviewer="r", now=NOW,
                        known={"-T7"})
    assert [r.id for r in result.reviews] == ["-T7"]


@given(st.lists(st.tuples(st.sampled_from(["case-1", "case-2", "", "zz"]),
                          st.sampled_from(["confirmed", "dismissed", "unclear", "", "x", "YES"])),
                max_size=40))
def test_nothing_is_lost_every_row_is_counted_once_and_order_is_kept(
    rows: list[tuple[str, str]],
) -> None:
    result = parse_rows(enumerate([{"case_id": i, "outcome": o} for i, o in rows], start=2),
                        Layout("case", "case_id"), reviewer="r", now=NOW,
                        known={"case-1", "case-2"})
    assert len(result.reviews) + len(result.rejected) + result.skipped == len(rows)
    valid = [(i, o) for i, o in rows if i in ("case-1", "case-2")
             and o in ("confirmed", "dismissed", "unclear")]
    # An id given two different outcomes in one file has all its rows rejected.
    torn = {i for i, o in valid if any(j == i and p != o for j, p in valid)}
    assert [(r.id, r.outcome) for r in result.reviews] == [(i, o) for i, o in valid
                                                          if i not in torn]
    assert [e.line for e in result.rejected] == sorted(e.line for e in result.rejected)


def test_layout_from_the_header() -> None:
    assert layout_of(normalise_header(["\ufeffCase_ID", " Outcome "])) == Layout("case", "case_id")
    assert layout_of(["transaction_id", "outcome"]) == Layout("transaction", "transaction_id")
    both = ["case_id", "transaction_id", "outcome"]
    assert layout_of(both, "transaction") == Layout("transaction", "transaction_id")
    with pytest.raises(HeaderError, match="no `outcome` column"):
        layout_of(["case_id"])
    with pytest.raises(HeaderError, match="no `case_id or transaction_id` column"):
        layout_of(["customer_id", "outcome"])


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_csv_line_numbers_count_physical_lines(tmp_path: Path) -> None:
    f = _write_csv(tmp_path / "c.csv", ["case_id", "reasons_top3", "outcome"], [
        ["c1", "two\nlines", "confirmed"], ["c2", "x", "bad"]])
    _header, rows = read_table(f)
    assert [(line, cells["case_id"]) for line, cells in rows] == [(2, "c1"), (4, "c2")]


def test_a_windows_1252_csv_is_read(tmp_path: Path) -> None:
    f = tmp_path / "c.csv"
    f.write_bytes("case_id,outcome,note\r\nc1,confirmed,d\xe9j\xe0 vu\r\n".encode("cp1252"))
    _, rows = read_table(f)
    assert list(rows) == [(2, {"case_id": "c1", "outcome": "confirmed", "note": "déjà vu"})]


def test_a_utf8_csv_with_a_stray_byte_stays_utf8_only_that_row_is_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """One byte of another encoding (a note typed in an old editor) rejects its row, named;
    the other rows' UTF-8 text is read as written, not garbled as Windows-1252."""
    f = tmp_path / "c.csv"
    f.write_bytes("case_id,outcome,note\r\nc1,confirmed,déjà vu\r\n".encode()
                  + b"c2,dismissed,caf\xe9\r\n" + "c3,unclear,naïve\r\n".encode())
    _, rows = read_table(f)
    assert list(rows) == [
        (2, {"case_id": "c1", "outcome": "confirmed", "note": "déjà vu"}),
        (3, {ERROR_KEY: "note: byte 0xE9 is not UTF-8 (the rest of the file is): retype the "
                        "text, it was written in another encoding"}),
        (4, {"case_id": "c3", "outcome": "unclear", "note": "naïve"})]
    code = main(["review", "import", str(f), "--no-check", "--dry-run"])
    out, err = capsys.readouterr()
    assert code == 1 and "2 case outcome(s) valid" in out and "; 1 rejected" in out
    assert f"{f}: line 3: note: byte 0xE9 is not UTF-8" in err


def test_a_csv_neither_utf8_nor_1252_is_one_file_error_naming_its_byte_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    f = tmp_path / "c.csv"
    f.write_bytes("case_id,outcome,note\r\nc1,confirmed,確認しました。\r\n".encode("shift_jis"))
    with pytest.raises(ReviewFileError,
                       match="line 2: byte 0x81 is neither UTF-8 nor Windows-1252"):
        read_table(f)
    assert main(["review", "import", str(f), "--no-check", "--dry-run"]) == 2
    assert "byte 0x81 is neither UTF-8 nor Windows-1252" in capsys.readouterr().err


def test_a_header_with_a_stray_byte_is_a_file_error(tmp_path: Path) -> None:
    f = tmp_path / "c.csv"
    f.write_bytes("case_id,outcome,remarqué,".encode() + b"n\xf6te\r\nc1,confirmed,,x\r\n")
    with pytest.raises(ReviewFileError, match="byte 0xF6 in the header is not UTF-8"):
        read_table(f)


def test_a_utf8_bom_csv_is_read_without_its_bom(tmp_path: Path) -> None:
    f = tmp_path / "c.csv"
    f.write_bytes("\ufeffcase_id,outcome,note\nc1,confirmed,déjà vu\n".encode())
    header, rows = read_table(f)
    assert header == ["case_id", "outcome", "note"]
    assert list(rows) == [(2, {"case_id": "c1", "outcome": "confirmed", "note": "déjà vu"})]


def test_text_inside_an_oversize_quoted_cell_is_never_read_as_a_review(tmp_path: Path) -> None:
    """A quoted cell over the csv module's 131,072-character limit that holds line breaks
    is one rejected row; reading goes on at its row's real end, so a line inside the cell
    that looks like a review row is never imported as a decision."""
    f = tmp_path / "c.csv"
    f.write_text('case_id,outcome,note\r\nc1,confirmed,"' + "x" * 140_000
                 + '\r\nc9,confirmed,never decided\r\n""c8"",dismissed\r\nend"\r\n'
                 'c2,dismissed,ok\r\n', encoding="utf-8", newline="")
    _, rows = read_table(f)
    assert list(rows) == [
        (2, {ERROR_KEY: "unreadable CSV row: a cell is longer than 131,072 characters, the "
                        "most a cell may hold (the row spans lines 2-5)"}),
        (6, {"case_id": "c2", "outcome": "dismissed", "note": "ok"})]


def test_an_oversize_cell_on_one_line_rejects_only_its_row(tmp_path: Path) -> None:
    f = tmp_path / "c.csv"
    f.write_text('case_id,outcome,note\nc1,confirmed,"' + "x" * 140_000 + '"\n'
                 'c2,dismissed,"two\nlines"\nc3,unclear,ok\n', encoding="utf-8", newline="")
    _, rows = read_table(f)
    assert [(line, c.get("case_id", c.get(ERROR_KEY, "")[:19])) for line, c in rows] == [
        (2, "unreadable CSV row:"), (3, "c2"), (5, "c3")]


def _write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.title = "cases"
    ws.append(CASES_HEADER)
    for row in rows:
        ws.append(row)
    book.save(path)
    return path


def test_an_xlsx_with_an_outcome_column_round_trips(tmp_path: Path) -> None:
    when = datetime(2025, 3, 2, 8, 15)
    f = _write_xlsx(tmp_path / "cases.xlsx", [
        [1, "case-aa", "C1", "amount 14x | burst", "confirmed", "ana", when, "called the bank"],
        [2, "case-bb", "C2", "odd hour", None, None, None, None],
        [3, "case-cc", 12345, "=HYPERLINK(\"x\")", "Dismissed", None, None, None],
        [4, 777, "C4", "new country", "unclear", "bo", None, 3.5],
    ])
    header, rows = read_table(f)
    assert header == CASES_HEADER
    result = parse_rows(rows, layout_of(normalise_header(header)), reviewer="me", now=NOW,
                        known={"case-aa", "case-bb", "case-cc", "777"})
    assert [(r.id, r.outcome, r.reviewer, r.reviewed_at, r.note) for r in result.reviews] == [
        ("case-aa", "confirmed", "ana", when.replace(tzinfo=UTC), "called the bank"),
        ("case-cc", "dismissed", "me", NOW, ""),
        ("777", "unclear", "bo", NOW, "3.5"),
    ]
    assert result.skipped == 1 and result.rejected == []


def test_excel_cells_read_as_csv_text() -> None:
    assert [cell_text(v) for v in (None, 3.0, 3.25, True, datetime(2025, 1, 2, 3, 4))] == [
        "", "3", "3.25", "True", "2025-01-02T03:04:00"]


def test_import_of_an_xlsx_reports_bad_rows_by_row_number_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    exports = tmp_path / "ex"
    exports.mkdir()
    _write_csv(exports / "cases.csv", ["rank", "case_id"], [["1", "case-aa"], ["2", "case-bb"]])
    f = _write_xlsx(tmp_path / "cases.xlsx", [
        [1, "case-aa", "C1", "r", "confirmed", None, None, None],
        [2, "case-bb", "C2", "r", "maybe", None, None, None],
        [3, "case-zz", "C3", "r", "dismissed", None, None, None],
    ])
    code = main(["review", "import", str(f), "--exports", str(exports), "--dry-run"])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.startswith("review import: 1 case outcome(s) valid, not published (--dry-run)")
    assert "; 2 rejected" in out
    assert f"{f}: row 3: outcome: 'maybe' is not one of confirmed, dismissed, unclear" in err
    assert f"{f}: row 4: case_id: 'case-zz' is not a known case in cases.csv of {exports}" in err
    with (tmp_path / "cases.rejects.csv").open(newline="") as fh:
        rejects = list(csv.DictReader(fh))
    assert [(r["line"], r["case_id"]) for r in rejects] == [("3", "case-bb"), ("4", "case-zz")]


def test_a_csv_line_separator_in_a_cell_is_no_line_break(tmp_path: Path) -> None:
    """U+2028, U+2029, U+0085, VT, FF and U+001C-U+001E end a line for `str.splitlines`,
    not for CSV: the row stays whole and later rows keep their physical line numbers."""
    f = _write_csv(tmp_path / "c.csv", ["case_id", "outcome", "note"], [
        ["c1", "confirmed", "a\u2028b\x85c\x0bd\x1ce\u2029f"], ["c2", "dismissed", "ok"]])
    _, rows = read_table(f)
    assert list(rows) == [
        (2, {"case_id": "c1", "outcome": "confirmed", "note": "a\u2028b\x85c\x0bd\x1ce\u2029f"}),
        (3, {"case_id": "c2", "outcome": "dismissed", "note": "ok"})]


def test_review_import_rejects_control_characters_by_line_and_field_and_shows_them_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    f = _write_csv(tmp_path / "c.csv", ["case_id", "outcome", "reviewer", "note"], [
        ["c1", "confirmed", "ana", "x\u2028y"],
        ["c2", "dismissed", "b\x85o", ""],
        ["c3", "unclear", "ana", "see \u202eTXT.exe"],
        ["c4", "confirmed", "\u2028ana\t", "two\nlines"],
        ["c5", "confirmed", "ana", "fine\u00a0\u2027\u202f"],
    ])
    code = main(["review", "import", str(f), "--no-check", "--dry-run"])
    out, err = capsys.readouterr()
    assert code == 1 and "; 4 rejected" in out and "1 case outcome(s) valid" in out
    for line, field in ((2, "note"), (3, "reviewer"), (4, "note"), (5, "note")):
        assert f"{f}: line {line}: {field}: {CONTROL_RULE}\n" in err
    assert not CONTROL_CHARACTERS.search(err.replace("\n", ""))
    report = (tmp_path / "c.rejects.csv").read_text(encoding="utf-8")
    with (tmp_path / "c.rejects.csv").open(encoding="utf-8", newline="") as fh:
        rejects = list(csv.DictReader(fh))
    assert [(r["line"], r["case_id"], r["reviewer"], r["note"]) for r in rejects] == [
        ("2", "c1", "ana", "x\\u2028y"), ("3", "c2", "b\\x85o", ""),
        ("4", "c3", "ana", "see \\u202eTXT.exe"), ("5", "c4", "\\u2028ana\t", "two\nlines")]
    assert not set(report) & {"\u2028", "\x85", "\u202e"}


def test_an_xlsx_note_with_a_bidi_override_is_rejected_by_row(tmp_path: Path) -> None:
    f = _write_xlsx(tmp_path / "cases.xlsx", [
        [1, "case-aa", "C1", "r", "confirmed", "ana", None, "ok"],
        [2, "case-bb", "C2", "r", "dismissed", "ana", None, "gpj.\u202eexe"],
        [3, "case-cc", "C3", "r", "unclear", "\x9fana", None, None],
    ])
    header, rows = read_table(f)
    result = parse_rows(rows, layout_of(normalise_header(header)), reviewer="me", now=NOW)
    assert [r.id for r in result.reviews] == ["case-aa"]
    assert [(e.line, e.reason) for e in result.rejected] == [
        (3, f"note: {CONTROL_RULE}"), (4, f"reviewer: {CONTROL_RULE}")]


def test_import_without_outcome_column_or_file_is_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    f = _write_csv(tmp_path / "c.csv", ["case_id", "note"], [["c1", "x"]])
    assert main(["review", "import", str(f), "--no-check", "--dry-run"]) == 2
    assert "no `outcome` column" in capsys.readouterr().err
    assert main(["review", "import", str(tmp_path / "none.xlsx"), "--no-check"]) == 2
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a zip")
    assert main(["review", "import", str(bad), "--no-check"]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "not a readable .xlsx workbook" in err
    assert "Traceback" not in err


#: Reviewer names the reviews schema refuses: a line break, a control character, a
#: bidirectional override, one character over its limit.
BAD_REVIEWERS = ["ana\nbob", "ana\x07", "\u202eana", "r" * (MAX_REVIEWER_CHARS + 1)]


@pytest.mark.parametrize("reviewer", BAD_REVIEWERS)
def test_a_bad_reviewer_is_refused_once_up_front_exit_2_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    reviewer: str,
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # nothing may be published
    f = _write_csv(tmp_path / "c.csv", ["case_id", "outcome"], [["c1", "confirmed"],
                                                               ["c2", "dismissed"]])
    code = main(["review", "import", str(f), "--no-check", "--reviewer", reviewer])
    out, err = capsys.readouterr()
    assert code == ExitCode.USAGE and out == ""
    assert err.splitlines() == [err.rstrip("\n")]
    assert err.startswith("auditstream review: error: --reviewer "), err
    assert ("at most 128 characters" if len(reviewer) > MAX_REVIEWER_CHARS
            else CONTROL_RULE) in err
    assert not CONTROL_CHARACTERS.search(err.rstrip("\n"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv"]


def test_a_reviewer_at_its_limit_is_accepted_and_stripped_as_the_schema_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    f = _write_csv(tmp_path / "c.csv", ["case_id", "outcome"], [["c1", "confirmed"]])
    for reviewer in ("r" * MAX_REVIEWER_CHARS, " ana\t"):
        assert main(["review", "import", str(f), "--no-check", "--dry-run",
                     "--reviewer", reviewer]) == 0
        assert "1 case outcome(s) valid" in capsys.readouterr().out


def test_a_default_reviewer_the_schema_refuses_is_named_as_the_user_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from auditstream.review import cli

    monkeypatch.setattr(cli, "default_reviewer", lambda: "x" * (MAX_REVIEWER_CHARS + 1))
    f = _write_csv(tmp_path / "c.csv", ["case_id", "outcome"], [["c1", "confirmed"]])
    assert main(["review", "import", str(f), "--no-check", "--dry-run"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "your user name" in err and "give --reviewer NAME" in err


def test_explicit_exports_without_cases_file_is_usage_error(tmp_path: Path) -> None:
    f = _write_csv(tmp_path / "c.csv", ["case_id", "outcome"], [["c1", "confirmed"]])
    with pytest.raises(ReviewFileError, match=r"cannot check the ids: no cases\.csv"):
        from auditstream.review import cli

        cli.cmd_import(cli_args(f, exports=tmp_path / "empty"))


def cli_args(f: Path, **kw: object) -> argparse.Namespace:
    base = {"file": f, "sheet": None, "target": None, "exports": None, "no_check": False,
            "reviewer": "r", "rejects_dir": None, "dry_run": True}
    return argparse.Namespace(**{**base, **kw})


def test_known_ids_come_from_cases_case_transactions_and_audit_sample(tmp_path: Path) -> None:
    assert exports_ids(tmp_path).known == {"case": None, "transaction": None}
    _write_csv(tmp_path / "cases.csv", ["case_id"], [["case-1"]])
    _write_csv(tmp_path / "case_transactions.csv", ["case_id", "transaction_id"],
               [["case-1", "T1"], ["case-1", "'=T2"]])
    _write_csv(tmp_path / "audit_sample.csv", ["day", "transaction_id"], [["2025-01-01", "T9"]])
    assert exports_ids(tmp_path).known == {"case": {"case-1"}, "transaction": {"T1", "=T2", "T9"}}


@pytest.mark.parametrize("command", [["import", "{f}", "--no-check"], ["serve", "--port", "0"]])
def test_without_a_broker_each_review_command_is_exit_4_in_one_line(
    tmp_path: Path, command: list[str],
) -> None:
    f = _write_csv(tmp_path / "s.csv", ["transaction_id", "outcome"], [["T1", "dismissed"]])
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}", "KAFKA_STARTUP_WAIT_S": "2"}
    done = subprocess.run([sys.executable, "-m", "auditstream", "review",
                           *(c.format(f=f) for c in command)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 4, done.stderr
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and errors[0].startswith(
        "auditstream review: error: no Kafka broker answered at 127.0.0.1:"), done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_import_of_a_reviewed_at_that_leaves_the_calendar_rejects_its_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], at: str,
) -> None:
    """It was an OverflowError: a traceback and exit 70 for a bad cell, nothing published
    (a hostile probe)."""
    f = _write_csv(tmp_path / "r.csv", ["case_id", "outcome", "reviewed_at"],
                   [["c1", "confirmed", at], ["c2", "dismissed", ""]])
    code = main(["review", "import", str(f), "--no-check", "--dry-run"])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "Traceback" not in err and f"{f}: line 2: reviewed_at: " in err
    assert out.startswith("review import: 1 case outcome(s) valid")


@pytest.mark.parametrize("at", ["2026-W05-1T10:00:00Z", "20260105T100000Z", "2026-01-05",
                                "2026-01-05T10:00", "2226-01-05T10:00:00Z"])
def test_import_reads_reviewed_at_by_the_event_times_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], at: str,
) -> None:
    """`datetime.fromisoformat` took an ISO week date (2026-W05-1 = 26 January), the basic
    format, a date alone and a year past 2100 (a typo for 2026 that, as the latest review
    of a case's transactions, would decide the case for ever): the forms event times refuse
    (RFC 3339, years 1970-2100). A hostile probe."""
    f = _write_csv(tmp_path / "r.csv", ["case_id", "outcome", "reviewed_at"],
                   [["c1", "confirmed", at]])
    code = main(["review", "import", str(f), "--no-check", "--dry-run"])
    _out, err = capsys.readouterr()
    assert code == 1, err
    assert f"{f}: line 2: reviewed_at: " in err


def test_a_review_file_with_two_outcome_columns_is_refused_not_read_silently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """cases.csv has an `outcome` column; an auditor who adds an `Outcome` column of their
    own and fills it had every row skipped as without an outcome, exit 0 (the later of
    the two columns was read, the filled one dropped). A hostile probe."""
    f = _write_csv(tmp_path / "r.csv", ["case_id", "Outcome", "outcome "],
                   [["c1", "confirmed", ""]])
    code = main(["review", "import", str(f), "--no-check", "--dry-run"])
    out, err = capsys.readouterr()
    assert code == 2, out
    assert "outcome" in err and err.count("\n") == 1


@pytest.mark.parametrize(("content", "says"), [
    (b"\xff\xfe\x00garbage\n", "not a readable CSV"),
    (b"rank,id\n1,case-aa\n", "has no case_id column"),
])
def test_a_damaged_exports_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, says: str,
) -> None:
    """A cases.csv that is not UTF-8 was a UnicodeDecodeError: a traceback and exit 70 (a
    hostile probe); one without its id column made every review 'not a known case'."""
    exports = tmp_path / "ex"
    exports.mkdir()
    (exports / "cases.csv").write_bytes(content)
    f = _write_csv(tmp_path / "r.csv", ["case_id", "outcome"], [["case-aa", "confirmed"]])
    code = main(["review", "import", str(f), "--exports", str(exports), "--dry-run"])
    _out, err = capsys.readouterr()
    assert code == 2, err
    assert err.count("\n") == 1 and says in err and str(exports / "cases.csv") in err
