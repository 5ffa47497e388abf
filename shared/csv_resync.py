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
from collections.abc import Callable
from itertools import islice
from types import TracebackType
from typing import TextIO


def too_long(exc: csv.Error, first: int, last: int) -> str | None:
    """Why the reader gave up on the row of lines `first`-`last` when a cell outgrew its
    limit, in words; None for any other reason."""
    if not str(exc).startswith("field larger than field limit"):
        return None
    spans = f" (the row spans lines {first}-{last})" if last > first else ""
    return (f"a cell is longer than {csv.field_size_limit():,} characters, the most a cell "
            f"may hold{spans}")


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
    file, or a FIFO, by then)."""

    def __init__(self, handle: TextIO, reopen: Callable[[], TextIO]) -> None:
        self._handle = handle
        self._reopen = reopen
        self._again: TextIO | None = None
        self._at = 0  # lines of the file `_again` has read

    def skip_rest(self, first: int, last: int) -> int:
        """The row starts on physical line `first` and the reader has read through line
        `last`: read `handle` on to the row's real end; return how many lines that took."""
        if self._again is None:
            self._again = self._reopen()
        next(islice(self._again, first - 1 - self._at, first - 1 - self._at), None)
        quoted = False
        for line in islice(self._again, last - first + 1):
            quoted = still_quoted(line, quoted)
        self._at = last
        skipped = 0
        while quoted and (more := next(self._handle, None)) is not None:
            quoted, skipped = still_quoted(more, quoted), skipped + 1
        return skipped

    def __enter__(self) -> RowEnds:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._again is not None:
            self._again.close()
