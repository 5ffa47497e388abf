"""A cell longer than the reader's limit: one reject for its whole row, and reading goes on
at the row's real end, never inside the cell (text in the cell is never read as a row)."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.csv_io import RowError, iter_csv, iter_records
from shared.csv_resync import RowEnds, still_quoted
from shared.schemas import CSV_FIELDS

HEADER = ",".join(CSV_FIELDS)
LIMIT = csv.field_size_limit()


def _row(tid: str, category: str = "food") -> str:
    return f"{tid},c1,2025-01-02 10:00:00,5,CH,app,pc,{category},,False,normal"


def _errors(items: Sequence[object]) -> list[RowError]:
    return [i for i in items if isinstance(i, RowError)]


def _good_lines(items: Sequence[Any]) -> list[tuple[int, str]]:
    """(line, transaction_id) of the good rows, from `iter_csv` or `iter_records`."""
    return [(line, tx["transaction_id"] if isinstance(tx, dict) else tx.transaction_id)
            for line, tx in (i for i in items if not isinstance(i, RowError))]


def test_text_inside_an_oversize_quoted_cell_is_never_read_as_a_row(tmp_path: Path) -> None:
    big = '"' + "B" * 200_000 + "\n" + _row("6", "inside-a-cell") + "\n" + "C" * 10 + '"'
    path = tmp_path / "long.csv"
    path.write_text("\n".join([HEADER, _row("1"), _row("2", big), _row("3")]) + "\n",
                    encoding="utf-8")
    for items in (list(iter_csv(path)), list(iter_records(path))):
        assert _good_lines(items) == [(2, "1"), (6, "3")]
        [err] = _errors(items)
        assert (err.line, err.reason) == (
            3, f"a cell is longer than {LIMIT:,} characters, the most a cell may hold "
               "(the row spans lines 3-5)")


def test_row_ends_over_text_in_memory_read_its_lines_again_from_reopen() -> None:
    """`reopen` (text in memory, no file name: the review files) gives the second handle."""
    text = 'a,"b\nc\nd"\ne,f\n'
    handle = io.StringIO(text, newline="")
    opened: list[io.StringIO] = []

    def reopen() -> io.StringIO:
        opened.append(io.StringIO(text, newline=""))
        return opened[-1]

    with RowEnds(handle, reopen) as ends:
        assert next(handle) == 'a,"b\n' and opened == []
        assert ends.skip_rest(1, 1) == 2  # lines 2 and 3 end the row
        assert next(handle) == "e,f\n" and len(opened) == 1
    assert opened[0].closed


def test_an_oversize_cell_on_one_line_names_only_its_line(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text("\n".join([HEADER, _row("1", "x" * 200_000), _row("2")]) + "\n",
                    encoding="utf-8")
    items = list(iter_records(path))
    assert [i[0] for i in items if isinstance(i, tuple)] == [3]
    [err] = _errors(items)
    assert (err.line, err.reason) == (
        2, f"a cell is longer than {LIMIT:,} characters, the most a cell may hold")


def test_an_oversize_cell_never_closed_ends_the_file_with_one_reject(tmp_path: Path) -> None:
    path = tmp_path / "open.csv"
    path.write_text("\n".join([HEADER, _row("1"), '2,"' + "B" * 200_000, _row("3"), "x"])
                    + "\n", encoding="utf-8")
    items = list(iter_records(path))
    assert [i[0] for i in items if isinstance(i, tuple)] == [2]
    [err] = _errors(items)
    assert err.line == 3 and err.reason.endswith("(the row spans lines 3-5)")


# --- property: an oversize row changes nothing else ---------------------------------------

_piece = st.sampled_from(["a", "b c", '""', "\n", "\r\n", ",", "x,y", "1,c1", '"', "é"])
_cell = st.lists(_piece, max_size=6).map("".join)
# A cell as written: plain (no quote, comma or line break) or quoted, inner quotes doubled.
_written = st.one_of(
    st.sampled_from(["food", "", "caf\xe9", "x y"]),
    _cell.map(lambda c: '"' + c.replace('"', '""') + '"'),
)
_fake_row = st.sampled_from([_row("f1"), _row("f2", '"q"'), '"', '",x', 'y,"', ""])


@st.composite
def _rows(draw: st.DrawFn) -> list[str]:
    rows = []
    for i in range(draw(st.integers(0, 6))):
        cells = _row(f"t{i}").split(",")
        cells[draw(st.integers(1, len(cells) - 1))] = draw(_written)  # ids stay unique
        rows.append(",".join(cells))
    return rows


@st.composite
def _oversize(draw: st.DrawFn) -> str:
    """A row with one quoted cell over the limit, holding line breaks, quotes, row-like text."""
    parts = draw(st.lists(_fake_row, max_size=3))
    before = draw(st.integers(0, len(parts)))
    huge = "B" * (LIMIT + draw(st.integers(1, 50)))
    inner = "\n".join([*parts[:before], huge, *parts[before:]])
    cells = _row("big").split(",")
    cells[draw(st.integers(0, len(cells) - 1))] = '"' + inner.replace('"', '""') + '"'
    return ",".join(cells)


def _read(text: str) -> list[tuple[int, str | None, dict[str, Any]]]:
    """(line, reason, cells) of each row: reason None for a good row, its fields then."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.csv"
        path.write_bytes(text.encode())
        return [(i.line, i.reason, dict(i.raw)) if isinstance(i, RowError) else (i[0], None, i[1])
                for i in iter_records(path)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_rows(), _oversize(), st.data())
def test_an_oversize_row_anywhere_leaves_every_other_row_as_it_was(
    rows: list[str], big: str, data: st.DataObject
) -> None:
    at = data.draw(st.integers(0, len(rows)))
    ending = data.draw(st.sampled_from(["\n", "\r\n"]))
    last = data.draw(st.sampled_from(["", ending]))
    without = _read(ending.join([HEADER, *rows]) + last)
    with_big = _read(ending.join([HEADER, *rows[:at], big, *rows[at:]]) + last)
    start = 2 + sum(1 + r.count("\n") + r.replace("\r\n", "").count("\r") for r in rows[:at])
    span = 1 + big.count("\n")
    [reject] = [i for i in with_big if i[1] and "longer than" in i[1]]
    assert reject[0] == start and reject[2] == {}
    shifted = [(line + span if line >= start else line, reason, cells)
               for line, reason, cells in without]
    assert [i for i in with_big if i is not reject] == shifted


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([",", '"', '""', "a", "\n", "\r\n", "\r", " "]), max_size=30))
def test_rows_end_where_the_csv_reader_ends_them(pieces: list[str]) -> None:
    text = "".join(pieces)
    reader = csv.reader(io.StringIO(text, newline=""))
    expected = [reader.line_num for _ in reader]
    ends, quoted = [], False
    for number, line in enumerate(io.StringIO(text, newline=""), 1):
        quoted = still_quoted(line, quoted)
        if not quoted:
            ends.append(number)
    if quoted:
        ends.append(number)
    assert ends == expected
