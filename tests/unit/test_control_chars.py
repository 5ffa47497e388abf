"""Control characters in text: refused on every way in.

The rule (`shared.schemas.CONTROL_RULE`): C0 (U+0000-U+001F), DEL and C1 (U+007F-U+009F),
the line and paragraph separators U+2028-U+2029 and the bidirectional embeddings, overrides
and isolates (U+202A-U+202E, U+2066-U+2069). The schema refuses text holding one (after
stripping, for the fields it strips), naming the field; the detector's fast decoder leaves
such text to the schema; the CSV reader rejects the row with its line number. So a NUL, a
NEXT LINE or a right-to-left override never reaches the exports Excel and Power BI open.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path
from typing import Annotated

import orjson
import pytest
from pydantic import TypeAdapter, ValidationError

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
from shared.rejects import neutralise
from shared.schemas import (
    CONTROL_CHARACTERS,
    CONTROL_RULE,
    CSV_FIELDS,
    NO_CONTROL,
    Transaction,
)
from tests.poison_corpus import valid_fields
from tests.unit.test_core_engine import stream

TEXT_FIELDS = ("transaction_id", "customer_id", "country", "channel", "device",
               "merchant_category", "ip", "anomaly_type")
STRIPPED = ("transaction_id", "customer_id", "country")
#: Inside text: refused, each range at both ends; the characters one either side of each
#: range are accepted (U+2065 is unassigned but not in the rule), and so are the bidi
#: marks LRM, RLM and ALM, which reorder nothing on their own.
CONTROLS = ["\x00", "\x01", "\x09", "\x0a", "\x0d", "\x1b", "\x1c", "\x1f", "\x7f",
            "\x80", "\x85", "\x9f", "\u2028", "\u2029", "\u202a", "\u202e", "\u2066",
            "\u2069"]
NOT_CONTROLS = [" ", "~", "\u00a0", "\u00e9", "\u2027", "\u202f", "\u2065", "\u206a",
                "\u200e", "\u200f", "\u061c", "\ufeff", "\u20ac"]
#: Every code point the rule refuses, written out here independently of its declaration.
REFUSED = {*range(0x20), *range(0x7F, 0xA0), *range(0x2028, 0x202F), *range(0x2066, 0x206A)}
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


@pytest.mark.parametrize("char", ["\x00", "\x7f", "\x01", "\x9f", "\u202e", "\u2066"])
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
    # So are NEXT LINE and the line and paragraph separators (Unicode white space).
    tx = Transaction.model_validate(_fields(**{field: "\x85\u2028ab\u2029\x85"}))
    assert getattr(tx, field) == "ab"
    # The separators U+001C-U+001F are whitespace to Python, not to the schema's stripping.
    for text in ("ab\x1c", "\x1fab"):
        with pytest.raises(ValidationError, match="control character"):
            Transaction.model_validate(_fields(**{field: text}))


@pytest.mark.parametrize("field", ["channel", "device", "merchant_category", "ip"])
def test_fields_that_are_not_stripped_refuse_edge_control_whitespace(field: str) -> None:
    for text in ("web\t", "\nweb", "web\r\n", "web\x85", "\u2028web", "web\u2029"):
        with pytest.raises(ValidationError, match="control character"):
            Transaction.model_validate(_fields(**{field: text}))


def test_attribute_names_and_values_refuse_control_characters() -> None:
    for attributes, where in (({"a\x00": "v"}, "[key]"), ({"k": "v\x00"}, "k"),
                              ({"k": "line\nbreak"}, "k"), ({"\x7f": "v"}, "[key]"),
                              ({"k": "v\x85"}, "k"), ({"\u202ek": "v"}, "[key]"),
                              ({"k": "a\u2028b"}, "k"), ({"k\x9f": "v"}, "[key]")):
        with pytest.raises(ValidationError) as info:
            Transaction.model_validate(_fields(attributes=attributes))
        [error] = info.value.errors()
        assert error["loc"][0] == "attributes" and where in str(error["loc"])
        assert error["msg"] == CONTROL_RULE
    ok = {"k\u00a0": "v\u2027 w\u202f", "note": "x" * 256, "\u206a": "\u200f"}
    assert Transaction.model_validate(_fields(attributes=ok)).attributes == ok


@pytest.mark.parametrize("escaped", [
    b"\\u0000", b"\\u001f", b"\\t", b"\\n", b"\\u007f", b"\x7f", b"\\u007F", b"\\u0080",
    b"\\u0085", b"\\u009F", b"\\u2028", b"\\u2029", b"\\u202a", b"\\u202E", b"\\u2066",
    b"\\u2069",
    # raw UTF-8 (JSON allows these unescaped, unlike C0)
    b"\xc2\x80", b"\xc2\x85", b"\xc2\x9f", b"\xe2\x80\xa8", b"\xe2\x80\xa9", b"\xe2\x80\xaa",
    b"\xe2\x80\xae", b"\xe2\x81\xa6", b"\xe2\x81\xa9"])
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
    value = orjson.dumps(_fields(transaction_id='a"b\\c/\u00e9', attributes={"k": "\u00a0"}))
    assert b"\\" in value
    rec = fastcodec.decode_record(value)
    assert rec is not None and rec.transaction_id == 'a"b\\c/\u00e9'


@pytest.mark.parametrize("char", NOT_CONTROLS)
def test_the_fast_path_vouches_for_the_neighbours_raw_or_escaped(char: str) -> None:
    for value in (orjson.dumps(_fields(channel="a" + char + "b")),
                  orjson.dumps(_fields(channel="@@")).replace(
                      b"@@", f"a\\u{ord(char):04x}b".encode())):
        rec = fastcodec.decode_record(value)
        assert rec is not None and rec.channel == "a" + char + "b", value


def test_the_fast_path_looks_past_harmless_non_ascii_and_json_whitespace() -> None:
    """0xC2 and 0xE2 also start NBSP, the euro sign, curly quotes: such messages are vouched
    for; JSON whitespace makes a message unprintable, yet a refused character is still
    found behind it."""
    euro = _fields(merchant_category="caf\u00e9 \u20ac\u2019\u00a0",
                   attributes={"\u00b0": "\u2030"})
    for value in (orjson.dumps(euro), orjson.dumps(euro, option=orjson.OPT_INDENT_2)):
        rec = fastcodec.decode_record(value)
        assert rec is not None and rec.merchant_category == "caf\u00e9 \u20ac\u2019\u00a0"
        for bad in ("\u2028", "\x85", "\u202e", "\x7f"):
            assert fastcodec.decode_record(value.replace(b"caf", bad.encode())) is None


def test_the_fast_path_leaves_every_refused_character_to_the_schema() -> None:
    """Each code point of the rule, raw (where JSON allows it) and escaped, in a text and in
    an attribute name: the fast path never vouches for it."""
    base = orjson.dumps(_fields(channel="@@", attributes={"k": "v"}))
    for code in sorted(REFUSED):
        escaped = f"\\u{code:04x}".encode()
        values = [base.replace(b"@@", b"a" + escaped), base.replace(b'"k"', b'"' + escaped + b'"')]
        if code >= 0x20:
            raw = chr(code).encode()
            values += [base.replace(b"@@", raw + b"b"), base.replace(b'"v"', b'"v' + raw + b'"')]
        assert all(fastcodec.decode_record(v) is None for v in values), hex(code)


def test_the_rule_refuses_exactly_its_code_points_in_every_form() -> None:
    """The regular expression, the pydantic pattern and the message all say the same, and
    the CSV reader's `str.isprintable` shortcut never skips a refused character."""
    every = [chr(i) for i in range(sys.maxunicode + 1) if not 0xD800 <= i < 0xE000]
    assert {ord(c) for c in every if CONTROL_CHARACTERS.match(c)} == REFUSED
    allowed = "".join(c for c in every if ord(c) not in REFUSED)
    assert TypeAdapter(Annotated[str, NO_CONTROL]).validate_python(allowed) == allowed
    for code in REFUSED:
        with pytest.raises(ValidationError, match=re.escape(CONTROL_RULE)):
            TypeAdapter(Annotated[str, NO_CONTROL]).validate_python(f"a{chr(code)}b")
        assert not chr(code).isprintable()
    for span in ("U+0000-U+001F", "U+007F-U+009F", "U+2028-U+2029", "U+202A-U+202E",
                 "U+2066-U+2069"):
        assert span in CONTROL_RULE


