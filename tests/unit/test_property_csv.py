"""Properties of the CSV reader: the fast row parser accepts exactly what `Transaction`
validation accepts (for any cell text) and gives the same transaction and the same JSON;
any file content gives rows or `RowError`s with line numbers, never another exception."""

from __future__ import annotations

import csv
import io
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.codec import encode
from shared.csv_io import CsvFormatError, RowError, iter_csv, iter_records, load_sorted
from shared.csv_rows import row_parser
from shared.schemas import CSV_FIELDS, TEXT_LIMITS, Transaction

PROPERTY = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
EXTRAS = ("note", "Branch Code")
NAMES = (*CSV_FIELDS, *EXTRAS)
IDX = {n: i for i, n in enumerate(CSV_FIELDS)}
PARSE = row_parser(IDX, [(n, len(CSV_FIELDS) + i) for i, n in enumerate(EXTRAS)])

pad = st.sampled_from(["", " ", "\t", "\u00a0", "\u3000", "\x1c", "\n", "\x85", "\u2028"])
# Characters the rule refuses (`CONTROL_RULE`, each range at both ends), their neighbours,
# and tab, LF, CR, NEXT LINE, U+2028/U+2029 and the separators U+001C-U+001F (whitespace to
# Python: stripped from a cell's edges).
control = st.sampled_from(["\x00", "\x01", "\t", "\n", "\r", "\x1b", "\x1c", "\x1f",
                           "\x7f", "\x80", "\x85", "\x9f", "\u2028", "\u2029", "\u202a",
                           "\u202e", "\u2066", "\u2069", " ", "~", "\xa0", "\u2027",
                           "\u202f", "\u2065", "\u206a"])
padded = st.builds(lambda a, s, b: a + s + b, pad, st.text(max_size=12), pad) | st.builds(
    lambda a, x, c, y, b: a + x + c + y + b, pad, st.text(max_size=3), control,
    st.text(max_size=3), pad)


def _zone(minutes: int) -> str:
    return f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _long(limit: int) -> st.SearchStrategy[str]:
    return st.integers(limit - 1, limit + 1).map(lambda n: "x" * n) | st.builds(
        lambda a, n: a + "y" * n, pad, st.integers(limit - 1, limit + 1))


timestamps = st.one_of(
    padded,
    st.builds(lambda d, z, sep: d.isoformat(sep=sep) + z,
              st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
              st.sampled_from(["", "Z", "+00:00"]) | st.integers(-1439, 1439).map(_zone),
              st.sampled_from(["T", " ", "x"])),
    # a fraction of any length (7 digits: .NET), truncated to the microsecond
    st.builds(lambda d, f, z: d.isoformat(sep=" ", timespec="seconds") + "." + f + z,
              st.datetimes(min_value=datetime(1969, 12, 31), max_value=datetime(2101, 1, 1)),
              st.text("0123456789", min_size=1, max_size=12),
              st.sampled_from(["", "Z", "+01:00", "-00:30"])),
    st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
                     "1969-12-31 23:59:59.999999", "1970-01-01 00:00:00", "2101-01-01",
                     "2100-12-31 23:59:59", "20250102T100000", "2025-W01-1", "1700000000"]),
)
number_words = st.sampled_from(
    ["1_000", "1,5", "1e308", "-1e308", "1e12", "-1e12", "999999999999.99", "nan", "-inf",
     "Infinity", "1e999", "0x1p3", ".5", "5.", "+1E-2", "١٢", "\uff11\uff12", "1 000", "",
     " ", "-0", "1" * 30, "00012.50", "e5", "."])
amounts = st.one_of(
    padded, number_words,
    st.floats(allow_nan=True).map(repr), st.integers(-10**15, 10**15).map(str),
    st.builds(lambda a, b: f"{a}_{b}", st.integers(0, 999), st.integers(0, 999)),
    st.builds(lambda p, n, s: p + n + s, pad, number_words | st.floats().map(str), pad),
)
labels = st.one_of(
    padded,
    st.sampled_from(["True", "False", "", "true", "FALSE", "yes", "No", "Y", "n", "t", "F",
                     "on", "OFF", "1", "0", "1.0", "2", "maybe", " True ", "tRuE",
                     "\uff34\uff32\uff35\uff25"]),
)


