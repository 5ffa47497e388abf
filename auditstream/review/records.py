"""Rows in, reviews or line-numbered rejects out (pure: no files, no Kafka).

A row is a mapping of lower-case column names to text, with the line (CSV) or row (Excel)
it came from. The id column says what is reviewed: `case_id` (the cases file, the main
path) or else `transaction_id` (the audit sample). A row with an empty `outcome` is skipped,
not an error (an auditor fills in only the cases they reviewed); an unknown outcome, a
missing or unknown id, a bad `reviewed_at` or a field over its limit rejects that row alone.
A row that repeats the review the exports show for its id is not published again, and one
older than it is rejected (`against_exports`).
"""

from __future__ import annotations

import marshal
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pydantic import ValidationError

from shared.codec import describe_validation_error
from shared.csv_encoding import separator_hint
from shared.csv_io import RowError
from shared.reviews import OUTCOMES, Review
from shared.schemas import parse_timestamp, quote, unguarded

#: id column -> target, in order of preference.
ID_COLUMNS: tuple[tuple[str, str], ...] = (("case_id", "case"), ("transaction_id", "transaction"))
#: The columns a review is read from.
READ_COLUMNS = frozenset({"outcome", "reviewer", "reviewed_at", "note",
                          *(c for c, _ in ID_COLUMNS)})
#: A row the reader could not split into cells carries only this key: the reason.
ERROR_KEY = "\x00error"
#: How far after the import a `reviewed_at` may be: a local time written without its zone
#: (read as UTC) is up to 14 hours ahead; a date past that is a typo (2062 for 2026).
FUTURE_SLACK = timedelta(days=1)


class Packed:
    """A decided row's cells held until the file is read, in case it is rejected later
    (an id given two outcomes, a row older than the exports): its column names, shared with
    the rows before it, and its texts as one `marshal` string, exact for any text. About
    0.3 KB for a row of cases.csv; its dict of cells took 1.7 KB."""

    __slots__ = ("names", "texts")

    def __init__(self, cells: Mapping[str, str], names: dict[tuple[str, ...], tuple[str, ...]]
                 ) -> None:
        keys = tuple(cells)
        self.names = names.setdefault(keys, keys)
        self.texts = marshal.dumps(tuple(cells.values()))

    def cells(self) -> dict[str, str]:
        return dict(zip(self.names, marshal.loads(self.texts), strict=True))


class HeaderError(ValueError):
    """The header lacks the id or the outcome column (the whole file is unusable)."""


@dataclass(frozen=True)
class Layout:
    """What a file's header says: the target and the column holding its id."""

    target: str
    id_column: str


@dataclass(frozen=True)
class Exported:
    """An id as the exports show it now (cases.csv, audit_sample.csv): its current review
    (`outcome` empty: none), what a row of a file made from them echoes until someone edits
    it, and a case's extent (`transactions`, `last_time`; empty for a transaction)."""

    outcome: str
    reviewer: str = ""
    reviewed_at: datetime | None = None
    note: str = ""
    transactions: str = ""
    last_time: str = ""


@dataclass
class ImportResult:
    """Reviews to publish (in file order), rejected rows, rows without an outcome, and rows
    saying what the exports already show (`unchanged`, not published again)."""

    target: str
    reviews: list[Review] = field(default_factory=list)
    rejected: list[RowError] = field(default_factory=list)
    skipped: int = 0
    unchanged: int = 0

    def outcomes(self) -> Counter[str]:
        return Counter(r.outcome for r in self.reviews)


def normalise_header(header: Sequence[str]) -> list[str]:
    return [h.strip().lstrip("\ufeff").strip().lower() for h in header]


