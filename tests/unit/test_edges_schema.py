"""Input limits of the schema, each tested at the boundary: at it and one unit either side."""

from __future__ import annotations

from datetime import datetime

import orjson
import pytest

from shared.codec import decode
from shared.errors import SchemaError
from shared.schemas import (
    MAX_ATTRIBUTE_KEY_CHARS,
    MAX_ATTRIBUTE_VALUE_CHARS,
    MAX_ATTRIBUTES,
    TEXT_LIMITS,
    Transaction,
    parse_amount,
    parse_timestamp,
    quote,
)


def _json(**over: object) -> bytes:
    base: dict[str, object] = {
        "transaction_id": "t1", "customer_id": "c1", "timestamp": "2025-01-01T00:00:00",
        "amount": 10.0, "country": "CH", "channel": "app", "device": "pc",
        "merchant_category": "food", "ip": "10.0.0.1",
    }
    return orjson.dumps({**base, **over})


def _ok(**over: object) -> Transaction:
    return decode(_json(**over), Transaction)


def _reason(**over: object) -> str:
    with pytest.raises(SchemaError) as info:
        decode(_json(**over), Transaction)
    return str(info.value)


@pytest.mark.parametrize(
    "text",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00-23:59",
     "9999-12-31T23:59:59+00:01"],
)
def test_zoned_timestamps_at_the_calendar_edges_are_validation_errors(text: str) -> None:
    # These raised OverflowError in the zone conversion, escaping validation.
    assert _reason(timestamp=text).startswith("timestamp: ")
    assert "out of range (years 1970-2100, UTC)" in _reason(timestamp=text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:00", datetime(1970, 1, 1)),
        ("1970-01-01T01:00:00+01:00", datetime(1970, 1, 1)),
        ("2100-12-31T23:59:59.999999", datetime(2100, 12, 31, 23, 59, 59, 999999)),
        ("2100-12-31T22:59:59-01:00", datetime(2100, 12, 31, 23, 59, 59)),
    ],
)
def test_timestamps_at_the_range_limits_are_accepted(text: str, expected: datetime) -> None:
    assert _ok(timestamp=text).timestamp == expected


@pytest.mark.parametrize(
    "text",
    ["1969-12-31T23:59:59.999999", "1970-01-01T00:59:59+01:00", "2101-01-01T00:00:00",
     "2100-12-31T23:00:00-01:00"],
)
def test_timestamps_one_unit_outside_are_rejected(text: str) -> None:
    assert "timestamp: " in _reason(timestamp=text) and "1970-2100" in _reason(timestamp=text)


def test_timestamp_range_applies_to_python_datetimes_and_epoch_numbers() -> None:
    with pytest.raises(ValueError, match="1970-2100"):
        Transaction.model_validate(orjson.loads(_json()) | {"timestamp": datetime(1969, 1, 1)})
    assert "1970-2100" in _reason(timestamp=-1)
    assert _ok(timestamp=0).timestamp == datetime(1970, 1, 1)


@pytest.mark.parametrize(
    "amount", [999_999_999_999.99, -999_999_999_999.99, 0.0, -0.0, -12.5, 1e-300])
def test_amounts_inside_the_range_are_accepted_refunds_included(amount: float) -> None:
    assert _ok(amount=amount).amount == amount


@pytest.mark.parametrize("amount", [1e12, -1e12, 1e308, -1e308, 1.2345678901234568e29])
def test_amounts_at_or_beyond_1e12_are_rejected(amount: float) -> None:
    reason = _reason(amount=amount)
    assert reason.startswith("amount: ") and "below 1e12" in reason


@pytest.mark.parametrize(
    ("text", "rule"),
    [("1_000", "not a number"), ("1,000", "not a number"), ("١٢", "not a number"),
     ("inf", "not a finite number"), ("-Infinity", "not a finite number"),
     ("nan", "not a finite number"), ("1e999", "not a finite number"),
     ("0x10", "not a number"), ("", "missing"), ("1e12", "below 1e12")],
)
def test_amount_text_in_json_follows_the_one_number_syntax(text: str, rule: str) -> None:
    reason = _reason(amount=text)
    assert reason.startswith("amount: ") and rule in reason


@pytest.mark.parametrize(("text", "value"), [(" 12.5 ", 12.5), ("-3", -3.0), ("1e3", 1000.0),
                                             (".5", 0.5), ("5.", 5.0), ("+1E-2", 0.01)])
def test_plain_decimal_text_is_an_amount(text: str, value: float) -> None:
    assert parse_amount(text) == value and _ok(amount=text).amount == value


@pytest.mark.parametrize(("field", "limit"), sorted(TEXT_LIMITS.items()))
def test_every_text_field_is_bounded_at_its_limit(field: str, limit: int) -> None:
    assert getattr(_ok(**{field: "x" * limit}), field) == "x" * limit
    reason = _reason(**{field: "x" * (limit + 1)})
    assert reason.startswith(f"{field}: ") and f"at most {limit} characters" in reason


def test_padding_does_not_count_for_stripped_fields() -> None:
    assert _ok(transaction_id=" " + "x" * TEXT_LIMITS["transaction_id"] + " ").transaction_id


def test_attributes_are_bounded_in_count_key_and_value() -> None:
    most = {f"k{i}": "v" for i in range(MAX_ATTRIBUTES)}
    assert _ok(attributes=most).attributes == most
    assert "at most 32 items" in _reason(attributes={**most, "one": "more"})
    key, value = "k" * MAX_ATTRIBUTE_KEY_CHARS, "v" * MAX_ATTRIBUTE_VALUE_CHARS
    assert _ok(attributes={key: value}).attributes == {key: value}
    assert "at most 64 characters" in _reason(attributes={key + "k": "v"})
    assert "at most 256 characters" in _reason(attributes={"k": value + "v"})


def test_a_900_kb_field_is_rejected_with_a_short_reason() -> None:
    reason = _reason(merchant_category="x" * 900_000)
    assert reason == "merchant_category: String should have at most 128 characters"


def test_timestamp_text_rules_are_shared_with_the_csv_reader() -> None:
    assert parse_timestamp(" 2025-01-01 00:00:00 ") == datetime(2025, 1, 1)
    with pytest.raises(ValueError, match="not a date-time"):
        parse_timestamp("yesterday")
    with pytest.raises(ValueError, match="missing"):
        parse_timestamp("  ")


def test_quote_cuts_long_values() -> None:
    assert quote("abc") == "'abc'"
    assert quote("x" * 41) == repr("x" * 40 + "…")
    assert quote("x" * 40) == repr("x" * 40)
