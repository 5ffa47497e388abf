"""The CSV reader and the schema's parsers at the edges mutation testing found untested:
exact reasons, blank and short lines, the raw cells of a reject, the written layout, the
schema's year and amount limits (docs/mutation.md lists what no test can tell apart)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.csv_io import (
    CsvFormatError,
    RowError,
    SeenIds,
    iter_csv,
    iter_records,
    load_sorted,
    write_transactions_csv,
)
from shared.schemas import (
    CSV_FIELDS,
    Transaction,
    check_amount,
    check_timestamp,
    parse_amount,
    parse_timestamp,
    quote,
)

HEADER = ",".join(CSV_FIELDS)


def _row(tid: str = "1", ts: str = "2025-01-02 10:00:00", amount: str = "5",
         cid: str = "c1", country: str = "CH") -> str:
    return f"{tid},{cid},{ts},{amount},{country},app,pc,food,,False,normal"


def _write(tmp_path: Path, lines: list[str], name: str = "in.csv",
           header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def _errors(items: Sequence[object]) -> list[RowError]:
    return [i for i in items if isinstance(i, RowError)]


# --- files that cannot be read -------------------------------------------------------------

def test_each_kind_of_unreadable_path_says_what_it_is(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    cases = {
        tmp_path: "is a folder, not a CSV file",
        fifo: "not a regular file",
        tmp_path / "absent.csv": "no such file",
    }
    for path, why in cases.items():
        with pytest.raises(CsvFormatError) as caught:
            iter_csv(path)
        assert str(caught.value) == f"cannot read {path}: {why}"


def test_a_read_error_names_the_system_reason_not_the_exception() -> None:
    # /proc/self/mem is a regular file whose first page cannot be read (EIO).
    path = Path("/proc/self/mem")
    with pytest.raises(CsvFormatError) as caught:
        iter_csv(path)
    assert str(caught.value) == f"cannot read {path}: Input/output error"


def test_an_unparseable_header_is_a_format_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    path.write_text("x" * 200_000 + "\n" + _row() + "\n", encoding="utf-8")
    with pytest.raises(CsvFormatError) as caught:
        iter_csv(path)
    assert str(caught.value).startswith(f"{path}: unreadable header: field larger")


def test_header_error_lists_every_problem_exactly(tmp_path: Path) -> None:
    header = "transaction_id,customer_id,customer_id,timestamp,amount,channel,device"
    path = _write(tmp_path, [], header=header)
    with pytest.raises(CsvFormatError) as caught:
        iter_csv(path)
    assert str(caught.value) == (
        f"{path}: wrong header: missing required column(s) country, merchant_category, ip; "
        "duplicated column(s) customer_id; expected at least transaction_id,customer_id,"
        "timestamp,amount,country,channel,device,merchant_category,ip"
    )


def test_a_file_ending_inside_a_utf8_sequence_is_read_as_windows_1252(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv"
    path.write_bytes((HEADER + "\n" + _row() + "\n").encode() + b"\xc3")
    items = list(iter_csv(path))
    # The cut byte is read as 'Ã' (cp1252), alone on the last line: a one-cell short row.
    [(line, tx)] = [i for i in items if not isinstance(i, RowError)]
    assert (line, tx.transaction_id) == (2, "1")
    [err] = _errors(items)
    assert (err.line, err.reason, err.raw) == (3, "expected 11 columns, found 1",
                                               {"transaction_id": "Ã"})


# --- rows: blank, short, long, unparseable ------------------------------------------------

def test_blank_and_whitespace_lines_are_skipped_but_short_rows_are_rejects(
        tmp_path: Path) -> None:
    path = _write(tmp_path, [_row("a"), "", "   ", "lonely", " ,x", _row("b")])
    for items in (list(iter_csv(path)), list(iter_records(path))):
        errors = _errors(items)
        assert [(e.line, e.reason) for e in errors] == [
            (5, "expected 11 columns, found 1"), (6, "expected 11 columns, found 2")]
        assert errors[0].raw == {"transaction_id": "lonely"}
        assert errors[1].raw == {"transaction_id": " ", "customer_id": "x"}
        assert all(e.source == str(path) for e in errors)
        assert [i[0] for i in items if not isinstance(i, RowError)] == [2, 7]


def test_a_long_row_keeps_its_extra_cells_by_column_number(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row("a") + ",extra1,extra2"])
    [err] = _errors(list(iter_csv(path)))
    expected = dict(zip(CSV_FIELDS, _row("a").split(","), strict=True))
    expected.update({"column_12": "extra1", "column_13": "extra2"})
    assert err.raw == expected
    assert (err.line, err.reason, err.source) == (2, "expected 11 columns, found 13", str(path))


def test_an_unparseable_row_is_reported_with_no_cells_and_its_source(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row("a"), _row("b", cid="x" * 200_000), _row("c")])
    for items in (list(iter_csv(path)), list(iter_records(path))):
        [err] = _errors(items)
        assert err.line == 3 and err.reason.startswith("a cell is longer than 131,072")
        assert err.raw == {} and err.source == str(path)


def test_rows_after_an_unparseable_one_are_still_read(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row("a"), _row("b", cid="x" * 200_000), _row("c"), _row("d")])
    for items in (list(iter_csv(path)), list(iter_records(path))):
        assert [i[0] for i in items if not isinstance(i, RowError)] == [2, 4, 5]


@pytest.mark.parametrize(("cells", "field"), [
    ({"tid": " "}, "transaction_id"), ({"cid": ""}, "customer_id"),
    ({"country": "  "}, "country"),
])
def test_a_missing_required_value_is_named(tmp_path: Path, cells: dict[str, str],
                                           field: str) -> None:
    path = _write(tmp_path, [_row(**cells)])
    for items in (list(iter_csv(path)), list(iter_records(path))):
        [err] = _errors(items)
        assert err.reason == f"{field}: missing"


# --- repeated ids --------------------------------------------------------------------------

def test_iter_csv_shares_ids_across_files_when_given_one_registry(tmp_path: Path) -> None:
    a = _write(tmp_path, [_row("1"), _row("2")], name="a.csv")
    b = _write(tmp_path, [_row("3"), _row("1")], name="b.csv")
    seen = SeenIds()
    assert not _errors(list(iter_csv(a, seen)))
    [err] = _errors(list(iter_csv(b, seen)))
    assert (err.line, err.reason) == (3, f"duplicate transaction_id '1' (first at line 2 of {a})")


def test_seen_ids_add_names_the_first_line_and_its_file_when_another() -> None:
    seen = SeenIds()
    first, second = seen.start("a.csv"), seen.start("b.csv")
    assert (first, second) == (0, 1)
    assert seen.add("x", first, 1_048_577) is None  # a line number past 2**20
    assert seen.add("y", second, 7) is None
    assert seen.add("x", first, 9) == "duplicate transaction_id 'x' (first at line 1048577)"
    assert seen.add("x", second, 3) == (
        "duplicate transaction_id 'x' (first at line 1048577 of a.csv)")
    assert seen.add("y", second, 8) == "duplicate transaction_id 'y' (first at line 7)"


# --- the fast path builds the same object as validation ------------------------------------

def test_loaded_rows_are_complete_pydantic_objects(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row("a"), _row("b", ts="2025-01-02T12:00:00+02:00")])
    txs, errors = load_sorted([path])
    assert not errors
    for tx in txs:
        validated = Transaction.model_validate(tx.model_dump())
        assert tx == validated
        assert tx.model_fields_set == validated.model_fields_set == set(Transaction.model_fields)
        assert tx.model_extra is None and tx.__pydantic_private__ is None
        assert tx.model_dump(exclude_unset=True) == validated.model_dump(exclude_unset=True)
        assert tx.model_copy(update={"amount": 1.0}).amount == 1.0


# --- the written layout --------------------------------------------------------------------

def test_written_file_uses_reference_words_and_lf_line_ends(tmp_path: Path) -> None:
    at = datetime(2025, 1, 2, 3, 4, 5)
    # The schema refuses a CR in text; the writer still quotes one it is given, unchecked.
    txs = [
        Transaction.model_construct(
            transaction_id=str(i), customer_id="c", timestamp=at, amount=1.5, country="CH",
            channel="app", device=device, merchant_category="food", ip="", is_anomaly=label,
            anomaly_type=None)
        for i, (label, device) in enumerate([(False, "pc"), (True, "pc"), (None, "a\rb")])
    ]
    path = tmp_path / "out.csv"
    assert write_transactions_csv(txs, path) == 3
    assert path.read_bytes().decode() == (
        HEADER + "\n"
        "0,c,2025-01-02 03:04:05,1.5,CH,app,pc,food,,False,\n"
        "1,c,2025-01-02 03:04:05,1.5,CH,app,pc,food,,True,\n"
        '"2","c","2025-01-02 03:04:05","1.5","CH","app","a\rb","food","","",""\n'
    )


# --- the schema's parsers ------------------------------------------------------------------

def test_quote_cuts_only_beyond_the_limit() -> None:
    assert quote("a" * 40) == repr("a" * 40)
    assert quote("a" * 41) == repr("a" * 40 + "…")
    assert quote("abcd", limit=3) == repr("abc…")


def test_check_amount_accepts_inside_and_names_the_rule_outside() -> None:
    assert check_amount(999_999_999_999.0) == 999_999_999_999.0
    assert check_amount(-999_999_999_999.0) == -999_999_999_999.0
    with pytest.raises(ValueError) as caught:
        check_amount(1e12)
    assert str(caught.value) == "1000000000000.0 is out of range (|amount| must be below 1e12)"
    with pytest.raises(ValueError) as caught:
        check_amount(-1e12, "-1e12")
    assert str(caught.value) == "'-1e12' is out of range (|amount| must be below 1e12)"
    with pytest.raises(ValueError) as caught:
        check_amount(float("inf"))
    assert str(caught.value) == "must be a finite number"
    with pytest.raises(ValueError) as caught:
        check_amount(float("nan"), "nan")
    assert str(caught.value) == "'nan' is not a finite number"


def test_parse_amount_strips_any_whitespace_and_says_missing_for_none() -> None:
    assert parse_amount("\u00a012.5\u2003") == 12.5  # non-ASCII spaces, ASCII digits
    assert parse_amount(" -7 ") == -7.0
    for blank in ("", "   ", "\u00a0"):
        with pytest.raises(ValueError) as caught:
            parse_amount(blank)
        assert str(caught.value) == "missing"


def test_parse_timestamp_says_missing_for_blank_text() -> None:
    for blank in ("", "  "):
        with pytest.raises(ValueError) as caught:
            parse_timestamp(blank)
        assert str(caught.value) == "missing"


@pytest.mark.parametrize(("text", "utc"), [
    # Local years 1969 and 2101 whose UTC time is inside 1970-2100: read, not rejected.
    ("1969-12-31T23:30:00-01:00", datetime(1970, 1, 1, 0, 30)),
    ("2101-01-01T00:30:00+01:00", datetime(2100, 12, 31, 23, 30)),
    ("1970-01-01T00:00:00+00:00", datetime(1970, 1, 1)),
])
def test_zoned_times_at_the_range_edges_are_judged_in_utc(text: str, utc: datetime) -> None:
    assert parse_timestamp(text) == utc
    value = datetime.fromisoformat(text)
    assert check_timestamp(value) == utc == value.astimezone(UTC).replace(tzinfo=None)


@pytest.mark.parametrize("text", ["1969-12-31T23:59:59+00:00", "2101-01-01T00:00:00Z",
                                  "2101-01-01T00:30:00-01:00"])
def test_zoned_times_just_outside_the_range_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="is out of range"):
        parse_timestamp(text)


def test_schema_errors_on_text_fields_are_plain_value_errors() -> None:
    base = {"transaction_id": "1", "customer_id": "c", "timestamp": "2025-01-01 00:00:00",
            "amount": "5", "country": "CH", "channel": "app", "device": "pc",
            "merchant_category": "food"}
    for field, bad, message in (("amount", "1_000", "'1_000' is not a number"),
                                ("timestamp", "soon", "'soon' is not a date-time"),
                                ("amount", 1e12, "1000000000000.0 is out of range")):
        with pytest.raises(ValidationError) as caught:
            Transaction.model_validate({**base, field: bad})
        [error] = caught.value.errors()
        assert error["type"] == "value_error" and error["loc"] == (field,)
        assert error["msg"].startswith(message)


def test_zone_conversion_does_not_depend_on_the_machines_zone(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Converted to UTC, not to the local zone: the same on a machine set to India."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        assert parse_timestamp("2025-03-03T03:30:00+05:00") == datetime(2025, 3, 2, 22, 30)
        path = _write(tmp_path, [_row(ts="2025-03-03T12:00:00Z")])
        [(_, tx)] = list(iter_csv(path))  # type: ignore[misc]
        assert tx.timestamp == datetime(2025, 3, 3, 12, 0)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_header_error_lists_several_duplicated_columns(tmp_path: Path) -> None:
    path = _write(tmp_path, [], header=HEADER + ",ip,Amount")
    with pytest.raises(CsvFormatError) as caught:
        iter_csv(path)
    assert "wrong header: duplicated column(s) amount, ip; expected" in str(caught.value)