def layout_of(header: Sequence[str], target: str | None = None) -> Layout:
    """The layout of a normalised header; `target` forces `case` or `transaction`."""
    names = set(header)
    # A row keeps one cell per name: of two `outcome` columns (cases.csv's and one the
    # auditor added) only the last would be read, the filled one dropped without a word.
    twice = sorted(n for n in names & READ_COLUMNS if header.count(n) > 1)
    if twice:
        named = ", ".join(f"`{n}`" for n in twice)
        raise HeaderError(f"more than one column named {named} (names are compared without "
                          "case or surrounding spaces); keep one of each")
    if "outcome" not in names:
        raise HeaderError("no `outcome` column (fill one in with confirmed, dismissed or "
                          "unclear per reviewed row)" + separator_hint(header, ["outcome"]))
    for column, kind in ID_COLUMNS:
        if (target is None or target == kind) and column in names:
            return Layout(kind, column)
    wanted = " or ".join(c for c, k in ID_COLUMNS if target is None or k == target)
    raise HeaderError(f"no `{wanted}` column naming what was reviewed")



def parse_time(text: str) -> datetime:
    """`reviewed_at` by the event times' rule (RFC 3339, years 1970-2100); a time without a
    zone is taken as UTC. `fromisoformat` alone took week dates (2026-W05-1), the basic
    format, a date alone and year 9999 (whose move to UTC overflowed)."""
    t = text.strip()
    try:
        datetime.fromisoformat(t)
    except ValueError:
        raise ValueError(f"{quote(t)} is not a date-time (expected ISO 8601, "
                         "e.g. 2025-01-31T14:05:00Z)") from None
    return parse_timestamp(t).replace(tzinfo=UTC)


def parse_rows(
    rows: Iterable[tuple[int, Mapping[str, str]]],
    layout: Layout,
    *,
    reviewer: str,
    now: datetime,
    known: set[str] | None = None,
    known_where: str = "the exports",
    exported: Mapping[str, Exported] | None = None,
    source: str = "",
    unit: str = "line",
) -> ImportResult:
    """Validate every row; each bad one becomes a `RowError` and nothing else is lost.

    `reviewer` and `now` stand in for an empty `reviewer` / `reviewed_at` cell; `known`,
    when given, is every valid id (`known_where` names where they came from); `exported`,
    each id's review the exports show (`against_exports`); `unit` is what a row's number
    counts (`line` of a CSV file, `row` of a sheet).
    """
    result = ImportResult(layout.target)
    origins: list[tuple[int, Packed]] = []  # each review's line and cells
    names: dict[tuple[str, ...], tuple[str, ...]] = {}  # the rows' column names, held once
    numbers = None if known is None else _Numbers(known)
    for line, cells in rows:
        if ERROR_KEY in cells:
            raw = {k: v for k, v in cells.items() if k != ERROR_KEY}
            result.rejected.append(RowError(line, cells[ERROR_KEY], raw, source))
            continue
        outcome = cells.get("outcome", "").strip().lower()
        if not outcome:
            result.skipped += 1
            continue
        ident = unguarded(cells.get(layout.id_column, "").strip())
        reason = _check(ident, outcome, layout, known, known_where, numbers)
        if reason is None:
            try:
                review = _review(cells, layout, ident, outcome, reviewer, now)
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                reason = (describe_validation_error(exc) if isinstance(exc, ValidationError)
                          else f"reviewed_at: {exc}")
            else:
                result.reviews.append(review)
                origins.append((line, Packed(cells, names)))
                continue
        result.rejected.append(RowError(line, reason, dict(cells), source))
    origins = _reject_conflicts(result, origins, layout, source, unit)
    if exported:
        against_exports(result, origins, exported, reviewer, now, known_where, source)
    return result


