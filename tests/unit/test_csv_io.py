"""The historic CSV layout: tolerant reading, clear rejects, atomic round-trip writing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import orjson
import pytest

from shared.codec import encode
from shared.csv_io import (
    CsvFormatError,
    RowError,
    iter_csv,
    iter_records,
    load_sorted,
    write_transactions_csv,
)
from shared.names import shown
from shared.schemas import CSV_FIELDS, Transaction

HEADER = ",".join(CSV_FIELDS)
REFERENCE_ROWS = [
    "5083,38,2025-01-01 00:00:00,176.67,IT,app,pc,electronics,192.168.163.119,False,normal",
    "17,4,2025-01-01 00:03:10,2120.5,CH,web,mobile,travel,10.0.0.1,True,HIGH_AMOUNT",
]


def _write(tmp_path: Path, text: str, name: str = "in.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _good(items: list[tuple[int, Transaction] | RowError]) -> list[tuple[int, Transaction]]:
    return [i for i in items if not isinstance(i, RowError)]


def test_reference_layout_parses_exactly(tmp_path: Path) -> None:
    path = _write(tmp_path, "\n".join([HEADER, *REFERENCE_ROWS]) + "\n")
    items = list(iter_csv(path))
    assert [line for line, _ in _good(items)] == [2, 3]
    first, second = (tx for _, tx in _good(items))
    assert first.transaction_id == "5083" and first.customer_id == "38"
    assert first.timestamp == datetime(2025, 1, 1, 0, 0, 0) and first.timestamp.tzinfo is None
    assert first.amount == 176.67 and first.country == "IT" and first.ip == "192.168.163.119"
    assert (first.is_anomaly, first.anomaly_type) == (False, "normal")
    assert (second.is_anomaly, second.anomaly_type) == (True, "HIGH_AMOUNT")
    assert first.attributes == {}


def test_missing_label_columns_mean_unknown_not_false(tmp_path: Path) -> None:
    header = ",".join(CSV_FIELDS[:-2])
    path = _write(tmp_path, f"{header}\n1,2,2025-01-02 10:00:00,5,CH,app,pc,food,\n")
    [(_, tx)] = _good(list(iter_csv(path)))
    assert tx.is_anomaly is None and tx.anomaly_type is None


def test_extra_columns_are_kept_as_attributes(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"{HEADER},Branch Code\n{REFERENCE_ROWS[0]},ZH-01\n",
    )
    [(_, tx)] = _good(list(iter_csv(path)))
    assert tx.attributes == {"Branch Code": "ZH-01"}


def test_column_order_and_bom_do_not_matter(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    text = "amount,customer_id,transaction_id,timestamp,country,channel,device,"
    text += "merchant_category,ip\n"
    text += "9.5,c1,t1,2025-03-01T08:00:00,FR,web,pc,food,1.2.3.4\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    [(_, tx)] = _good(list(iter_csv(path)))
    assert (tx.transaction_id, tx.customer_id, tx.amount) == ("t1", "c1", 9.5)


def test_windows_1252_file_is_read_not_rejected(tmp_path: Path) -> None:
    path = tmp_path / "cp.csv"
    row = "1,2,2025-01-02 10:00:00,5,CH,app,pc,caf\xe9,,False,normal\n"
    path.write_bytes((HEADER + "\n" + row).encode("cp1252"))
    [(_, tx)] = _good(list(iter_csv(path)))
    assert tx.merchant_category == "caf\xe9"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_file_with_its_byte_order_mark_is_read(tmp_path: Path, codec: str) -> None:
    # Excel's "Unicode" exports are UTF-16 with a byte order mark; read as Windows-1252
    # they were "missing required column(s)" (found probing, 2026-12-03).
    path = tmp_path / "u16.csv"
    row = "1,2,2025-01-02 10:00:00,5,CH,app,pc,caf\xe9 \u20ac,,False,normal\n"
    bom = "" if codec == "utf-16" else "\ufeff"  # the plain codec writes its own
    path.write_bytes((bom + HEADER + "\r\n" + row).encode(codec))
    [(line, tx)] = _good(list(iter_csv(path)))
    assert (line, tx.merchant_category, tx.amount) == (2, "caf\xe9 \u20ac", 5.0)


def test_utf16_without_a_byte_order_mark_is_named_not_a_missing_column(
    tmp_path: Path,
) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes((HEADER + "\n" + REFERENCE_ROWS[0] + "\n").encode("utf-16-le"))
    with pytest.raises(CsvFormatError, match="UTF-16 without a byte order mark"):
        list(iter_csv(path))


def test_a_byte_order_mark_over_bytes_of_another_encoding_is_a_clear_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"\xff\xfe" + HEADER.encode("utf-16-le") + b"\x00\xd8\n\x00")
    with pytest.raises(CsvFormatError, match="not valid UTF-16"):
        list(iter_csv(path))


@pytest.mark.parametrize(
    ("row", "reason_part"),
    [
        ("1,2,2025-01-02 10:00:00,abc,CH,app,pc,food,,False,normal", "amount"),
        ("1,2,2025-01-02 10:00:00,nan,CH,app,pc,food,,False,normal", "finite"),
        ("1,2,yesterday,5,CH,app,pc,food,,False,normal", "timestamp"),
        ("1,2,2025-13-02 10:00:00,5,CH,app,pc,food,,False,normal", "timestamp"),
        ("1,,2025-01-02 10:00:00,5,CH,app,pc,food,,False,normal", "customer_id"),
        ("1,2,2025-01-02 10:00:00,5,CH,app,pc,food,,maybe,normal", "is_anomaly"),
        ("1,2,2025-01-02 10:00:00,5,CH,app", "expected 11 columns, found 6"),
    ],
)
def test_bad_row_is_reported_with_line_and_reason(
    tmp_path: Path, row: str, reason_part: str
) -> None:
    path = _write(tmp_path, "\n".join([HEADER, REFERENCE_ROWS[0], row, REFERENCE_ROWS[1]]) + "\n")
    items = list(iter_csv(path))
    errors = [i for i in items if isinstance(i, RowError)]
    assert len(errors) == 1 and len(_good(items)) == 2
    assert errors[0].line == 3
    assert reason_part in errors[0].reason
    assert errors[0].raw["transaction_id"] == "1"


def test_line_numbers_count_physical_lines_across_quoted_newlines(tmp_path: Path) -> None:
    multi = '7,8,2025-01-02 10:00:00,5,CH,app,pc,"food\nand drink",,False,normal'
    bad = "9,8,never,5,CH,app,pc,food,,False,normal"
    good = "10,8,2025-01-02 10:00:00,5,CH,app,pc,food,,False,normal"
    path = _write(tmp_path, "\n".join([HEADER, good, multi, "", bad, good[1:]]) + "\n")
    items = list(iter_csv(path))
    assert [line for line, _ in _good(items)] == [2, 7]
    errors = [i for i in items if isinstance(i, RowError)]
    assert [e.line for e in errors] == [3, 6]
    # A line break is a control character: no text field holds one.
    assert errors[0].reason.startswith("merchant_category: must not contain control")


def test_missing_required_column_fails_before_any_row(tmp_path: Path) -> None:
    path = _write(tmp_path, "transaction_id,customer_id,amount\n1,2,3\n")
    with pytest.raises(CsvFormatError, match="timestamp"):
        iter_csv(path)


def test_unreadable_or_empty_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match="no such file"):
        iter_csv(tmp_path / "absent.csv")
    with pytest.raises(CsvFormatError, match="empty"):
        iter_csv(_write(tmp_path, ""))


def test_load_sorted_is_stable_across_files(tmp_path: Path) -> None:
    a = _write(tmp_path, "\n".join([HEADER,
        "a1,1,2025-01-01 00:00:05,1,CH,app,pc,food,,False,normal",
        "a2,1,2025-01-01 00:00:01,1,CH,app,pc,food,,False,normal",
        "a3,1,2025-01-01 00:00:05,1,CH,app,pc,food,,False,normal"]), "a.csv")
    b = _write(tmp_path, "\n".join([HEADER,
        "b1,2,2025-01-01 00:00:05,1,CH,app,pc,food,,False,normal",
        "b2,2,bad,1,CH,app,pc,food,,False,normal",
        "b3,2,2025-01-01 00:00:00,1,CH,app,pc,food,,False,normal"]), "b.csv")
    txs, errors = load_sorted([a, b])
    assert [t.transaction_id for t in txs] == ["b3", "a2", "a1", "a3", "b1"]
    assert [(e.line, Path(e.source).name) for e in errors] == [(3, "b.csv")]


def test_bad_header_in_a_later_file_fails_before_reading_any(tmp_path: Path) -> None:
    good = _write(tmp_path, HEADER + "\n" + REFERENCE_ROWS[0] + "\n", "good.csv")
    bad = _write(tmp_path, "x,y\n1,2\n", "bad.csv")
    with pytest.raises(CsvFormatError, match=r"bad\.csv"):
        load_sorted([good, bad])


def test_write_then_read_round_trips_every_field(tmp_path: Path) -> None:
    txs = [
        Transaction(transaction_id="t1", customer_id="c1", timestamp=datetime(2025, 1, 1, 2, 3, 4),
                    amount=0.1 + 0.2, country="CH", channel="app", device="pc",
                    merchant_category='food, "fine"', ip="10.0.0.1", is_anomaly=True,
                    anomaly_type="BURST"),
        Transaction(transaction_id="t2", customer_id="c2", timestamp=datetime(2025, 1, 1, 2, 3, 4),
                    amount=1e-3, country="FR", channel="web", device="mobile",
                    merchant_category="travel"),
    ]
    path = tmp_path / "out" / "tx.csv"
    assert write_transactions_csv(iter(txs), path) == 2
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == HEADER
    assert "2025-01-01 02:03:04" in text and ",True,BURST" in text and text.endswith(",,\n")
    back = [tx for _, tx in _good(list(iter_csv(path)))]
    assert back == txs
    assert [p.name for p in path.parent.iterdir()] == ["tx.csv"]


def test_failed_write_leaves_previous_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "tx.csv"
    path.write_text("previous", encoding="utf-8")

    def broken() -> list[Transaction]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_transactions_csv((t for t in broken()), path)
    assert path.read_text(encoding="utf-8") == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["tx.csv"]


def test_fast_records_accept_reject_and_encode_exactly_like_the_schema(tmp_path: Path) -> None:
    rows = [
        *REFERENCE_ROWS,
        " 8 , 9 ,2025-01-02T10:00:00+01:00, 1e3 , DE ,app,pc,food,,,",
        "1,2,2025-01-02 10:00:00,inf,CH,app,pc,food,,False,normal",
        "1,2,2025-01-02 10:00:00,5,  ,app,pc,food,,False,normal",
        " ,2,2025-01-02 10:00:00,5,CH,app,pc,food,,False,normal",
        "1,2,,5,CH,app,pc,food,,False,normal",
        "1,2,2025-01-02 10:00:00.250,-0.0,CH,,,,,FALSE,",
    ]
    path = _write(tmp_path, "\n".join([HEADER + ",note", *(r + ",x" for r in rows)]) + "\n")
    slow, fast = list(iter_csv(path)), list(iter_records(path))
    assert [i.line if isinstance(i, RowError) else i[0] for i in slow] == [
        i.line if isinstance(i, RowError) else i[0] for i in fast]
    assert sum(isinstance(i, RowError) for i in fast) == 4
    for s, f in zip(slow, fast, strict=True):
        if isinstance(s, RowError) or isinstance(f, RowError):
            assert isinstance(s, RowError) and isinstance(f, RowError)
            continue
        assert Transaction.model_validate(f[1]) == s[1]
        assert orjson.dumps(f[1]) == encode(s[1])


def test_duplicated_required_column_is_a_header_error(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match="duplicated column"):
        iter_csv(_write(tmp_path, f"{HEADER},amount\n{REFERENCE_ROWS[0]},1\n", "dup.csv"))


@pytest.mark.parametrize("names", ["note,note", "note, note ", "note,x,note"])
def test_duplicated_extra_columns_are_a_header_error(tmp_path: Path, names: str) -> None:
    """Two extra columns of one name (after stripping, as `attributes` keys them) kept only
    the last value in `attributes`, the first lost without a word (found by a hostile
    probe). Refused like a duplicated required column, before any row is read."""
    cells = ",".join("v" for _ in names.split(","))
    path = _write(tmp_path, f"{HEADER},{names}\n{REFERENCE_ROWS[0]},{cells}\n", "extra.csv")
    with pytest.raises(CsvFormatError) as caught:
        iter_records(path)
    assert str(caught.value) == (
        f"{path}: wrong header: duplicated extra column(s) 'note'; give each column its own "
        "name")


def test_extra_columns_differing_in_case_are_two_attributes(tmp_path: Path) -> None:
    path = _write(tmp_path, f"{HEADER},note,Note\n{REFERENCE_ROWS[0]},a,b\n")
    [(_, tx)] = _good(list(iter_csv(path)))
    assert tx.attributes == {"note": "a", "Note": "b"}


def test_a_value_under_a_column_without_a_name_rejects_its_row(tmp_path: Path) -> None:
    """Excel's trailing comma (a blank header cell, empty cells below it) is read as ever;
    a value under a blank header cell was dropped from the row without a word (found by a
    hostile probe): its row is rejected, saying which column, the value in the report."""
    rows = [f"{REFERENCE_ROWS[0]},first,,", f"{REFERENCE_ROWS[1]},second,unnamed-data, "]
    path = _write(tmp_path, "\n".join([f"{HEADER},note,, ", *rows]) + "\n")
    for items in (list(iter_csv(path)), list(iter_records(path))):
        [(line, good)] = _good(items)  # type: ignore[arg-type]
        attributes = good.attributes if isinstance(good, Transaction) else good["attributes"]
        assert line == 2 and attributes == {"note": "first"}
        [err] = [i for i in items if isinstance(i, RowError)]
        assert err.line == 3
        assert err.reason == ("column 13: 'unnamed-data' under a column without a name in the "
                              "header; name the column, or empty its cells")
        assert err.raw["column_13"] == "unnamed-data" and err.raw["note"] == "second"


def test_a_quote_left_open_names_the_lines_it_swallowed(tmp_path: Path) -> None:
    """One stray quote makes the reader take every line up to the next quote as one row:
    hundreds of rows were lost as "1 rejected, expected 11 columns, found 5" (found by a
    hostile probe). The reason now names the lines read as that row."""
    good = [f"{i},8,2025-01-02 10:00:{i:02d},5,CH,app,pc,food,,False,normal" for i in range(9)]
    stray = good[2].replace(",CH,", ',"CH,')
    path = _write(tmp_path, "\n".join([HEADER, *good[:2], stray, *good[3:]]) + "\n")
    items = list(iter_csv(path))
    errors = [i for i in items if isinstance(i, RowError)]
    assert [line for line, _ in _good(items)] == [2, 3]
    assert len(errors) == 1 and errors[0].line == 4
    assert errors[0].reason == ("expected 11 columns, found 5 in lines 4-10 read as one row "
                                "(a quote opened and not closed?)")
    one_line = _write(tmp_path, "\n".join([HEADER, good[0][:20]]) + "\n", "short.csv")
    assert [e.reason for e in iter_csv(one_line) if isinstance(e, RowError)] == [
        "expected 11 columns, found 3"]  # a short row on its own line: as before


def test_a_blank_first_line_is_named_as_such_not_an_empty_file(tmp_path: Path) -> None:
    blank = _write(tmp_path, f"\n{HEADER}\n{REFERENCE_ROWS[0]}\n", "blank.csv")
    with pytest.raises(CsvFormatError) as caught:
        iter_csv(blank)
    assert str(caught.value) == f"{blank}: line 1 is blank; expected a header row"
    empty = _write(tmp_path, "", "empty.csv")
    with pytest.raises(CsvFormatError) as caught:
        iter_csv(empty)
    assert str(caught.value) == f"{empty}: empty file, expected a header row"


def _header_error(path: Path, names: list[str]) -> str:
    path.write_text(",".join(names) + "\n", encoding="utf-8")
    with pytest.raises(CsvFormatError) as info:
        list(iter_records(path))
    return str(info.value)


@pytest.mark.parametrize("nuls_under", [0, 1])
def test_a_header_a_third_nul_is_refused_as_utf16_one_nul_fewer_is_not(
        tmp_path: Path, nuls_under: int) -> None:
    """The header's NUL test (UTF-16 without a byte order mark: every other character NUL)
    at its edge: NULs exactly a third of the header's text joined by commas are refused as
    such, with the advice; one NUL fewer (an `a` in its place) is an extra column holding
    control characters."""
    fields = ",".join(CSV_FIELDS)
    nuls = -(-(len(fields) + 1) // 2)  # 3 x nuls == len(fields) + 1 + nuls + extra a's
    extra = "\x00" * (nuls - nuls_under) + "a" * (2 * nuls - len(fields) - 1 + nuls_under)
    assert (len(fields) + 1 + len(extra)) == 3 * nuls
    path = tmp_path / "nul.csv"
    message = _header_error(path, [*CSV_FIELDS, extra])
    if nuls_under:
        assert message.startswith(f"{shown(path)}: wrong header: extra column ")
        assert "must not contain control characters" in message
    else:
        assert message == (f"{shown(path)}: the header holds NUL characters: the file looks "
                           "like UTF-16 without a byte order mark, or is not text; save it "
                           "again as CSV UTF-8")


def test_duplicated_extra_columns_are_each_named_once(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    assert _header_error(path, [*CSV_FIELDS, "x", "y", "x", "y"]) == (
        f"{shown(path)}: wrong header: duplicated extra column(s) 'x', 'y'; give each "
        "column its own name")
