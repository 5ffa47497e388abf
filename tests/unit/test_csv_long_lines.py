"""A physical line over `MAX_LINE_CHARS` (a broken or hostile export): one reject naming its
line, reading on at the row's real end, and the line never held whole (a 900 MB line took
1.9x its size; 20 MB of commas, 2 GB and 4 minutes)."""

from __future__ import annotations

import csv
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.csv_io import CsvFormatError, RowError, iter_records
from shared.schemas import CSV_FIELDS
from tests.unit.test_csv_long_cells import _fake_row, _rows
from tests.unit.test_csv_long_cells import _read as _read_text

HEADER = ",".join(CSV_FIELDS)
#: The bound (`shared.csv_lines.MAX_LINE_CHARS`), as the reasons name it.
MAX_LINE_CHARS = 1_048_576
LONG = 60_000_000  # characters of the long line: 57 times the bound


def _row(tid: str, category: str = "food") -> str:
    return f"{tid},c1,2025-01-02 10:00:00,5,CH,app,pc,{category},,False,normal"


def _items(path: Path) -> list[tuple[int, Any]]:
    """Each good row's (line, id), each reject's (line, reason)."""
    return [(i.line, i.reason) if isinstance(i, RowError) else (i[0], i[1]["transaction_id"])
            for i in iter_records(path)]


def _read(path: Path) -> tuple[list[tuple[int, Any]], int]:
    """`_items`, and the peak of memory traced while reading."""
    tracemalloc.start()
    try:
        return _items(path), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _reason(line: int, spans: str = "") -> str:
    return (f"line {line} is longer than {MAX_LINE_CHARS:,} characters, the most a line may "
            f"hold; not read{spans}")


def _cell_reason(first: int, last: int) -> str:
    return (f"a cell is longer than {csv.field_size_limit():,} characters, the most a cell "
            f"may hold (the row spans lines {first}-{last})")


@pytest.mark.parametrize("shape", ["cell", "commas"])
def test_a_60_mb_line_is_one_reject_read_past_in_pieces(tmp_path: Path, shape: str) -> None:
    """A row whose one line holds 60 MB of one cell, or 3 MB of commas (a cell each):
    rejected by its line number, the rows around it read, and memory never near the line's
    size (it was: 2x for one cell, 100x for commas)."""
    big = (_row("2", "x" * LONG) if shape == "cell" else _row("2") + "," * 3_000_000)
    path = tmp_path / "long.csv"
    path.write_text("\n".join([HEADER, _row("1"), big, _row("3")]) + "\n", encoding="utf-8")
    del big
    items, peak = _read(path)
    assert peak < 8 * MAX_LINE_CHARS  # ~2 pieces of the bound
    assert items == [(2, "1"), (3, _reason(3)), (4, "3")]


def test_a_long_line_opening_a_quoted_cell_rejects_the_row_to_its_real_end(
        tmp_path: Path) -> None:
    """The long line opens a quoted cell that goes on over three more lines (one of them a
    row's text): one reject, and the next row read is the one after the cell's close."""
    big = '2,c1,2025-01-02 10:00:00,5,CH,app,pc,"' + "y" * (2 * MAX_LINE_CHARS)
    inside = [_row("6", "inside-a-cell"), 'x""', 'z"",still in the cell" ,end']
    path = tmp_path / "open.csv"
    path.write_text("\n".join([HEADER, _row("1"), big, *inside, _row("3")]) + "\n",
                    encoding="utf-8")
    items, _peak = _read(path)
    assert items == [(2, "1"), (3, _reason(3, " (the row spans lines 3-6)")), (7, "3")]


