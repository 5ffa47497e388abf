"""Poison messages for the `transactions` topic: every kind of value the detector must
dead-letter (and survive), with the `error.class` header it must give each.

Used by the unit test `tests/unit/test_edges_poison.py` (each one is a `DecodeFailure`) and
by broker tests that mix the corpus into a valid stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

EMPTY_MESSAGE, INVALID_JSON, SCHEMA_ERROR = "EmptyMessage", "InvalidJSON", "SchemaError"
MESSAGE_TOO_LARGE = "MessageTooLarge"


@dataclass(frozen=True)
class Poison:
    """One poison message: a name, its key and value as sent, the expected error class."""

    name: str
    key: bytes
    value: bytes | None
    error_class: str


def valid_fields(n: int = 0) -> dict[str, object]:
    """The JSON fields of a valid transaction (the base every poison message bends)."""
    return {
        "schema_version": 1, "transaction_id": f"poison-{n}", "customer_id": "poison-customer",
        "timestamp": "2025-01-01T00:00:00", "amount": 12.5, "country": "CH", "channel": "app",
        "device": "pc", "merchant_category": "food", "ip": "10.0.0.1", "is_anomaly": None,
        "anomaly_type": None, "attributes": {},
    }


def _with(n: int, **changes: object) -> bytes:
    return orjson.dumps({**valid_fields(n), **changes})


def _raw(n: int, field: str, raw: bytes) -> bytes:
    """A valid message whose `field` holds `raw` JSON text (NaN, 1e308, ... as written)."""
    marker = b'"@@RAW@@"'
    return _with(n, **{field: "@@RAW@@"}).replace(marker, raw)


def _without(n: int, field: str) -> bytes:
    fields = valid_fields(n)
    del fields[field]
    return orjson.dumps(fields)


def poison_messages() -> list[Poison]:
    """At least 20 kinds of poison, each with a distinct name and key."""
    depth = 100_000
    kinds: list[tuple[str, bytes | None, str]] = [
        ("tombstone", None, EMPTY_MESSAGE),
        ("empty_value", b"", EMPTY_MESSAGE),
        ("invalid_utf8", _with(1).replace(b'"food"', b'"f\xff\xfeod"'), INVALID_JSON),
        ("not_json", b"{not json", INVALID_JSON),
        ("whitespace_only", b"   \n", INVALID_JSON),
        ("utf8_bom_before_json", b"\xef\xbb\xbf" + _with(2), INVALID_JSON),
        ("json_array", b"[1, 2, 3]", SCHEMA_ERROR),
        ("json_string", b'"a transaction"', SCHEMA_ERROR),
        ("json_number", b"42", SCHEMA_ERROR),
        ("json_null", b"null", SCHEMA_ERROR),
        ("deep_nesting", b"[" * depth + b"]" * depth, INVALID_JSON),
        ("deep_nesting_in_field", _raw(3, "attributes", b"[" * depth + b"]" * depth),
         INVALID_JSON),
        ("lone_surrogate", _raw(4, "merchant_category", b'"\\ud800"'), INVALID_JSON),
        ("wrong_type_amount_object", _with(5, amount={"value": 1}), SCHEMA_ERROR),
        ("wrong_type_customer_list", _with(6, customer_id=["c1"]), SCHEMA_ERROR),
        ("wrong_type_attributes", _with(7, attributes={"k": 1}), SCHEMA_ERROR),
        ("missing_fields", b'{"transaction_id": "poison-8"}', SCHEMA_ERROR),
        ("missing_timestamp", _without(9, "timestamp"), SCHEMA_ERROR),
        ("unknown_schema_version", _with(10, schema_version=99), SCHEMA_ERROR),
        ("timestamp_year_1_zoned", _with(11, timestamp="0001-01-01T00:00:00+01:00"),
         SCHEMA_ERROR),
        ("timestamp_year_9999_zoned", _with(12, timestamp="9999-12-31T23:59:59-01:00"),
         SCHEMA_ERROR),
        ("timestamp_1969", _with(13, timestamp="1969-12-31T23:59:59"), SCHEMA_ERROR),
        ("timestamp_2101", _with(14, timestamp="2101-01-01T00:00:00"), SCHEMA_ERROR),
        ("timestamp_not_a_date", _with(15, timestamp="yesterday"), SCHEMA_ERROR),
        ("timestamp_huge_number", _raw(16, "timestamp", b"1e300"), SCHEMA_ERROR),
        ("amount_nan", _raw(17, "amount", b"NaN"), SCHEMA_ERROR),
        ("amount_infinity", _raw(18, "amount", b"Infinity"), SCHEMA_ERROR),
        ("amount_minus_infinity", _raw(19, "amount", b"-Infinity"), SCHEMA_ERROR),
        ("amount_1e308", _raw(20, "amount", b"1e308"), SCHEMA_ERROR),
        ("amount_30_digits", _raw(21, "amount", b"1" * 30), SCHEMA_ERROR),
        ("amount_5000_digits", _raw(22, "amount", b"1" * 5000), INVALID_JSON),
        ("amount_text_underscore", _with(23, amount="1_000"), SCHEMA_ERROR),
        ("amount_text_inf", _with(24, amount="inf"), SCHEMA_ERROR),
        ("oversize_merchant_category", _with(25, merchant_category="x" * 200_000),
         SCHEMA_ERROR),
        # 75,000 attributes, an error each: refused unread (the schema's errors took ~330x)
        ("attributes_over_the_size_bound", b'{"attributes":{' + b",".join(
            b'"%05x":[]' % i for i in range(75_000)) + b"}}", MESSAGE_TOO_LARGE),
        ("oversize_transaction_id", _with(26, transaction_id="t" * 129), SCHEMA_ERROR),
        ("oversize_attribute_value", _with(27, attributes={"note": "v" * 257}), SCHEMA_ERROR),
        ("too_many_attributes", _with(28, attributes={f"k{i}": "v" for i in range(33)}),
         SCHEMA_ERROR),
        ("oversize_unknown_field_name", _with(29, **{"x" * 100_000: 1}), SCHEMA_ERROR),
        ("empty_customer_id", _with(30, customer_id=""), SCHEMA_ERROR),
        ("blank_transaction_id", _with(31, transaction_id="   "), SCHEMA_ERROR),
        ("null_customer_id", _with(32, customer_id=None), SCHEMA_ERROR),
        ("null_amount", _with(33, amount=None), SCHEMA_ERROR),
        ("extra_unknown_field", _with(34, surprise="boo"), SCHEMA_ERROR),
        ("many_unknown_fields", _with(35, **{f"extra{i}": i for i in range(10_000)}),
         SCHEMA_ERROR),
        ("nul_in_transaction_id", _with(36, transaction_id="a\x00b"), SCHEMA_ERROR),
        ("escape_in_attribute_value", _with(37, attributes={"note": "\x1b[31mred"}),
         SCHEMA_ERROR),
        ("del_in_country", _raw(38, "country", b'"C\x7fH"'), SCHEMA_ERROR),
        ("next_line_in_device", _raw(39, "device", b'"pc\xc2\x85"'), SCHEMA_ERROR),
        ("line_separator_in_customer_id", _with(40, customer_id="c\u20281"), SCHEMA_ERROR),
        ("rtl_override_in_transaction_id", _with(41, transaction_id="T\u202e10"),
         SCHEMA_ERROR),
        ("bidi_isolate_in_attribute_name", _with(42, attributes={"\u2066k\u2069": "v"}),
         SCHEMA_ERROR),
    ]
    return [Poison(name, f"poison-{name}".encode(), value, cls) for name, value, cls in kinds]
