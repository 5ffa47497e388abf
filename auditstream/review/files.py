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
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zipfile import _ECD_SIZE, _EndRecData  # type: ignore[attr-defined]

from auditstream.review.records import (
    ERROR_KEY,
    ID_COLUMNS,
    READ_COLUMNS,
    Exported,
    normalise_header,
    parse_time,
)
from shared.csv_encoding import CsvFormatError, encoding_of, stray_in_header, stray_in_row
from shared.csv_lines import BoundedLines, LineTooLong, QuoteScan, TextSource
from shared.csv_resync import RowEnds, too_long, too_long_line
from shared.errors import AuditstreamError
from shared.exports_folder import AUDIT_SAMPLE_FILE, CASE_TRANSACTIONS_FILE, CASES_FILE
from shared.inputs import FOLDER, MISSING, SPECIAL, InputFile, NotAFile, Version
from shared.names import shown
from shared.outputs import open_text
from shared.schemas import unguarded

EXCEL_SUFFIXES = (".xlsx", ".xlsm")
ID_COLUMN_NAMES = frozenset(c for c, _ in ID_COLUMNS)

Rows = Iterator[tuple[int, dict[str, str]]]


class ReviewFileError(AuditstreamError):
    """The review file cannot be read at all (missing, a folder, not CSV/xlsx, an encoding
    neither UTF-8 nor Windows-1252, bad header)."""


#: A review file as `InputFile.open` refuses it, in this command's words.
_NOT_A_FILE = {MISSING: "no such file", FOLDER: "is a folder",
               SPECIAL: "not a regular file (a device, pipe or socket)"}


def read_table(path: Path, sheet: str | None = None) -> tuple[list[str], Rows]:
    """The raw header and the rows of a CSV or .xlsx file (`sheet`: default the first),
    opened once: what is checked (its kind, size, encoding, archive) is what is read."""
    path = Path(path)
    try:
        file = InputFile.open(path)
    except NotAFile as exc:
        raise ReviewFileError(f"cannot read {shown(path)}: {_NOT_A_FILE[exc.kind]}") from None
    except OSError as exc:  # no permission
        raise ReviewFileError(f"cannot read {shown(path)}: {exc.strerror or exc}") from None
    try:
        suffix = path.suffix.lower()
        if suffix == ".xls":
            raise ReviewFileError(f"{shown(path)}: the old .xls format is not read; save it as "
                                  ".xlsx or CSV")
        if suffix in EXCEL_SUFFIXES:
            return _excel(file, sheet)  # the file closed with the book, once its rows are read
        with file:
            return _csv(file)
    except BaseException:
        file.close()
        raise


def _version(file: InputFile) -> Version:
    """`file`'s version before it is read, compared once every row is (`_unchanged`)."""
    try:
        return file.version()
    except OSError as exc:
        raise ReviewFileError(f"cannot read {shown(file.path)}: {exc.strerror or exc}") from None


def _unchanged(file: InputFile, before: Version) -> None:
    """Refuse a file written to in place since `before` (an editor or a job saving over
    it, the descriptor held reads it): the rows read could mix its old and new bytes."""
    if file.version() != before:
        raise ReviewFileError(f"{shown(file.path)} changed while it was read (written to in "
                              "place), nothing published; import it once nothing writes to "
                              "it")


