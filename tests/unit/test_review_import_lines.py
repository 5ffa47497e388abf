"""`review import` reads a line of a review file, and of the exports its ids are checked
against, no longer than the CSV reader's line bound (`shared.csv_lines.MAX_LINE_CHARS`,
1,048,576 characters, its line end included; 2026-12-06). Before, each line was taken whole
and the csv reader made it a list of cells: 40 MB of commas in a review file (under its
128 MiB bound) took +382 MiB and 4 s and was skipped as a blank row; as a header without a
line end, +649 MiB and 7 s, then read as a header of 40 million columns; in the exports'
`cases.csv`, which has no size bound, +610 MiB, and a 1 GB line was read whole."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from auditstream.cli import main
from auditstream.review.files import read_table
from auditstream.review.records import ERROR_KEY
from shared.csv_lines import MAX_LINE_CHARS
from shared.errors import ExitCode
from tests.unit.test_review_import_hostile import _no_publish, _refused

__all__ = ["_no_publish"]  # the fixture, used by name

HEADER = b"case_id,outcome,note\n"


def _import(f: Path, capsys: pytest.CaptureFixture[str], *more: str) -> tuple[int, str, str]:
    code = main(["review", "import", str(f), "--reviewer", "ana", *(more or ["--no-check"])])
    out, err = capsys.readouterr()
    return code, out, err


def _line(chars: int, end: bytes = b"\n") -> bytes:
    """A row of `chars` characters, its line end included: c1, confirmed, a note, then empty
    cells (each under the csv reader's cell limit, 131,072)."""
    head = b"c1,confirmed,n"
    return head + b"," * (chars - len(head) - len(end)) + end


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("over", [-1, 0, 1])
def test_a_row_longer_than_the_line_bound_is_rejected_with_its_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
        over: int, end: bytes) -> None:
    f = tmp_path / "r.csv"
    f.write_bytes(HEADER.replace(b"\n", end) + _line(MAX_LINE_CHARS + over, end)
                  + b"c2,dismissed," + end)
    code, _out, err = _import(f, capsys)
    sent = [r.id for r in _no_publish]
    if over <= 0:
        assert (code, sent) == (ExitCode.OK, ["c1", "c2"]), err
        return
    assert (code, sent) == (ExitCode.ROWS_REJECTED, ["c2"]), err
    assert (f"line 2: unreadable CSV row: line 2 is longer than {MAX_LINE_CHARS:,} "
            "characters, the most a line may hold; not read") in err, err


def test_a_row_of_commas_is_rejected_not_read_as_a_blank_row(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any]) -> None:
    f = tmp_path / "r.csv"
    f.write_bytes(HEADER + b"," * 2_000_000 + b"\nc2,dismissed,\n")
    code, _out, err = _import(f, capsys)
    assert (code, [r.id for r in _no_publish]) == (ExitCode.ROWS_REJECTED, ["c2"]), err
    assert f"line 2 is longer than {MAX_LINE_CHARS:,} characters" in err, err


def test_a_long_line_inside_a_quoted_cell_rejects_its_row_and_the_next_rows_are_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any]) -> None:
    """Lines 2-4 are one row (a quoted note over three lines, its second over the bound):
    the row is rejected naming them, line 5 is read as its own row."""
    f = tmp_path / "r.csv"
    f.write_bytes(HEADER + b'c1,confirmed,"a\n' + b"x" * MAX_LINE_CHARS + b'\nb"\n'
                  + b"c2,dismissed,\n")
    code, _out, err = _import(f, capsys)
    assert (code, [r.id for r in _no_publish]) == (ExitCode.ROWS_REJECTED, ["c2"]), err
    assert (f"line 2: unreadable CSV row: line 3 is longer than {MAX_LINE_CHARS:,} characters, "
            "the most a line may hold; not read (the row spans lines 2-4)") in err, err


def test_lines_are_counted_on_across_long_lines_and_oversize_cells(tmp_path: Path) -> None:
    """A long line inside a quoted note over lines 3-5, a long line alone (7) and an
    oversize quoted note over lines 9-11: each reject names its lines, and every row after
    one keeps its own line (the lines read past and skipped counted)."""
    long = b"x" * MAX_LINE_CHARS
    f = tmp_path / "r.csv"
    f.write_bytes(HEADER + b"c0,confirmed,\n"
                  + b'c1,confirmed,"a\n' + long + b'\nb"\n' + b"c2,confirmed,\n"
                  + b"c3," + long + b"\n" + b"c4,confirmed,\n"
                  + b'c5,confirmed,"' + b"B" * 200_000 + b'\nmid\nC"\n' + b"c6,confirmed,\n")
    _header, rows = read_table(f)
    got = [(line, row.get(ERROR_KEY) or row["case_id"]) for line, row in rows]
    bound = f"is longer than {MAX_LINE_CHARS:,} characters, the most a line may hold; not read"
    cell = (f"a cell is longer than {csv.field_size_limit():,} characters, the most a cell "
            "may hold")
    assert got == [(2, "c0"),
                   (3, f"unreadable CSV row: line 4 {bound} (the row spans lines 3-5)"),
                   (6, "c2"), (7, f"unreadable CSV row: line 7 {bound}"), (8, "c4"),
                   (9, f"unreadable CSV row: {cell} (the row spans lines 9-11)"), (12, "c6")]