def against_exports(result: ImportResult, origins: list[tuple[int, Packed]],
                    exported: Mapping[str, Exported], reviewer: str, now: datetime,
                    known_where: str, source: str) -> None:
    """Compare each review with the one the exports show for its id, as a file made from
    the exports repeats it in the row's `outcome`, `reviewer`, `reviewed_at` and `note`:

    - the same outcome, note and reviewer: unchanged, not published again (a file imported
      twice, or a new export re-imported, added a line per row to reviews_log.csv);
    - otherwise, with the exported review's own `reviewed_at` left in the row: an edit of
      that row, a new decision stamped `now` by `reviewer` (or the reviewer cell, if it
      was changed); it was published under the earlier reviewer and time;
    - with an earlier `reviewed_at` (a row of an older export, decided again since):
      rejected, since publishing it would replace the later decision;
    - a later one, or none: published as read.
    """
    kept = []
    for review, (line, packed) in zip(result.reviews, origins, strict=True):
        cur = exported.get(review.id)
        if cur is None:
            kept.append(review)
            continue
        if (review.outcome, review.note, review.reviewer) == (cur.outcome, cur.note,
                                                              cur.reviewer):
            result.unchanged += 1
            continue
        raw = packed.cells()
        stamp = raw.get("reviewed_at", "").strip()
        if (stamp and cur.reviewed_at is not None and review.reviewed_at == cur.reviewed_at
                and review.outcome == cur.outcome and _lossy(review.reviewer, cur.reviewer)):
            # the exports' decision re-read, as a spreadsheet saved it
            if _same_value(review.note, cur.note) or _lossy(review.note, cur.note):
                result.unchanged += 1
                continue
            if _VALUE_LIKE.fullmatch(cur.note.strip()):
                result.rejected.append(RowError(line, (
                    f"note: {quote(review.note)} is not the note {known_where} shows for "
                    f"{quote(review.id)} ({quote(cur.note)}, {cur.outcome} by "
                    f"{quote(cur.reviewer)} at {_iso(cur.reviewed_at)}), as a spreadsheet "
                    "rewrites a note it reads as a number or a date: not published; type the "
                    "note again as text, or clear reviewed_at to record this row as a new "
                    "decision"), raw, source))
                continue
        if (changed := _extent_changed(raw, cur)) is not None:
            result.rejected.append(RowError(line, (
                f"{quote(review.id)}: this case is not the one the file shows any more "
                f"({changed} in {known_where}; a newer run or new transactions regrouped it): "
                "not published; review it again from the current cases.csv, or clear this "
                "row's transactions and last_time cells to publish the outcome anyway"),
                raw, source))
            continue
        if cur.reviewed_at is None:
            kept.append(review)
            continue
        if stamp and review.reviewed_at == cur.reviewed_at:
            cell = unguarded(raw.get("reviewer", "").strip())
            who = cell if cell and cell != cur.reviewer else reviewer
            review = review.model_copy(update={"reviewer": who, "reviewed_at": now})
        elif stamp and review.reviewed_at < cur.reviewed_at:
            result.rejected.append(RowError(line, (
                f"reviewed_at: {quote(stamp)} is older than the review {known_where} shows "
                f"for {quote(review.id)} ({cur.outcome} by {quote(cur.reviewer)} at "
                f"{_iso(cur.reviewed_at)}): not published, it would replace that later "
                "decision; clear reviewed_at to record this outcome as a new one"),
                raw, source))
            continue
        kept.append(review)
    result.reviews = kept
    result.rejected.sort(key=lambda e: e.line)


#: A note a spreadsheet reads as a value and writes back in its own format (`0042` as `42`,
#: `1e5` as `1.00E+05`, `3/4` as `03/04/26`, `2026-12-01` as `12/1/2026`, `true` as `TRUE`).
_VALUE_LIKE = re.compile(r"[+-]?[\d.,]+(e[+-]?\d+)?%?|\d{1,4}[-/.]\d{1,2}([-/.]\d{1,4})?"
                         r"([ T]\d{1,2}:\d{2}(:\d{2})?)?|\d{1,2}:\d{2}(:\d{2})?|true|false",
                         re.IGNORECASE)


def _lossy(read: str, exported: str) -> bool:
    """Whether `read` is `exported` saved in Windows-1252 (Excel's "CSV (Comma delimited)"),
    each character it lacks written as another (`?`): `?ukasz` for `Łukasz`. A character
    outside the BMP (an emoji; a flag is two, a ZWJ sequence five) is `?`, or `??` where
    each UTF-16 unit is written (one way throughout); a combining sequence may come back
    composed (`e` + U+0301 as `é`). Any other difference is an edit. (Before 2026-12-07
    only one character for one: `??` for an emoji was an edit, published again as the
    importer's decision.)"""
    if read == exported:
        return True
    composed = unicodedata.normalize("NFC", exported)
    return any(_written_1252(read, e, units) for e in {exported, composed} for units in (1, 2))


