"""Dead letters name the error and the source of the record they keep unchanged."""

from __future__ import annotations

import pytest

from detector.dlq import (
    EMPTY_MESSAGE,
    INVALID_JSON,
    SCHEMA_ERROR,
    DecodeFailure,
    dead_letter_headers,
    decode_record,
    decode_transaction,
    schema_record,
)
from shared import fastcodec
from shared.codec import encode
from tests.unit.detector_fakes import tx


@pytest.mark.parametrize(
    ("value", "error_class", "mentions"),
    [
        (b"{not json", INVALID_JSON, "json"),
        (b"\xff\xfe", INVALID_JSON, "json"),
        (b'{"transaction_id": "1"}', SCHEMA_ERROR, "customer_id: Field required"),
        (b"[1, 2]", SCHEMA_ERROR, "should be an object"),
        (None, EMPTY_MESSAGE, "no value"),
        (b"", EMPTY_MESSAGE, "no value"),
    ],
)
def test_bad_messages_are_classified_with_a_reason(
    value: bytes | None, error_class: str, mentions: str
) -> None:
    with pytest.raises(DecodeFailure) as info:
        decode_transaction(value)
    assert info.value.error_class == error_class
    assert mentions in info.value.message


def test_bad_amount_and_unknown_schema_version_are_schema_errors() -> None:
    good = encode(tx(1)).decode()
    for bad in (good.replace('"amount":11.0', '"amount":"lots"'),
                good.replace('"schema_version":1', '"schema_version":99')):
        with pytest.raises(DecodeFailure) as info:
            decode_transaction(bad.encode())
        assert info.value.error_class == SCHEMA_ERROR


def test_valid_message_decodes() -> None:
    assert decode_transaction(encode(tx(3))) == tx(3)


def test_headers_name_error_and_source() -> None:
    headers = dict(dead_letter_headers(DecodeFailure("SchemaError", "x" * 5000), "in", 3, 77))
    assert headers["error.class"] == b"SchemaError"
    assert len(headers["error.message"]) == 2000
    assert (headers["source.topic"], headers["source.partition"], headers["source.offset"]) == (
        b"in", b"3", b"77")


def test_schema_record_is_the_schemas_verdict_where_the_fast_decoder_declines() -> None:
    """Edge space in a stripped field: the fast decoder leaves it to the schema, which strips."""
    value = encode(tx(3)).replace(b'"customer_id":"3"', b'"customer_id":" 3 "')
    assert fastcodec.decode_record(value) is None
    assert schema_record(value) == decode_record(value) == fastcodec.from_transaction(tx(3))


@pytest.mark.parametrize("value", [None, b"", b"{not json", b'{"transaction_id": "1"}'])
def test_schema_record_refuses_as_decode_transaction_does(value: bytes | None) -> None:
    with pytest.raises(DecodeFailure) as slow:
        schema_record(value)
    with pytest.raises(DecodeFailure) as schema:
        decode_transaction(value)
    assert (slow.value.error_class, slow.value.message) == (
        schema.value.error_class, schema.value.message)
