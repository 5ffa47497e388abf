"""Row rules of the historic CSV layout: cells to `Transaction` fields, repeated ids.

`row_parser` applies every rule of the schema without pydantic (the fast path of
`shared.csv_io`), through the schema's own functions, limits and control characters, so
both agree (tested with hypothesis in tests/unit/test_property_csv.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from shared.schemas import (
    AMOUNT_LIMIT,
    CONTROL_CHARACTERS,
    CONTROL_RULE,
    MAX_ATTRIBUTE_VALUE_CHARS,
    MAX_TIMESTAMP,
    MIN_TIMESTAMP,
    RFC3339,
    SCHEMA_VERSION,
    TEXT_LIMITS,
    parse_amount,
    parse_timestamp,
    quote,
)

#: Label words, as the schema (pydantic) reads them, after stripping and lower-casing.
_TRUE = frozenset({"true", "1", "yes", "t", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "f", "n", "off"})
#: The label cells the reference layout writes, parsed without `_parse_bool`'s strip/lower.
_KNOWN_BOOL: dict[str, bool | None] = {"True": True, "False": False, "": None}


def _parse_bool(text: str) -> bool | None:
    low = text.strip().lower()
    if not low:
        return None
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"is_anomaly: {quote(text.strip())} is not True/False")


_find_control = CONTROL_CHARACTERS.search


def _too_long(fields: dict[str, str]) -> None:
    """Raise `ValueError` for the first text field over its limit."""
    for name, text in fields.items():
        if len(text) > TEXT_LIMITS[name]:
            limit = TEXT_LIMITS[name]
            raise ValueError(f"{name}: {len(text)} characters, at most {limit} allowed")


def _control(name: str, text: str) -> None:
    """Raise `ValueError` if `text`, the value of field `name`, holds a character of the text
    rule (`CONTROL_RULE`; none of them is printable, so printable text is not searched)."""
    if not text.isprintable() and (found := _find_control(text)):
        raise ValueError(f"{name}: {CONTROL_RULE}: {quote(text)} at position {found.start()}")


def _attributes(row: list[str], extras: list[tuple[str, int]]) -> dict[str, str]:
    attributes = {name: row[i] for name, i in extras}
    for name, text in attributes.items():
        if len(text) > MAX_ATTRIBUTE_VALUE_CHARS:
            raise ValueError(f"attributes.{quote(name)}: {len(text)} characters, "
                             f"at most {MAX_ATTRIBUTE_VALUE_CHARS} allowed")
        _control(f"attributes.{quote(name)}", text)
    return attributes


def _unnamed(row: list[str], unnamed: Sequence[int]) -> None:
    """Raise `ValueError` for a value under a blank header cell: it has no attribute name, so
    it would be dropped. Empty (or blank) cells there, Excel's trailing comma, are fine."""
    for i in unnamed:
        if row[i].strip():
            raise ValueError(f"column {i + 1}: {quote(row[i])} under a column without a name "
                             "in the header; name the column, or empty its cells")


