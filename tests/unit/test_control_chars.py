"""Control characters (U+0000-U+001F, U+007F) in text: refused on every way in.

The schema refuses text holding one (after stripping, for the fields it strips), naming the
field; the detector's fast decoder leaves such text to the schema; the CSV reader rejects
the row with its line number. So a NUL never reaches the exports Excel and Power BI open.
"""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from auditstream.cli import main
from detector.dlq import DecodeFailure, decode_record, decode_transaction
from shared import fastcodec
from shared.csv_io import (
    CsvFormatError,
    RowError,
    iter_csv,
    iter_records,
    write_transactions_csv,
)
from shared.csv_rows import row_parser
from shared.schemas import CONTROL_RULE, CSV_FIELDS, Transaction
from tests.poison_corpus import valid_fields
from tests.unit.test_core_engine import stream

TEXT_FIELDS = ("transaction_id", "customer_id", "country", "channel", "device",
               "merchant_category", "ip", "anomaly_type")
STRIPPED = ("transaction_id", "customer_id", "country")
#: Inside text: refused; the boundaries one either side of each range are accepted.
CONTROLS = ["\x00", "\x01", "\x09", "\x0a", "\x0d", "\x1b", "\x1c", "\x1f", "\x7f"]
NOT_CONTROLS = [" ", "~", "\x80", "\x85", "\u00a0", "\u2028", "\ufeff"]
IDX = {n: i for i, n in enumerate(CSV_FIELDS)}
PARSE = row_parser(IDX, [("note", len(CSV_FIELDS))])


def _fields(**changes: object) -> dict[str, object]:
    return {**valid_fields(), **changes}


def _row(**cells: str) -> list[str]:
    base = dict(transaction_id="1", customer_id="c1", timestamp="2025-01-02 10:00:00",
                amount="5", country="CH", channel="app", device="pc", merchant_category="food",
                ip="", is_anomaly="False", anomaly_type="normal", note="")
    base.update(cells)
    return [base[n] for n in (*CSV_FIELDS, "note")]


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize("char", CONTROLS)
def test_the_schema_refuses_a_control_character_inside_text(field: str, char: str) -> None:
    with pytest.raises(ValidationError) as info:
        Transaction.model_validate(_fields(**{field: "a" + char + "b"}))
    [error] = info.value.errors()
    assert error["loc"] == (field,) and error["msg"] == CONTROL_RULE


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize("char", NOT_CONTROLS)
def test_the_characters_next_to_the_control_ranges_are_text(field: str, char: str) -> None:
    tx = Transaction.model_validate(_fields(**{field: "a" + char + "b"}))
    assert getattr(tx, field) == "a" + char + "b"


@pytest.mark.parametrize("char", ["\x00", "\x7f", "\x01"])
def test_a_control_character_alone_or_at_an_edge_is_refused(char: str) -> None:
    for text in (char, char + "a", "a" + char):
        for field in TEXT_FIELDS:
            with pytest.raises(ValidationError, match="control character"):
                Transaction.model_validate(_fields(**{field: text}))


@pytest.mark.parametrize("field", STRIPPED)
def test_edge_whitespace_a_field_strips_is_not_a_control_character_there(field: str) -> None:
    # Tab, LF, VT, FF, CR: stripped from ids and country first.
    tx = Transaction.model_validate(_fields(**{field: "\t\n\r\x0b\x0cab\x0c\x0b\r\n\t"}))
    assert getattr(tx, field) == "ab"
    # The separators U+001C-U+001F are whitespace to Python, not to the schema's stripping.
    for text in ("ab\x1c", "\x1fab"):
        with pytest.raises(ValidationError, match="control character"):
            Transaction.model_validate(_fields(**{field: text}))


@pytest.mark.parametrize("field", ["channel", "device", "merchant_category", "ip"])
def test_fields_that_are_not_stripped_refuse_edge_control_whitespace(field: str) -> None:
    for text in ("web\t", "\nweb", "web\r\n"):
        with pytest.raises(ValidationError, match="control character"):
            Transaction.model_validate(_fields(**{field: text}))


def test_attribute_names_and_values_refuse_control_characters() -> None:
    for attributes, where in (({"a\x00": "v"}, "[key]"), ({"k": "v\x00"}, "k"),
                              ({"k": "line\nbreak"}, "k"), ({"\x7f": "v"}, "[key]")):
        with pytest.raises(ValidationError) as info:
            Transaction.model_validate(_fields(attributes=attributes))
        [error] = info.value.errors()
        assert error["loc"][0] == "attributes" and where in str(error["loc"])
        assert error["msg"] == CONTROL_RULE
    ok = {"k\x80": "v\u00a0 w", "note": "x" * 256}
    assert Transaction.model_validate(_fields(attributes=ok)).attributes == ok


