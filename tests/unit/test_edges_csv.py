"""Edges of the CSV reader: the schema's limits, repeated ids, folders, short reasons."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import pytest

from shared.csv_io import CsvFormatError, RowError, SeenIds, iter_csv, iter_records, load_sorted
from shared.schemas import CSV_FIELDS

HEADER = ",".join(CSV_FIELDS)
T = TypeVar("T")


def _row(tid: str = "1", ts: str = "2025-01-02 10:00:00", amount: str = "5",
         category: str = "food") -> str:
    return f"{tid},c1,{ts},{amount},CH,app,pc,{category},,False,normal"


def _write(tmp_path: Path, rows: list[str], name: str = "in.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _errors(items: Sequence[object]) -> list[RowError]:
    return [i for i in items if isinstance(i, RowError)]


def _good(items: Sequence[tuple[int, T] | RowError]) -> list[tuple[int, T]]:
    return [i for i in items if not isinstance(i, RowError)]


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("0001-01-01T00:00:00+01:00", "timestamp: 0001-01-01T00:00:00+01:00 is out of range"),
        ("9999-12-31T23:59:59-01:00", "timestamp: 9999-12-31T23:59:59-01:00 is out of range"),
        ("1969-12-31 23:59:59", "timestamp: 1969-12-31T23:59:59 is out of range"),
        ("2101-01-01 00:00:00", "timestamp: 2101-01-01T00:00:00 is out of range"),
    ],
)
def test_out_of_range_timestamps_are_rejected_rows_not_crashes(
    tmp_path: Path, cell: str, reason: str
) -> None:
    path = _write(tmp_path, [_row("a"), _row("b", ts=cell), _row("c")])
    for items in (list(iter_csv(path)), list(iter_records(path))):
        [err] = _errors(items)
        assert err.line == 3 and err.reason.startswith(reason)
    txs, errors = load_sorted([path])
    assert [t.transaction_id for t in txs] == ["a", "c"] and [e.line for e in errors] == [3]


@pytest.mark.parametrize(
    ("cell", "reason"),
    [("1_000", "amount: '1_000' is not a number"), ("1e308", "amount: '1e308' is out of range"),
     ("1" * 30, f"amount: {'1' * 30!r} is out of range (|amount| must be below 1e12)"),
     ("1e12", "amount: '1e12' is out of range"), ("-1e12", "amount: '-1e12' is out of range"),
     ("inf", "amount: 'inf' is not a finite number"), ("1e999", "not a finite number"),
     ("١٢", "amount: '١٢' is not a number")],
)
def test_amounts_follow_the_schema_rules(tmp_path: Path, cell: str, reason: str) -> None:
    path = _write(tmp_path, [_row(amount=cell)])
    for items in (list(iter_csv(path)), list(iter_records(path))):
        [err] = _errors(items)
        assert err.line == 2 and reason in err.reason


@pytest.mark.parametrize("cell", ["999999999999.99", "-999999999999.99", "-0.5", " 12 "])
def test_amounts_inside_the_range_are_read(tmp_path: Path, cell: str) -> None:
    [(_, tx)] = _good(list(iter_csv(_write(tmp_path, [_row(amount=cell)]))))
    assert tx.amount == float(cell)


def test_long_fields_are_rejected_at_the_limit_plus_one(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row("a", category="x" * 128), _row("b", category="x" * 129),
                             _row("t" * 128), _row("t" * 129)])
    items = list(iter_records(path))
    assert [i[0] for i in items if not isinstance(i, RowError)] == [2, 4]
    assert [(e.line, e.reason) for e in _errors(items)] == [
        (3, "merchant_category: 129 characters, at most 128 allowed"),
        (5, "transaction_id: 129 characters, at most 128 allowed"),
    ]


def test_reasons_quote_at_most_40_characters_of_a_bad_value(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row(ts="y" * 100_000), _row("2", amount="z" * 100_000)])
    reasons = [e.reason for e in _errors(list(iter_records(path)))]
    assert reasons == [
        f"timestamp: {'y' * 40 + '…'!r} is not a date-time (expected YYYY-MM-DD HH:MM:SS)",
        f"amount: {'z' * 40 + '…'!r} is not a number",
    ]


def test_duplicate_ids_in_one_file_are_rejects_naming_the_first_line(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row("1"), _row("2"), _row(" 1 ", amount="7"), _row("bad", ts="x"),
                             _row("2"), _row("1")])
    for items in (list(iter_csv(path)), list(iter_records(path))):
        assert [i[0] for i in items if not isinstance(i, RowError)] == [2, 3]
        assert [(e.line, e.reason) for e in _errors(items)] == [
            (4, "duplicate transaction_id '1' (first at line 2)"),
            (5, "timestamp: 'x' is not a date-time (expected YYYY-MM-DD HH:MM:SS)"),
            (6, "duplicate transaction_id '2' (first at line 3)"),
            (7, "duplicate transaction_id '1' (first at line 2)"),
        ]
        assert _errors(items)[0].raw["amount"] == "7"


def test_a_rejected_row_does_not_claim_its_id(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row("1", amount="x"), _row("1")])
    items = list(iter_records(path))
    assert [i[0] for i in items if not isinstance(i, RowError)] == [3]


def test_duplicate_ids_across_the_files_of_one_score_run(tmp_path: Path) -> None:
    a = _write(tmp_path, [_row("1"), _row("2")], "a.csv")
    b = _write(tmp_path, [_row("3"), _row("2", ts="2025-01-01 00:00:00")], "b.csv")
    txs, errors = load_sorted([a, b])
    assert sorted(t.transaction_id for t in txs) == ["1", "2", "3"]
    assert [(Path(e.source).name, e.line, e.reason) for e in errors] == [
        ("b.csv", 3, f"duplicate transaction_id '2' (first at line 3 of {a})")]


def test_iter_records_shares_ids_across_files_when_given_one_registry(tmp_path: Path) -> None:
    a = _write(tmp_path, [_row("1")], "a.csv")
    b = _write(tmp_path, [_row("1")], "b.csv")
    assert _errors(list(iter_records(b))) == []  # each file alone: no duplicate
    seen = SeenIds()
    assert _errors(list(iter_records(a, seen))) == []
    [err] = _errors(list(iter_records(b, seen)))
    assert (err.line, err.reason) == (2, f"duplicate transaction_id '1' (first at line 2 of {a})")


def test_a_folder_is_not_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match="is a folder, not a CSV file"):
        iter_csv(tmp_path)
    with pytest.raises(CsvFormatError, match="is a folder, not a CSV file"):
        load_sorted([tmp_path])
    with pytest.raises(CsvFormatError, match="no such file"):
        iter_records(tmp_path / "absent.csv")


def test_too_many_or_too_long_extra_columns_fail_at_the_header(tmp_path: Path) -> None:
    cells = ",".join(["v"] * 33)
    many = _write(tmp_path, [_row() + "," + cells], "many.csv",
                  HEADER + "," + ",".join(f"x{i}" for i in range(33)))
    with pytest.raises(CsvFormatError, match="33 extra columns, at most 32"):
        iter_csv(many)
    long_name = _write(tmp_path, [_row() + ",v"], "long.csv", HEADER + "," + "n" * 65)
    with pytest.raises(CsvFormatError, match="longer than 64 characters"):
        iter_records(long_name)
    ok = _write(tmp_path, [_row() + "," + ",".join(["v"] * 32)], "ok.csv",
                HEADER + "," + ",".join(f"x{i}" for i in range(31)) + "," + "n" * 64)
    [(_, tx)] = _good(list(iter_csv(ok)))
    assert len(tx.attributes) == 32


def test_attribute_values_are_bounded(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row("1") + "," + "v" * 256, _row("2") + "," + "v" * 257],
                  header=HEADER + ",note")
    items = list(iter_records(path))
    assert [i[0] for i in items if not isinstance(i, RowError)] == [2]
    assert _errors(items)[0].reason == "attributes.'note': 257 characters, at most 256 allowed"


@pytest.mark.parametrize(("cell", "value"), [("on", True), (" OFF ", False), ("Yes", True)])
def test_label_words_are_the_schemas(tmp_path: Path, cell: str, value: bool) -> None:
    path = _write(tmp_path, [f"1,c1,2025-01-02 10:00:00,5,CH,app,pc,food,,{cell},normal"])
    [(_, tx)] = _good(list(iter_csv(path)))
    assert tx.is_anomaly is value


def test_a_lone_carriage_return_in_a_field_survives_a_write_and_read_as_a_reject(
        tmp_path: Path) -> None:
    from datetime import datetime

    from shared.csv_io import write_transactions_csv
    from shared.schemas import Transaction

    # The schema refuses a CR inside text; the writer still keeps each row one row.
    txs = [Transaction.model_construct(
               transaction_id=f"t{i}", customer_id="c", timestamp=datetime(2025, 1, 1),
               amount=1.0, country="CH", channel="app", device="pc",
               merchant_category=category, ip="", is_anomaly=None, anomaly_type=None)
           for i, category in enumerate(["a\rb", "plain", "c\r\nd", "e\r"])]
    path = tmp_path / "out.csv"
    write_transactions_csv(txs, path)
    items = list(iter_csv(path))
    assert [tx for _, tx in _good(items)] == [
        txs[1], txs[3].model_copy(update={"merchant_category": "e"})]  # cells are stripped
    # Physical lines: the lone CR of t0 ends line 2, as a reader splits it.
    assert [(e.line, e.raw["transaction_id"]) for e in _errors(items)] == [
        (2, "t0"), (5, "t2")]
    assert all(e.reason.startswith("merchant_category: must not contain control")
               for e in _errors(items))
    assert path.read_bytes().count(b"\n") == 6


def test_a_900_kb_cell_is_a_reject_and_the_rows_after_it_are_read(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row("a"), _row("b", category="x" * 900_000), _row("c"),
                             _row("d", category="y" * 200)])
    for items in (list(iter_csv(path)), list(iter_records(path))):
        assert [i[0] for i in _good(items)] == [2, 4]
        assert [(e.line, e.reason) for e in _errors(items)] == [
            (3, "a cell is longer than 131,072 characters, the most a cell may hold"),
            (5, "merchant_category: 200 characters, at most 128 allowed")]


@pytest.mark.parametrize("cell", ["a\rb", "c\r\nd", "e\nf"])
def test_a_rejected_cell_is_reported_as_written_line_endings_and_all(
        tmp_path: Path, cell: str) -> None:
    """A quoted cell holding a line ending: the reject keeps the cell byte for byte and its
    reason quotes it as written (a CR LF is not shown as LF, nor a lone CR as LF)."""
    path = tmp_path / "in.csv"
    header = ",".join(CSV_FIELDS)
    path.write_bytes(f'{header}\r\n1,c1,2025-01-02 10:00:00,5,CH,app,pc,"{cell}",,,normal\r\n'
                     .encode())
    [error] = _errors(list(iter_csv(path)))
    assert error.raw["merchant_category"] == cell
    assert error.reason.startswith("merchant_category: must not contain control characters")
    assert f"{cell!r} at position 1" in error.reason