def test_a_long_line_inside_a_quoted_cell_of_a_row_names_the_row_and_its_line(
        tmp_path: Path) -> None:
    """The row's first line opens a quoted cell; its second line is the long one, its third
    closes the cell: one reject from line 3, the long line named, reading on at line 6."""
    rows = [HEADER, _row("1"), '2,c1,2025-01-02 10:00:00,5,CH,app,pc,"cell', "q" * LONG,
            'end of cell",,False,normal', _row("3")]
    path = tmp_path / "inside.csv"
    path.write_text("\r\n".join(rows) + "\r\n", encoding="utf-8")
    items, peak = _read(path)
    assert peak < 8 * MAX_LINE_CHARS
    assert items == [(2, "1"), (3, _reason(4, " (the row spans lines 3-5)")), (6, "3")]


def test_a_header_over_the_bound_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text(HEADER + "," * MAX_LINE_CHARS + "\n" + _row("1") + "\n", encoding="utf-8")
    with pytest.raises(CsvFormatError) as caught:
        iter_records(path)
    assert str(caught.value).endswith("header.csv: unreadable header: line 1 is longer than "
                                      "1,048,576 characters, the most a line may hold")
    assert "\n" not in str(caught.value)


def test_a_long_line_inside_a_quoted_header_cell_is_named_by_its_own_line(
        tmp_path: Path) -> None:
    """The header's last name is quoted over lines 1-3: its line 2 is the long one."""
    path = tmp_path / "header.csv"
    path.write_text(HEADER + ',"a\n' + "x" * MAX_LINE_CHARS + '\nb"\n' + _row("1") + "\n",
                    encoding="utf-8")
    with pytest.raises(CsvFormatError) as caught:
        iter_records(path)
    assert str(caught.value).endswith("header.csv: unreadable header: line 2 is longer than "
                                      "1,048,576 characters, the most a line may hold")


