"""The historic CSV layout: a tolerant, fast reader and an atomic writer.

Reads files exactly as the reference project writes them (naive `2025-01-01 00:00:00`
timestamps, `True`/`False` labels, `anomaly_type` kept as given) and files without label
columns (labels `None`: unknown, not `False`) or with extra columns (kept in `attributes`).
A bad row never stops the file: it comes out as a `RowError` with its physical line number
(header = line 1), the reason and the raw cells. An unreadable file or a header without the
required columns raises `CsvFormatError` before any row is produced.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any, TextIO, TypeVar

from pydantic import ValidationError

from shared.atomic import atomic_text_writer
from shared.codec import describe_validation_error
from shared.csv_encoding import (
    CsvFormatError,
    encoding_of,
    separator_hint,
    show_odd_bytes,
    stray_in_header,
    stray_in_row,
)
from shared.csv_lines import BoundedLines, LineTooLong
from shared.csv_resync import RowEnds, too_long, too_long_line
from shared.csv_rows import SeenIds, row_parser
from shared.inputs import FOLDER, MISSING, SPECIAL, InputFile, NotAFile
from shared.names import shown
from shared.schemas import (
    CONTROL_CHARACTERS,
    CONTROL_RULE,
    CSV_FIELDS,
    MAX_ATTRIBUTE_KEY_CHARS,
    MAX_ATTRIBUTES,
    REQUIRED_CSV_FIELDS,
    Transaction,
    quote,
)

T = TypeVar("T")


@dataclass(frozen=True)
class RowError:
    """One rejected row: where it is, why, and its cells as read (header name -> text)."""

    line: int
    reason: str
    raw: dict[str, str]
    source: str = field(default="", compare=False)


#: A CSV input as `InputFile.open` refuses it, in this reader's words.
_NOT_A_CSV = {MISSING: "no such file", FOLDER: "is a folder, not a CSV file",
              SPECIAL: "not a regular file"}


#: A CSV input: its path (opened when read) or the file, open (read from its start).
Source = Path | InputFile


def _source(p: Source | str) -> Source:
    return p if isinstance(p, InputFile) else Path(p)


def open_csv(path: Path) -> InputFile:
    """The CSV file `path`, opened once (`InputFile`: what is checked is what is read), or
    `CsvFormatError` saying why not."""
    try:
        return InputFile.open(path)
    except NotAFile as exc:
        raise CsvFormatError(f"cannot read {shown(path)}: {_NOT_A_CSV[exc.kind]}") from None
    except OSError as exc:
        raise CsvFormatError(f"cannot read {shown(path)}: {exc.strerror or exc}") from exc


def decoded(source: Source) -> tuple[TextIO, InputFile]:
    """`source` as text, decoded as its encoding says (`encoding_of`), and the file; closing
    the text closes the file if it was opened here (`source` a path)."""
    file = source if isinstance(source, InputFile) else open_csv(source)
    opened = file is not source
    try:
        with file.reader() as raw:
            encoding, errors = encoding_of(raw, file.path)
    except BaseException:
        if opened:
            file.close()
        raise
    return file.text(encoding, errors, closes=opened), file


def _read_header(
    source: Source,
) -> tuple[TextIO, BoundedLines, Any, list[str], Callable[[], TextIO]]:
    """Read and check the header of `source` (a path: opened here): its handle, its lines as
    the reader takes them, the reader and the names, and how to read it again (`RowEnds`).
    The caller owns the handle (which closes a file opened here)."""
    handle, file = decoded(source)
    path, encoding, errors = file.path, handle.encoding, handle.errors or "strict"
    lines = BoundedLines(handle)
    try:
        reader = csv.reader(lines)
        header = next(reader, None)
    except LineTooLong as exc:
        handle.close()
        raise CsvFormatError(f"{shown(path)}: unreadable header: {exc}") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        handle.close()
        raise CsvFormatError(f"{shown(path)}: unreadable header: {exc}") from exc
    if not header or not any(h.strip() for h in header):
        handle.close()
        raise CsvFormatError(f"{shown(path)}: line 1 is blank; expected a header row" if header
                             is not None else f"{shown(path)}: empty file, expected a header row")
    if (stray := stray_in_header(header)) is not None:
        handle.close()
        raise CsvFormatError(f"{shown(path)}: {stray}")
    joined = ",".join(header)
    if joined.count("\x00") * 3 >= len(joined):  # every other character NUL, not one in a name
        handle.close()
        raise CsvFormatError(
            f"{shown(path)}: the header holds NUL characters: the file looks like UTF-16 without a "
            "byte order mark, or is not text; save it again as CSV UTF-8")
    names = [h.strip() for h in header]
    lowered = [n.lower() for n in names]
    missing = [f for f in REQUIRED_CSV_FIELDS if f not in lowered]
    duplicated = sorted({n for n in lowered if n in CSV_FIELDS and lowered.count(n) > 1})
    if missing or duplicated:
        handle.close()
        problems = []
        if missing:
            problems.append(f"missing required column(s) {', '.join(missing)}")
        if duplicated:
            problems.append(f"duplicated column(s) {', '.join(duplicated)}")
        raise CsvFormatError(
            f"{shown(path)}: wrong header: {'; '.join(problems)}; "
            f"expected at least {','.join(REQUIRED_CSV_FIELDS)}"
            + separator_hint(header, REQUIRED_CSV_FIELDS)
        )
    extras = [n for n in names if n and n.lower() not in CSV_FIELDS]
    long_names = [n for n in extras if len(n) > MAX_ATTRIBUTE_KEY_CHARS]
    controlled = [n for n in extras if CONTROL_CHARACTERS.search(n)]
    if len(extras) > MAX_ATTRIBUTES or long_names or controlled:
        handle.close()
        raise CsvFormatError(
            f"{shown(path)}: wrong header: extra column {quote(controlled[0])} {CONTROL_RULE}"
            if controlled else
            f"{shown(path)}: wrong header: {len(extras)} extra columns, at most {MAX_ATTRIBUTES}"
            if not long_names else
            f"{shown(path)}: wrong header: extra column {quote(long_names[0])} is longer than "
            f"{MAX_ATTRIBUTE_KEY_CHARS} characters"
        )
    twice = sorted(n for n, count in Counter(extras).items() if count > 1)
    if twice:  # `attributes` would keep only the last column's value
        handle.close()
        raise CsvFormatError(
            f"{shown(path)}: wrong header: duplicated extra column(s) "
            f"{', '.join(map(quote, twice))}; give each column its own name")
    return handle, lines, reader, names, lambda: file.text(encoding, errors)


#: A rejected row's cells past the header's kept in its report (the reason counts them all):
#: a line of commas within the line bound is a million cells, and the report's columns are
#: every reject's (1.04 MB of commas took 112 MB and 15 s, and gave the report a million).
MAX_RAW_EXTRA = MAX_ATTRIBUTES


def _raw(names: list[str], row: list[str]) -> dict[str, str]:
    # a reject only: not on the usual path
    row = [show_odd_bytes(cell) for cell in row[:len(names) + MAX_RAW_EXTRA]]
    raw = {n or f"column_{i + 1}": c for i, (n, c) in enumerate(zip(names, row, strict=False))}
    for i in range(len(names), len(row)):
        raw[f"column_{i + 1}"] = row[i]
    return raw


def _utf8_checked(
    parse: Callable[[list[str]], dict[str, Any]], names: list[str]
) -> Callable[[list[str]], dict[str, Any]]:
    """`parse`, for a UTF-8 file holding stray bytes: a row holding one is a `ValueError`
    naming the byte and its column."""
    def checked(row: list[str]) -> dict[str, Any]:
        if (stray := stray_in_row(row, names)) is not None:
            raise ValueError(stray)
        return parse(row)

    return checked


def iter_csv(
    path: Source, seen: SeenIds | None = None
) -> Iterator[tuple[int, Transaction] | RowError]:
    """Yield `(line, Transaction)` for good rows and `RowError` for bad ones, in file order.

    A `transaction_id` already accepted (in this file, or in any file sharing `seen`) makes
    the row a `RowError`. Raises `CsvFormatError` at once (not on first iteration) for an
    unreadable file or a wrong header. Blank lines are skipped.
    """
    return _rows(path, Transaction.model_validate, seen)


def iter_records(
    path: Source, seen: SeenIds | None = None
) -> Iterator[tuple[int, dict[str, Any]] | RowError]:
    """Like `iter_csv`, but each good row is the `Transaction` field dict (validated by the
    same rules), about twice as fast: for bulk paths that only re-encode rows (replay)."""
    return _rows(path, _identity, seen)


def _identity(data: dict[str, Any]) -> dict[str, Any]:
    return data


_TX_FIELDS_SET = frozenset(Transaction.model_fields)
_new, _set = Transaction.__new__, object.__setattr__  # looked up once, not twice a row each


def _construct(data: dict[str, Any]) -> Transaction:
    """The `Transaction` that validating `data` gives, without a second validation pass:
    `row_parser` has applied every rule of the schema, and its dict holds every field in
    the model's order (so `__dict__` is the same, key order included)."""
    tx = _new(Transaction)
    _set(tx, "__dict__", data)
    _set(tx, "__pydantic_fields_set__", set(_TX_FIELDS_SET))
    _set(tx, "__pydantic_extra__", None)
    _set(tx, "__pydantic_private__", None)
    return tx


