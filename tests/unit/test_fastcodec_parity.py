"""Property: the detector's fast decoder accepts and rejects exactly what the schema does.

`detector.dlq.decode_record` (msgspec, with the schema deciding what the fast path does not
vouch for) against `decode_transaction` (pydantic alone) on arbitrary bytes, arbitrary JSON,
near-valid transactions and near-valid JSON text (numbers, versions, booleans and times as
written, duplicate keys, edge whitespace of every kind): the same accept or reject, the same
error class and reason, the same values with the same types. And the fast path alone never
accepts what the schema rejects, nor gives other values; it does vouch for every message
the producer writes.
"""

from __future__ import annotations

import json
import sys
import typing
from typing import Any

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from detector.core.verdict import Verdict, verdict_fields
from detector.dlq import DecodeFailure, decode_record, decode_transaction
from shared import fastcodec
from shared.codec import encode
from shared.columns import MESSAGE_FIELDS, SCORED_ROW, VERDICT_FIELDS
from shared.schemas import IdText, ScoredTransaction, Transaction, TransactionView
from tests.poison_corpus import poison_messages, valid_fields
from tests.unit.test_property_decode import json_values, transaction_like
from tests.unit.test_property_encode import fields as valid_transactions

PROPERTY = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _outcome(decode: typing.Callable[[bytes | None], Any], value: bytes | None) -> Any:
    try:
        return decode(value)
    except DecodeFailure as failure:
        return failure


def message_fields(tx: TransactionView) -> dict[str, Any]:
    return {name: getattr(tx, name) for name in MESSAGE_FIELDS}


def _typed(fields: dict[str, Any]) -> str:
    """Values with their types and order (repr tells 1 from 1.0, -0.0 from 0.0, zones)."""
    return repr(list(fields.items()))


def _agree(value: bytes | None) -> None:
    old = _outcome(decode_transaction, value)
    new = _outcome(decode_record, value)
    fast = fastcodec.decode_record(value) if value else None
    if isinstance(old, DecodeFailure):
        assert fast is None, f"the fast path accepts what the schema rejects: {old}"
        assert isinstance(new, DecodeFailure)
        assert (new.error_class, new.message) == (old.error_class, old.message)
        return
    assert not isinstance(new, DecodeFailure), new
    assert _typed(message_fields(new)) == _typed(old.__dict__)
    if fast is not None:
        assert _typed(message_fields(fast)) == _typed(old.__dict__)


@PROPERTY
@given(st.binary(max_size=300))
def test_arbitrary_bytes_get_the_schemas_verdict(value: bytes) -> None:
    _agree(value)


@PROPERTY
@given(json_values)
def test_arbitrary_json_gets_the_schemas_verdict(value: object) -> None:
    _agree(json.dumps(value, ensure_ascii=True, allow_nan=True).encode())


@PROPERTY
@given(transaction_like, st.booleans())
def test_almost_valid_transactions_get_the_schemas_verdict(
    fields: dict[str, object], ascii_only: bool
) -> None:
    _agree(json.dumps(fields, ensure_ascii=ascii_only, allow_nan=True, default=str)
           .encode("utf-8", "surrogatepass"))


@PROPERTY
@given(st.binary(max_size=40), st.integers(0, 400), st.binary(max_size=40))
def test_valid_messages_cut_or_spliced_get_the_schemas_verdict(
    head: bytes, at: int, tail: bytes
) -> None:
    good = encode(Transaction.model_validate(valid_fields()))
    _agree(good[:at] + head + good[at:] + tail)


# Near-valid JSON text: each field's value as raw text, so numbers, versions and booleans
# can be written every way JSON allows, keys repeated and whitespace put anywhere.
SPACES = ["", " ", "\t", "\n", "\u00a0", "\u3000", "\x1c", "\u0085", "\u2028", "\u200b"]
edge_space = st.sampled_from(SPACES)
NUMBERS = ["1", "-0", "0.0", "-0.0", "1e2", "1E+2", "0.1e1", "1.0", "1.5e-7", "5e-324",
           "123456789012", "999999999999.99", "1e12", "-1e12", "1e11", "100000000000000000000",
           "1" * 20, "12.5", "1e400", "-1e-400", "NaN", "Infinity", "1.", ".5", "01", "+1"]
