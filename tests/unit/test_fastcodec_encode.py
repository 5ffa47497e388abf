"""The scored row the detector writes from a record and its verdict (`encode_scored`) is,
byte for byte, the one it wrote through a `ScoredTransaction` (`encode`): for any valid
input and any verdict the core can give, and for the core's real verdicts on generated
data through the whole batch loop."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine, scored_row
from detector.core.verdict import Verdict, verdict_fields
from detector.loop import BatchProcessor
from detector.partition import PartitionState
from producer.generator import GeneratorConfig, generate
from shared import fastcodec
from shared.codec import encode
from shared.columns import RULE_NAMES, VERDICT_FIELDS
from shared.schemas import ScoredTransaction, Transaction
from tests.unit.detector_fakes import RecordingOutput, messages
from tests.unit.test_property_encode import chars
from tests.unit.test_property_encode import fields as valid_transactions

TX = Transaction(transaction_id="1", customer_id="c", timestamp=datetime(2025, 1, 1),
                 amount=1.5, country="CH", channel="app", device="pc",
                 merchant_category="grocery")

PROPERTY = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# What the core computes: scores rounded to 6 places in 0..1, any reason text (reasons quote
# input values), the declared rules, any model name.
unit_scores = st.none() | st.floats(0.0, 1.0).map(lambda x: round(x, 6))
verdicts = st.builds(
    lambda score, model, flags, reasons, rules, version, ml, flag: Verdict(
        score=score, model_score=model, is_ml_flag=ml, rule_flags=flags,
        is_rule_flag=bool(rules), is_flag=flag, reasons_top3=reasons,
        triggered_rules=rules, model_version=version),
    unit_scores, unit_scores,
    st.fixed_dictionaries({name: st.booleans() for name in RULE_NAMES}) | st.just({}),
    st.lists(st.text(chars, max_size=60), max_size=3),
    st.lists(st.sampled_from(RULE_NAMES), unique=True, max_size=3),
    st.text(chars, max_size=20), st.booleans(), st.booleans())
#: One buffer for every example, as the batch loop keeps one for every row.
SHARED = bytearray()
positions = st.tuples(st.none() | st.integers(0, 2**31 - 1), st.none() | st.integers(0, 2**63 - 1))


def _old(tx: Transaction, verdict: Any, partition: int | None, offset: int | None) -> bytes:
    """What the detector wrote before: a ScoredTransaction of the same fields, encoded."""
    data = {**tx.__dict__, **verdict_fields(verdict),
            "source_partition": partition, "source_offset": offset}
    row = scored_row(data)
    assert encode(row) == encode(ScoredTransaction.model_validate(data))
    return encode(row)


@PROPERTY
@given(valid_transactions, verdicts, positions)
def test_any_valid_row_is_encoded_as_the_schema_encodes_it(
    data: dict[str, Any], verdict: Any, position: tuple[int | None, int | None]
) -> None:
    try:
        tx = Transaction.model_validate(data)
    except ValidationError:
        reject()
    tx = Transaction.model_validate_json(encode(tx))  # as the detector receives it
    rec = fastcodec.decode_record(encode(tx))
    assert rec is not None
    expected = _old(tx, verdict, *position)
    assert fastcodec.encode_scored(rec, verdict, *position) == expected
    # A reused buffer, whatever it holds (longer rows, junk), changes nothing.
    assert fastcodec.encode_scored(rec, verdict, *position, SHARED) == expected
    assert fastcodec.encode_scored(rec, verdict, *position, bytearray(b"}{,x" * 3000)) == expected
    assert fastcodec.encode_scored(fastcodec.from_transaction(tx), verdict, *position) == expected
    assert fastcodec.encode_scored(tx, verdict, *position) == expected


def test_the_loop_writes_the_same_bytes_as_scoring_into_scored_transactions() -> None:
    """Generated data with every anomaly kind, labels and reasons: the batch loop's output
    (fast decode, verdicts, fast encode) equals `encode` of the rows `process` returns."""
    txs = generate(GeneratorConfig(seed=7, customers=60, days=20))
    config = CoreConfig(first_fit_after=500, refit_every=700, n_trees=20)
    expected = [encode(row) for row in PartitionEngine(config, 0).process(txs)]
    out = RecordingOutput()
    proc = BatchProcessor(out, snapshot_every=10**9)
    proc.parts[0] = PartitionState(PartitionEngine(config, 0), 0)
    msgs = messages(0, 0, txs)
    for lo in range(0, len(msgs), 333):
        proc.process(msgs[lo : lo + 333])
    assert len(txs) > 2_000 and any(b'"is_flag":true' in v for v in expected)
    assert any(b'"model_score":0.' in v for v in expected)  # the model scored some rows
    assert [v for _, v in out.scored_rows] == expected
    assert [k for k, _ in out.scored_rows] == [tx.customer_id.encode() for tx in txs]


def _struct(names: tuple[str, ...], **config: Any) -> Any:
    return msgspec.defstruct("V", [(n, Any, None) for n in names], **config)


@pytest.mark.parametrize(("cls", "joins"), [
    (Verdict, True),
    (_struct(VERDICT_FIELDS), True),
    (_struct(VERDICT_FIELDS[::-1]), False),  # the same names in another order
    (_struct(VERDICT_FIELDS[:-1]), False),  # one field short
    (_struct((*VERDICT_FIELDS, "extra")), False),  # one field more
    (_struct(VERDICT_FIELDS, omit_defaults=True), False),
    (_struct(VERDICT_FIELDS, array_like=True), False),
    (_struct(VERDICT_FIELDS, tag=True), False),
    (_struct(VERDICT_FIELDS, rename="camel"), False),
    (tuple, False),
])
def test_a_verdict_is_joined_on_only_when_its_json_is_the_rows_verdict_part(
        cls: Any, joins: bool) -> None:
    assert fastcodec._joins(cls) is joins


@pytest.mark.parametrize("config", [{}, {"omit_defaults": True}, {"array_like": True},
                                    {"rename": "camel"}])
def test_a_verdict_struct_of_any_encoding_gives_the_same_row(config: dict[str, Any]) -> None:
    """The row is written from the verdict's values in order, however its type encodes."""
    values = dict(zip(VERDICT_FIELDS, verdict_fields(Verdict(score=0.5, model_version="m",
                                                              reasons_top3=["r"])).values(),
                      strict=False))
    other = _struct(VERDICT_FIELDS, **config)(**values)
    rec = fastcodec.decode_record(encode(TX))
    assert rec is not None
    assert fastcodec.encode_scored(rec, other, 1, 2) == _old(TX, Verdict(**values), 1, 2)
