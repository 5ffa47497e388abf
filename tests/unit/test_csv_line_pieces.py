"""`shared.csv_lines`: a file's lines within a bound (`BoundedLines`), exactly at the bound
and one character either side, CR LF cut by a read; quotes followed across pieces
(`QuoteScan`) as the reader follows them on whole lines (`tests/unit/test_csv_long_lines.py`:
the CSV reader over a line past the bound)."""

from __future__ import annotations

import csv
import io
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.csv_lines import BoundedLines, LineTooLong, QuoteScan, TextSource, WholeLines
from shared.csv_resync import RowEnds, still_quoted


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
@given(st.lists(st.text(alphabet='ab\r\n",', max_size=30), max_size=8), st.integers(1, 12),
       st.lists(st.booleans(), max_size=20))
def test_bounded_lines_give_each_line_within_the_bound_and_skip_each_other(
        parts: list[str], limit: int, whole: list[bool]) -> None:
    """Any text, any bound, each line asked for whole or (`whole` false) in pieces: the
    lines as a file opened with newline="" gives them, those of at most `limit` characters
    whole and in order, one `LineTooLong` naming its line for each other, all of a line in
    pieces; `lines_read` counts each."""
    text = "".join(parts)
    found = _LINE.findall(text)
    asks = [*whole, *[True] * len(found)][:len(found)]
    expected = [m if not w or len(m) <= limit else
                f"line {n} is longer than {limit:,} characters, the most a line may hold"
                for n, (m, w) in enumerate(zip(found, asks, strict=True), start=1)]
    lines = BoundedLines(io.StringIO(text, newline=""), limit=limit)
    got: list[str] = []
    counts: list[int] = []
    for w in asks:
        try:
            got.append(next(lines) if w else "".join(lines.pieces()))
        except LineTooLong as exc:
            assert exc.line == len(got) + 1
            got.append(str(exc))
        counts.append(lines.lines_read)
    assert (got, counts) == (expected, list(range(1, len(found) + 1)))
    assert (list(lines), list(lines.pieces()), lines.lines_read) == ([], [], len(found))


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


def test_whole_lines_give_each_line_in_memory_as_one_piece_then_nothing() -> None:
    """`WholeLines` (lines already in memory: the review files' `_Lines`): one piece a
    line, its line end kept, then no piece at the end, however often asked."""
    lines = WholeLines(iter(['a,"b\n', "c\r\n", "d"]))
    assert [list(lines.pieces()) for _ in range(5)] == [['a,"b\n'], ["c\r\n"], ["d"], [], []]


@pytest.mark.parametrize(("text", "skipped", "rest"), [
    (['a,"b\n', "c\n", 'd"\n', "e,f\n"], 2, ["e,f\n"]),  # the quote closes on line 3
    (['a,"b\n', "c\n", "d\n"], 2, []),  # never closed: to the text's end
])
def test_row_ends_over_lines_in_memory_skip_to_the_rows_end(
        text: list[str], skipped: int, rest: list[str]) -> None:
    """`RowEnds` over an iterator of lines (the review files) reads them whole: the rest of
    a row the reader gave up on after line 1 is skipped to its closing quote, or to the
    text's end when the quote is never closed."""
    handle = iter(text)
    with RowEnds(handle, lambda: iter(text)) as ends:
        assert next(handle) == text[0]
        assert ends.skip_rest(1, 1) == skipped
        assert list(handle) == rest


def test_row_ends_skip_the_rest_of_each_of_two_rows_given_up_on() -> None:
    """Two rows the reader gave up on in one file (lines 1 and 4, each a quoted cell going
    on over lines): the second is found on line 4 of the handle read again, which read
    on from where the first left it, and its rest is skipped to its closing quote."""
    text = 'a,"b\nc"\nd,e\nf,"g\nh\ni"\nj,k\n'
    handle = io.StringIO(text, newline="")
    with RowEnds(handle, lambda: io.StringIO(text, newline="")) as ends:
        assert next(handle) == 'a,"b\n'
        assert ends.skip_rest(1, 1) == 1  # line 2 closes it
        assert [next(handle), next(handle)] == ["d,e\n", 'f,"g\n']
        assert ends.skip_rest(4, 4) == 2  # lines 5 and 6
        assert list(handle) == ["j,k\n"]


class _Reads:
    """A text file that records the size asked of each `readline`."""

    def __init__(self, text: str) -> None:
        self._file = io.StringIO(text, newline="")
        self.sizes: list[int] = []

    def readline(self, size: int = -1, /) -> str:
        self.sizes.append(size)
        return self._file.readline(size)


def test_the_line_after_a_piece_ending_in_cr_is_read_within_the_bound() -> None:
    """A line over the bound whose piece ends in CR (a CR LF may be cut there): the next
    read, to see whether LF follows, asks no more than a piece too, so the long line after
    it is not held whole either; it is read past in pieces like any other."""
    text = "x" * 10 + "\r" + "y" * 30 + "\n" + "z\n"
    handle = _Reads(text)
    lines = BoundedLines(handle, limit=10)
    for _ in range(2):
        with pytest.raises(LineTooLong):
            next(lines)
    assert list(lines) == ["z\n"]
    assert set(handle.sizes) == {11}


def test_a_last_line_ending_in_a_closing_quote_leaves_the_row_unquoted() -> None:
    """The file's last line ends in the quote that closes its cell, with no line end: after
    it the row is outside quotes (`quoted` is False, a bool), as `still_quoted` says."""
    scan = QuoteScan()
    scan.feed('a,"b""c"')
    assert scan.quoted is False  # the last quote may yet be the first of ""
    scan.line_end()
    assert scan.quoted is False and still_quoted('a,"b""c"', False) is False


@pytest.mark.parametrize(("line", "quoted"), [
    ('a,"x,"y\n', False),  # the second ,"  is inside the first quoted cell: closed by x,"
    ('a,"x,"y,"z\n', True),  # ... then a third cell opens a quote
    ('a,b,"c\n', True),
    ('a,"b",c\n', False),
])
def test_the_first_comma_quote_opens_the_quoted_cell(line: str, quoted: bool) -> None:
    """Outside quotes the first `,"` opens a quoted cell, whatever follows it: fed whole or
    a character at a time, as `still_quoted` and the csv reader say."""
    for pieces in ([line], list(line)):
        scan = QuoteScan()
        for piece in pieces:
            scan.feed(piece)
        scan.line_end()
        assert scan.quoted is quoted is still_quoted(line, False)
    assert (len(list(csv.reader(io.StringIO(line + "end\n", newline="")))) == 1) is quoted



@pytest.mark.parametrize(("after", "held", "starts"), [
    ("next\n", 5, [12, 17]),  # the lone CR's line ends at 12; "next\n" read, held
    ("\n", 0, [13, 18]),  # CR LF cut by the read: nothing of the next line read
])
def test_held_is_what_was_read_past_a_long_lines_lone_cr_until_it_is_given(
    after: str, held: int, starts: list[int],
) -> None:
    """The handle's `tell` less `held()` is where the next line starts (review import's
    row offsets): 0 before any read; after a long line ending in a lone CR, the piece of the
    next line read to see whether it was CR LF (none when it was); 0 again once given."""
    source = TextSource("abcdefghijk\r" + after + "last\n")
    lines = BoundedLines(source, limit=10)
    assert lines.held() == 0
    with pytest.raises(LineTooLong):
        next(lines)
    assert (source.tell() - lines.held(), lines.held()) == (starts[0], held)
    assert next(lines) == ("next\n" if held else "last\n")
    assert (source.tell() - lines.held(), lines.held()) == (starts[1], 0)