@pytest.mark.parametrize("field", [*TEXT_FIELDS, "note"])
@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f", "\x80", "\x85", "\x9f", "\u2028",
                                  "\u2029", "\u202a", "\u202e", "\u2066", "\u2069"])
def test_the_csv_row_parser_refuses_what_the_schema_refuses(field: str, char: str) -> None:
    with pytest.raises(ValueError) as info:
        PARSE(_row(**{field: "a" + char + "b"}))
    name = "attributes.'note'" if field == "note" else field
    assert str(info.value) == f"{name}: {CONTROL_RULE}: {('a' + char + 'b')!r} at position 1"


@pytest.mark.parametrize("field", [*TEXT_FIELDS, "note"])
def test_the_csv_row_parser_takes_the_neighbours(field: str) -> None:
    for char in NOT_CONTROLS:
        fields = PARSE(_row(**{field: "a" + char + "b"}))
        got = fields["attributes"]["note"] if field == "note" else fields[field]
        assert got == "a" + char + "b"


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


def test_a_csv_row_with_c1_a_separator_or_a_bidi_control_is_a_reject_with_line_and_field(
        tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow([*CSV_FIELDS, "note"])
        writer.writerow(_row(transaction_id="ok"))
        writer.writerow(_row(transaction_id="T1\u202e01"))
        writer.writerow(_row(transaction_id="t2", device="a\x85b"))
        writer.writerow(_row(transaction_id="t3", note="x\u2028y"))
        writer.writerow(_row(transaction_id="t4", country="C\u2069H"))
        writer.writerow(_row(transaction_id="t5", merchant_category="\u00a0food\u2027"))
    for read in (iter_csv, iter_records):
        items = list(read(path))
        errors = [i for i in items if isinstance(i, RowError)]
        assert [i[0] for i in items if not isinstance(i, RowError)] == [2, 7]
        assert [(e.line, e.reason) for e in errors] == [
            (3, f"transaction_id: {CONTROL_RULE}: 'T1\\u202e01' at position 2"),
            (4, f"device: {CONTROL_RULE}: 'a\\x85b' at position 1"),
            (5, f"attributes.'note': {CONTROL_RULE}: 'x\\u2028y' at position 1"),
            (6, f"country: {CONTROL_RULE}: 'C\\u2069H' at position 1")]


def test_a_control_character_in_an_extra_column_name_fails_at_the_header(
        tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(",".join([*CSV_FIELDS, "no\x00te"]) + "\n"
                    + ",".join(_row()) + "\n", encoding="utf-8")
    for read in (iter_csv, iter_records):
        with pytest.raises(CsvFormatError,
                           match="extra column 'no\\\\x00te' must not contain control"):
            read(path)
    path.write_text(",".join([*CSV_FIELDS, "no\u202ete"]) + "\n"
                    + ",".join(_row()) + "\n", encoding="utf-8")
    for read in (iter_csv, iter_records):
        with pytest.raises(CsvFormatError,
                           match="extra column 'no\\\\u202ete' must not contain control"):
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
        content = path.read_text(encoding="utf-8")
        assert not {ord(c) for c in content} & (REFUSED - {0x0A, 0x0D}), path


def test_score_shows_refused_c1_separators_and_bidi_controls_escaped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "it.csv"
    write_transactions_csv(stream(n=200, customers=10, seed=3), source)
    text = source.read_text(encoding="utf-8").splitlines(keepends=True)
    names = ["a\x85b", "c\u2028d", "e\u202ef", "g\u2066h\u2069"]
    bad = [line.replace(line.split(",")[0], name, 1)
           for line, name in zip(text[1:5], names, strict=True)]
    source.write_text("".join([text[0], *bad, *text[5:]]), encoding="utf-8")
    out = tmp_path / "o"
    assert main(["score", str(source), "--out", str(out)]) == 1
    capsys.readouterr()
    report = (tmp_path / "it.rejects.csv").read_text(encoding="utf-8")
    assert [line.split(",")[0] for line in report.splitlines()[1:]] == ["2", "3", "4", "5"]
    assert report.count("transaction_id: " + CONTROL_RULE) == 4
    for shown in (",a\\x85b,", ",c\\u2028d,", ",e\\u202ef,", ",g\\u2066h\\u2069,"):
        assert shown in report
    written = [p for p in out.rglob("*") if p.suffix in {".csv", ".json"}]
    for path in [*written, tmp_path / "it.rejects.csv"]:
        assert not {ord(c) for c in path.read_text(encoding="utf-8")} & (
            REFUSED - {0x0A, 0x0D}), path


def test_every_refused_character_is_shown_escaped_in_a_rejects_cell() -> None:
    for code in sorted(REFUSED - {0x09, 0x0A, 0x0D}):
        shown = neutralise(f"a{chr(code)}b")
        assert shown == (f"a\\x{code:02x}b" if code < 0x100 else f"a\\u{code:04x}b")
    assert neutralise("a\tb\r\nc\u00a0\u2027") == "a\tb\r\nc\u00a0\u2027"
