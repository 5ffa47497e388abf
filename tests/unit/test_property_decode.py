"""Property: whatever bytes arrive, `decode_transaction` gives a valid `Transaction` or a
`DecodeFailure`, never another exception; what it accepts respects every input limit and
re-encodes (the detector's output path) to an equal message."""

from __future__ import annotations

import json
from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.dlq import DecodeFailure, decode_transaction
from shared.codec import encode
from shared.schemas import (
    AMOUNT_LIMIT,
    MAX_ATTRIBUTES,
    MAX_TIMESTAMP,
    MIN_TIMESTAMP,
    TEXT_LIMITS,
    Transaction,
)
from tests.poison_corpus import valid_fields

PROPERTY = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Any character, surrogates included (JSON writes lone ones as \ud800 escapes).
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**20, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True), any_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=20,
)


def _zone(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


timestamps = st.one_of(
    any_text,
    st.builds(lambda d, z, sep: d.isoformat(sep=sep) + z,
              st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
              st.sampled_from(["", "Z"]) | st.integers(-1439, 1439).map(_zone),
              st.sampled_from(["T", " "])),
    st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
                     "1969-12-31T23:59:59", "2101-01-01T00:00:00", "1970-01-01T00:00:00"]),
    st.integers() | st.floats(),
)
amounts = st.one_of(
    st.floats(), st.integers(), st.integers(min_value=10**20, max_value=10**400),
    any_text, st.sampled_from(["1_000", "1e308", "NaN", "1e12", "-999999999999.99", " 5 "]),
)
texts = st.one_of(any_text, st.text(min_size=60, max_size=140), st.none(), st.integers())
# Mostly valid transactions with some fields replaced: reaches every validator.
transaction_like = st.fixed_dictionaries(
    {}, optional={
        "schema_version": st.sampled_from([1, 2, 0, "1", None]),
        "transaction_id": texts, "customer_id": texts, "timestamp": timestamps,
        "amount": amounts, "country": texts, "channel": texts, "device": texts,
        "merchant_category": texts, "ip": texts,
        "is_anomaly": st.sampled_from([True, False, None, "yes", "on", "maybe", 1, 2]),
        "anomaly_type": texts,
        "attributes": st.dictionaries(any_text, any_text | st.integers(), max_size=40),
        "extra": json_values,
    },
).map(lambda changes: {**valid_fields(), **changes})


def _check(value: bytes | None) -> None:
    try:
        tx = decode_transaction(value)
    except DecodeFailure as failure:
        assert failure.error_class and failure.message
        return
    assert MIN_TIMESTAMP <= tx.timestamp < MAX_TIMESTAMP and tx.timestamp.tzinfo is None
    assert -AMOUNT_LIMIT < tx.amount < AMOUNT_LIMIT
    for field, limit in TEXT_LIMITS.items():
        assert len(getattr(tx, field) or "") <= limit
    assert len(tx.attributes) <= MAX_ATTRIBUTES
    assert decode_transaction(encode(tx)) == tx


@PROPERTY
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_as_another_exception(value: bytes) -> None:
    _check(value)


@PROPERTY
@given(json_values)
def test_arbitrary_json_never_escapes_as_another_exception(value: object) -> None:
    _check(json.dumps(value, ensure_ascii=True, allow_nan=True).encode())


@PROPERTY
@given(transaction_like, st.booleans())
def test_almost_valid_transactions_are_accepted_only_within_the_limits(
    fields: dict[str, object], ascii_only: bool
) -> None:
    _check(json.dumps(fields, ensure_ascii=ascii_only, allow_nan=True, default=str)
           .encode("utf-8", "surrogatepass"))


@PROPERTY
@given(st.binary(max_size=40), st.integers(0, 400), st.binary(max_size=40))
def test_valid_messages_cut_or_spliced_with_bytes_are_handled(
    head: bytes, at: int, tail: bytes
) -> None:
    good = encode(Transaction.model_validate(valid_fields()))
    _check(good[:at] + head + good[at:] + tail)
