"""Every kind of poison message is a `DecodeFailure` with the expected class and a bounded,
readable reason; nothing else escapes `decode_transaction`."""

from __future__ import annotations

import pytest

from detector.dlq import MAX_MESSAGE_CHARS, DecodeFailure, dead_letter_headers, decode_transaction
from shared.schemas import Transaction
from tests.poison_corpus import Poison, poison_messages, valid_fields

CORPUS = poison_messages()


def test_corpus_has_at_least_20_distinct_kinds() -> None:
    names = [p.name for p in CORPUS]
    assert len(names) >= 20 and len(set(names)) == len(names)
    assert len({p.key for p in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("poison", CORPUS, ids=[p.name for p in CORPUS])
def test_each_poison_message_is_a_decode_failure_with_its_class(poison: Poison) -> None:
    with pytest.raises(DecodeFailure) as info:
        decode_transaction(poison.value)
    assert info.value.error_class == poison.error_class, info.value.message
    assert info.value.message
    headers = dict(dead_letter_headers(info.value, "transactions", 0, 1))
    assert headers["error.class"] == poison.error_class.encode()
    assert 0 < len(headers["error.message"]) <= MAX_MESSAGE_CHARS * 4


def test_the_corpus_base_message_is_valid() -> None:
    import orjson

    assert decode_transaction(orjson.dumps(valid_fields(7))).transaction_id == "poison-7"


@pytest.mark.parametrize(
    ("name", "field", "rule"),
    [
        ("timestamp_year_1_zoned", "timestamp", "out of range"),
        ("timestamp_year_9999_zoned", "timestamp", "out of range"),
        ("timestamp_1969", "timestamp", "years 1970-2100"),
        ("amount_1e308", "amount", "below 1e12"),
        ("amount_30_digits", "amount", "below 1e12"),
        ("amount_nan", "amount", "finite"),
        ("amount_text_underscore", "amount", "not a number"),
        ("oversize_merchant_category", "merchant_category", "at most 128 characters"),
        ("oversize_transaction_id", "transaction_id", "at most 128 characters"),
        ("too_many_attributes", "attributes", "at most 32 items"),
        ("nul_in_transaction_id", "transaction_id", "must not contain control characters"),
        ("escape_in_attribute_value", "attributes.note", "must not contain control"),
        ("del_in_country", "country", "must not contain control characters"),
        ("next_line_in_device", "device", "must not contain control characters"),
        ("line_separator_in_customer_id", "customer_id", "line or paragraph separators"),
        ("rtl_override_in_transaction_id", "transaction_id", "bidirectional controls"),
        # the refused name is in the path, escaped
        ("bidi_isolate_in_attribute_name", "attributes.\\u2066k\\u2069.[key]",
         "bidirectional controls (U+202A-U+202E, U+2066-U+2069)"),
    ],
)
def test_rejection_names_the_field_and_the_rule(name: str, field: str, rule: str) -> None:
    [poison] = [p for p in CORPUS if p.name == name]
    with pytest.raises(DecodeFailure) as info:
        decode_transaction(poison.value)
    assert info.value.message.startswith(f"{field}: ")
    assert rule in info.value.message


def test_reasons_stay_short_whatever_the_input() -> None:
    for name in ("oversize_unknown_field_name", "many_unknown_fields",
                 "oversize_merchant_category"):
        [poison] = [p for p in CORPUS if p.name == name]
        with pytest.raises(DecodeFailure) as info:
            decode_transaction(poison.value)
        assert len(info.value.message) < 1_000, name


class _Boom(Exception):
    pass


def test_any_exception_while_decoding_becomes_a_decode_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def explode(data: bytes) -> object:
        raise _Boom("validator bug")

    monkeypatch.setattr(Transaction, "model_validate_json", explode)
    with pytest.raises(DecodeFailure) as info:
        decode_transaction(b'{"transaction_id": "1"}')
    assert (info.value.error_class, info.value.message) == ("_Boom", "validator bug")
    assert isinstance(info.value.__cause__, _Boom)


def test_exception_without_message_still_says_something(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(data: bytes) -> object:
        raise OverflowError

    monkeypatch.setattr(Transaction, "model_validate_json", explode)
    with pytest.raises(DecodeFailure) as info:
        decode_transaction(b"{}")
    assert info.value.error_class == "OverflowError" and info.value.message
