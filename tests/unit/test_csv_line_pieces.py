"""`shared.csv_lines`: a file's lines within a bound (`BoundedLines`), exactly at the bound
and one character either side, CR LF cut by a read; quotes followed across pieces
(`QuoteScan`) as the reader follows them on whole lines (`tests/unit/test_csv_long_lines.py`:
the CSV reader over a line past the bound)."""

from __future__ import annotations

import io
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.csv_lines import BoundedLines, LineTooLong, QuoteScan
from shared.csv_resync import still_quoted


@pytest.mark.parametrize(("line", "read"), [
    ("abcdefghi\n", True),  # 10 characters: at the bound
    ("abcdefgh\n", True),  # one under
    ("abcdefghij\n", False),  # one over
    ("abcdefgh\r\n", True),
    ("abcdefghi\r\n", False),  # CR LF cut between its characters by the read
    ("abcdefghi\r", True),
    ("abcdefghij", True),  # the file's last line, no line end
    ("abcdefghijk", False),
])
def test_a_line_of_the_bound_is_read_one_over_is_not(line: str, read: bool) -> None:
    """Limit 10: a line of up to 10 characters (its line end included) is given whole; a
    longer one raises `LineTooLong` once, and the next line is given whole."""
    after = ["next\n"] if line.endswith(("\r", "\n")) else []
    lines = BoundedLines(io.StringIO(line + "".join(after), newline=""), limit=10)
    if read:
        assert next(lines) == line
    else:
        with pytest.raises(LineTooLong):
            next(lines)
    assert list(lines) == after


_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet='ab\r\n",', max_size=30), max_size=8), st.integers(1, 12))
def test_bounded_lines_give_each_line_within_the_bound_and_skip_each_other(
        parts: list[str], limit: int) -> None:
    """Any text, any bound: the lines as a file opened with newline="" gives them, those of
    at most `limit` characters whole and in order, one `LineTooLong` for each other."""
    text = "".join(parts)
    expected = [m if len(m) <= limit else None for m in _LINE.findall(text)]
    lines = BoundedLines(io.StringIO(text, newline=""), limit=limit)
    got: list[str | None] = []
    while True:
        try:
            got.append(next(lines))
        except LineTooLong:
            got.append(None)
        except StopIteration:
            break
    assert got == expected


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(alphabet='ab,"\n', max_size=12), min_size=1, max_size=4),
       st.data())
def test_quotes_followed_in_pieces_are_the_readers_quotes_on_whole_lines(
        lines: list[str], data: st.DataObject) -> None:
    """Lines of a row cut into pieces anywhere: `QuoteScan` says after each line what
    `still_quoted` says of the whole lines."""
    quoted, scan = False, QuoteScan()
    for line in (ln + "\n" for ln in lines):
        cuts = sorted(data.draw(st.lists(st.integers(0, len(line)), max_size=4)))
        for a, b in zip([0, *cuts], [*cuts, len(line)], strict=True):
            scan.feed(line[a:b])
        scan.line_end()
        quoted = still_quoted(line, quoted)
        assert scan.quoted is quoted