TIMES = ["2025-01-01T00:00:00", "2025-01-01 00:00:00", "2025-01-01T00:00:00Z",
         "2025-01-01t00:00:00", "2025-01-01T00:00:00.5", "2025-01-01T00:00:00.123456789",
         "2025-01-01T00:00:00+14:00", "2025-01-01T00:00:00-00:30", "2025-01-01",
         "2025-01-01T00:00", "2025-1-1T00:00:00", "1970-01-01T00:00:00+01:00",
         "2100-12-31T23:59:59-01:00", "1969-12-31T23:59:59", "20250101T000000",
         "2025-01-01T24:00:00", "2025-W01-1", "", " ",
         # finer than a microsecond (.NET writes 7 digits): truncated
         "2025-01-01T00:00:00.1234567Z", "2100-12-31T23:59:59.9999999",
         "1970-01-01T00:59:59.9999999+01:00", "2025-01-01T00:00:00.0000005"]


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _spaced(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda a, t, b: _quoted(a + t + b), edge_space, text, edge_space)


# Characters the rule refuses (`CONTROL_RULE`: each range at both ends), their neighbours
# (accepted), tab, LF, CR, NEXT LINE and U+2028/U+2029 (stripped at the edges of ids and
# country, refused elsewhere) and the separators U+001C-U+001F (whitespace to Python, not
# stripped by the schema: refused). Raw in the JSON text (C1 and the U+20xx ones may be)
# and, through `escaped`, as `\uXXXX` escapes.
CONTROLS = ["\x00", "\x01", "\t", "\n", "\r", "\x1b", "\x1c", "\x1f", "\x7f", "\x80",
            "\x85", "\x9f", "\u2028", "\u2029", "\u202a", "\u202e", "\u2066", "\u2069", " ",
            "~", "\xa0", "\u2027", "\u202f", "\u2065", "\u206a", "\u200f"]
controlled = st.builds(lambda a, c, b: a + c + b, st.sampled_from(["", "a"]),
                       st.sampled_from(CONTROLS), st.sampled_from(["", "b"]))
# The same text with every character escaped (`\u007f`, `\u0041`): JSON allows both.
escaped = controlled.map(lambda t: '"' + "".join(f"\\u{ord(c):04x}" for c in t) + '"')

raw_values: dict[str, st.SearchStrategy[str]] = {
    "schema_version": st.sampled_from(["1", "1.0", "true", '"1"', "2", "null", "1e0", "-0",
                                       "0", '" 1"']),
    "transaction_id": _spaced(st.sampled_from(["t1", "", "x" * 128, "x" * 127, "\u00e9"])
                              | controlled) | escaped,
    "customer_id": _spaced(st.sampled_from(["c1", "\U0001f600" * 128, "a b", "\\"])
                           | controlled),
    "timestamp": st.builds(lambda a, t, b: _quoted(a + t + b), edge_space,
                           st.sampled_from(TIMES), edge_space)
    | st.sampled_from(["0", "1700000000", "1e300", "null", "true", "1700000000000"]),
    "amount": st.sampled_from(NUMBERS)
    | st.builds(lambda a, t, b: _quoted(a + t + b), edge_space, st.sampled_from(NUMBERS),
                edge_space)
    | st.sampled_from(['"1_000"', '"inf"', '"\u0661"', '""', "true", "null"]),
    "country": _spaced(st.sampled_from(["CH", "", "x" * 64, "x" * 65]) | controlled),
    "channel": _spaced(st.sampled_from(["web", "", "x" * 128, "x" * 129]) | controlled)
    | escaped,
    "merchant_category": st.builds(_quoted, controlled) | escaped,
    "ip": _spaced(st.sampled_from(["10.0.0.1", "", "x" * 64, "x" * 65])) | st.just("null")
    | st.builds(_quoted, controlled),
    "is_anomaly": st.sampled_from(["true", "false", "null", "1", "0", "1.0", '"yes"', '"true"',
                                   '"on"', '"f"', "2"]),
    "anomaly_type": st.sampled_from(["null", '"BURST"', '""', '"' + "x" * 65 + '"', "1"])
    | escaped,
    "attributes": st.sampled_from(["{}", "null", "[]", '{"k": "v", "k": "w"}',
                                   '{"k": 1}', '{"' + "k" * 65 + '": "v"}',
                                   "{" + ",".join(f'"k{i % 20}": "v"' for i in range(40)) + "}",
                                   "{" + ",".join(f'"k{i}": "v"' for i in range(33)) + "}"])
    | st.builds(lambda k, v: "{" + k + ": " + v + "}", escaped, escaped),
    "unknown": st.sampled_from(["1", "null", '"x"']),
}