def _csv(file: InputFile) -> tuple[list[str], Rows]:
    path = file.path
    # Read whole: its size first, before its encoding is guessed from all of it.
    if (size := file.stamp()[2]) > MAX_CSV_BYTES:
        raise ReviewFileError(f"{shown(path)}: {size:,} bytes, over the {MAX_CSV_BYTES:,} a review "
                              "file may hold (far more than a cases file): import it in parts")
    before = _version(file)
    # Read once, no further than the bound (a file may grow while read, and a /proc file's
    # size is 0), and its encoding judged on those very bytes: judged on a first read, the
    # bytes of a second were decoded with it (a file saved over in between: a traceback).
    try:
        with file.reader() as fh:
            data = fh.read(MAX_CSV_BYTES + 1)
    except OSError as exc:
        raise ReviewFileError(f"cannot read {shown(path)}: {exc.strerror or exc}") from None
    if len(data) > MAX_CSV_BYTES:
        raise ReviewFileError(f"{shown(path)}: over {MAX_CSV_BYTES:,} bytes, the most a review "
                              "file may hold (more than its size said: it grew while it was read)"
                              "; import it in parts")
    _unchanged(file, before)  # every row is in `data`
    # UTF-8 (a stray byte of another encoding rejects only its row), UTF-16 with its BOM, or
    # Windows-1252 (Excel's default "CSV" on Windows); any other encoding is a file error.
    try:
        encoding, errors = encoding_of(io.BytesIO(data), path)
    except CsvFormatError as exc:
        raise ReviewFileError(str(exc)) from None
    text = data.decode(encoding, errors)
    del data
    # Lines of at most `MAX_LINE_CHARS`, as the transactions' reader (a line of 40 MB of
    # commas was a list of 40 million cells, +382 MiB; a longer one is read past, not held)
    handle = TextSource(text)
    lines = BoundedLines(handle)
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise ReviewFileError(f"{shown(path)}: the file is empty (no header)") from None
    except LineTooLong as exc:
        raise ReviewFileError(f"{shown(path)}: {exc}: not a header") from None
    except csv.Error as exc:
        raise ReviewFileError(f"{shown(path)}: line 1: {exc}") from None

    if (odd := stray_in_header(header)) is not None:
        raise ReviewFileError(f"{shown(path)}: {odd}")
    if any("\x00" in h for h in header):
        raise ReviewFileError(f"{shown(path)}: the header holds NUL bytes (UTF-16 without its byte "
                              "order mark?): save it as CSV UTF-8, or Unicode text with its "
                              "mark")
    names = normalise_header(header)
    if (split := _split_at_semicolons(names)) is not None:
        raise ReviewFileError(f"{shown(path)}: {split}")
    stray = errors == "surrogateescape"
    # a row that does not reach the id column is cells run together, not an open row
    id_at = min((names.index(c) for c in ID_COLUMN_NAMES if c in names), default=0)

    def counted(row: int) -> int:
        """The next row's number, as a sheet counts rows (the header is row 1, a blank line
        a row): past Excel's last row, no file an auditor filled in (each row with an
        outcome is held until the file is read: its review, ~1.2 KB, and its
        cells packed, ~0.3 KB for a row of cases.csv)."""
        if row + 1 > EXCEL_MAX_ROW:
            raise ReviewFileError(f"{shown(path)}: row {row + 1:,}: past Excel's last row "
                                  f"({EXCEL_MAX_ROW:,}); not a file of reviews: import it in "
                                  "parts")
        return row + 1

    def rows() -> Rows:
        # A row the reader gave up on (a cell over its limit) goes on to its real end, not
        # to the next physical line, which may be inside a quoted cell: `ends` skips the
        # rest (`lines` counts every line read, those too).
        with RowEnds(lines, lambda: BoundedLines(TextSource(text))) as ends:
            start, row = lines.lines_read + 1, 1
            while True:
                at = handle.tell() - lines.held()  # where this row starts
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except LineTooLong as exc:
                    row = counted(row)
                    ends.skip_rest(start, exc.line)
                    why = too_long_line(exc, start, lines.lines_read)
                    yield start, {ERROR_KEY: f"unreadable CSV row: {why}"}
                    start = lines.lines_read + 1
                    continue
                except csv.Error as exc:
                    row = counted(row)
                    ends.skip_rest(start, lines.lines_read)
                    why = too_long(exc, start, lines.lines_read) or str(exc)
                    yield start, {ERROR_KEY: f"unreadable CSV row: {why}"}
                    start = lines.lines_read + 1
                    continue
                row = counted(row)
                end = lines.lines_read
                if end > start and handle.tell() == len(text) and _open_to_end(text[at:]):
                    # The reader takes an unclosed quote's cell to the end of the file: the
                    # rows after it would vanish into one rejected row's cell unnamed.
                    yield start, {ERROR_KEY: "unreadable CSV row: a quote opened in this row "
                                  f"is never closed: lines {start}-{end}, the rest of the "
                                  "file, were read as one cell"}
                    return
                if stray and (reason := stray_in_row(cells, names)) is not None:
                    yield start, {ERROR_KEY: reason}
                elif any(c.strip() for c in cells):
                    if (shifted := _shifted(cells, len(names), id_at)) is not None:
                        yield start, {ERROR_KEY: shifted}
                    else:
                        yield start, dict(zip(names, _pad(cells, len(names)), strict=True))
                start = end + 1

    return header, rows()


_SPLIT_HINT = ("as a spreadsheet saves a file it opened split at ';' (Excel's "
               "double-click where the list separator is ';'); open the exports' CSV with "
               "Data > From Text/CSV, comma as the separator, or import the .xlsx")


