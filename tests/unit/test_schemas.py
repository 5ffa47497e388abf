"""Message schemas: round trips and validation errors that name the bad field."""

from __future__ import annotations

from datetime import datetime

import orjson
import pytest

from shared.codec import decode, encode
from shared.errors import SchemaError
from shared.schemas import (
    FORMULA_START,
    QUOTE_CHARS,
    ScoredTransaction,
    Transaction,
    quote,
    unguarded,
)


def _tx(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "transaction_id": "5083", "customer_id": "38", "timestamp": "2025-01-01T00:00:00",
        "amount": 176.67, "country": "IT", "channel": "app", "device": "pc",
        "merchant_category": "electronics", "ip": "192.168.163.119",
        "is_anomaly": False, "anomaly_type": "normal",
    }
    base.update(over)
    return base


def test_transaction_round_trips_through_json() -> None:
    tx = Transaction.model_validate(_tx(attributes={"branch": "Zurich"}))
    back = decode(encode(tx), Transaction)
    assert back == tx
    assert back.timestamp == datetime(2025, 1, 1)
    assert back.schema_version == 1


def test_scored_transaction_round_trips_with_verdict() -> None:
    scored = ScoredTransaction.model_validate(
        _tx(score=0.93, is_ml_flag=True, rule_flags={"burst": True, "duplicate": False},
            is_rule_flag=True, is_flag=True, reasons_top3=["4th purchase in 90 s"],
            triggered_rules=["burst"], model_version="if-v2", source_partition=3,
            source_offset=17)
    )
    assert decode(encode(scored), ScoredTransaction) == scored


def test_labels_are_optional_and_unknown_means_none() -> None:
    raw = _tx()
    del raw["is_anomaly"], raw["anomaly_type"]
    tx = decode(orjson.dumps(raw), Transaction)
    assert tx.is_anomaly is None and tx.anomaly_type is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "a lot"}, "amount"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"schema_version": 99}, "schema_version"),
        ({"customer_id": ""}, "customer_id"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_validation_error_names_the_bad_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(SchemaError) as err:
        decode(orjson.dumps(_tx(**change)), Transaction)
    assert str(err.value).startswith(f"{field}:")


def test_non_finite_amount_is_rejected() -> None:
    data = orjson.dumps(_tx(amount=1.5)).replace(b'"amount":1.5', b'"amount":1e999')
    with pytest.raises(SchemaError, match=r"amount: .*finite"):
        decode(data, Transaction)


def test_missing_field_is_named() -> None:
    raw = _tx()
    del raw["country"]
    with pytest.raises(SchemaError, match="country: Field required"):
        decode(orjson.dumps(raw), Transaction)


def test_invalid_json_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="json"):
        decode(b"{not json", Transaction)


def test_aware_timestamps_become_naive_utc() -> None:
    tx = Transaction.model_validate(_tx(timestamp="2025-01-01T01:00:00+01:00"))
    assert tx.timestamp == datetime(2025, 1, 1, 0, 0)


@pytest.mark.parametrize(("length", "cut"), [(QUOTE_CHARS - 1, False), (QUOTE_CHARS, False),
                                             (QUOTE_CHARS + 1, True)])
def test_a_quote_cuts_only_text_longer_than_its_limit(length: int, cut: bool) -> None:
    text = "x" * length
    assert quote(text) == (repr("x" * QUOTE_CHARS + "…") if cut else repr(text))


@pytest.mark.parametrize(("field", "value"), [
    ("amount", True), ("amount", False), ("schema_version", True)])
def test_a_boolean_where_a_number_belongs_is_refused_by_both_decoders(
        field: str, value: bool) -> None:
    """pydantic's lax mode read `"amount": true` as 1.0, and the detector scored it (the fast
    decoder refused it and fell back to the schema; a hostile probe)."""
    from shared.fastcodec import decode_record

    data = {"schema_version": 1, "transaction_id": "t1", "customer_id": "c",
            "timestamp": "2025-01-01T00:00:00", "amount": 3.0, "country": "CH",
            "channel": "app", "device": "d", "merchant_category": "food", field: value}
    raw = orjson.dumps(data)
    assert decode_record(raw) is None
    with pytest.raises(SchemaError, match=f"{field}.*a number, not {str(value).lower()}"):
        decode(raw, Transaction)


@pytest.mark.parametrize(("field", "value", "says"), [
    ("score", 2.0, "less than or equal to 1"), ("model_score", -0.5, "greater than or equal"),
    ("score", float("nan"), "score"), ("source_partition", -5, "greater than or equal"),
    ("source_offset", -1, "greater than or equal"), ("is_flag", "yes", "not text"),
    ("is_rule_flag", "false", "not text")])
def test_a_scored_row_outside_its_declared_values_is_refused(
        field: str, value: object, says: str) -> None:
    """The sink exported a score of 2.0 (declared 0..1), NaN, source_partition -5 and
    `"is_flag": "yes"` written to the scored topic by another producer (a hostile probe)."""
    good = ScoredTransaction(
        transaction_id="t1", customer_id="c", timestamp=datetime(2025, 1, 1), amount=3.0,
        country="CH", channel="app", device="d", merchant_category="food", score=0.5,
        model_score=0.25, is_flag=False, source_partition=0, source_offset=7)
    assert decode(encode(good), ScoredTransaction) == good
    data = orjson.loads(encode(good))
    raw = orjson.dumps({**data, field: value}, option=orjson.OPT_SERIALIZE_NUMPY) if not (
        isinstance(value, float) and value != value) else encode(good).replace(
        b'"score":0.5', b'"score":NaN')
    with pytest.raises(SchemaError, match=says):
        decode(raw, ScoredTransaction)


@pytest.mark.parametrize("start", FORMULA_START)
def test_unguarded_removes_the_guard_before_each_formula_start_only(start: str) -> None:
    """`unguarded` gives back the text a guarded cell (`'` then a formula start) was made
    from, and leaves every other cell as it is: a lone `'`, a `'` before other text, a `'`
    later in the cell, two of them, a formula start without its guard."""
    assert unguarded("'" + start + "SUM(A1)") == start + "SUM(A1)"
    assert unguarded("'" + start) == start
    assert unguarded("''" + start) == "''" + start
    assert unguarded(start + "'x") == start + "'x"
    assert unguarded("x'" + start) == "x'" + start
    for kept in ("", "'", "'a", "'1", "a", "' =", "\"=x"):
        assert unguarded(kept) == kept
