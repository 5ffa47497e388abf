"""The historic CSV layout: a tolerant, fast reader and an atomic writer.

Reads files exactly as the reference project writes them (naive `2025-01-01 00:00:00`
timestamps, `True`/`False` labels, `anomaly_type` kept as given) and files without label
columns (labels `None`: unknown, not `False`) or with extra columns (kept in `attributes`).
A bad row never stops the file: it comes out as a `RowError` with its physical line number
(header = line 1), the reason and the raw cells. An unreadable file or a header without the
required columns raises `CsvFormatError` before any row is produced.
"""

from __future__ import annotations

import codecs
import csv
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import ValidationError

from shared.codec import describe_validation_error
from shared.errors import AuditstreamError
from shared.schemas import CSV_FIELDS, REQUIRED_CSV_FIELDS, SCHEMA_VERSION, Transaction

_TRUE = frozenset({"true", "1", "yes", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "f", "n"})
#: The label cells the reference layout writes, parsed without `_parse_bool`'s strip/lower.
_KNOWN_BOOL: dict[str, bool | None] = {"True": True, "False": False, "": None}
_CHUNK = 1 << 20
T = TypeVar("T")


class CsvFormatError(AuditstreamError):
    """The file cannot be read at all, or its header lacks required columns."""


@dataclass(frozen=True)
class RowError:
    """One rejected row: where it is, why, and its cells as read (header name -> text)."""

    line: int
    reason: str
    raw: dict[str, str]
    source: str = field(default="", compare=False)


def _encoding_of(path: Path) -> str:
    """`utf-8-sig` when the whole file is valid UTF-8, else Windows-1252 (Excel's default)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1252"
    except OSError as exc:
        raise CsvFormatError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return "utf-8-sig"


def _read_header(path: Path) -> tuple[IO[str], Any, list[str]]:
    """Open `path`, read and check its header; the caller owns the returned handle."""
    if not path.is_file():
        raise CsvFormatError(f"cannot read {path}: no such file")
    encoding = _encoding_of(path)
    try:
        handle = path.open(encoding=encoding, newline="")
    except OSError as exc:
        raise CsvFormatError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        reader = csv.reader(handle)
        header = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as exc:
        handle.close()
        raise CsvFormatError(f"{path}: unreadable header: {exc}") from exc
    if not header or not any(h.strip() for h in header):
        handle.close()
        raise CsvFormatError(f"{path}: empty file, expected a header row")
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
            f"{path}: wrong header: {'; '.join(problems)}; "
            f"expected at least {','.join(REQUIRED_CSV_FIELDS)}"
        )
    return handle, reader, names


def _raw(names: list[str], row: list[str]) -> dict[str, str]:
    raw = dict(zip(names, row, strict=False))
    for i in range(len(names), len(row)):
        raw[f"column_{i + 1}"] = row[i]
    return raw


def _parse_bool(text: str) -> bool | None:
    low = text.strip().lower()
    if not low:
        return None
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"is_anomaly: {text!r} is not True/False")


def _row_parser(
    idx: dict[str, int], extras: list[tuple[str, int]]
) -> Callable[[list[str]], dict[str, Any]]:
    """A function turning one row into the full field dict of a `Transaction`.

    It applies every rule of the schema itself (so `iter_records` needs no pydantic pass)
    and raises `ValueError` saying which field is wrong and why.
    """
    i_tid, i_cid, i_ts = idx["transaction_id"], idx["customer_id"], idx["timestamp"]
    i_amt, i_cty, i_chan = idx["amount"], idx["country"], idx["channel"]
    i_dev, i_cat, i_ip = idx["device"], idx["merchant_category"], idx["ip"]
    i_lab, i_typ = idx.get("is_anomaly"), idx.get("anomaly_type")
    fromiso, isfinite = datetime.fromisoformat, math.isfinite

    def parse(row: list[str]) -> dict[str, Any]:
        tid, cid, country = row[i_tid].strip(), row[i_cid].strip(), row[i_cty].strip()
        if not (tid and cid and country):
            name = "transaction_id" if not tid else "customer_id" if not cid else "country"
            raise ValueError(f"{name}: missing")
        ts_text = row[i_ts].strip()
        try:
            ts = fromiso(ts_text)
        except ValueError:
            raise ValueError(
                f"timestamp: {ts_text!r} is not a date-time (expected YYYY-MM-DD HH:MM:SS)"
                if ts_text else "timestamp: missing"
            ) from None
        if ts.tzinfo is not None:
            ts = ts.astimezone(UTC).replace(tzinfo=None)
        try:
            amount = float(row[i_amt])
        except ValueError:
            raise ValueError(f"amount: {row[i_amt].strip()!r} is not a number") from None
        if not isfinite(amount):
            raise ValueError(f"amount: {row[i_amt].strip()!r} is not a finite number")
        return {
            "schema_version": SCHEMA_VERSION,
            "transaction_id": tid,
            "customer_id": cid,
            "timestamp": ts,
            "amount": amount,
            "country": country,
            "channel": row[i_chan].strip(),
            "device": row[i_dev].strip(),
            "merchant_category": row[i_cat].strip(),
            "ip": row[i_ip].strip(),
            "is_anomaly": None if i_lab is None else (
                _KNOWN_BOOL[lab] if (lab := row[i_lab]) in _KNOWN_BOOL else _parse_bool(lab)),
            "anomaly_type": (row[i_typ].strip() or None) if i_typ is not None else None,
            "attributes": {name: row[i] for name, i in extras} if extras else {},
        }

    return parse


def iter_csv(path: Path) -> Iterator[tuple[int, Transaction] | RowError]:
    """Yield `(line, Transaction)` for good rows and `RowError` for bad ones, in file order.

    Raises `CsvFormatError` at once (not on first iteration) for an unreadable file or a
    wrong header. Blank lines are skipped.
    """
    return _rows(path, Transaction.model_validate)


def iter_records(path: Path) -> Iterator[tuple[int, dict[str, Any]] | RowError]:
    """Like `iter_csv`, but each good row is the `Transaction` field dict (validated by the
    same rules), about twice as fast: for bulk paths that only re-encode rows (replay)."""
    return _rows(path, _identity)


def _identity(data: dict[str, Any]) -> dict[str, Any]:
    return data


_TX_FIELDS_SET = frozenset(Transaction.model_fields)


def _construct(data: dict[str, Any]) -> Transaction:
    """The `Transaction` that validating `data` gives, without a second validation pass:
    `_row_parser` has applied every rule of the schema, and its dict holds every field in
    the model's order (so `__dict__` is the same, key order included)."""
    tx = Transaction.__new__(Transaction)
    object.__setattr__(tx, "__dict__", data)
    object.__setattr__(tx, "__pydantic_fields_set__", set(_TX_FIELDS_SET))
    object.__setattr__(tx, "__pydantic_extra__", None)
    object.__setattr__(tx, "__pydantic_private__", None)
    return tx


