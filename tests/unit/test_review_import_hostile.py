"""`review import` given the files an auditor's laptop or an attacker could hand it (a hostile
probe, 2026-12-05): .xlsx files whose XML lies, explodes or never ends, and CSV files cut
short. Each is one line and exit 2 with nothing published, or its rows reported; never a
traceback, a hang, gigabytes of memory or a decision dropped without a word."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import openpyxl
import pytest

from auditstream.cli import main
from auditstream.review import files
from auditstream.review.files import ReviewFileError, read_table
from auditstream.review.records import ERROR_KEY
from shared.errors import ExitCode
from tests.review_publisher import publish_to_list

SHEET = "xl/worksheets/sheet1.xml"


@pytest.fixture(autouse=True)
def _no_publish(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Reviews go to a list (the import's Kafka seam), never to a broker."""
    return publish_to_list(monkeypatch)


def _xlsx(path: Path, rows: Sequence[Sequence[Any]],
          edit: Callable[[str], str] = lambda s: s, part: str = SHEET) -> Path:
    """A workbook openpyxl writes (header case_id, outcome, note), one XML part then edited."""
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.append(["case_id", "outcome", "note"])
    for row in rows:
        ws.append(list(row))
    plain = path.with_suffix(".plain.xlsx")
    book.save(plain)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == part:
                data = edit(data.decode()).encode()
            dst.writestr(info.filename, data, compress_type=zipfile.ZIP_DEFLATED)
    plain.unlink()
    return path


def _import(f: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    code = main(["review", "import", str(f), "--no-check", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def _refused(code: int, out: str, err: str, sent: list[Any], says: str) -> None:
    """Exit 2 in one line naming the problem, nothing published, no traceback. (With
    defusedxml, openpyxl refuses any DTD as it opens the workbook; with expat alone, its
    entity limits refuse the expansion when the sheet is read: either is one line.)"""
    assert code == ExitCode.USAGE, err
    assert out == "" and sent == []
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert says in err, err


ROWS = [["c1", "confirmed", "ok"], ["c2", "dismissed", "fine"]]

#: Ten entities of ten each, nine deep: 10**9 `a`s from a few hundred bytes.
LAUGHS = ('<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY a0 "aaaaaaaaaa">'
          + "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10)) + "]>")


def test_an_entity_expansion_bomb_in_a_sheet_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
) -> None:
    f = _xlsx(tmp_path / "r.xlsx", ROWS,
              lambda s: LAUGHS + s.replace("<t>ok</t>", "<t>&a9;</t>"))
    code, out, err = _import(f, capsys)
    _refused(code, out, err, _no_publish, f"{f}: ")
    assert "readable" in err and ("amplification" in err or "EntitiesForbidden" in err)


def test_an_entity_expansion_bomb_in_the_workbook_part_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
) -> None:
    f = _xlsx(tmp_path / "r.xlsx", ROWS,
              lambda s: LAUGHS.replace("worksheet", "workbook") + s.replace(
                  'name="Sheet"', 'name="&a9;"'), part="xl/workbook.xml")
    code, out, err = _import(f, capsys)
    _refused(code, out, err, _no_publish, f"{f}: not a readable .xlsx workbook")
    assert "amplification" in err or "EntitiesForbidden" in err


def test_an_external_entity_is_never_read_into_a_review(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-LINE", encoding="utf-8")
    f = _xlsx(tmp_path / "r.xlsx", ROWS, lambda s: (
        f'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY x SYSTEM "{secret.as_uri()}">]>'
        + s.replace("<t>ok</t>", "<t>&x;</t>")))
    code, out, err = _import(f, capsys)
    _refused(code, out, err, _no_publish, f"{f}: ")
    assert "readable" in err and ("undefined entity" in err or "EntitiesForbidden" in err)
    assert "TOP-SECRET" not in out + err
    assert not list(tmp_path.glob("*.rejects.csv"))


def test_a_sheet_cut_short_is_one_line_exit_2_naming_the_last_row_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
) -> None:
    """The rows before the cut are not published either: the file is not what was saved."""
    f = _xlsx(tmp_path / "r.xlsx", ROWS, lambda s: s[:s.index('<row r="3"') + 20])
    _refused(*_import(f, capsys), _no_publish, "not readable XML after row 2")


@pytest.mark.parametrize("cell", ['<c r="A2" t="s"><v>7</v></c>',  # no shared string 7
                                  '<c r="A2" t="n"><v>abc</v></c>'])
def test_a_cell_that_lies_about_its_value_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any], cell: str,
) -> None:
    def lie(s: str) -> str:
        return re.sub(r'<c r="A2"[^>]*>.*?</c>', cell, s, count=1)

    f = _xlsx(tmp_path / "r.xlsx", [["X", "confirmed", "ok"]], lie)
    _refused(*_import(f, capsys), _no_publish, f"{f}: sheet 'Sheet': not readable XML after row 1")


