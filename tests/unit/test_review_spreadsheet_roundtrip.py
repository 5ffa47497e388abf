"""`review import` of review files a spreadsheet opened and saved (hostile probe of
2026-12-07): the files of `tests/data/libreoffice/` were saved by LibreOffice Calc, standing in
for Excel (its README has the commands), so CI needs no LibreOffice. Every outcome is the
decisions imported exactly, or a line naming the row and what is wrong; never a silent
wrong import."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from auditstream.cli import main
from shared.errors import ExitCode
from shared.reviews import Review
from tests.review_publisher import publish_to_list

DATA = Path(__file__).resolve().parents[1] / "data" / "libreoffice"
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
NEW = ("case-7911e3edd155501d", "dismissed", "bob", NOW.isoformat(), "new 🧾, checked")


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[Review]:
    """Reviews go to a list (the import's Kafka seam); `now` is NOW."""
    out: list[Review] = publish_to_list(monkeypatch)
    monkeypatch.setattr("auditstream.review.cli.now_utc", lambda: NOW)
    return out


def _import(tmp_path: Path, name: str, exports: Path = DATA / "exports") -> tuple[int, Path]:
    f = tmp_path / Path(name).name
    shutil.copyfile(DATA / name, f)
    code = main(["review", "import", str(f), "--exports", str(exports), "--reviewer", "bob"])
    return code, f


def _published(sent: list[Review]) -> list[tuple[str, str, str, str, str]]:
    return [(r.id, r.outcome, r.reviewer, r.reviewed_at.isoformat(), r.note) for r in sent]


def test_the_file_as_filled_in_publishes_the_one_new_decision(
    tmp_path: Path, sent: list[Review], capsys: pytest.CaptureFixture[str],
) -> None:
    """The control: before any spreadsheet saved it, alice's four decisions are as the
    exports show them (the guarded formula read back without its `'`)."""
    code, _ = _import(tmp_path, "reviewed.csv")
    out = capsys.readouterr().out
    assert (code, _published(sent)) == (ExitCode.OK, [NEW]), out
    assert "4 row(s) as the exports already show them" in out


@pytest.mark.parametrize("name", ["reviewed_en.csv", "reviewed_en_bom_crlf.csv",
                                  "reviewed_en.xlsx"])
def test_notes_a_spreadsheet_rewrote_do_not_republish_earlier_decisions(
    tmp_path: Path, sent: list[Review], capsys: pytest.CaptureFixture[str], name: str,
) -> None:
    """The spreadsheet read alice's notes `0042`, `1e5` and `3/4` as a number, a number and a
    date and saved them as `42`, `1.00E+05` (.xlsx: 100000) and `03/04/26` (.xlsx: a date).
    Before: all three were published again as new decisions of the importer, bob, with the
    rewritten notes (exit 0). The same number is the same note; a date cannot be told from
    an edit, so its row is rejected naming the note."""
    code, f = _import(tmp_path, name)
    out, err = capsys.readouterr()
    assert _published(sent) == [NEW]
    assert code == ExitCode.ROWS_REJECTED, out
    unit = "row" if name.endswith(".xlsx") else "line"
    lines = [x for x in err.splitlines() if x.startswith(f"{f}: ")]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{f}: {unit} 4: note: ")
    assert ("is not the note cases.csv of" in lines[0]
            and "shows for 'case-2a5c28350b001ab2' ('3/4', unclear by 'alice' at "
                "2026-12-06T10:02:00Z)" in lines[0]), lines[0]
    assert "3 row(s) as the exports already show them" in out


@pytest.mark.parametrize("name", ["reviewed_de.csv", "no_semicolons/reviewed_de.csv"])
def test_a_file_split_at_semicolons_and_saved_so_is_never_read_silently(
    tmp_path: Path, sent: list[Review], capsys: pytest.CaptureFixture[str], name: str,
) -> None:
    """A comma-separated cases.csv opened where the list separator is `;` (German Excel's
    double-click) splits each line at the `;` of `impossible_travel;new_country`, and is
    saved so: the header ends `note;`, rows holding a `;` have two cells, rows holding a `"`
    are saved whole in quotes. Before: read with commas, the `note;` column was no `note`,
    each of alice's decisions was published again as bob's with its note erased, and the
    rows saved in quotes were one cell each, skipped as without an outcome: case 5's new
    decision lost, exit 0 (without any `;`: nothing published, exit 0)."""
    exports = DATA / ("no_semicolons/exports" if "/" in name else "exports")
    code, f = _import(tmp_path, name, exports)
    out, err = capsys.readouterr()
    assert sent == []
    assert code in (ExitCode.USAGE, ExitCode.ROWS_REJECTED), out
    if code == ExitCode.USAGE:  # the header says it: nothing is read
        assert err.count("\n") == 1, err
        assert "header cell 'note;': nothing read, as a spreadsheet saves a file" in err, err
    else:  # each row quoted whole is named; none is skipped
        assert "1 row(s) without an outcome skipped" in out  # case 6, open
        for line in (4, 5, 6):
            said = f"{f}: line {line}: unreadable CSV row: 1 cell where the header has 22"
            assert said in err, err
        assert "4 rejected" not in out and "3 rejected" in out, out


def _read_back(note: tuple[str, str] = ("", ""), reviewer: tuple[str, str] = ("alice", "alice")
               ) -> tuple[str, Any]:
    """One decided case read back from a spreadsheet: each of (`note`, `reviewer`) as
    (exported, read); what the import makes of it (unchanged, rejected or published)."""
    from auditstream.review.records import Exported, Layout, parse_rows

    at = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    cells = {"case_id": "c1", "outcome": "confirmed", "reviewer": reviewer[1],
             "reviewed_at": "2026-12-06T10:00:00Z", "note": note[1]}
    result = parse_rows([(2, cells)], Layout("case", "case_id"), reviewer="bob", now=NOW,
                        exported={"c1": Exported("confirmed", reviewer[0], at, note[0])})
    return ("unchanged" if result.unchanged else "rejected" if result.rejected
            else "published"), result


@pytest.mark.parametrize(("exported", "read", "becomes"), [
    ("0042", "42", "unchanged"),             # the same number
    ("1e5", "1.00E+05", "unchanged"),
    ("TRUE", "True", "unchanged"),           # the same truth value (.xlsx: a bool cell)
    ("0042", "43", "rejected"),              # another number: cannot be told from an edit
    ("3/4", "03/04/26", "rejected"),         # a date in the spreadsheet's format
    ("true", "1", "rejected"),               # a truth value is no number
    ("card 42", "card 43", "published"),     # text edited, stamp left: a new decision
    ("", "42", "published"),                 # a note added
])
def test_a_note_differing_from_the_exports_only_as_a_spreadsheet_writes_it(
    exported: str, read: str, becomes: str,
) -> None:
    got, result = _read_back(note=(exported, read))
    assert got == becomes, result
    if becomes == "published":  # stamped anew, by the importer
        assert [(r.reviewer, r.reviewed_at, r.note) for r in result.reviews] == [
            ("bob", NOW, read)]


def test_an_earlier_decision_saved_in_windows_1252_is_not_published_again(
    tmp_path: Path, sent: list[Review], capsys: pytest.CaptureFixture[str],
) -> None:
    """Excel's "CSV (Comma delimited)" is Windows-1252: `Łukasz` and a Greek note come back
    as `?ukasz` and `????? ????????`. Before: case 6 was published again as a new decision
    of the reviewer `?ukasz` with the note of question marks. (The new decision's emoji is
    `?` too: nothing tells it from a typed one, docs/review.md.)"""
    code, _ = _import(tmp_path, "cp1252/reviewed_1252.csv", DATA / "cp1252" / "exports")
    out = capsys.readouterr().out
    assert [p[:3] for p in _published(sent)] == [("case-7911e3edd155501d", "dismissed", "bob")]
    assert code == ExitCode.ROWS_REJECTED  # the 3/4 date, as above
    assert "4 row(s) as the exports already show them" in out


@pytest.mark.parametrize(("exported", "read", "becomes"), [
    ("Łukasz", "?ukasz", "unchanged"),    # Ł is not in Windows-1252
    ("Łukasz", "Lukasz", "unchanged"),    # a "best fit" of it
    ("José", "Jos?", "published"),        # é is in Windows-1252: an edit
    ("Łukasz", "?ukasz2", "published"),   # another length: an edit
])
def test_a_reviewer_differing_only_where_windows_1252_lacks_a_character(
    exported: str, read: str, becomes: str,
) -> None:
    got, result = _read_back(reviewer=(exported, read))
    assert got == becomes, result


FAMILY = "\U0001F468\u200d\U0001F469\u200d\U0001F467"  # a ZWJ sequence: 5 code points


@pytest.mark.parametrize(("exported", "read", "becomes"), [
    ("🧾", "?", "unchanged"),              # one `?` per code point (Python, LibreOffice)
    ("🧾", "??", "unchanged"),             # one per UTF-16 unit: a surrogate pair is `??`
    ("🇩🇪", "??", "unchanged"),            # a flag: two code points
    ("🇩🇪", "????", "unchanged"),          # ... four UTF-16 units
    (FAMILY, "?????", "unchanged"),        # a ZWJ sequence
    (FAMILY, "????????", "unchanged"),     # ... 3 pairs and 2 joiners as UTF-16 units
    ("checked 🧾", "checked ??", "unchanged"),
    ("e\u0301", "e?", "unchanged"),        # a combining accent Windows-1252 lacks
    ("e\u0301", "é", "unchanged"),         # ... or composed into the one it has
    ("🧾", "???", "published"),            # three units are no one emoji
    ("🧾", "x", "published"),              # no best fit outside the BMP: an edit
    ("🧾 ok", "?? ko", "published"),       # an edit beside it
    ("checked 🧾", "cheked ??", "published"),
    ("🇩🇪", "???", "published"),
    ("🧾", "", "published"),               # the note cleared
])
def test_a_note_differing_only_where_windows_1252_lacks_emoji_and_sequences(
    exported: str, read: str, becomes: str,
) -> None:
    """Excel's "CSV (Comma delimited)" writes each character Windows-1252 lacks as `?`: a
    character outside the BMP (an emoji) as one `?` or, written per UTF-16 unit, `??`. An
    earlier decision read back so is unchanged, however its note is made of such characters;
    any other difference is an edit. Before: `??` for one emoji (and a flag's `????`, a ZWJ
    sequence's 8) was taken for an edit and published again as the importer's decision."""
    got, result = _read_back(note=(exported, read))
    assert got == becomes, result


def test_a_note_of_2000_emoji_read_back_as_question_marks() -> None:
    """At the note's bound, either way an emoji may be written; a writer does one or the
    other throughout (`???` is no flag)."""
    from auditstream.review.records import _lossy

    assert _lossy("??" * 2000, "🧾" * 2000)
    assert _lossy("?" * 2000, "🧾" * 2000)
    assert not _lossy("?" * 3000, "🧾" * 2000)
    assert not _lossy("?" * 3999 + "x", "🧾" * 2000)


@pytest.mark.parametrize("name", ["ids/reviewed_sample_en.csv", "ids/reviewed_sample_en.xlsx"])
def test_an_id_a_spreadsheet_turned_into_a_number_never_reviews_another_transaction(
    tmp_path: Path, sent: list[Review], capsys: pytest.CaptureFixture[str], name: str,
) -> None:
    """`audit_sample.csv` lists transactions `0042` and `42` (and `00123`, `1e5`); the auditor
    confirms `0042`, dismisses `00123`, `1e5` and `T-77`. LibreOffice reads the ids as numbers
    and saves `42`, `123`, `1.00E+05` (.xlsx: the numbers 42, 123, 100000). Before: `0042`'s
    confirmation was published for transaction `42`, a decision on another customer's
    payment (`123` and `1.00E+05` were `not a known transaction`, naming no cause). Each such
    row is now rejected naming the ids of that value the exports list; `T-77` is published."""
    code, f = _import(tmp_path, name, DATA / "ids" / "exports")
    out, err = capsys.readouterr()
    assert [(r.id, r.outcome) for r in sent] == [("T-77", "dismissed")], out
    assert code == ExitCode.ROWS_REJECTED, out
    unit = "row" if name.endswith(".xlsx") else "line"
    lines = [x for x in err.splitlines() if x.startswith(f"{f}: ")]
    assert [x.split(": ")[1] for x in lines] == [f"{unit} 2", f"{unit} 4", f"{unit} 5"], err
    assert "'0042'" in lines[0] and "as a number" in lines[0], lines[0]
    assert "'00123'" in lines[1] and "'1e5'" in lines[2], err


@pytest.mark.parametrize(("ident", "known", "becomes"), [
    ("42", {"42", "0042"}, "rejected"),       # another id of that value: 0042 saved as 42
    ("42.0", {"42", "0042"}, "rejected"),
    ("123", {"00123"}, "rejected"),           # not listed, one of that value is
    ("1.00E+05", {"1e5"}, "rejected"),
    ("77", {"42", "0042"}, "rejected"),       # a number no listed id has: not known
    ("0042", {"42", "0042"}, "published"),    # leading zeros: no spreadsheet's number
    ("1e5", {"1e5", "100000"}, "published"),  # a spreadsheet writes 1.00E+05 or 100000
    ("42", {"42", "T42"}, "published"),       # the only id of that value
    ("42", {"42", "-42", "+42x"}, "published"),
    ("C-0042", {"C-0042", "C-42"}, "published"),
    ("42", {"42", "\u0664\u0662"}, "published"),  # Arabic-Indic 42: no spreadsheet's number
])
def test_an_id_that_reads_as_a_number_of_another_listed_id(
    ident: str, known: set[str], becomes: str,
) -> None:
    from auditstream.review.records import Layout, parse_rows

    cells = {"transaction_id": ident, "outcome": "confirmed"}
    result = parse_rows([(2, cells)], Layout("transaction", "transaction_id"),
                        reviewer="bob", now=NOW, known=known)
    assert ("rejected" if result.rejected else "published") == becomes, result


@pytest.mark.parametrize(("ident", "known", "becomes"), [
    # 16 digits: a spreadsheet keeps 15, and writes the id of a Number-formatted column in
    # full: `...013` truncated (Excel) is `...010`, rounded (LibreOffice) `...016` is `...020`
    ("1000000000000010", {"1000000000000010", "1000000000000013"}, "rejected"),
    ("1000000000000020", {"1000000000000020", "1000000000000016"}, "rejected"),
    ("1234567890123450000", {"1234567890123456789", "1234567890123450000"}, "rejected"),
    ("1234567890123460000", {"1234567890123456789", "1234567890123460000"}, "rejected"),
    # the 16th digit at the rounding bound: 5 rounds up (half up and half even agree on
    # ...015), 4 does not; a 16th digit 1 after zeros, or trailing ones, truncated too
    ("1000000000000020", {"1000000000000020", "1000000000000015"}, "rejected"),
    ("1000000000000020", {"1000000000000020", "1000000000000014"}, "published"),
    ("1000000000000010", {"1000000000000010", "1000000000000014"}, "rejected"),
    ("1000000000000000", {"1000000000000000", "1000000000000001"}, "rejected"),
    ("1000000000000010", {"1000000000000010", "1000000000000011"}, "rejected"),
    # one unit off the 15 digits kept, or digits past them: no spreadsheet's number of
    # another id
    ("1234567890123456780", {"1234567890123456789", "1234567890123456780"}, "published"),
    ("1000000000000011", {"1000000000000011", "1000000000000013"}, "published"),
    ("1000000000000010", {"1000000000000010", "1000000000000023"}, "published"),
    ("100000000000001", {"100000000000001", "100000000000001x"}, "published"),
    # 15 digits: kept exactly, nothing lost
    ("100000000000010", {"100000000000010", "100000000000011"}, "published"),
    # ids past any number's exponent or length among the listed ones: indexed, no traceback
    ("1", {"1", "1234567890123456789E+999990", "1" * 5000, "12345678901234567e-999999"},
     "published"),
    ("1.23456789012346E+999999999", {"1234567890123456789E+999999981"}, "rejected"),
])
def test_an_id_of_16_digits_or_more_a_spreadsheet_kept_15_of(
    ident: str, known: set[str], becomes: str,
) -> None:
    """A CSV whose id column a spreadsheet held as numbers (then formatted as Number, so
    that no `E+15` shows) has only 15 significant digits of each, the rest zeros: where the
    exports list `1000000000000010` and `1000000000000013`, the decision on `...013` was
    published for `...010`, another transaction (.xlsx numbers of 16 digits were already
    refused, `_id_cell_problem`). An id ending in zeros past its 15th digit whose 15 digits
    another listed id shares (truncated or rounded) is now rejected naming it."""
    from auditstream.review.records import Layout, parse_rows

    cells = {"transaction_id": ident, "outcome": "confirmed"}
    result = parse_rows([(2, cells)], Layout("transaction", "transaction_id"),
                        reviewer="bob", now=NOW, known=known)
    assert ("rejected" if result.rejected else "published") == becomes, result
    if becomes == "rejected":
        other = sorted(known - {ident})[0]
        assert f"'{other}'" in result.rejected[0].reason, result.rejected[0].reason
