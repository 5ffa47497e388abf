"""CSV cells people open: ISO-8601 times, `.` decimals, True/False, empty for unknown.

Text cells that a spreadsheet would run as a formula (first character `=`, `+`, `-`, `@`,
tab or carriage return, or a full-width form of the first four: `shared.schemas.FORMULA_START`)
get a leading `'`, which Excel and LibreOffice show as plain text.
A cell that is a plain signed decimal number (`-5`, `+1.25`) is left alone: it is not a
formula, and identifiers like that must keep joining.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from msgspec.structs import astuple

from shared.columns import (
    LIST_SEPARATORS,
    RULE_NAMES,
    SCORED_COLUMNS,
    SCORED_ROW,
    VERDICT_FIELDS,
    Field,
)
from shared.fastcodec import ScoredRecord
from shared.schemas import FORMULA_START, ScoredTransaction

FORMULA_PREFIXES = FORMULA_START
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?\Z")


def text(value: str | None) -> str:
    """A text cell, neutralised against spreadsheet formula injection; None is empty."""
    if not value:
        return ""
    if value[0] in FORMULA_PREFIXES and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def number(value: float | int | None) -> str:
    """Shortest text that reads back as the same float, never in exponent notation; a
    negative zero as the zero it equals (`value + 0.0` is `value`, bit for bit, but for it)."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return ""
    value += 0.0
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


#: How each kind of `SCORED_ROW` field becomes its cell, an expression over `{v}`, a local
#: holding the value (`{r}`: a spare local): the common case written out, the function
#: above for the rest, the same text as the function alone (a call a cell was most of the
#: cost). Text: unchanged unless empty or starting with a formula's character. Number: a
#: finite float's `repr` unless in exponent notation (`v - v` is 0.0 only when finite;
#: `v + 0.0` writes -0.0 as 0.0); None (unknown) empty.
_CELL_OF_KIND: dict[str, str] = {
    "text": "{v} if {v} and {v}[0] not in _PREFIXES else text({v})",
    "time": "'' if {v} is None else {v}.isoformat()",
    "number": ("{r} if type({v}) is float and {v} - {v} == 0.0 and 'e' not in "
               "({r} := repr({v} + 0.0)) else '' if {v} is None else number({v})"),
    "int": "str({v}) if type({v}) is int else '' if {v} is None else number({v})",
    "bool": "_BOOL[{v}]",
}


def _cells_source(row: Sequence[Field], verdict: Collection[str] = (),
                  fields: Sequence[str] = ()) -> str:
    """Source of a function formatting one scored row's cells, written out field by field
    (as fast as a hand-written list, and derived from the declaration): `scored_cells(tx)`,
    or with `verdict` (field names) `verdict_cells(d, w)`, those fields read from `w`'s
    attributes and the others from the dict `d`, or with `fields` (a record's field names,
    in order) `record_cells(rec)`, the values unpacked from `_astuple(rec)` at once."""
    reads: list[str] = []
    cells: list[str] = []
    for i, f in enumerate(row):
        v = f"v{i}"
        value = (f"f_{f.name}" if fields else f"w.{f.name}" if f.name in verdict
                 else f"d[{f.name!r}]")
        if f.kind == "flags":
            reads.append(f"{v} = {value}.get")
            cells += [f"_BOOL[{v}({name!r})]" for name in RULE_NAMES]
            continue
        if f.kind == "list":
            reads.append(f"{v} = {LIST_SEPARATORS[f.name]!r}.join({value})")
            kind = "text"
        else:
            reads.append(f"{v} = {value}")
            kind = f.kind
        cells.append("(" + _CELL_OF_KIND[kind].format(v=v, r=f"r{i}") + ")")
    body = ",\n        ".join(cells)
    lines = "\n    ".join(reads)
    if fields:
        head = f"record_cells(rec):\n    {', '.join(f'f_{n}' for n in fields)}, = _astuple(rec)"
    elif verdict:
        head = "verdict_cells(d, w):"
    else:
        head = "scored_cells(tx):\n    d = tx.__dict__"
    return f"def {head}\n    {lines}\n    return [\n        {body},\n    ]\n"


def _compile_cells(row: Sequence[Field], verdict: Collection[str] = (),
                   fields: Sequence[str] = ()) -> Any:
    scope: dict[str, Any] = {"text": text, "number": number, "_astuple": astuple,
                             "_BOOL": _BOOL, "_PREFIXES": frozenset(FORMULA_PREFIXES)}
    name = "record_cells" if fields else "verdict_cells" if verdict else "scored_cells"
    exec(compile(_cells_source(row, verdict, fields), f"<{name} of {__name__}>", "exec"),
         scope)
    return scope[name]


scored_cells: Callable[[ScoredTransaction], list[str]] = _compile_cells(SCORED_ROW)
scored_cells.__doc__ = "One scored CSV row, in `SCORED_COLUMNS` order (from `SCORED_ROW`)."
verdict_cells: Callable[[dict[str, Any], Any], list[str]] = _compile_cells(
    SCORED_ROW, VERDICT_FIELDS)
verdict_cells.__doc__ = """`scored_cells` of the row an input's field dict `d` and its verdict
`w` (`detector.core.verdict.Verdict`) make, without making it (`auditstream score`)."""
record_cells: Callable[[Any], list[str]] = _compile_cells(
    SCORED_ROW, fields=ScoredRecord.__struct_fields__)
record_cells.__doc__ = """`scored_cells` of a `shared.fastcodec.ScoredRecord` (the sink's
fast decoder's row): the same cells for the same values."""


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