def _rows(
    source: Source, convert: Callable[[dict[str, Any]], T], seen: SeenIds | None
) -> Iterator[tuple[int, T] | RowError]:
    handle, lines, reader, names, again = _read_header(source)
    known = set(CSV_FIELDS)
    idx = {n.lower(): i for i, n in enumerate(names) if n.lower() in known}
    extras = [(n, i) for i, n in enumerate(names) if n.lower() not in known and n]
    parse = row_parser(idx, extras, [i for i, n in enumerate(names) if not n])
    if handle.errors == "surrogateescape":
        parse = _utf8_checked(parse, names)
    path = source.path if isinstance(source, InputFile) else source
    return _iter_rows(str(path), handle, lines, again, reader, names, parse, convert,
                      seen or SeenIds())


def _iter_rows(
    source: str,
    handle: TextIO,
    lines: BoundedLines,
    again: Callable[[], TextIO],
    reader: Any,
    names: list[str],
    parse: Callable[[list[str]], dict[str, Any]],
    convert: Callable[[dict[str, Any]], T],
    seen: SeenIds,
) -> Iterator[tuple[int, T] | RowError]:
    width = len(names)
    read, first = seen.start(shown(source)), seen.first  # named in a duplicate's reason
    # `prev`: the last physical line read (`lines` counts those the reader never got: a
    # line over the bound, the rest of a row it gave up on, skipped by `ends`).
    with handle, RowEnds(lines, again) as ends:
        prev = lines.lines_read
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except LineTooLong as exc:
                line = prev + 1
                ends.skip_rest(line, exc.line)
                prev = lines.lines_read
                yield RowError(line, too_long_line(exc, line, prev), {}, source)
                continue
            except csv.Error as exc:
                line = prev + 1
                ends.skip_rest(line, lines.lines_read)
                prev = lines.lines_read
                reason = too_long(exc, line, prev) or f"unparseable CSV: {exc}"
                yield RowError(line, reason, {}, source)
                continue
            line, prev = prev + 1, lines.lines_read
            if len(row) != width:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                reason = f"expected {width} columns, found {len(row)}"
                if len(row) > width + MAX_RAW_EXTRA:
                    reason += f" (the first {MAX_RAW_EXTRA} past the header's kept)"
                if prev > line:  # one quote left open swallows the lines up to the next one
                    reason += (f" in lines {line}-{prev} read as one row (a quote opened "
                               "and not closed?)")
                yield RowError(line, reason, _raw(names, row), source)
                continue
            try:
                data = parse(row)
                item = convert(data)
            except ValueError as exc:
                reason = (
                    describe_validation_error(exc)
                    if isinstance(exc, ValidationError)
                    else str(exc)
                )
                yield RowError(line, reason, _raw(names, row), source)
                continue
            code = line << 20 | read  # as in SeenIds.add, inline: this runs for every row
            if (was := first(tid := data["transaction_id"], code)) != code:
                yield RowError(line, seen.reason(tid, was, read), _raw(names, row), source)
                continue
            yield line, item