def test_rows_past_a_stale_dimension_are_read_not_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
) -> None:
    """openpyxl's read-only mode stops at the sheet's `dimension`: a writer that left it at
    A1:C2 had every later row dropped without a word (exit 0, c2 and c3 never published)."""
    f = _xlsx(tmp_path / "r.xlsx", [*ROWS, ["c3", "unclear", ""]],
              lambda s: re.sub(r'<dimension ref="[^"]*"', '<dimension ref="A1:C2"', s))
    code, _out, err = _import(f, capsys)
    assert code == 0, err
    assert [(r.id, r.outcome) for r in _no_publish] == [
        ("c1", "confirmed"), ("c2", "dismissed"), ("c3", "unclear")]


@pytest.mark.timeout(60)
def test_a_huge_dimension_with_a_last_row_is_read_in_seconds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
) -> None:
    """A 5 KB file whose `dimension` says A1:XFD1048576 and that holds a cell in the last
    row: every row was padded to 16,384 cells, a million times (no end in 10 minutes)."""
    f = _xlsx(tmp_path / "r.xlsx", ROWS, lambda s: re.sub(
        r'<dimension ref="[^"]*"', '<dimension ref="A1:XFD1048576"', s).replace(
        "</sheetData>", '<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>c9</t></is>'
        '</c><c r="B1048576" t="inlineStr"><is><t>unclear</t></is></c></row></sheetData>'))
    code, _out, err = _import(f, capsys)
    assert code == 0, err
    assert [(r.id, r.outcome) for r in _no_publish] == [
        ("c1", "confirmed"), ("c2", "dismissed"), ("c9", "unclear")]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("last", "ok"), [(1_048_575, True), (1_048_576, True),
                                          (1_048_577, False), (10**12, False)])
def test_a_row_number_past_excels_last_row_is_refused_not_counted_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
    last: int, ok: bool,
) -> None:
    """Row 10**12 in a 5 KB file: openpyxl yields every empty row before it (a hang)."""
    f = _xlsx(tmp_path / "r.xlsx", ROWS, lambda s: s.replace(
        "</sheetData>", f'<row r="{last}"><c r="A{last}" t="inlineStr"><is><t>c9</t></is></c>'
        f'<c r="B{last}" t="inlineStr"><is><t>unclear</t></is></c></row></sheetData>'))
    code, out, err = _import(f, capsys)
    if ok:
        assert code == 0, err
        assert [r.id for r in _no_publish] == ["c1", "c2", "c9"]
    else:
        _refused(code, out, err, _no_publish,
                 f"{f}: row {files.EXCEL_MAX_ROW + 1}: past Excel's last row")


@pytest.mark.parametrize("over", [-1, 0, 1])
def test_an_xlsx_unpacking_past_its_limit_is_refused_before_it_is_unpacked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
    monkeypatch: pytest.MonkeyPatch, over: int,
) -> None:
    """A zip bomb: a 400 KB file holding a 400 MB cell took 2.9 GB and 10 s. The limit is
    on the parts' sizes as the archive states them, which is also all zipfile unpacks."""
    f = _xlsx(tmp_path / "r.xlsx", ROWS)
    with zipfile.ZipFile(f) as z:
        total = sum(i.file_size for i in z.infolist())
    monkeypatch.setattr(files, "MAX_XLSX_UNPACKED", total - over)
    code, out, err = _import(f, capsys)
    if over <= 0:
        assert code == 0, err
        assert [r.id for r in _no_publish] == ["c1", "c2"]
    else:
        _refused(code, out, err, _no_publish,
                 f"{f}: unpacks to {total:,} bytes, over the {total - 1:,} a review file")


