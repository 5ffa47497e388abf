"""Which text encoding a CSV file is in: UTF-8 (with or without BOM), UTF-16 with its BOM
(Excel's "Unicode" exports), or Windows-1252 (Excel's default "CSV" on Windows). A file in
none of these is a `CsvFormatError` naming its first odd byte and that byte's line."""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import BinaryIO

from shared.errors import AuditstreamError

_CHUNK = 1 << 20
#: The byte order marks of UTF-16, little and big endian.
_UTF16_MARKS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
#: The bytes Windows-1252 leaves undefined.
_NOT_1252 = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
_SAVE_AS = "save it again as CSV UTF-8"


class CsvFormatError(AuditstreamError):
    """The file cannot be read at all, or its header lacks required columns."""


def encoding_of(path: Path) -> str:
    """`utf-16` when the file starts with a UTF-16 byte order mark, `utf-8-sig` when the
    whole file is valid UTF-8, else `cp1252` when every byte is a Windows-1252 character.
    Anything else (a UTF-16 mark over other bytes, Shift-JIS, GBK...) is a
    `CsvFormatError`."""
    try:
        with path.open("rb") as fh:
            if fh.read(2) in _UTF16_MARKS:
                _check_utf16(path, fh)
                return "utf-16"
            if _first_invalid_utf8(fh) is None:
                return "utf-8-sig"
            _check_1252(path, fh)
            return "cp1252"
    except OSError as exc:
        raise CsvFormatError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _check_utf16(path: Path, fh: BinaryIO) -> None:
    fh.seek(0)
    decoder = codecs.getincrementaldecoder("utf-16")()
    try:
        while chunk := fh.read(_CHUNK):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise CsvFormatError(
            f"cannot read {path}: it starts with a UTF-16 byte order mark but is not "
            f"valid UTF-16 ({exc.reason} at byte {exc.start}); {_SAVE_AS}") from None


def _first_invalid_utf8(fh: BinaryIO) -> int | None:
    """The file offset of the first byte that is not UTF-8, or None."""
    fh.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0  # of the chunk being decoded
    try:
        while chunk := fh.read(_CHUNK):
            decoder.decode(chunk)
            offset += len(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        pending = len(exc.object) - len(chunk)  # bytes of the chunk before, kept back
        return offset - pending + exc.start
    return None


def _check_1252(path: Path, fh: BinaryIO) -> None:
    fh.seek(0)
    offset = 0
    while chunk := fh.read(_CHUNK):
        if odd := _NOT_1252.search(chunk):
            at = offset + odd.start()
            raise CsvFormatError(
                f"{path}: line {_line_at(fh, at)}: byte 0x{chunk[odd.start()]:02X} is neither "
                f"UTF-8 nor Windows-1252: the file is in another encoding; {_SAVE_AS}")
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