def _split_at_semicolons(names: list[str]) -> str | None:
    """Why a header is one a spreadsheet split at `;` and saved with `;`: read with commas,
    its last name is `note;`, so the note column was missing and every note read as empty.
    A header of one name is a file separated by `;` throughout (`separator_hint` names it)."""
    for name in names if len(names) > 1 else ():
        if ";" in name and READ_COLUMNS & {p.strip() for p in name.split(";")}:
            return f"header cell {name!r}: nothing read, {_SPLIT_HINT}"
    return None


def _shifted(cells: list[str], width: int, id_at: int) -> str | None:
    """Why a row's cells are not under the header's names: more cells than names (a cell
    split at a `;`), or too few to reach the id (a row saved whole in one quoted cell).
    Such a row's outcome was read from another column, or the row skipped as open."""
    extra = len(cells) > width and any(c.strip() for c in cells[width:])
    if not extra and len(cells) > id_at:
        return None
    n = f"{len(cells)} cell{'s' if len(cells) != 1 else ''}"
    how = "more than its names" if extra else "short of the id column"
    return f"unreadable CSV row: {n} where the header has {width} ({how}), {_SPLIT_HINT}"


def _open_to_end(rest: str) -> bool:
    """Whether a quote opened in `rest` (a row and every line after it) is still open at its
    end, by the reader's own rules (its lines read in pieces)."""
    scan, lines = QuoteScan(), BoundedLines(TextSource(rest))
    while True:
        read = False
        for piece in lines.pieces():
            scan.feed(piece)
            read = True
        if not read:
            return scan.quoted
        scan.line_end()


#: All the parts of an .xlsx together may unpack to at most this many bytes (as the archive
#: states them, which is also all `zipfile` unpacks): a zip bomb is refused before anything
#: is unpacked (a 400 KB file holding a 400 MB cell took 2.9 GB and 10 s). A cases sheet of
#: 100,000 rows unpacks to about 40 MB.
MAX_XLSX_UNPACKED = 128 * 1024 * 1024
#: A CSV review file may hold at most as many bytes: it is read whole (5 GB was a
#: MemoryError, after all of it was read to guess its encoding). A cases file of 100,000
#: rows filled in holds about 20 MB.
MAX_CSV_BYTES = MAX_XLSX_UNPACKED
#: An .xlsx's central directory (the list of its parts) may take at most this many bytes:
#: zipfile lists every entry as it opens the archive, before the parts' sizes can be
#: summed (10**6 empty entries, 47 MB, took 23 s and 515 MB, then openpyxl as long again).
#: A workbook lists its parts in a few KB, about 100 bytes each.
MAX_XLSX_DIRECTORY = 1024 * 1024
#: Excel's last row: a row number past it (row 10**12 in a 5 KB file) is no sheet Excel
#: wrote, and openpyxl would yield every empty row before it.
EXCEL_MAX_ROW = 1_048_576
#: How an OLE compound file starts: an encrypted .xlsx, or an old .xls renamed.
_OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
#: What openpyxl raises on a damaged or hostile part: expat's errors (entity expansion, an
#: undefined or external entity, XML cut short) are ParseError, a SyntaxError; defusedxml's
#: are ValueErrors; a cell naming a shared string that is not there, an IndexError; a date
#: out of range, an OverflowError; a damaged deflate stream, a zlib.error.
_BAD_PART = (SyntaxError, ValueError, KeyError, IndexError, OverflowError, TypeError,
             EOFError, OSError, zipfile.BadZipFile, zlib.error)


def _check_archive(file: InputFile) -> None:
    """Refuse what is not a zip (naming an encrypted workbook as such), a central directory
    past its bound and a zip bomb."""
    path = file.path
    try:
        with file.reader() as fh:
            if fh.read(len(_OLE_MAGIC)) == _OLE_MAGIC:
                raise ReviewFileError(f"{shown(path)}: password-protected (encrypted) or an old "
                                      "binary .xls renamed: save it from Excel without a "
                                      "password, as .xlsx or CSV")
            # The end record zipfile itself reads (zip64's too): the directory's size, which
            # bounds what zipfile lists (46 bytes or more an entry).
            end = _EndRecData(fh)
        if end and (listed := end[_ECD_SIZE]) > MAX_XLSX_DIRECTORY:
            raise ReviewFileError(f"{shown(path)}: its central directory takes {listed:,} "
                                  f"bytes, over the {MAX_XLSX_DIRECTORY:,} a workbook's needs "
                                  "(its list of parts; not a workbook Excel saved): save the "
                                  "reviewed rows as CSV")
        with file.reader() as fh, zipfile.ZipFile(fh) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ReviewFileError(f"{shown(path)}: not a readable .xlsx workbook ({exc})") from None
    if total > MAX_XLSX_UNPACKED:
        raise ReviewFileError(f"{shown(path)}: unpacks to {total:,} bytes, over the "
                              f"{MAX_XLSX_UNPACKED:,} a review file may hold (a zip bomb, or "
                              "far more than a cases file): save the reviewed rows as CSV")