def test_a_password_protected_workbook_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
) -> None:
    """Excel saves an encrypted .xlsx as an OLE compound file, not a zip: 'File is not a zip
    file' told the auditor nothing they could act on."""
    f = tmp_path / "r.xlsx"
    f.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + bytes(504))
    _refused(*_import(f, capsys), _no_publish,
             "password-protected (encrypted) or an old binary .xls renamed: save it from "
             "Excel without a password, as .xlsx or CSV\n")


def test_read_table_refuses_a_bomb_before_the_header(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    f = _xlsx(tmp_path / "r.xlsx", ROWS)
    monkeypatch.setattr(files, "MAX_XLSX_UNPACKED", 10)
    with pytest.raises(ReviewFileError, match="over the 10 a review file may"):
        read_table(f)


def test_csv_rows_after_a_quote_never_closed_are_named_not_swallowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
) -> None:
    """A quote opened and never closed makes the rest of the file one cell: 48 decisions
    vanished into line 2's note, reported as 'note: must not contain control characters'
    with '1 rejected' and nothing else."""
    f = tmp_path / "r.csv"
    f.write_text('case_id,outcome,note\nc0,unclear,ok\nc1,confirmed,"oops\n'
                 + "".join(f"c{i},dismissed,fine\n" for i in range(2, 50)), encoding="utf-8")
    _, rows = read_table(f)
    assert list(rows) == [
        (2, {"case_id": "c0", "outcome": "unclear", "note": "ok"}),
        (3, {ERROR_KEY: "unreadable CSV row: a quote opened in this row is never closed: "
                        "lines 3-51, the rest of the file, were read as one cell"})]
    code, _out, err = _import(f, capsys)
    assert code == ExitCode.ROWS_REJECTED
    assert f"{f}: line 3: unreadable CSV row: a quote opened in this row is never closed" in err


@pytest.mark.parametrize("text", ['case_id,outcome,note\nc1,confirmed,"fine"\n',
                                  'case_id,outcome,note\nc1,confirmed,"two\nlines"',
                                  'case_id,outcome,note\nc1,confirmed,say ""hi""\n',
                                  'case_id,outcome,note\nc1,confirmed,"a ""b"" c"'])
def test_csv_quotes_closed_at_the_end_are_no_open_quote(tmp_path: Path, text: str) -> None:
    f = tmp_path / "r.csv"
    f.write_text(text, encoding="utf-8")
    _, rows = read_table(f)
    assert all(ERROR_KEY not in cells for _line, cells in rows)


def test_an_xlsx_whose_first_row_is_empty_says_where_the_header_must_be(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
) -> None:
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.append([])
    ws.append(["case_id", "outcome"])
    ws.append(["c1", "confirmed"])
    f = tmp_path / "r.xlsx"
    book.save(f)
    _refused(*_import(f, capsys), _no_publish, f"{f}: sheet 'Sheet': row 1 is empty")


def test_openpyxl_parses_through_defusedxml() -> None:
    """openpyxl uses defusedxml when it is installed (a dependency for this): any DTD in a
    part is refused as the workbook opens, whatever expat the Python was built with (expat
    limits entity expansion only from 2.4.0)."""
    from openpyxl.xml import DEFUSEDXML
    from openpyxl.xml.functions import iterparse

    assert DEFUSEDXML
    assert iterparse.__module__.startswith("defusedxml")


def test_two_rows_deciding_one_case_differently_are_both_rejected_naming_each_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
) -> None:
    """Both were published in file order and the later won without a word: a file that
    says confirmed and dismissed for one case does not say which the auditor meant. The
    same outcome twice is one decision, published as written; other ids are unaffected."""
    f = tmp_path / "r.csv"
    f.write_text("case_id,outcome,note\nc1,confirmed,a\nc2,dismissed,\nc1, Dismissed ,b\n"
                 "c3,unclear,\nc3,UNCLEAR,\nc1,confirmed,c\n", encoding="utf-8")
    code, out, err = _import(f, capsys)
    assert code == ExitCode.ROWS_REJECTED, err
    assert [(r.id, r.outcome) for r in _no_publish] == [
        ("c2", "dismissed"), ("c3", "unclear"), ("c3", "unclear")]
    assert err.splitlines()[:3] == [
        f"{f}: line {n}: case_id: 'c1' is given two outcomes in this file (confirmed on "
        "lines 2, 7; dismissed on line 4): keep the one meant" for n in (2, 4, 7)]
    assert "; 3 rejected" in out