def _written_1252(read: str, exported: str, units: int) -> bool:
    """`_lossy` for one form of `exported`, each character outside the BMP written as
    `units` `?` (a writer does one or the other throughout)."""
    i = 0
    for char in exported:
        if _in_1252(char):
            if read[i:i + 1] != char:
                return False
            i += 1
        elif ord(char) <= 0xFFFF:  # any one: `?`, or a "best fit" (`L` for `Ł`)
            if i >= len(read):
                return False
            i += 1
        elif read[i:i + units] == "?" * units:  # no best fit outside the BMP
            i += units
        else:
            return False
    return i == len(read)


def _in_1252(char: str) -> bool:
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def _same_value(note: str, exported: str) -> bool:
    """Whether a note read back from a spreadsheet is the exported one: the same text, or
    the same number or truth value in the spreadsheet's own format."""
    if note == exported:
        return True
    a, b = note.strip().lower(), exported.strip().lower()
    if a in ("true", "false") or b in ("true", "false"):
        return a == b
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def _extent_changed(raw: Mapping[str, str], cur: Exported) -> str | None:
    """How a case's extent in the row (`transactions`, `last_time`, as cases.csv wrote
    them when the file was made) differs from the exports' now; None if it does not, or
    if the row or the exports do not say (a time that does not read is not compared)."""
    said = raw.get("transactions", "").strip(), raw.get("last_time", "").strip()
    if not all(said) or not cur.transactions or not cur.last_time:
        return None
    try:
        same_end = parse_time(said[1]) == parse_time(cur.last_time)
    except ValueError:  # a spreadsheet's own date format (`18/01/2025 14:46`): the count only
        same_end = True
    if _count(said[0]) == _count(cur.transactions) and same_end:
        return None
    return (f"{said[0]} transactions to {said[1]} in the file, {cur.transactions} to "
            f"{cur.last_time}")


def _count(text: str) -> str:
    """A count as Excel may give it back (`4.0`)."""
    return text[:-2] if text.endswith(".0") else text


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _reject_conflicts(result: ImportResult, origins: list[tuple[int, Packed]],
                      layout: Layout, source: str, unit: str) -> list[tuple[int, Packed]]:
    """Rows giving one id two different outcomes are all rejected, each naming the others:
    the file does not say which was meant (published in order, the later won unsaid).
    Return the origins of the reviews kept."""
    lines: dict[str, dict[str, list[int]]] = {}
    for review, (line, _raw) in zip(result.reviews, origins, strict=True):
        lines.setdefault(review.id, {}).setdefault(review.outcome, []).append(line)
    torn = {ident for ident, by in lines.items() if len(by) > 1}
    if not torn:
        return origins
    kept, origins_kept = [], []
    for review, (line, packed) in zip(result.reviews, origins, strict=True):
        if review.id not in torn:
            kept.append(review)
            origins_kept.append((line, packed))
            continue
        said = "; ".join(f"{o} on {unit}{'s' if len(n) > 1 else ''} {', '.join(map(str, n))}"
                         for o, n in lines[review.id].items())
        result.rejected.append(RowError(
            line, f"{layout.id_column}: {quote(review.id)} is given "
            f"{('two', 'three')[len(lines[review.id]) - 2]} outcomes in this "
            f"file ({said}): keep the one meant", packed.cells(), source))
    result.reviews = kept
    result.rejected.sort(key=lambda e: e.line)
    return origins_kept


#: How a spreadsheet writes a number it read from an id cell: no leading zero, an upper-case
#: exponent (`0042` as `42`, `1e5` as `100000` or `1.00E+05`; an .xlsx number cell reads so).
_SPREADSHEET_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?(E[+-][0-9]+)?")
#: An id that reads as a number (as a spreadsheet reads a cell): ASCII digits (`re`'s `\d`
#: took `٤٢`, Arabic-Indic digits, for 42, and so refused transaction `42` beside it).
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _value(text: str) -> Decimal | None:
    """An id's value as a number (`0042`, `42.0` and `4.2E+01` alike), None if it is none."""
    if _NUMBER.fullmatch(text) is None:
        return None
    try:
        return Decimal(text)
    except (ArithmeticError, ValueError):
        return None