def read_all(
    paths: Sequence[Source], seen: SeenIds | None = None
) -> Iterator[Transaction | RowError]:
    """Every row of `paths` in file order (files in the given order): a `Transaction` for a
    good row, a `RowError` for a bad one; a `transaction_id` seen earlier (in that order) is
    a bad row. All headers are checked before any row is produced (and before this returns),
    so a bad header anywhere fails fast."""
    return (item if isinstance(item, RowError) else item[1]
            for it in read_files(paths, seen) for item in it)


def read_files(
    paths: Sequence[Source], seen: SeenIds | None = None
) -> list[Iterator[tuple[int, Transaction] | RowError]]:
    """`read_all`'s rows file by file, each good one with its line (for a caller that
    consumes them in one generator of its own: a layer less a row); every header checked
    before this returns."""
    seen = seen or SeenIds()
    return [_rows(_source(p), _construct, seen) for p in paths]


def open_checked(path: Path) -> InputFile:
    """`path` opened (`open_csv`) and its header checked as `read_all` checks it."""
    file = open_csv(path)
    try:
        check_headers([file])
    except BaseException:
        file.close()
        raise
    return file


def check_headers(paths: Sequence[Source]) -> None:
    """Check every file's header as `read_all` does (`CsvFormatError` on the first bad one)
    and close it: a command refuses a bad input before it creates any output."""
    for path in paths:
        _read_header(_source(path))[0].close()