def _text(field: str) -> st.SearchStrategy[str]:
    return padded | _long(TEXT_LIMITS[field]) | st.sampled_from(["", " ", "ok"])


ROWS = st.fixed_dictionaries({
    **{f: _text(f) for f in TEXT_LIMITS},
    "timestamp": timestamps, "amount": amounts, "is_anomaly": labels,
    "note": padded | _long(256), "Branch Code": padded,
}).map(lambda cells: [cells[n] for n in NAMES])


def _reference(row: list[str]) -> Transaction | None:
    """The row as the documented CSV conventions hand it to the schema: cells stripped,
    blank labels unknown (None), extra columns as attributes, unchanged."""
    cells = dict(zip(NAMES, row, strict=True))
    fields: dict[str, Any] = {f: cells[f].strip() for f in CSV_FIELDS}
    fields["is_anomaly"] = fields["is_anomaly"] or None
    fields["anomaly_type"] = fields["anomaly_type"] or None
    fields["attributes"] = {n: cells[n] for n in EXTRAS}
    try:
        return Transaction.model_validate(fields)
    except ValidationError:
        return None


@PROPERTY
@given(ROWS)
def test_fast_parser_agrees_with_the_schema_on_any_cells(row: list[str]) -> None:
    expected = _reference(row)
    try:
        fields = PARSE(row)
    except ValueError as exc:
        assert expected is None, f"fast path rejected a valid row: {exc}"
        return
    assert expected is not None, f"fast path accepted an invalid row: {fields}"
    assert list(fields) == list(Transaction.model_fields)
    assert Transaction.model_validate(fields) == expected
    assert orjson.dumps(fields) == encode(expected)  # what replay sends


def _csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(NAMES)
    writer.writerows(rows)
    return out.getvalue()


@PROPERTY
@given(st.lists(ROWS, min_size=1, max_size=4))
def test_the_reader_agrees_with_the_schema_row_by_row(rows: list[list[str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.csv"
        path.write_text(_csv_text(rows), encoding="utf-8", newline="")
        slow, fast = list(iter_csv(path)), list(iter_records(path))
    seen: set[str] = set()
    for row, s, f in zip(rows, slow, fast, strict=True):
        expected = _reference(row)
        if expected is not None and expected.transaction_id in seen:
            expected = None  # a repeated id is a reject
        if expected is None:
            assert isinstance(s, RowError) and isinstance(f, RowError)
            continue
        seen.add(expected.transaction_id)
        assert not isinstance(s, RowError) and not isinstance(f, RowError)
        assert s[1] == expected and Transaction.model_validate(f[1]) == expected


HEADER = ",".join(CSV_FIELDS).encode()


@PROPERTY
@given(st.binary(max_size=400), st.booleans(), st.sampled_from(["utf-8", "cp1252"]))
def test_any_file_content_gives_rows_or_line_numbered_rejects(
    data: bytes, with_header: bool, _enc: str
) -> None:
    content = (HEADER + b"\n" + data) if with_header else data
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.csv"
        path.write_bytes(content)
        for read in (iter_csv, iter_records):
            try:
                items = list(read(path))
            except CsvFormatError as exc:
                assert str(exc)
                continue
            lines = [i.line if isinstance(i, RowError) else i[0] for i in items]
            assert all(line >= 2 for line in lines) and lines == sorted(lines)
            assert all(i.reason for i in items if isinstance(i, RowError))
        try:
            txs, errors = load_sorted([path, path])
        except CsvFormatError:
            return
        # The same file twice: every good row of the second copy is a duplicate.
        assert len(errors) >= len(txs)


@pytest.mark.parametrize("cell", ["1_000", "0001-01-01T00:00:00+01:00"])
def test_known_disagreements_are_gone(cell: str) -> None:
    # Before: the fast path took `1_000` as 1000 and crashed on a year-1 zoned time.
    row = ["1", "2", "2025-01-01 00:00:00", "5", "CH", "app", "pc", "food", "", "", "", "", ""]
    row[IDX["amount" if "_" in cell else "timestamp"]] = cell
    with pytest.raises(ValueError):
        PARSE(row)
    assert _reference(row) is None