@pytest.mark.parametrize("over", [0, 1])
def test_a_header_longer_than_the_line_bound_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
        over: int) -> None:
    """A file of commas without a line end is all header."""
    f = tmp_path / "r.csv"
    head = b"case_id,outcome"
    f.write_bytes(head + b"," * (MAX_LINE_CHARS + over - len(head)))
    code, out, err = _import(f, capsys)
    if over == 0:  # read as a header (of a million empty names)
        assert "longer than" not in err, err
        return
    _refused(code, out, err, _no_publish,
             f"{f}: line 1 is longer than {MAX_LINE_CHARS:,} characters, the most a line may "
             "hold: not a header")


def test_a_long_line_inside_a_quoted_header_cell_is_named_by_its_own_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any]) -> None:
    """The header's last name is quoted over lines 1-3: its line 2 is the long one."""
    f = tmp_path / "r.csv"
    f.write_bytes(b'case_id,outcome,"a\n' + b"x" * MAX_LINE_CHARS + b'\nb"\nc1,confirmed,\n')
    code, out, err = _import(f, capsys)
    _refused(code, out, err, _no_publish,
             f"{f}: line 2 is longer than {MAX_LINE_CHARS:,} characters, the most a line may "
             "hold: not a header")


@pytest.mark.parametrize("over", [0, 1])
def test_an_exports_file_with_a_line_over_the_bound_is_named_not_read_whole(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
        over: int) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "cases.csv").write_bytes(b"case_id,outcome,note\n" + _line(MAX_LINE_CHARS + over))
    f = tmp_path / "r.csv"
    f.write_bytes(HEADER + b"c1,confirmed,\n")
    code, out, err = _import(f, capsys, "--exports", str(exports))
    if over == 0:
        assert (code, [r.id for r in _no_publish]) == (ExitCode.OK, ["c1"]), err
        return
    _refused(code, out, err, _no_publish,
             f"cannot check the ids: {exports / 'cases.csv'}: line 2 is longer than "
             f"{MAX_LINE_CHARS:,} characters, the most a line may hold (not the exports' file); "
             "make the exports again, or --no-check")


_PROBE = """
import sys
from pathlib import Path
from auditstream.review.files import exports_ids, read_table, ReviewFileError
def kib(field):
    return int(next(l for l in open("/proc/self/status") if l.startswith(field)).split()[1])
f = Path(sys.argv[1])
open("/proc/self/clear_refs", "w").write("5")  # the peak (VmHWM) reset to the memory in use
before = kib("VmRSS:")
try:
    if f.name == "cases.csv":
        exports_ids(f.parent)
    else:
        _header, rows = read_table(f)
        for _row in rows:
            pass
except ReviewFileError:
    pass
print(kib("VmHWM:") - before)
"""


@pytest.mark.parametrize("name", ["r.csv", "cases.csv"])
def test_a_line_of_16_million_commas_costs_no_more_than_the_file(tmp_path: Path,
                                                                  name: str) -> None:
    """Before: +150 MiB and more (a cell each); the review file is read whole (16 MB, and its
    text as much again), the exports' line by line."""
    f = tmp_path / name
    f.write_bytes(HEADER + b"," * 16_000_000 + b"\nc1,confirmed,\n")
    done = subprocess.run([sys.executable, "-c", _PROBE, str(f)], capture_output=True,
                          check=True, timeout=120)
    assert int(done.stdout) < 48 * 1024, done.stdout  # KiB


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
def test_a_quote_never_closed_after_a_long_line_is_still_found(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
        end: bytes) -> None:
    """A long line ending in a lone CR is read past with a piece of the next line read to
    see the CR's end: that piece is still the next row's start (the unclosed quote of row 4
    swallowed row 5 into its note, published, with CR line ends)."""
    f = tmp_path / "r.csv"
    f.write_bytes(HEADER.replace(b"\n", end) + b"c0,confirmed," + end
                  + b"," * (MAX_LINE_CHARS + 5) + end + b'c1,confirmed,"open' + end
                  + b"c2,dismissed," + end)
    code, _out, err = _import(f, capsys)
    assert (code, [r.id for r in _no_publish]) == (ExitCode.ROWS_REJECTED, ["c0"]), err
    assert "line 4: unreadable CSV row: a quote opened in this row is never closed: lines 4-5" \
        in err, err


def test_a_long_line_inside_a_quoted_cell_of_an_exports_file_is_named_by_its_own_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any]) -> None:
    """Lines 2-4 of the exports' cases.csv are one row (a quoted note over three lines): its
    second line is over the bound and named, not the row's first (DictReader's count)."""
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "cases.csv").write_bytes(b'case_id,outcome,note\nc1,,"a\n' + b"x" * MAX_LINE_CHARS
                                        + b'\nb"\n')
    f = tmp_path / "r.csv"
    f.write_bytes(HEADER + b"c1,confirmed,\n")
    code, out, err = _import(f, capsys, "--exports", str(exports))
    _refused(code, out, err, _no_publish,
             f"cannot check the ids: {exports / 'cases.csv'}: line 3 is longer than "
             f"{MAX_LINE_CHARS:,} characters, the most a line may hold (not the exports' file); "
             "make the exports again, or --no-check")