def load_sorted(paths: Sequence[Path]) -> tuple[list[Transaction], list[RowError]]:
    """Every good row of `paths` in stable timestamp order, and every bad row (`read_all`,
    all in memory; `auditstream score` streams instead)."""
    txs: list[Transaction] = []
    errors: list[RowError] = []
    for item in read_all(paths):
        if isinstance(item, RowError):
            errors.append(item)
        else:
            txs.append(item)
    txs.sort(key=attrgetter("timestamp"))
    return txs, errors


def _fmt_bool(value: bool | None) -> str:
    return "" if value is None else ("True" if value else "False")


def write_transactions_csv(txs: Iterable[Transaction], path: Path) -> int:
    """Write `txs` in the historic layout atomically (temp file + rename); return the count.

    Timestamps `YYYY-MM-DD HH:MM:SS` (fractions only when present), booleans `True`/`False`,
    unknown labels empty. `attributes` are not written (the historic layout has no place).
    """
    count = 0
    with atomic_text_writer(Path(path)) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        # With "\n" line ends the csv module leaves a lone "\r" unquoted, and a reader
        # then splits the row there: such rows are written fully quoted.
        quoted = csv.writer(fh, lineterminator="\n", quoting=csv.QUOTE_ALL)
        writer.writerow(CSV_FIELDS)
        for tx in txs:
            row = (
                tx.transaction_id,
                tx.customer_id,
                tx.timestamp.isoformat(sep=" "),
                repr(tx.amount),
                tx.country,
                tx.channel,
                tx.device,
                tx.merchant_category,
                tx.ip,
                _fmt_bool(tx.is_anomaly),
                "" if tx.anomaly_type is None else tx.anomaly_type,
            )
            (quoted if "\r" in "".join(row) else writer).writerow(row)
            count += 1
    return count


__all__ = [
    "CsvFormatError",
    "RowError",
    "SeenIds",
    "check_headers",
    "decoded",
    "iter_csv",
    "iter_records",
    "load_sorted",
    "open_checked",
    "open_csv",
    "read_all",
    "read_files",
    "write_transactions_csv",
]