def row_parser(
    idx: dict[str, int], extras: list[tuple[str, int]], unnamed: Sequence[int] = ()
) -> Callable[[list[str]], dict[str, Any]]:
    """A function turning one row into the full field dict of a `Transaction`.

    It applies every rule of the schema itself (so `iter_records` needs no pydantic pass)
    and raises `ValueError` saying which field is wrong and why; a value in an `unnamed`
    column (a blank header cell) is an error too, not dropped. The usual row takes inline
    shortcuts; anything else goes through the schema's own functions (`parse_timestamp`,
    `parse_amount`), which the shortcuts match exactly (tested with hypothesis).
    """
    i_tid, i_cid, i_ts = idx["transaction_id"], idx["customer_id"], idx["timestamp"]
    i_amt, i_cty, i_chan = idx["amount"], idx["country"], idx["channel"]
    i_dev, i_cat, i_ip = idx["device"], idx["merchant_category"], idx["ip"]
    i_lab, i_typ = idx.get("is_anomaly"), idx.get("anomaly_type")
    fromiso, lo, hi, limit = datetime.fromisoformat, MIN_TIMESTAMP, MAX_TIMESTAMP, AMOUNT_LIMIT
    shaped = RFC3339.fullmatch
    # All text fields together no longer than the smallest limit: none is over its own.
    shortest = min(TEXT_LIMITS.values())

    def parse(row: list[str]) -> dict[str, Any]:
        tid, cid, country = row[i_tid].strip(), row[i_cid].strip(), row[i_cty].strip()
        channel, device = row[i_chan].strip(), row[i_dev].strip()
        category, ip = row[i_cat].strip(), row[i_ip].strip()
        kind = row[i_typ].strip() if i_typ is not None else ""
        texts = "".join((tid, cid, country, channel, device, category, ip, kind))
        if len(texts) > shortest or not texts.isprintable():  # rare: look field by field
            fields = {"transaction_id": tid, "customer_id": cid, "country": country,
                      "channel": channel, "device": device, "merchant_category": category,
                      "ip": ip, "anomaly_type": kind}
            _too_long(fields)
            for name, text in fields.items():
                _control(name, text)
        if not (tid and cid and country):
            name = "transaction_id" if not tid else "customer_id" if not cid else "country"
            raise ValueError(f"{name}: missing")
        text = row[i_ts]
        try:
            ts = fromiso(t) if shaped(t := text.strip()) else None
        except ValueError:
            ts = None
        if ts is None or ts.tzinfo is not None or not lo <= ts < hi:
            try:
                ts = parse_timestamp(text)
            except ValueError as exc:
                raise ValueError(f"timestamp: {exc}") from None
        text = row[i_amt]
        try:
            amount = float(text)
        except ValueError:
            amount = math.nan
        if not (-limit < amount < limit and text.isascii() and "_" not in text):
            try:
                amount = parse_amount(text)
            except ValueError as exc:
                raise ValueError(f"amount: {exc}") from None
        if unnamed:
            _unnamed(row, unnamed)
        return {
            "schema_version": SCHEMA_VERSION,
            "transaction_id": tid,
            "customer_id": cid,
            "timestamp": ts,
            "amount": amount,
            "country": country,
            "channel": channel,
            "device": device,
            "merchant_category": category,
            "ip": ip,
            "is_anomaly": None if i_lab is None else (
                _KNOWN_BOOL[lab] if (lab := row[i_lab]) in _KNOWN_BOOL else _parse_bool(lab)),
            "anomaly_type": kind or None,
            "attributes": _attributes(row, extras) if extras else {},
        }

    return parse


class SeenIds:
    """The `transaction_id`s accepted so far and where each was first (one per invocation).

    Memory: one dict entry per accepted row, about 125 bytes with a short id.
    """

    def __init__(self) -> None:
        self._first: dict[str, int] = {}  # id -> code(read, line) of its first good row
        self._names: list[str] = []
        #: `first(id, code)`: the code stored for `id`, storing `code` if there is none.
        self.first = self._first.setdefault

    def start(self, source: str) -> int:
        """A number for one read of `source` (the same file given twice is two reads)."""
        self._names.append(source)
        return len(self._names) - 1

    def add(self, transaction_id: str, read: int, line: int) -> str | None:
        """Record a good row's id; if it was seen before, the rejection reason instead."""
        code = line << 20 | read
        first = self.first(transaction_id, code)
        return None if first == code else self.reason(transaction_id, first, read)

    def reason(self, transaction_id: str, first: int, read: int) -> str:
        """Why a row whose id was first seen at `first` (a code) is rejected."""
        first_line, first_read = first >> 20, first & 0xFFFFF
        where = f"line {first_line}"
        if first_read != read:
            where += f" of {self._names[first_read]}"
        return f"duplicate transaction_id {quote(transaction_id)} (first at {where})"