#: The significant digits a spreadsheet keeps of a number (Excel's 15: `1000000000000013`
#: is held, and in a column formatted as Number saved, as `1000000000000010`).
_KEPT_DIGITS = 15


def _kept(value: Decimal) -> set[Decimal]:
    """The values a spreadsheet may hold for `value`: itself, and where it has more than
    `_KEPT_DIGITS` significant digits, those digits truncated (Excel) or rounded. Made from
    the digits, not by Decimal arithmetic, whose context an id such as `1E+999999` (any
    text in the exports) overflows."""
    sign, digits, exponent = value.as_tuple()
    kept = list(digits)
    while len(kept) > 1 and kept[-1] == 0:
        kept.pop()
    if len(kept) <= _KEPT_DIGITS or not isinstance(exponent, int):
        return {value}
    exponent += len(kept) - _KEPT_DIGITS
    head = int("".join(map(str, kept[:_KEPT_DIGITS])))
    up = head + (kept[_KEPT_DIGITS] >= 5)
    return {value, *(Decimal((sign, tuple(map(int, str(n))), exponent)) for n in (head, up))}


class _Numbers:
    """The known ids that read as numbers, by value, and by the values a spreadsheet keeps
    of them (`_kept`): indexed once, at the first id of a file that a spreadsheet may have
    rewritten."""

    def __init__(self, known: set[str]) -> None:
        self._known = known
        self._by: dict[Decimal, list[str]] | None = None

    def others(self, ident: str) -> list[str]:
        """The known ids other than `ident` of its value, or holding it as a spreadsheet
        keeps their 15 digits (`...013` as `...010`), when `ident` is written as a
        spreadsheet writes a number (an id it read as one and saved as such)."""
        if _SPREADSHEET_NUMBER.fullmatch(ident) is None or (value := _value(ident)) is None:
            return []
        if self._by is None:
            self._by = {}
            for k in self._known:
                if (v := _value(k)) is not None:
                    for kept in _kept(v):
                        self._by.setdefault(kept, []).append(k)
        return sorted(k for k in self._by.get(value, ()) if k != ident)


def _check(ident: str, outcome: str, layout: Layout, known: set[str] | None,
           known_where: str, numbers: _Numbers | None = None) -> str | None:
    if outcome not in OUTCOMES:
        return f"outcome: {quote(outcome)} is not one of {', '.join(OUTCOMES)}"
    if not ident:
        return f"{layout.id_column}: missing"
    if numbers is not None and (others := numbers.others(ident)):
        # `0042` saved as `42`: where the exports also list `42`, the decision went to it
        named = ", ".join(map(quote, others[:3])) + (" ..." if len(others) > 3 else "")
        return (f"{layout.id_column}: {quote(ident)} reads as a number, and {known_where} "
                f"lists {named} of that value as a number: a spreadsheet saves an id it read "
                "as a number without its leading zeros, in its own format or with 15 of its "
                "digits (`0042` as `42`, `1e5` as `1.00E+05`, `1000000000000013` as "
                "`1000000000000010`), so this row may mean another "
                f"{layout.target}: not published; format the id column as Text and paste "
                "the ids from the exports again")
    if known is not None and ident not in known:
        return f"{layout.id_column}: {quote(ident)} is not a known {layout.target} in {known_where}"
    return None


def _review(cells: Mapping[str, str], layout: Layout, ident: str, outcome: str,
            reviewer: str, now: datetime) -> Review:
    when = cells.get("reviewed_at", "").strip()
    at = parse_time(when) if when else now
    if at > now + FUTURE_SLACK:
        raise ValueError(f"{quote(when)} is after the time of this import ({_iso(now)}, "
                         "with a day's slack for a time zone): a decision is recorded after "
                         "it is made; check the date")
    return Review.model_validate({
        "target": layout.target,
        "id": ident,
        "outcome": outcome,
        "reviewer": unguarded(cells.get("reviewer", "").strip()) or reviewer,
        "reviewed_at": at,
        "note": unguarded(cells.get("note", "")),
    })
