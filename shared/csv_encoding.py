"""Which text encoding a CSV file is in: UTF-8 (with or without BOM), UTF-16 with its BOM
(Excel's "Unicode" exports), or Windows-1252 (Excel's default "CSV" on Windows). A UTF-8
file holding a few bytes of another encoding stays UTF-8: only the rows holding them are
rejected. A file in none of these is a `CsvFormatError` naming its first odd byte and that
byte's line."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from shared.errors import AuditstreamError
from shared.names import shown

_CHUNK = 1 << 20
#: The byte order marks of UTF-16, little and big endian.
_UTF16_MARKS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
#: The bytes Windows-1252 leaves undefined.
_NOT_1252 = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
_NON_ASCII = re.compile(rb"[\x80-\xff]")
#: A byte that is not UTF-8 as `surrogateescape` reads it: U+DC80-U+DCFF.
_ESCAPED = re.compile("[\udc80-\udcff]")
_SAVE_AS = "save it again as CSV UTF-8"
#: What a compressed file or archive starts with, and what to call it: read as text, its
#: bytes were "neither UTF-8 nor Windows-1252" or a "wrong header", true but not what to do.
_PACKED = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"),
           (b"\x28\xb5\x2f\xfd", "zstd"),
           (b"PK\x03\x04", "a zip archive (an Excel .xlsx workbook is one)"))


#: The separators of files called CSV that are not comma-separated: Excel's where the
#: decimal mark is a comma (it writes the region's list separator, `;`), a tab-separated
#: export's, a database dump's.
OTHER_SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}


def separator_hint(header: Sequence[str], wanted: Iterable[str], *, every: bool = True) -> str:
    """"; its columns are separated by semicolons ..." when `header` (as the csv module read
    it, with commas) names every one of `wanted` (with `every` false: any one, as an exports
    table of an older version lacks later columns) once split on another separator, else
    "": a `;`-separated file was "missing required column(s)" every one of which its header
    showed."""
    text = ",".join(header)
    for separator, name in OTHER_SEPARATORS.items():
        cells = {c.strip().strip('"').lstrip("\ufeff").strip().lower()
                 for c in text.split(separator)}
        if separator in text and (set(wanted) <= cells if every else bool(set(wanted) & cells)):
            return (f"; its columns are separated by {name}, not commas: save it "
                    "comma-separated, with '.' as the decimal mark (Excel writes the list "
                    "separator and decimal mark of the system's region settings)")
    return ""


def unmatched_header(header: Sequence[str], columns: Iterable[str], *,
                     hinted: Iterable[str] | None = None) -> str | None:
    """None when `header` names one of `columns` (any will do: an older version's table
    lacks later ones); else the tail of the reader's reason: `separator_hint` when any of
    `hinted` (default `columns`) shows once the header is split on another separator, ""
    otherwise. Excel where the decimal mark is a comma saves `;` between cells: read with
    commas, its header names no column (a status row was one cell: "no data yet" over the
    data)."""
    columns = list(columns)
    if set(header) & set(columns):
        return None
    return separator_hint(header, columns if hinted is None else hinted, every=False)


class CsvFormatError(AuditstreamError):
    """The file cannot be read at all, or its header lacks required columns."""


def encoding_of(fh: BinaryIO, path: Path) -> tuple[str, str]:
    """How to read `fh` (the file `path`, open, read from its start): the codec and the
    `errors` mode.

    `utf-16` when the file starts with a UTF-16 byte order mark; `utf-8-sig` when the whole
    file is valid UTF-8; also `utf-8-sig` when UTF-8 text (or its BOM) comes before the first
    byte that is not UTF-8: a UTF-8 file with stray bytes, read with `surrogateescape` so that
    each row holding one is rejected (`odd_byte`), not the whole file garbled. Otherwise
    (the first non-ASCII byte is already not UTF-8) `cp1252` when every byte is a
    Windows-1252 character. Anything else (a UTF-16 mark over other bytes, Shift-JIS,
    GBK...) is a `CsvFormatError`."""
    try:
        fh.seek(0)
        _check_packed(path, fh.read(8))
        fh.seek(0)
        if fh.read(2) in _UTF16_MARKS:
            _check_utf16(path, fh)
            return "utf-16", "strict"
        bad, first_non_ascii = _first_invalid_utf8(fh)
        if bad is None:
            return "utf-8-sig", "strict"
        if first_non_ascii < bad:
            return "utf-8-sig", "surrogateescape"
        _check_1252(path, fh)
        return "cp1252", "strict"
    except OSError as exc:
        raise CsvFormatError(f"cannot read {shown(path)}: {exc.strerror or exc}") from exc


def odd_byte(text: str) -> int | None:
    """The first byte that was not UTF-8 in `text` read with `surrogateescape`, or None."""
    found = _ESCAPED.search(text)
    return None if found is None else ord(found.group()) - 0xDC00


def stray_in_header(header: list[str]) -> str | None:
    """Why a header read with `surrogateescape` is refused: its first byte that is not
    UTF-8 (None: it has none)."""
    byte = odd_byte(",".join(header))
    return None if byte is None else (
        f"byte 0x{byte:02X} in the header is not UTF-8 (the rest of the file is); {_SAVE_AS}")


def stray_in_row(cells: list[str], names: list[str]) -> str | None:
    """Why a row of a UTF-8 file holding stray bytes is rejected: its first byte that is not
    UTF-8 and that byte's column (`names`: the header's; a blank one or one beyond it is
    `column_N`). None: the row has none."""
    if odd_byte("".join(cells)) is None:
        return None
    i, byte = next((i, b) for i, c in enumerate(cells) if (b := odd_byte(c)) is not None)
    name = (names[i] if i < len(names) else "") or f"column_{i + 1}"
    return (f"{name}: byte 0x{byte:02X} is not UTF-8 (the rest of the file is): retype the "
            "text, it was written in another encoding")


def show_odd_bytes(text: str) -> str:
    """`text` with each byte that was not UTF-8 written as `\\xNN` (printable, writable)."""
    return _ESCAPED.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)


def _check_packed(path: Path, head: bytes) -> None:
    for magic, what in _PACKED:
        if head.startswith(magic):
            todo = "save the sheet as CSV UTF-8" if magic == b"PK\x03\x04" else (
                "decompress it first")
            raise CsvFormatError(f"cannot read {shown(path)}: it is {what}, not a CSV file; {todo}")


def _check_utf16(path: Path, fh: BinaryIO) -> None:
    fh.seek(0)
    decoder = codecs.getincrementaldecoder("utf-16")()
    offset = 0  # of the chunk being decoded
    try:
        while chunk := fh.read(_CHUNK):
            decoder.decode(chunk)
            offset += len(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        at = offset - (len(exc.object) - len(chunk)) + exc.start  # as in _first_invalid_utf8
        raise CsvFormatError(
            f"cannot read {shown(path)}: it starts with a UTF-16 byte order mark but is not "
            f"valid UTF-16 ({exc.reason} at byte {at}); {_SAVE_AS}") from None


def _first_invalid_utf8(fh: BinaryIO) -> tuple[int | None, int]:
    """The file offsets of the first byte that is not UTF-8 (None if all are) and of the
    first that is not ASCII (the file's size if none)."""
    fh.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0  # of the chunk being decoded
    first_non_ascii = -1
    try:
        while chunk := fh.read(_CHUNK):
            if first_non_ascii < 0 and not chunk.isascii():
                first_non_ascii = offset + _NON_ASCII.search(chunk).start()  # type: ignore[union-attr]
            decoder.decode(chunk)
            offset += len(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        pending = len(exc.object) - len(chunk)  # bytes of the chunk before, kept back
        return offset - pending + exc.start, first_non_ascii
    return None, offset if first_non_ascii < 0 else first_non_ascii


def _check_1252(path: Path, fh: BinaryIO) -> None:
    fh.seek(0)
    offset = 0
    while chunk := fh.read(_CHUNK):
        if odd := _NOT_1252.search(chunk):
            at = offset + odd.start()
            raise CsvFormatError(
                f"{shown(path)}: line {_line_at(fh, at)}: byte 0x{chunk[odd.start()]:02X} is "
                f"neither UTF-8 nor Windows-1252: the file is in another encoding; {_SAVE_AS}")
        offset += len(chunk)


def _line_at(fh: BinaryIO, offset: int) -> int:
    """The physical line (from 1) of byte `offset`: a line ends at LF, CR LF or a lone CR."""
    fh.seek(0)
    line, before = 1, b""
    while offset > 0 and (chunk := fh.read(min(_CHUNK, offset))):
        offset -= len(chunk)
        line += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
        line -= before == b"\r" and chunk.startswith(b"\n")  # a CR LF cut between chunks
        before = chunk[-1:]
    return line
