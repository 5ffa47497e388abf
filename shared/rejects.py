"""The rejects report of `replay` and `score`: `<name>.rejects.csv` beside each input.

One row per rejected input row: `line` (in its file), `reason` (the field and the rule),
then the row's raw cells under their header names, each cell made safe for a spreadsheet
(a leading `=`, `+`, `-`, `@`, tab or CR, or a full-width form of the first four, gets a
`'`, so Excel never runs it as a formula;
the characters the schema refuses, `shared.schemas.CONTROL_RULE`, but tab, LF and CR are
written as escapes: a NUL as `\\x00`, NEXT LINE as `\\x85`, U+2028 or a right-to-left
override as `\\u2028`, `\\u202e`; a byte that was not UTF-8 comes as `\\xe9` from the reader).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

from shared.atomic import atomic_text_writer
from shared.csv_io import RowError
from shared.errors import AuditstreamError, UsageError
from shared.names import shown
from shared.outputs import check_file_target, check_folder_of, output_errors, same_file
from shared.schemas import FORMULA_START, escape_controls

#: Characters of the rule shown as they are: the CSV writer quotes them.
_KEPT = "\t\n\r"


def neutralise(cell: str) -> str:
    """Prefix `'` to a cell a spreadsheet would run as a formula; write the characters the
    schema refuses, but tab, LF and CR, as `\\xNN` / `\\uNNNN` (a rejected row may hold
    them: that is why; a NUL cuts a cell, U+2028 breaks a line, U+202E reverses the text)."""
    cell = escape_controls(cell, _KEPT)
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def _row(cells: Sequence[str]) -> str:
    """One CSV line ending in "\n". The writer is given "\r\n" as its line end because only
    then does it quote a cell holding a lone "\r" (a reader would split the row there)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(cells)
    return buf.getvalue()[:-2] + "\n"


def rejects_path(source: Path, rejects_dir: Path | None = None) -> Path:
    """`<name>.rejects.csv` beside `source` (or in `rejects_dir`)."""
    source = Path(source)
    return (rejects_dir or source.parent) / f"{source.stem}.rejects.csv"


def check_reports(sources: Sequence[Path], rejects_dir: Path | None = None) -> None:
    """Refuse inputs whose rejects reports would be one file (`AuditstreamError`, exit 2):
    a file given twice (by two names too: a link), or two files of the same name with
    `rejects_dir`. The later report
    would replace the earlier, its rows lost; checked before anything is read. A report
    that would be an input of the run (the user's corrected `a.rejects.csv` given beside
    `a.csv`), by any name, is refused too: it would replace that input. A `rejects_dir`
    that is a file, or whose parent folder is missing, is refused too, and so is a report's
    name held by a folder, FIFO, device or socket (`check_file_target`)."""
    if rejects_dir is not None:
        if rejects_dir.exists() and not rejects_dir.is_dir():
            raise UsageError(f"{shown(rejects_dir)} is not a folder; give a folder for the rejects")
        check_folder_of(rejects_dir)
    seen: dict[Path, Path] = {}
    for source in map(Path, sources):
        report = Path(os.path.realpath(rejects_path(source, rejects_dir)))  # a loop: no error
        first = seen.setdefault(report, source)
        if first is not source:
            raise AuditstreamError(
                f"{shown(first)} and {shown(source)} would both report rejected rows to "
                f"{shown(rejects_path(first, rejects_dir))}: give each file once"
                + (", and files of the same name without --rejects-dir"
                   if rejects_dir is not None else ""))
    inputs = list(map(Path, sources))
    for i, source in enumerate(inputs):  # one file by two names (a link): read twice
        for other in inputs[:i]:
            if same_file(other, source):
                raise AuditstreamError(
                    f"{shown(other)} and {shown(source)} are one file: give each file once")
    for source in map(Path, sources):
        report = rejects_path(source, rejects_dir)
        # A FIFO, device or folder at the report's name: refused only once the rows were
        # sent or the reviews published, the rejected rows past those shown in no file.
        check_file_target(report)
        for given in map(Path, sources):
            if same_file(report, given):
                alias = "" if report == given else f" (given as {shown(given)})"
                raise AuditstreamError(
                    f"{shown(source)} would report its rejected rows to {shown(report)}, an "
                    f"input of this run{alias}, replacing it; give --rejects-dir a folder "
                    "without inputs, or rename that input")


def write_rejects(errors: Sequence[RowError], path: Path, after: str = "") -> Path:
    """Write `line, reason, <raw columns...>` atomically, every cell neutralised. A write
    the world refuses (a full disk, `ulimit -f`) is an `OutputError` naming this report,
    then `after`, what the run did: a failed write names no file, and the line used to name
    `score`'s --out instead, or no path at all."""
    columns: dict[str, None] = {}
    for err in errors:
        columns.update(dict.fromkeys(err.raw))
    with output_errors(path, after), atomic_text_writer(path) as fh:
        fh.write(_row(["line", "reason", *(neutralise(c) for c in columns)]))
        for err in errors:
            cells = [err.raw.get(c, "") for c in columns]
            fh.write(_row([str(err.line), neutralise(err.reason), *map(neutralise, cells)]))
    return path


def write_rejects_by_source(errors: Sequence[RowError], default: Path | None,
                            rejects_dir: Path | None = None, after: str = "") -> list[Path]:
    """One report per input file (`RowError.source`, else `default`), in first-seen order."""
    by_source: dict[Path, list[RowError]] = {}
    for err in errors:
        src = Path(err.source) if err.source else default
        if src is None:
            raise ValueError("a rejected row without a source file")
        by_source.setdefault(src, []).append(err)
    return [write_rejects(errs, rejects_path(src, rejects_dir), after)
            for src, errs in by_source.items()]
