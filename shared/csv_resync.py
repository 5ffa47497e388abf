"""Where a CSV row really ends, so that reading goes on after a row the csv reader gave up on.

Python's csv reader gives up on a row when a cell grows past its limit, and starts again at
the next physical line: if the cell is quoted and holds line breaks, that line is inside the
cell, and the cell's text would be read as rows. `RowEnds` finds the row's last line by the
reader's own rules (excel dialect): a quote opens a quoted cell only at the cell's start,
`""` inside quotes is a quote, a lone quote closes, and a line break outside quotes ends
the row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TextIO

from shared.csv_lines import BoundedLines, LinePieces, LineTooLong, QuoteScan, WholeLines


def too_long(exc: csv.Error, first: int, last: int) -> str | None:
    """Why the reader gave up on the row of lines `first`-`last` when a cell outgrew its
    limit, in words; None for any other reason."""
    if not str(exc).startswith("field larger than field limit"):
        return None
    spans = f" (the row spans lines {first}-{last})" if last > first else ""
    return (f"a cell is longer than {csv.field_size_limit():,} characters, the most a cell "
            f"may hold{spans}")


def too_long_line(exc: LineTooLong, first: int, last: int) -> str:
    """Why the row of lines `first`-`last` was not read: its line `exc.line` is over the
    bound."""
    spans = f" (the row spans lines {first}-{last})" if last > first else ""
    return f"{exc}; not read{spans}"


def still_quoted(line: str, quoted: bool) -> bool:
    """Whether a row is inside a quoted cell after `line`: `quoted` tells whether it was at
    the line's start (if not, the line starts the row, so a cell)."""
    i = 0
    if not quoted and line.startswith('"'):
        quoted, i = True, 1
    while True:
        if quoted:
            j = line.find('"', i)
            if j < 0:
                return True
            if line.startswith('"', j + 1):  # "" is a quote in the cell
                i = j + 2
                continue
            quoted, i = False, j + 1  # closed; the cell goes on unquoted to the next comma
        else:
            j = line.find(',"', i)  # outside quotes, every comma starts a cell
            if j < 0:
                return False
            quoted, i = True, j + 2


class RowEnds:
    """Skips the rest of a row the reader gave up on. The row's first lines are read again
    from a second handle on the file, made only then by `reopen` (the usual pass pays
    nothing), and only ever read forward: the same open file (`shared.inputs.InputFile`) or
    text in memory, never the file at `handle`'s name opened again (which may be another
    file, or a FIFO, by then). A file's lines are read in pieces (`BoundedLines`): a line
    over the bound, skipped or scanned, is never held whole."""

    def __init__(self, handle: Iterator[str] | BoundedLines,
                 reopen: Callable[[], TextIO | Iterator[str]]) -> None:
        self._handle = _pieces(handle)
        self._reopen = reopen
        self._opened: TextIO | Iterator[str] | None = None
        self._again: LinePieces | None = None
        self._at = 0  # lines of the file `_again` has read

    def skip_rest(self, first: int, last: int) -> int:
        """The row starts on physical line `first` and the reader has read through line
        `last` (or read past it: a line over the bound): read `handle` on to the row's real
        end; return how many lines that took."""
        if self._again is None:
            self._opened = self._reopen()
            self._again = _pieces(self._opened)
        for _ in range(first - 1 - self._at):
            for _piece in self._again.pieces():
                pass
        scan = QuoteScan()
        for _ in range(last - first + 1):
            for piece in self._again.pieces():
                scan.feed(piece)
            scan.line_end()
        self._at = last
        skipped = 0
        while scan.quoted:
            read = False
            for piece in self._handle.pieces():
                scan.feed(piece)
                read = True
            if not read:
                break
            scan.line_end()
            skipped += 1
        return skipped

    def __enter__(self) -> RowEnds:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if (close := getattr(self._opened, "close", None)) is not None:
            close()


def _pieces(handle: Iterator[str] | TextIO | BoundedLines) -> LinePieces:
    """A handle's lines in pieces: a file's bounded (`BoundedLines`), lines in memory whole."""
    if isinstance(handle, BoundedLines):
        return handle
    if isinstance(handle, io.TextIOBase):
        return BoundedLines(handle)
    return WholeLines(handle)