def _rows(path: Path, convert: Callable[[dict[str, Any]], T]) -> Iterator[tuple[int, T] | RowError]:
    handle, reader, names = _read_header(path)
    known = set(CSV_FIELDS)
    idx = {n.lower(): i for i, n in enumerate(names) if n.lower() in known}
    extras = [(n, i) for i, n in enumerate(names) if n.lower() not in known and n]
    return _iter_rows(str(path), handle, reader, names, _row_parser(idx, extras), convert)


def _iter_rows(
    source: str,
    handle: IO[str],
    reader: Any,
    names: list[str],
    parse: Callable[[list[str]], dict[str, Any]],
    convert: Callable[[dict[str, Any]], T],
) -> Iterator[tuple[int, T] | RowError]:
    width = len(names)
    with handle:
        prev = reader.line_num
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                line, prev = prev + 1, reader.line_num
                yield RowError(line, f"unparseable CSV: {exc}", {}, source)
                continue
            line, prev = prev + 1, reader.line_num
            if len(row) != width:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                reason = f"expected {width} columns, found {len(row)}"
                yield RowError(line, reason, _raw(names, row), source)
                continue
            try:
                item = convert(parse(row))
            except ValueError as exc:
                reason = (
                    describe_validation_error(exc)
                    if isinstance(exc, ValidationError)
                    else str(exc)
                )
                yield RowError(line, reason, _raw(names, row), source)
                continue
            yield line, item


def load_sorted(paths: Sequence[Path]) -> tuple[list[Transaction], list[RowError]]:
    """Every good row of `paths` in stable timestamp order, and every bad row.

    Ties keep file order, files in the given order. All headers are checked before any
    file is read, so a bad header anywhere fails fast.
    """
    iterators = [_rows(Path(p), _construct) for p in paths]
    txs: list[Transaction] = []
    errors: list[RowError] = []
    for it in iterators:
        for item in it:
            if isinstance(item, RowError):
                errors.append(item)
            else:
                txs.append(item[1])
    txs.sort(key=attrgetter("timestamp"))
    return txs, errors


def _fmt_bool(value: bool | None) -> str:
    return "" if value is None else ("True" if value else "False")


def write_transactions_csv(txs: Iterable[Transaction], path: Path) -> int:
    """Write `txs` in the historic layout atomically (temp file + rename); return the count.

    Timestamps `YYYY-MM-DD HH:MM:SS` (fractions only when present), booleans `True`/`False`,
    unknown labels empty. `attributes` are not written (the historic layout has no place).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(CSV_FIELDS)
            for tx in txs:
                writer.writerow(
                    (
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
                )
                count += 1
        os.chmod(tmp_name, 0o644)  # mkstemp makes 0600; readers such as Power BI need read
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return count


__all__ = [
    "CsvFormatError",
    "RowError",
    "iter_csv",
    "iter_records",
    "load_sorted",
    "write_transactions_csv",
]
