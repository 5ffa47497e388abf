"""CSV cells people open: ISO-8601 times, `.` decimals, True/False, empty for unknown.

Text cells that a spreadsheet would run as a formula (first character `=`, `+`, `-`, `@`,
tab or carriage return) get a leading `'`, which Excel and LibreOffice show as plain text.
A cell that is a plain signed decimal number (`-5`, `+1.25`) is left alone: it is not a
formula, and identifiers like that must keep joining.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np

from shared.schemas import ScoredTransaction
from sink.columns import RULE_NAMES, SCORED_COLUMNS

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?\Z")
REASON_SEP = " | "
RULE_SEP = ";"


def text(value: str | None) -> str:
    """A text cell, neutralised against spreadsheet formula injection; None is empty."""
    if not value:
        return ""
    if value[0] in FORMULA_PREFIXES and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def number(value: float | int | None) -> str:
    """Shortest text that reads back as the same float, never in exponent notation."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return ""
    out = repr(value)
    if "e" in out:
        out = np.format_float_positional(value, trim="-")
    return out


_BOOL = {True: "True", False: "False", None: ""}


def boolean(value: bool | None) -> str:
    return _BOOL[value]


def timestamp(value: datetime | None) -> str:
    return "" if value is None else value.isoformat()


def ratio(num: int, den: int) -> float | None:
    """num / den, or None (unknown) when den is 0."""
    return num / den if den else None


def scored_cells(tx: ScoredTransaction) -> list[str]:
    """One `transactions_scored.csv` row, in `SCORED_COLUMNS` order."""
    flags, b = tx.rule_flags, _BOOL
    rules = [b[flags.get(name)] for name in RULE_NAMES]
    return [
        text(tx.transaction_id),
        text(tx.customer_id),
        tx.timestamp.isoformat(),
        number(tx.amount),
        text(tx.country),
        text(tx.channel),
        text(tx.device),
        text(tx.merchant_category),
        text(tx.ip),
        b[tx.is_anomaly],
        text(tx.anomaly_type),
        number(tx.score),
        number(tx.model_score),
        b[tx.is_ml_flag],
        *rules,
        b[tx.is_rule_flag],
        b[tx.is_flag],
        text(REASON_SEP.join(tx.reasons_top3)),
        text(RULE_SEP.join(tx.triggered_rules)),
        text(tx.model_version),
        number(tx.source_partition),
        number(tx.source_offset),
    ]


def encode_rows(rows: Iterable[Sequence[str]], header: Sequence[str] | None = None) -> bytes:
    """RFC 4180 CSV (minimal quoting, `\\n` line ends) as UTF-8 bytes.

    Byte for byte what `csv.writer` writes; rows with nothing to quote (nearly all) are
    joined directly, which is several times faster than the csv module.
    """
    lines: list[str] = []
    if header is not None:
        lines.append(_line(header))
    for row in rows:
        line = ",".join(row)
        if (len(row) < 2 or line.count(",") != len(row) - 1 or '"' in line or "\n" in line
                or "\r" in line):
            line = _line(row)
        lines.append(line)
    if not lines:
        return b""
    lines.append("")
    return "\n".join(lines).encode("utf-8")


def _line(row: Sequence[str]) -> str:
    # "\r\n" as the writer's line end makes it quote a field holding a lone "\r" too (with
    # "\n" it would not, and a reader would split the row there); "\n" ends the line.
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(row)
    return buf.getvalue()[:-2]


SCORED_HEADER: bytes = encode_rows([], SCORED_COLUMNS)
