"""Property: the producer's fast encoding is the schema's own encoding, byte for byte.

`shared.codec.encode_fast` (orjson on the fields) must equal `encode` (pydantic) for any
valid `Transaction`: any text within the limits (astral, C1 control and non-ASCII characters),
any amount in range (subnormals, integers, many digits), any time in range (with or without
microseconds, zoned ones converted), labels present or absent, attributes.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.codec import decode, encode, encode_fast, encode_fields
from shared.schemas import (
    AMOUNT_LIMIT,
    CONTROL_CHARACTERS,
    MAX_ATTRIBUTE_KEY_CHARS,
    MAX_ATTRIBUTE_VALUE_CHARS,
    MAX_TIMESTAMP,
    MIN_TIMESTAMP,
    TEXT_LIMITS,
    Transaction,
)

PROPERTY = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Every code point a Python str read from UTF-8 can hold (no lone surrogates) but the
# characters valid text never holds (`CONTROL_RULE`: C0, DEL, C1, U+2028-U+202E,
# U+2066-U+2069).
chars = st.characters(exclude_categories=["Cs"]).filter(
    lambda c: not CONTROL_CHARACTERS.match(c))


def _text(field: str, min_size: int = 0) -> st.SearchStrategy[str]:
    text = st.text(chars, min_size=min_size, max_size=min(TEXT_LIMITS[field], 24))
    return text.filter(str.strip) if min_size else text  # ids and country are stripped


naive_times = st.datetimes(min_value=MIN_TIMESTAMP + timedelta(days=1),
                           max_value=MAX_TIMESTAMP - timedelta(days=1))
zoned_times = st.builds(
    lambda t, minutes: t.replace(tzinfo=timezone(timedelta(minutes=minutes))),
    naive_times, st.integers(-1439, 1439))
amounts = st.one_of(
    st.floats(min_value=-AMOUNT_LIMIT, max_value=AMOUNT_LIMIT, exclude_min=True,
              exclude_max=True, allow_nan=False),
    st.integers(-(10**11), 10**11).map(float),
    st.sampled_from([0.0, -0.0, 5e-324, 0.1 + 0.2, 1e11 + 0.5, 123456789.123456789]),
)
fields = st.fixed_dictionaries({
    "transaction_id": _text("transaction_id", 1),
    "customer_id": _text("customer_id", 1),
    "timestamp": naive_times | zoned_times,
    "amount": amounts,
    "country": _text("country", 1),
    "channel": _text("channel"),
    "device": _text("device"),
    "merchant_category": _text("merchant_category"),
    "ip": _text("ip"),
    "is_anomaly": st.none() | st.booleans(),
    "anomaly_type": st.none() | _text("anomaly_type"),
    "attributes": st.dictionaries(st.text(chars, max_size=MAX_ATTRIBUTE_KEY_CHARS),
                                  st.text(chars, max_size=MAX_ATTRIBUTE_VALUE_CHARS),
                                  max_size=4),
})


@PROPERTY
@given(fields)
def test_fast_encoding_is_the_schemas_encoding_for_any_valid_transaction(
    data: dict[str, Any],
) -> None:
    try:
        tx = Transaction.model_validate(data)
    except ValidationError:  # e.g. a text of whitespace Rust strips but Python does not
        reject()
    assert encode_fast(tx) == encode(tx)
    assert encode_fields(dict(tx.__dict__)) == encode(tx)
    assert decode(encode_fast(tx), Transaction) == tx


def test_a_zoned_time_is_written_as_the_naive_utc_time() -> None:
    tx = Transaction.model_validate({
        "transaction_id": "1", "customer_id": "c", "amount": 1.0, "country": "CH",
        "channel": "app", "device": "pc", "merchant_category": "food",
        "timestamp": datetime(2025, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))})
    assert b'"timestamp":"2025-01-01T10:00:00"' in encode_fast(tx) == encode(tx)
