"""A CSV file's physical lines with a bound on their length, and quotes followed across pieces.

The csv reader takes a whole physical line before it looks at a cell: a line of 900 MB (a
broken or hostile export) was held whole, about twice over while the text layer joined it
(1.9x its size), and a line of commas became a cell each (20 MB of commas: 2 GB, 4 min).
`BoundedLines` gives the reader lines of at most `MAX_LINE_CHARS` characters; a longer
one is read past in pieces of that size, never held whole, and raises `LineTooLong` in
its place (the reader passes it on and starts its next row afresh), naming its line: the
lines are counted here, as the reader's `line_num` does not count a line it never got.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Protocol

#: The longest physical line read (characters, its line end included): 8 times the csv
#: module's cell limit (131,072), over 100 times the longest row of values the schema takes
#: (~9,400 characters: every field and 32 attributes at their bounds, `shared.schemas`).
MAX_LINE_CHARS = 1_048_576


class LineTooLong(Exception):
    """Physical line `line` was longer than the bound, `limit`; it has been read past, to
    its end. Its text says so: "line 5 is longer than 1,048,576 characters, the most a line
    may hold"."""

    def __init__(self, line: int, limit: int = MAX_LINE_CHARS) -> None:
        super().__init__(f"line {line} is longer than {limit:,} characters, the most a line "
                         "may hold")
        self.line = line


class LinePieces(Protocol):
    def pieces(self) -> Iterator[str]:
        """The next line in pieces, its line end in the last; nothing at the file's end."""
        ...


class BoundedLines:
    """The lines of `handle` (text, newline="") for the csv reader, each of at most `limit`
    characters; a longer line is read to its end in pieces and raises `LineTooLong`.
    `lines_read`: the physical lines read so far, given whole, read past or in `pieces`."""

    def __init__(self, handle: LineSource, limit: int = MAX_LINE_CHARS) -> None:
        self._size = limit + 1  # a piece this long is a line over the bound
        self._real: Callable[[int], str] = handle.readline
        self._readline: Callable[[int], str] = self._real
        self._held = 0  # characters of a piece read from the handle, not yet given
        self.lines_read = 0

    def __iter__(self) -> BoundedLines:
        return self

    def __next__(self) -> str:
        line = self._readline(self._size)
        if not line:
            raise StopIteration
        self.lines_read += 1
        if len(line) < self._size:  # a whole line (a shorter piece ends at a line end)
            return line
        for _ in self._rest(line):
            pass
        raise LineTooLong(self.lines_read, self._size - 1)

    def pieces(self) -> Iterator[str]:
        first = self._readline(self._size)
        if first:
            self.lines_read += 1
        return self._rest(first)

    def _rest(self, piece: str) -> Iterator[str]:
        """`piece` and the rest of its line, a piece at a time."""
        while piece:
            yield piece
            if piece.endswith("\n"):
                return
            if piece.endswith("\r"):  # a CR LF may be cut between its two characters
                following = self._readline(self._size)
                if following == "\n":
                    yield following
                else:
                    self._push(following)
                return
            piece = self._readline(self._size)

    def _push(self, piece: str) -> None:
        """Give `piece` (read, not part of this line) again as the next read."""
        def again(size: int) -> str:
            self._readline, self._held = self._real, 0
            return piece
        self._readline, self._held = again, len(piece)

    def held(self) -> int:
        """Characters read from the handle past the lines given (a piece of the next line,
        read to see whether a long line's CR was a CR LF): the handle's `tell` less this is
        where the next line starts."""
        return self._held


class LineSource(Protocol):
    def readline(self, size: int = -1, /) -> str: ...


class TextSource:
    """`readline` over a text in memory, as a file opened with newline="" reads it (a line
    ends at CR, LF or CR LF only), for `BoundedLines`; `tell` is where the next read starts.
    In place of `io.StringIO`, which copies the text at 4 bytes a character."""

    _END = re.compile(r"\r\n?|\n")

    def __init__(self, text: str) -> None:
        self._text = text
        self._at = 0

    def readline(self, size: int = -1, /) -> str:
        text, at = self._text, self._at
        stop = len(text) if size < 0 else min(len(text), at + size)
        found = self._END.search(text, at, stop)
        self._at = found.end() if found is not None else stop
        return text[at:self._at]

    def tell(self) -> int:
        return self._at


class WholeLines:
    """`LinePieces` of lines already in memory (an iterator of lines): one piece each."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines

    def pieces(self) -> Iterator[str]:
        line = next(self._lines, "")
        if line:
            yield line


class QuoteScan:
    """Whether a row is inside a quoted cell after its text so far, fed in pieces cut
    anywhere, by the reader's rules (excel dialect, as `shared.csv_resync.still_quoted`):
    a quote opens a quoted cell only at the cell's start, `""` inside quotes is a quote, a
    lone quote closes, and a line break outside quotes ends the row (`line_end`)."""

    def __init__(self) -> None:
        self._quoted = False
        self._start = True  # at a cell's start
        self._pending = False  # a quote inside quotes, the piece's last character

    @property
    def quoted(self) -> bool:
        return self._quoted and not self._pending

    def line_end(self) -> None:
        """A line has ended (its line end fed): if outside quotes, the next starts a row."""
        if self._pending:  # the file's last line ended in a quote, no line end after it
            self._quoted = self._pending = False
        if not self._quoted:
            self._start = True

    def feed(self, text: str) -> None:
        i, n = 0, len(text)
        if self._pending and n:
            self._pending = False
            if text[0] == '"':  # "" is a quote in the cell
                i = 1
            else:
                self._quoted = self._start = False
        while i < n:
            if self._quoted:
                j = text.find('"', i)
                if j < 0:
                    return
                if j + 1 == n:
                    self._pending = True
                    return
                if text[j + 1] == '"':
                    i = j + 2
                    continue
                self._quoted, self._start, i = False, False, j + 1
            elif self._start and text[i] == '"':
                self._quoted, i = True, i + 1
            else:
                j = text.find(',"', i)  # outside quotes, every comma starts a cell
                if j < 0:
                    self._start = text.endswith(",")
                    return
                self._quoted, i = True, j + 2
