"""The fast decoder's cheap routes (issue 14, the detector's shell) decide as the schema does.

A compact ASCII message is vouched for without a look at each stripped text, and its
timestamp read by msgspec rather than the schema's regular expression; what either route
leaves alone goes the old way. Held equal, value for value and reason for reason, to the
schema (`decode_transaction`) on the texts those routes see: timestamps of every shape
near RFC 3339's, ASCII messages with spaces and DEL at and off the stripped texts' edges.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import fastcodec
from shared.codec import encode
from shared.schemas import Transaction, parse_timestamp
from tests.poison_corpus import valid_fields
from tests.unit.test_fastcodec_parity import PROPERTY, _agree


def _stamp_or_error(text: str) -> Any:
    try:
        return fastcodec._stamp(msgspec.Raw(orjson.dumps(text)))
    except ValueError as exc:
        return f"ValueError: {exc}"


def _schema_or_error(text: str) -> Any:
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        return f"ValueError: {exc}"


DIGITS = st.sampled_from([*"0123456789", "\u0661", "\uff10", "a", ""])


@st.composite
def near_rfc3339(draw: st.DrawFn) -> str:
    """Date, separator, time, fraction and zone, each right or a near miss."""
    def num(n: int) -> str:
        return "".join(draw(DIGITS) for _ in range(draw(st.sampled_from([n, n, n, n - 1,
                                                                         n + 1]))))

    date = num(4) + draw(st.sampled_from(["-", "-", "/", ""])) + num(2) + \
        draw(st.sampled_from(["-", "-", "W"])) + num(2)
    sep = draw(st.sampled_from(["T", "t", " ", "_", "\t", "", "TT"]))
    time = num(2) + draw(st.sampled_from([":", ":", ""])) + num(2) + \
        draw(st.sampled_from([":", ":", ""])) + num(2)
    fraction = draw(st.sampled_from(["", "", "."]) | st.builds(
        lambda d: "." + d, st.text("0123456789", min_size=1, max_size=9))
        | st.sampled_from([",5", ".\u0665"]))
    zone = draw(st.sampled_from(["", "", "Z", "z", "+01:00", "-00:00", "+0100", "+01",
                                 "+24:00", "+23:59", "-12:30", "+05:99", " "]))
    edge = draw(st.sampled_from(["", "", " ", "\u00a0"]))
    return edge + date + sep + time + fraction + zone


@PROPERTY
@given(near_rfc3339() | st.text(max_size=30))
def test_the_fast_timestamp_is_the_schemas(text: str) -> None:
    assert repr(_stamp_or_error(text)) == repr(_schema_or_error(text))


@PROPERTY
@given(near_rfc3339())
def test_a_message_with_any_timestamp_gets_the_schemas_verdict(text: str) -> None:
    _agree(orjson.dumps({**valid_fields(), "timestamp": text}))


@pytest.mark.parametrize("text", [
    "2025-01-01T00:00:00.1234567",  # 27 characters: msgspec would round, the schema truncates
    "2025-01-01T00:00:00.9999995", "2100-12-31T23:59:59.9999999",
    "2025-01-01T00:00:00+0100",  # msgspec takes a zone without a colon: the schema does not
    "2025-01-01T00:00:00.1+0100", "1969-12-31T23:59:59", "2101-01-01T00:00:00",
])
def test_timestamps_msgspec_reads_otherwise_go_the_schemas_way(text: str) -> None:
    assert repr(_stamp_or_error(text)) == repr(_schema_or_error(text))
    _agree(orjson.dumps({**valid_fields(), "timestamp": text}))


#: Raw in the JSON text (the ASCII route), or escaped (tab, quote, backslash: the other).
ASCII_TEXT = st.text(st.sampled_from(["a", " ", "\x7f", "~"]), max_size=3) | st.text(
    st.sampled_from(["a", " ", "\x7f", "\t", '"', "\\"]), max_size=3)


@PROPERTY
@given(st.fixed_dictionaries({n: ASCII_TEXT for n in (
    "transaction_id", "customer_id", "country", "channel", "ip", "merchant_category")}),
    st.sampled_from(["", " "]))
def test_ascii_messages_with_spaces_and_del_get_the_schemas_verdict(
        texts: dict[str, str], ws: str) -> None:
    fields = {**valid_fields(), **{k: "x" + v if k != "ip" else v for k, v in texts.items()}}
    for name in ("transaction_id", "customer_id", "country"):  # edges of the stripped ones
        fields[name] = texts[name] + "x" + texts[name]
    sep = (",", ": ") if ws else (",", ":")
    _agree(json.dumps(fields, separators=sep, ensure_ascii=False).encode())


def test_a_compact_ascii_message_is_vouched_for_without_a_look_at_each_text(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The usual message (no space, no escape, no DEL; a timestamp as the producer writes
    it): neither the per-text look for edge space and refused characters nor the schema's
    timestamp parser runs."""
    def refuse(*args: object) -> None:
        raise AssertionError("called")

    message = encode(Transaction.model_validate(valid_fields()))
    expected = fastcodec.decode_record(message)
    for name in ("_stripped_texts", "_holds_control", "parse_timestamp"):
        monkeypatch.setattr(fastcodec, name, refuse)
    rec = fastcodec.decode_record(message)
    assert rec is not None, "a look the usual message should not need"
    assert rec == expected