def _why(exc: BaseException) -> str:
    """The root cause of an error on one line (openpyxl wraps a part's XML error in three
    lines of its own: 'Unable to read workbook ... see the exception')."""
    while (inner := exc.__cause__ or exc.__context__) is not None:
        exc = inner
    text = " ".join(str(exc).split())
    if isinstance(exc, _PlainError):
        return text
    name = type(exc).__name__
    return text if name in text else f"{name}: {text}" if text else name


class _PlainError(ValueError):
    """A sheet's fault said in words of ours (shown without its class name)."""


class _SheetXmlError(Exception):
    """The sheet's XML failed after row `after`, the last one read whole."""

    def __init__(self, after: int, cause: BaseException) -> None:
        super().__init__(after, cause)
        self.after, self.cause = after, cause


def _hidden_values(ws: Any, read: dict[int, str]) -> dict[int, str]:
    """Rows (by number) where a column the import reads (`read`: column number -> name)
    does not show its value to read-only reading, with why: a formula saved without its
    value (by a tool other than Excel) reads as empty, and merged cells give their value to
    their first cell only. Such a row looked empty there (an `outcome` merged over three
    rows decided one; the other two were skipped as without an outcome). Rows or cells out
    of order or repeated, which that reading drops or overwrites unsaid, and XML it cannot
    read raise `_SheetXmlError`."""
    from openpyxl.utils.cell import (
        column_index_from_string,
        coordinate_from_string,
        get_column_letter,
        range_boundaries,
    )
    from openpyxl.xml.constants import SHEET_MAIN_NS
    from openpyxl.xml.functions import iterparse

    row_tag, cell_tag, merge_tag, formula, value, data_tag = (
        f"{{{SHEET_MAIN_NS}}}{t}" for t in ("row", "c", "mergeCell", "f", "v", "sheetData"))
    found: dict[int, str] = {}
    row = col = done = 0  # done: the last row read whole
    data: Any = None  # <sheetData>: each row is dropped from it once read
    with ws._get_source() as source:  # the sheet's part, as openpyxl reads it
        try:
            for event, el in iterparse(source, events=("start", "end")):
                if event == "start":
                    if el.tag == row_tag:
                        last, row, col = row, int(el.get("r") or row + 1), 0
                        if row <= last:  # openpyxl's read-only reading drops such a row
                            where = ("is there twice" if row == last
                                     else f"comes after row {last}")
                            raise _PlainError(f"row {row} {where}: rows out of order or "
                                              "repeated, not a sheet Excel saved")
                    elif el.tag == data_tag:
                        data = el
                elif el.tag == cell_tag:
                    ref, before = el.get("r"), col
                    col = (column_index_from_string(coordinate_from_string(ref)[0]) if ref
                           else col + 1)
                    if col <= before:  # read-only reading keeps the later of two, unsaid
                        raise _PlainError(f"cell {ref} of row {row} comes after column "
                                          f"{get_column_letter(before)}: cells out of order "
                                          "or repeated, not a sheet Excel saved")
                    v = el.find(value)
                    if (row > 1 and col in read and el.find(formula) is not None
                            and (v is None or v.text is None)):
                        found.setdefault(row, f"{read[col]}: cell {get_column_letter(col)}"
                                         f"{row} holds a formula saved without its value (not "
                                         "saved by Excel): open and save the file in Excel, "
                                         "or type the value")
                elif el.tag == row_tag:
                    done = row
                    if data is not None:
                        data.remove(el)
                elif el.tag == merge_tag:
                    ref = el.get("ref") or ""
                    # A range of whole rows or columns (`B:B`, `3:4`) has open ends.
                    lo, hi, rt, bt = range_boundaries(ref)
                    left, top, right, bottom = lo or 1, hi or 1, rt or 16_384, bt or EXCEL_MAX_ROW
                    covered = [c for c in read if left <= c <= right]
                    if covered and (right > left or bottom > top):
                        for r in range(max(top, 2), min(bottom, EXCEL_MAX_ROW) + 1):
                            found.setdefault(r, f"{read[covered[0]]}: merged cells {ref} "
                                             "cover this row: unmerge them and fill each row")
        except _BAD_PART as exc:
            raise _SheetXmlError(max(done, 1), exc) from None
    return found