def test_a_line_of_a_million_commas_within_the_bound_keeps_32_cells_past_the_header(
        tmp_path: Path) -> None:
    """Within the line bound, a million cells: one reject counting them all, its report
    keeping the header's and the first 32 past them (it kept them all: 112 MB and 15 s for
    this row, and a million columns in the rejects report for every reject)."""
    path = tmp_path / "wide.csv"
    path.write_text("\n".join([HEADER, _row("1") + "," * 1_000_000, _row("2")]) + "\n",
                    encoding="utf-8")
    tracemalloc.start()
    try:
        items = list(iter_records(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20  # the reader's list of a million cells: 8 MB
    [err] = [i for i in items if isinstance(i, RowError)]
    assert (err.line, err.reason) == (
        2, "expected 11 columns, found 1000011 (the first 32 past the header's kept)")
    assert list(err.raw) == [*CSV_FIELDS, *(f"column_{i}" for i in range(12, 44))]


@pytest.mark.parametrize(("extra", "kept"), [(31, 31), (32, 32), (33, 32)])
def test_a_rejected_rows_cells_past_the_header_are_kept_up_to_32(
        tmp_path: Path, extra: int, kept: int) -> None:
    path = tmp_path / "wide.csv"
    cells = [f"e{i}" for i in range(extra)]
    path.write_text("\n".join([HEADER, ",".join([_row("1"), *cells])]) + "\n", encoding="utf-8")
    [err] = list(iter_records(path))
    assert isinstance(err, RowError)
    note = " (the first 32 past the header's kept)" if kept < extra else ""
    assert err.reason == f"expected 11 columns, found {11 + extra}{note}"
    assert list(err.raw.values())[11:] == cells[:kept]


@st.composite
def _long_line_row(draw: st.DrawFn) -> str:
    """A row with a quoted cell holding line breaks, row-like text and one line over the
    bound (of letters, commas or quotes, doubled as written)."""
    parts = draw(st.lists(_fake_row, max_size=3))
    before = draw(st.integers(0, len(parts)))
    unit = draw(st.sampled_from(["B", 'a,"b', ",", '"']))
    huge = unit * (MAX_LINE_CHARS // len(unit) + draw(st.integers(1, 50)))
    inner = "\n".join([*parts[:before], huge, *parts[before:]])
    cells = _row("big").split(",")
    cells[draw(st.integers(0, len(cells) - 1))] = '"' + inner.replace('"', '""') + '"'
    return ",".join(cells)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(_rows(), _long_line_row(), st.data())
def test_a_row_with_a_line_over_the_bound_anywhere_leaves_every_other_row_as_it_was(
        rows: list[str], big: str, data: st.DataObject) -> None:
    """The row is one reject at its first line, naming its long line, and every other row
    is read as in the file without it (its lines shifted by the row's)."""
    at = data.draw(st.integers(0, len(rows)))
    ending = data.draw(st.sampled_from(["\n", "\r\n"]))
    last = data.draw(st.sampled_from(["", ending]))
    without = _read_text(ending.join([HEADER, *rows]) + last)
    with_big = _read_text(ending.join([HEADER, *rows[:at], big, *rows[at:]]) + last)
    start = 2 + sum(1 + r.count("\n") + r.replace("\r\n", "").count("\r") for r in rows[:at])
    span = 1 + big.count("\n")
    long = start + big[:big.index(max(big.split("\n"), key=len))].count("\n")
    spans = f" (the row spans lines {start}-{start + span - 1})" if span > 1 else ""
    [reject] = [i for i in with_big if i[1] and "longer than" in i[1]]
    assert reject == (start, _reason(long, spans), {})
    shifted = [(line + span if line >= start else line, reason, cells)
               for line, reason, cells in without]
    assert [i for i in with_big if i is not reject] == shifted


def test_lines_are_counted_on_across_long_lines_and_oversize_cells(tmp_path: Path) -> None:
    """Two lines over the bound (one character over) and an oversize quoted cell over three
    lines between them: each reject names its own line (the second long one too, counted
    on after the lines read past before it), every good row keeps its line, and each reject
    names the file it came from."""
    over = "x" * (MAX_LINE_CHARS + 1)
    cell = '"' + "B" * 200_000 + "\nmid\n" + "C" * 10 + '"'
    path = tmp_path / "long.csv"
    path.write_text("\n".join([HEADER, _row("1"), _row("2", over), _row("3"), _row("4", cell),
                               _row("5", over), _row("6")]) + "\n", encoding="utf-8")
    assert _items(path) == [(2, "1"), (3, _reason(3)), (4, "3"), (5, _cell_reason(5, 7)),
                            (8, _reason(8)), (9, "6")]
    assert [i.source for i in iter_records(path) if isinstance(i, RowError)] == [str(path)] * 3


def test_an_oversize_cell_of_a_utf16_file_is_skipped_to_its_end(tmp_path: Path) -> None:
    """A UTF-16 file (read by its byte order mark): the lines of a row the reader gave up
    on are read again in the file's own encoding, so its oversize quoted cell over three
    lines is skipped to its closing quote and the next row read."""
    cell = '"' + "B" * 200_000 + "\nmid é\n" + "C" * 10 + '"'
    path = tmp_path / "utf16.csv"
    path.write_text("\n".join([HEADER, _row("1"), _row("2", cell), _row("3")]) + "\n",
                    encoding="utf-16")
    assert _items(path) == [(2, "1"), (3, _cell_reason(3, 5)), (6, "3")]


def test_an_oversize_cell_holding_a_stray_byte_is_read_again_as_the_file_was(
        tmp_path: Path) -> None:
    """A UTF-8 file with a stray byte (read with `surrogateescape`), the byte inside an
    oversize quoted cell over three lines: the lines read again to find the row's end are
    read the same way, so the cell is one reject and the next row is read (a strict read
    again raised UnicodeDecodeError: a traceback)."""
    cell = '"' + "B" * 200_000 + "\nmid \udcff\n" + "C" * 10 + '"'
    text = "\n".join([HEADER, _row("1", "café"), _row("2", cell), _row("3")]) + "\n"
    path = tmp_path / "stray.csv"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    assert _items(path) == [(2, "1"), (3, _cell_reason(3, 5)), (6, "3")]