@pytest.mark.parametrize("escaped", [b"\\u0000", b"\\u001f", b"\\t", b"\\n", b"\\u007f",
                                     b"\x7f", b"\\u007F"])
def test_a_message_with_a_control_character_goes_to_the_dead_letters(escaped: bytes) -> None:
    value = orjson.dumps(_fields(channel="@@")).replace(b"@@", b"we" + escaped + b"b")
    assert fastcodec.decode_record(value) is None
    with pytest.raises(DecodeFailure) as info:
        decode_record(value)
    assert (info.value.error_class, info.value.message) == ("SchemaError",
                                                            f"channel: {CONTROL_RULE}")
    with pytest.raises(DecodeFailure):
        decode_transaction(value)


def test_the_fast_path_still_vouches_for_escapes_that_are_not_control_characters() -> None:
    value = orjson.dumps(_fields(transaction_id='a"b\\c/\u00e9', attributes={"k": "\u0085"}))
    assert b"\\" in value
    rec = fastcodec.decode_record(value)
    assert rec is not None and rec.transaction_id == 'a"b\\c/\u00e9'


@pytest.mark.parametrize("field", [*TEXT_FIELDS, "note"])
@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f"])
def test_the_csv_row_parser_refuses_what_the_schema_refuses(field: str, char: str) -> None:
    with pytest.raises(ValueError) as info:
        PARSE(_row(**{field: "a" + char + "b"}))
    name = "attributes.'note'" if field == "note" else field
    assert str(info.value) == f"{name}: {CONTROL_RULE}: {('a' + char + 'b')!r} at position 1"


def test_the_csv_row_parser_strips_first_as_the_schema_does() -> None:
    fields = PARSE(_row(transaction_id="\t7\x1f", channel=" web\n", note=" n "))
    assert (fields["transaction_id"], fields["channel"]) == ("7", "web")
    assert fields["attributes"] == {"note": " n "}
    with pytest.raises(ValueError, match=r"^attributes.'note': "):
        PARSE(_row(note="n\n"))  # attribute values are kept as written, so not stripped


def test_a_csv_row_with_a_nul_is_a_reject_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(CSV_FIELDS)
        writer.writerow(_row(transaction_id="ok")[:-1])
        writer.writerow(_row(transaction_id="\x00")[:-1])
        writer.writerow(_row(transaction_id="a\x00b")[:-1])
        writer.writerow(_row(transaction_id="fine", customer_id="c\x07")[:-1])
    for read in (iter_csv, iter_records):
        items = list(read(path))
        errors = [i for i in items if isinstance(i, RowError)]
        assert [i[0] for i in items if not isinstance(i, RowError)] == [2]
        assert [(e.line, e.reason.split(":")[0]) for e in errors] == [
            (3, "transaction_id"), (4, "transaction_id"), (5, "customer_id")]
        assert all(CONTROL_RULE in e.reason for e in errors)


def test_a_control_character_in_an_extra_column_name_fails_at_the_header(
        tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(",".join([*CSV_FIELDS, "no\x00te"]) + "\n"
                    + ",".join(_row()) + "\n", encoding="utf-8")
    for read in (iter_csv, iter_records):
        with pytest.raises(CsvFormatError,
                           match="extra column 'no\\\\x00te' must not contain control"):
            read(path)


def test_score_rejects_a_nul_id_and_writes_no_control_character(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The bug as found: a NUL `transaction_id` was scored (exit 0), written raw."""
    source = tmp_path / "it.csv"
    write_transactions_csv(stream(n=200, customers=10, seed=3), source)
    text = source.read_text(encoding="utf-8").splitlines(keepends=True)
    bad = [line.replace(line.split(",")[0], name, 1)
           for line, name in zip(text[1:4], ["\x00", "a\x00b", "c\x1bd"], strict=True)]
    source.write_text("".join([text[0], *bad, *text[4:]]), encoding="utf-8")
    out = tmp_path / "o"
    assert main(["score", str(source), "--out", str(out)]) == 1
    capsys.readouterr()
    report = (tmp_path / "it.rejects.csv").read_text(encoding="utf-8")
    assert [line.split(",")[0] for line in report.splitlines()[1:]] == ["2", "3", "4"]
    assert report.count("transaction_id: " + CONTROL_RULE) == 3
    assert '\n3,"transaction_id: ' in report and ",a\\x00b," in report  # shown, escaped
    written = [p for p in out.rglob("*") if p.suffix in {".csv", ".json"}]
    assert any(p.name.endswith(".csv") for p in written)
    for path in [*written, tmp_path / "it.rejects.csv"]:
        data = path.read_bytes()
        assert not any((b < 0x20 and b not in b"\r\n") or b == 0x7f for b in data), path