def test_conflicting_rows_of_a_sheet_are_named_by_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
) -> None:
    f = _xlsx(tmp_path / "r.xlsx", [["c1", "confirmed", ""], ["c1", "unclear", ""]])
    code, _out, err = _import(f, capsys)
    assert code == ExitCode.ROWS_REJECTED and _no_publish == []
    assert f"{f}: row 3: case_id: 'c1' is given two outcomes in this file (confirmed on row " \
           "2; unclear on row 3): keep the one meant" in err


@pytest.mark.parametrize("state", ["hidden", "veryHidden"])
def test_the_default_sheet_is_the_first_one_excel_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
    state: Literal["hidden", "veryHidden"],
) -> None:
    """A hidden first sheet (an attacker's, or an old one left in the file) was imported in
    place of the sheet the auditor sees and filled in; asked for by name, it is read."""
    book = openpyxl.Workbook()
    hidden = book.active
    assert hidden is not None
    hidden.title, hidden.sheet_state = "old", state
    hidden.append(["case_id", "outcome"])
    hidden.append(["c666", "confirmed"])
    shown = book.create_sheet("cases")
    shown.append(["case_id", "outcome"])
    shown.append(["c1", "dismissed"])
    f = tmp_path / "r.xlsx"
    book.save(f)
    code, _out, err = _import(f, capsys)
    assert code == 0, err
    assert [(r.id, r.outcome) for r in _no_publish] == [("c1", "dismissed")]
    assert _import(f, capsys, "--sheet", "old")[0] == 0
    assert [r.id for r in _no_publish] == ["c1", "c666"]


def test_an_outcome_formula_saved_without_its_value_rejects_its_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
) -> None:
    """openpyxl (and other tools) save a formula without the value Excel would have cached:
    read as empty, the decision was skipped as 'without an outcome' (exit 0). A formula
    with its saved value reads as that value; one in a column not read is no matter."""
    def cached(s: str) -> str:  # c3's outcome as Excel saves a formula: with its value
        return s.replace('<c r="B4" t="inlineStr"><is><t>unclear</t></is></c>',
                         '<c r="B4" t="str"><f>LOWER("UNCLEAR")</f><v>unclear</v></c>')

    f = _xlsx(tmp_path / "r.xlsx", [
        ["c1", '=IF(1=1,"confirmed","dismissed")', "x"],
        ["c2", "dismissed", "ok"], ["c3", "unclear", ""]], cached)
    code, _out, err = _import(f, capsys)
    assert code == ExitCode.ROWS_REJECTED, err
    assert [(r.id, r.outcome) for r in _no_publish] == [("c2", "dismissed"), ("c3", "unclear")]
    assert err.splitlines()[0] == (
        f"{f}: row 2: outcome: cell B2 holds a formula saved without its value (not saved by "
        "Excel): open and save the file in Excel, or type the value")
    rejects = (tmp_path / "r.rejects.csv").read_text(encoding="utf-8")
    assert "c1" in rejects


@pytest.mark.parametrize(("merge", "rows"), [("B2:B4", [2, 3, 4]), ("A3:B3", [3]),
                                             ("C2:C3", [2, 3]), ("D2:E4", [])])
def test_merged_cells_over_a_read_column_reject_the_rows_they_cover(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
    merge: str, rows: list[int],
) -> None:
    """Read-only reading gives merged cells' value to their first cell: `confirmed` merged
    over rows 2-4 decided c1 and skipped c2 and c3 without a word. Columns not read
    (D, E) may be merged."""
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.append(["case_id", "outcome", "note", "x", "y"])
    for i in range(1, 5):
        ws.append([f"c{i}", "confirmed", "n", "", ""])
    ws.merge_cells(merge)
    f = tmp_path / "r.xlsx"
    book.save(f)
    code, _out, err = _import(f, capsys)
    assert code == (ExitCode.ROWS_REJECTED if rows else 0), err
    assert [r.id for r in _no_publish] == [f"c{n - 1}" for n in range(2, 6) if n not in rows]
    assert [int(m) for m in re.findall(rf"row (\d+): \w+: merged cells {merge} cover", err)] \
        == rows