def _excel(file: InputFile, sheet: str | None) -> tuple[list[str], Rows]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    path = file.path
    before = _version(file)
    _check_archive(file)
    try:
        book = openpyxl.load_workbook(file.reader(), read_only=True, data_only=True)
    except (InvalidFileException, *_BAD_PART) as exc:
        raise ReviewFileError(f"{shown(path)}: not a readable .xlsx workbook ({_why(exc)})"
                              ) from None
    if sheet is not None and sheet not in book.sheetnames:
        raise ReviewFileError(f"{shown(path)}: no sheet {sheet!r} (sheets: "
                              f"{', '.join(book.sheetnames)})")
    if sheet is not None and sheet not in (tables := [w.title for w in book.worksheets]):
        raise ReviewFileError(f"{shown(path)}: sheet {sheet!r} is a chart sheet, it has no cells "
                              f"(sheets with cells: {', '.join(map(repr, tables))})")
    # By default the first sheet Excel shows: a hidden one before it (an old sheet left in
    # the file, or an attacker's) is not what the auditor filled in. By name, any sheet.
    if not book.worksheets:
        raise ReviewFileError(f"{shown(path)}: no sheet with cells (sheets: "
                              f"{', '.join(book.sheetnames)})")
    visible = [w for w in book.worksheets if w.sheet_state == "visible"] or book.worksheets
    ws = book[sheet] if sheet is not None else visible[0]
    # Read-only mode trusts the sheet's `dimension`: rows past a stale one were dropped
    # without a word, and a huge one padded every row to 16,384 cells. Without it, rows are
    # read as the sheet holds them, data rows as wide as the header.
    ws.reset_dimensions()

    def bad(after: int, exc: BaseException) -> ReviewFileError:
        return ReviewFileError(f"{shown(path)}: sheet {ws.title!r}: not readable XML after row "
                               f"{after} ({_why(exc)}); nothing was published")

    try:
        first = next(ws.iter_rows(max_row=1, values_only=True), None)
    except _BAD_PART as exc:
        raise ReviewFileError(f"{shown(path)}: not a readable .xlsx workbook ({_why(exc)})"
                              ) from None
    if first is None:
        raise ReviewFileError(f"{shown(path)}: the sheet {ws.title!r} is empty (no header)")
    if not first:
        raise ReviewFileError(f"{shown(path)}: sheet {ws.title!r}: row 1 is empty; the header "
                              "(case_id or transaction_id, outcome, ...) must be row 1")
    header = [cell_text(c) for c in first]
    names = normalise_header(header)
    try:
        hidden = _hidden_values(ws, {i + 1: n for i, n in enumerate(names)
                                     if n in READ_COLUMNS})
    except _SheetXmlError as exc:
        raise bad(exc.after, exc.cause) from None

    ids = [i for i, n in enumerate(names) if n in ID_COLUMN_NAMES]

    def rows() -> Rows:
        number = 1
        try:
            it = ws.iter_rows(min_row=2, max_col=len(names), values_only=True)
            for number, values in enumerate(it, start=2):
                if number > EXCEL_MAX_ROW:
                    raise ReviewFileError(f"{shown(path)}: row {number}: past Excel's last row "
                                          f"({EXCEL_MAX_ROW:,}); not a sheet Excel saved")
                cells = [cell_text(v) for v in values]
                row = dict(zip(names, _pad(cells, len(names)), strict=True))
                odd = next((f"{names[i]}: {why}" for i in ids if i < len(values)
                            and (why := _id_cell_problem(values[i])) is not None), None)
                if number in hidden or odd is not None:
                    yield number, {**row, ERROR_KEY: hidden.get(number) or str(odd)}
                elif any(c.strip() for c in cells):
                    yield number, row
            _unchanged(file, before)  # the sheet is read as its rows are
        except _BAD_PART as exc:
            raise bad(number, exc) from None
        finally:
            book.close()
            file.close()

    return header, rows()


#: The least number of 16 digits: Excel keeps 15 significant digits of a number.
_EXCEL_EXACT_BELOW = 10**15


