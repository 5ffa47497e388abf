"""Reading review files (CSV or Excel .xlsx) and the ids the exports know.

Rows come out as `(line, {column: text})`: the physical line of a CSV file (header = line
1; a quoted cell spanning lines counts from where its row starts) or the row number of the
sheet (header = row 1). Excel cells are turned into the text a CSV would hold: dates as ISO
8601, whole numbers without `.0`.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from auditstream.review.records import ERROR_KEY, normalise_header
from shared.csv_encoding import CsvFormatError, encoding_of, stray_in_header, stray_in_row
from shared.csv_resync import RowEnds, too_long
from shared.errors import AuditstreamError
from shared.schemas import unguarded

EXCEL_SUFFIXES = (".xlsx", ".xlsm")
CASES_FILE = "cases.csv"
CASE_TRANSACTIONS_FILE = "case_transactions.csv"
AUDIT_SAMPLE_FILE = "audit_sample.csv"

Rows = Iterator[tuple[int, dict[str, str]]]


class ReviewFileError(AuditstreamError):
    """The review file cannot be read at all (missing, a folder, not CSV/xlsx, an encoding
    neither UTF-8 nor Windows-1252, bad header)."""


def read_table(path: Path, sheet: str | None = None) -> tuple[list[str], Rows]:
    """The raw header and the rows of a CSV or .xlsx file (`sheet`: default the first)."""
    path = Path(path)
    if not path.is_file():
        why = ("is a folder" if path.is_dir() else "not a regular file (a device, pipe or "
               "socket)" if path.exists() else "no such file")
        raise ReviewFileError(f"cannot read {path}: {why}")
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise ReviewFileError(f"{path}: the old .xls format is not read; save it as .xlsx or CSV")
    if suffix in EXCEL_SUFFIXES:
        return _excel(path, sheet)
    return _csv(path)


def _csv(path: Path) -> tuple[list[str], Rows]:
    # UTF-8 (a stray byte of another encoding rejects only its row), UTF-16 with its BOM, or
    # Windows-1252 (Excel's default "CSV" on Windows); any other encoding is a file error.
    try:
        encoding, errors = encoding_of(path)
    except CsvFormatError as exc:
        raise ReviewFileError(str(exc)) from None
    text = path.read_bytes().decode(encoding, errors)
    # Lines end at CR and LF only, as in a file opened with newline="" (`str.splitlines`
    # would also end one at U+2028, U+0085, VT, FF..., cutting a cell and the numbering).
    handle = io.StringIO(text, newline="")
    reader = csv.reader(handle)
    try:
        header = next(reader)
    except StopIteration:
        raise ReviewFileError(f"{path}: the file is empty (no header)") from None
    except csv.Error as exc:
        raise ReviewFileError(f"{path}: line 1: {exc}") from None

    if (odd := stray_in_header(header)) is not None:
        raise ReviewFileError(f"{path}: {odd}")
    names = normalise_header(header)
    stray = errors == "surrogateescape"

    def rows() -> Rows:
        # A row the reader gave up on (a cell over its limit) goes on to its real end, not
        # to the next physical line, which may be inside a quoted cell: `ends` skips the
        # rest, and `base` counts the lines it skipped.
        with RowEnds(handle, lambda: io.StringIO(text, newline="")) as ends:
            start, base = reader.line_num + 1, 0
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    base += ends.skip_rest(start, reader.line_num + base)
                    why = too_long(exc, start, reader.line_num + base) or str(exc)
                    yield start, {ERROR_KEY: f"unreadable CSV row: {why}"}
                    start = reader.line_num + base + 1
                    continue
                if stray and (reason := stray_in_row(cells, names)) is not None:
                    yield start, {ERROR_KEY: reason}
                elif any(c.strip() for c in cells):
                    yield start, dict(zip(names, _pad(cells, len(names)), strict=True))
                start = reader.line_num + base + 1

    return header, rows()


def _excel(path: Path, sheet: str | None) -> tuple[list[str], Rows]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise ReviewFileError(f"{path}: not a readable .xlsx workbook ({exc})") from None
    if sheet is not None and sheet not in book.sheetnames:
        raise ReviewFileError(f"{path}: no sheet {sheet!r} (sheets: {', '.join(book.sheetnames)})")
    ws = book[sheet] if sheet is not None else book.worksheets[0]
    it = ws.iter_rows(values_only=True)
    first = next(it, None)
    if first is None:
        raise ReviewFileError(f"{path}: the sheet {ws.title!r} is empty (no header)")
    header = [cell_text(c) for c in first]
    names = normalise_header(header)

    def rows() -> Rows:
        for number, values in enumerate(it, start=2):
            cells = [cell_text(v) for v in values]
            if any(c.strip() for c in cells):
                yield number, dict(zip(names, _pad(cells, len(names)), strict=True))
        book.close()

    return header, rows()


def cell_text(value: Any) -> str:
    """An Excel cell as CSV text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _pad(cells: list[str], n: int) -> list[str]:
    return (cells + [""] * n)[:n]


def known_ids(exports: Path) -> dict[str, set[str] | None]:
    """Ids the exports know, by target (None: no file to check against).

    Cases: `cases.csv`'s `case_id`. Transactions: those of `case_transactions.csv` and of
    `audit_sample.csv` (the sampled, non-flagged ones an auditor reviews).
    """
    def column(name: str, col: str) -> set[str] | None:
        f = exports / name
        if not f.is_file():
            return None
        # A damaged file of the exports is the user's to fix (exit 2), not a traceback.
        try:
            with f.open(encoding="utf-8-sig", newline="") as fh:
                reader = csv.DictReader(fh)
                if col not in (reader.fieldnames or ()):
                    raise ReviewFileError(f"cannot check the ids: {f} has no {col} column "
                                          "(not the exports' file); give the exports "
                                          "folder, or --no-check")
                return {unguarded(row.get(col) or "") for row in reader} - {""}
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ReviewFileError(f"cannot check the ids: {f} is not a readable CSV of the "
                                  f"exports ({exc}); make the exports again, or --no-check"
                                  ) from None

    cases = column(CASES_FILE, "case_id")
    tx = [s for s in (column(CASE_TRANSACTIONS_FILE, "transaction_id"),
                      column(AUDIT_SAMPLE_FILE, "transaction_id")) if s is not None]
    return {"case": cases, "transaction": set().union(*tx) if tx else None}