@pytest.mark.parametrize(("cell", "ok"), [(999_999_999_999_999, True),
                                          (999_999_999_999_999.0, True),
                                          (1e15, False), (1.2345678901234568e18, False),
                                          (-1e15, False)])
def test_an_id_excel_holds_as_a_number_of_16_digits_or_more_is_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
    cell: float, ok: bool,
) -> None:
    """Excel keeps 15 significant digits: an id typed or pasted as 1234567890123456789 is
    saved as 1.23456789012346E+18 and was read as '1234567890123456768', a transaction no
    one reviewed (published under --no-check)."""
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.append(["transaction_id", "outcome"])
    ws.append([cell, "confirmed"])
    ws.append(["T2", "dismissed"])
    f = tmp_path / "r.xlsx"
    book.save(f)
    code, _out, err = _import(f, capsys)
    if ok:
        assert code == 0, err
        assert [r.id for r in _no_publish] == ["999999999999999", "T2"]
    else:
        assert code == ExitCode.ROWS_REJECTED, err
        assert [r.id for r in _no_publish] == ["T2"]
        assert f"{f}: row 2: transaction_id: Excel holds this id as the number " in err
        assert "format the column as Text" in err


def test_an_id_excel_turned_into_a_date_is_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
) -> None:
    """An id such as 1-2 or 3/4 typed into Excel becomes a date: it was read as
    '2026-01-02T00:00:00' and published under --no-check."""
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.append(["case_id", "outcome"])
    ws.append([datetime(2026, 1, 2), "confirmed"])
    f = tmp_path / "r.xlsx"
    book.save(f)
    code, _out, err = _import(f, capsys)
    assert code == ExitCode.ROWS_REJECTED and _no_publish == [], err
    assert f"{f}: row 2: case_id: Excel holds this id as a date (2026-01-02T00:00:00)" in err


def test_an_xlsm_with_a_macro_part_is_read_and_its_macro_never_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
) -> None:
    plain = _xlsx(tmp_path / "r.xlsx", ROWS)
    f = tmp_path / "r.xlsm"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(f, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
        dst.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0" + b"Sub AutoOpen()" * 10)
    code, _out, err = _import(f, capsys)
    assert code == 0, err
    assert [(r.id, r.outcome) for r in _no_publish] == [("c1", "confirmed"), ("c2", "dismissed")]


def test_a_zip_that_is_no_workbook_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
) -> None:
    f = tmp_path / "r.xlsx"
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    _refused(*_import(f, capsys), _no_publish, f"{f}: not a readable .xlsx workbook")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig"])
@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_csv_in_each_encoding_excel_saves_and_either_line_end_reads_the_same(
    tmp_path: Path, encoding: str, newline: str,
) -> None:
    """UTF-16 with its BOM (Excel's "Unicode text" saved as .csv), UTF-8 with a BOM; CRLF
    or LF. UTF-16 without a BOM is not guessed: one line, exit 2."""
    text = newline.join(["case_id,outcome,note", "c1,confirmed,déjà vu", "c2,dismissed,ok", ""])
    data = text.encode(encoding)
    if encoding in ("utf-16-le", "utf-16-be"):
        data = ("\ufeff" + text).encode(encoding)  # the BOM Excel writes
    f = tmp_path / "r.csv"
    f.write_bytes(data)
    _, rows = read_table(f)
    assert list(rows) == [(2, {"case_id": "c1", "outcome": "confirmed", "note": "déjà vu"}),
                          (3, {"case_id": "c2", "outcome": "dismissed", "note": "ok"})]