@st.composite
def near_valid_text(draw: st.DrawFn) -> bytes:
    pairs = [(k, json.dumps(v)) for k, v in valid_fields().items()]
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(sorted(raw_values)))
        raw = draw(raw_values[name])
        how = draw(st.sampled_from(["replace", "repeat", "drop"]))
        if how == "drop":
            pairs = [(k, v) for k, v in pairs if k != name]
        elif how == "repeat" or name not in dict(pairs):
            pairs.append((name, raw))
        else:
            pairs = [(k, raw if k == name else v) for k, v in pairs]
    pairs = draw(st.permutations(pairs))
    ws = draw(st.sampled_from(["", " ", "\n\t "]))
    body = ",".join(f"{ws}{json.dumps(k)}{ws}:{ws}{v}{ws}" for k, v in pairs)
    return (ws + "{" + body + "}" + ws).encode("utf-8", "surrogatepass")


@PROPERTY
@given(near_valid_text())
def test_near_valid_json_text_gets_the_schemas_verdict(value: bytes) -> None:
    _agree(value)


def test_the_poison_corpus_gets_the_schemas_verdict() -> None:
    for poison in poison_messages():
        _agree(poison.value)
        assert isinstance(_outcome(decode_record, poison.value), DecodeFailure), poison.name


@PROPERTY
@given(valid_transactions)
def test_the_fast_path_vouches_for_every_message_the_producer_writes(
    data: dict[str, Any],
) -> None:
    try:
        tx = Transaction.model_validate(data)
    except ValidationError:  # e.g. an id of whitespace only
        reject()
    message = encode(tx)
    rec = fastcodec.decode_record(message)
    assert rec is not None
    assert _typed(message_fields(rec)) == _typed(decode_transaction(message).__dict__)


def test_the_fast_path_knows_every_character_the_schema_strips() -> None:
    """It leaves text with such a character at an edge to the schema; it looks for them
    among the `str.isspace` characters below `SPACE_BOUND`."""
    schema = TypeAdapter(IdText).validate_python

    def strip(text: str) -> str:
        try:
            return schema(text)
        except ValidationError:  # a control character it refuses, and so does not strip
            return text

    every = [chr(i) for i in range(sys.maxunicode + 1) if not 0xD800 <= i < 0xE000]
    stripped = {c for c in every if strip("a" + c) != "a" + c}
    assert stripped == fastcodec._EDGE_SPACE
    assert all(strip(c + "a") == "a" for c in stripped)
    assert all(ord(c) < fastcodec.SPACE_BOUND for c in every if c.isspace())


def test_the_records_follow_the_declaration() -> None:
    assert fastcodec.TxRecord.__struct_fields__ == MESSAGE_FIELDS
    assert tuple(Transaction.model_fields) == MESSAGE_FIELDS
    view = [n for n in vars(TransactionView) if not n.startswith("_")]
    assert view == list(MESSAGE_FIELDS), "shared/schemas.py TransactionView"
    assert Verdict.__struct_fields__ == VERDICT_FIELDS
    empty = verdict_fields(Verdict())
    declared = {f.name: f.default for f in SCORED_ROW if f.name in VERDICT_FIELDS}
    assert empty == declared
    # every verdict field but the required ones may be left out, at its declared default
    required = {f.name: f.default for f in SCORED_ROW if f.required}
    assert list(required) == ["is_flag"]
    assert ScoredTransaction.model_validate({**valid_fields(), **empty}) == \
        ScoredTransaction.model_validate({**valid_fields(), **required})
    with pytest.raises(ValidationError, match="is_flag"):  # a transaction is no scored row
        ScoredTransaction.model_validate(valid_fields())