def _id_cell_problem(value: Any) -> str | None:
    """Why an id cell of a sheet no longer holds the id typed or pasted into it: Excel turns
    an id of digits into a number and keeps 15 of them (1234567890123456789 is saved as
    1.23456789012346E+18), and one such as 1-2 into a date. None: a text cell, or a number
    Excel holds exactly."""
    if isinstance(value, datetime | date | time):
        return (f"Excel holds this id as a date ({cell_text(value)}): format the column as "
                "Text and type the id again")
    if (isinstance(value, int | float) and not isinstance(value, bool)
            and abs(value) >= _EXCEL_EXACT_BELOW):
        return (f"Excel holds this id as the number {value:.15g} and keeps 15 of its digits, "
                "so it may have lost some: format the column as Text and paste the ids again")
    return None


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


@dataclass(frozen=True)
class ExportsIds:
    """What the exports say of ids, by target ("case", "transaction").

    `known`: the ids they list (None: no file to check against): cases from `cases.csv`'s
    `case_id`; transactions from `case_transactions.csv` and `audit_sample.csv` (the
    sampled, non-flagged ones an auditor reviews). `exported`: each id of `cases.csv` and
    of `audit_sample.csv` with its current review (if any) and a case's extent, to compare
    a re-import with (review columns missing, as in an older version's exports: none; a
    review that does not read counts as none: the sink wrote it, an edited exports file).
    """

    known: dict[str, set[str] | None]
    exported: dict[str, dict[str, Exported]]


def exports_ids(exports: Path) -> ExportsIds:
    """The ids and reviews of the exports in `exports`, each file read once."""
    cases = _ids_file(exports / CASES_FILE, "case_id", reviews=True)
    listed = _ids_file(exports / CASE_TRANSACTIONS_FILE, "transaction_id", reviews=False)
    sampled = _ids_file(exports / AUDIT_SAMPLE_FILE, "transaction_id", reviews=True)
    tx = [ids for ids, _ in (listed, sampled) if ids is not None]
    return ExportsIds(
        known={"case": cases[0], "transaction": set().union(*tx) if tx else None},
        exported={"case": cases[1], "transaction": sampled[1]})


def _ids_file(f: Path, col: str, *, reviews: bool
              ) -> tuple[set[str] | None, dict[str, Exported]]:
    """The ids of `f`'s column `col` (None: no such file) and, with `reviews`, each one's
    review as the file shows it."""
    # A damaged file of the exports is the user's to fix (exit 2), not a traceback; one that
    # is no regular file is `not_regular` (exit 2): a FIFO or folder there was "no
    # cases.csv", the check skipped; a link was read through.
    try:
        fh = open_text(f, "utf-8-sig", newline="")
    except (FileNotFoundError, NotADirectoryError):
        return None, {}
    except OSError as exc:  # no permission, an I/O error
        raise ReviewFileError(f"cannot check the ids: cannot read {shown(f)}: "
                              f"{exc.strerror or exc}; or give --no-check") from None
    found: dict[str, Exported] = {}
    ids: set[str] = set()
    try:
        with fh:
            # its lines bounded as a review file's (the exports have no size bound: a 1 GB
            # line was read whole)
            reader = csv.DictReader(BoundedLines(fh))
            if col not in (reader.fieldnames or ()):
                raise ReviewFileError(f"cannot check the ids: {shown(f)} has no {col} column "
                                      "(not the exports' file); give the exports "
                                      "folder, or --no-check")
            for row in reader:
                if reviews:
                    found[unguarded(row.get(col) or "")] = _exported(row)
                else:
                    ids.add(unguarded(row.get(col) or ""))
    except LineTooLong as exc:
        raise ReviewFileError(f"cannot check the ids: {shown(f)}: {exc} (not the exports' "
                              "file); make the exports again, or --no-check") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ReviewFileError(f"cannot check the ids: {shown(f)} is not a readable CSV of the "
                              f"exports ({exc}); make the exports again, or --no-check"
                              ) from None
    return (set(found) if reviews else ids) - {""}, found


def _exported(row: dict[str, str]) -> Exported:
    extent = (row.get("transactions") or "", row.get("last_time") or "")
    outcome = (row.get("outcome") or "").strip()
    try:
        when = parse_time(row.get("reviewed_at") or "") if outcome else None
    except ValueError:
        when = None
    if when is None:
        return Exported("", transactions=extent[0], last_time=extent[1])
    return Exported(outcome, unguarded((row.get("reviewer") or "").strip()), when,
                    unguarded(row.get("note") or ""), *extent)