def test_csv_utf16_without_a_bom_is_one_file_error_saying_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
) -> None:
    """It is valid UTF-8 (ASCII and NULs): it said "no `outcome` column", of a file whose
    header plainly has one."""
    f = tmp_path / "r.csv"
    f.write_bytes("case_id,outcome\r\nc1,confirmed\r\n".encode("utf-16-le"))
    _refused(*_import(f, capsys), _no_publish,
             f"{f}: the header holds NUL bytes (UTF-16 without its byte order mark?)")


def test_csv_nul_bytes_reject_their_rows_shown_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
) -> None:
    f = tmp_path / "r.csv"
    f.write_bytes(b"case_id,outcome,note\nc1,confirmed\x00,ok\nc2,dismissed,a\x00b\n"
                  b"c3,unclear,ok\n")
    code, _out, err = _import(f, capsys)
    assert code == ExitCode.ROWS_REJECTED
    assert [r.id for r in _no_publish] == ["c3"]
    assert f"{f}: line 2: outcome: 'confirmed\\x00' is not one of" in err
    assert f"{f}: line 3: note: must not contain control characters" in err
    assert "\x00" not in err


def test_csv_header_only_publishes_nothing_exit_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
) -> None:
    f = tmp_path / "r.csv"
    f.write_text("case_id,outcome,note\r\n", encoding="utf-8")
    code, out, _err = _import(f, capsys)
    assert code == 0 and _no_publish == []
    assert out.startswith("review import: 0 case outcome(s) published")


def test_a_chart_sheet_named_by_sheet_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
) -> None:
    """A chart sheet has no cells: `--sheet Chart1` was an AttributeError (exit 70). The
    default skips it: the first sheet with cells is read."""
    from openpyxl.chart import BarChart

    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.append(["case_id", "outcome"])
    ws.append(["c1", "confirmed"])
    book.create_chartsheet("Chart1").add_chart(BarChart())
    book.move_sheet("Chart1", offset=-1)
    f = tmp_path / "r.xlsx"
    book.save(f)
    _refused(*_import(f, capsys, "--sheet", "Chart1"), _no_publish,
             f"{f}: sheet 'Chart1' is a chart sheet, it has no cells (sheets with cells: "
             "'Sheet')")
    assert _import(f, capsys)[0] == 0 and [r.id for r in _no_publish] == ["c1"]


def test_a_workbook_with_no_sheet_of_cells_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
) -> None:
    from openpyxl.chart import BarChart

    book = openpyxl.Workbook()
    book.create_chartsheet("Chart1").add_chart(BarChart())
    assert book.active is not None
    book.remove(book.worksheets[0])
    f = tmp_path / "r.xlsx"
    book.save(f)
    _refused(*_import(f, capsys), _no_publish, f"{f}: no sheet with cells (sheets: Chart1)")


def test_a_cell_repeated_in_its_row_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
) -> None:
    """Two B2 cells: read-only reading kept the later (dismissed) without a word; Excel
    itself calls such a file damaged."""
    f = _xlsx(tmp_path / "r.xlsx", ROWS, lambda s: s.replace(
        '<c r="C2"', '<c r="B2" t="inlineStr"><is><t>dismissed</t></is></c><c r="C2"'))
    _refused(*_import(f, capsys), _no_publish, f"{f}: sheet 'Sheet': not readable XML after "
             "row 1 (cell B2 of row 2 comes after column B: cells out of order or repeated, "
             "not a sheet Excel saved)")


@pytest.mark.parametrize("order", ["swapped", "repeated"])
def test_rows_out_of_order_or_repeated_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any], order: str,
) -> None:
    """openpyxl's read-only reading drops a row numbered at or below the one before it:
    row 2 written after row 3 lost c1's decision without a word (exit 0)."""
    def edit(s: str) -> str:
        two = s[s.index('<row r="2"'):s.index('<row r="3"')]
        three = s[s.index('<row r="3"'):s.index("</sheetData>")]
        if order == "swapped":
            return s.replace(two + three, three + two)
        return s.replace(three, three + three.replace("c2", "c9"))

    f = _xlsx(tmp_path / "r.xlsx", ROWS, edit)
    said = "row 2 comes after row 3" if order == "swapped" else "row 3 is there twice"
    _refused(*_import(f, capsys), _no_publish, f"{f}: sheet 'Sheet': not readable XML after "
             f"row 3 ({said}: rows out of order or repeated, not a sheet Excel saved)")
