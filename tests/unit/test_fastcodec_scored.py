"""Property: the sink's fast decoder of a scored message (`shared.fastcodec.decode_scored`)
vouches only for what the schema (`ScoredTransaction`) accepts, with the same values of the
same types, and so the same cells (`sink.csvfmt.record_cells` against `scored_cells` of the
schema's model) and rollup facts; it vouches for every row the detector writes. What it
leaves (None) the sink asks the schema, which accepts or names the reason as before. Either
way a rule's flag is true or false as written (never text), and the sink counts the rules
in `rule_flags` it has no column for (`sink.unknown_rules`).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ConfigDict
from pydantic_core import from_json

from shared import fastcodec
from shared.codec import decode, encode, field_name
from shared.columns import RULE_NAMES
from shared.errors import SchemaError
from shared.fastcodec import MAX_UNKNOWN_FIELDS
from shared.schemas import MAX_VERDICT_ITEMS, MAX_VERDICT_TEXT_CHARS, ScoredTransaction
from sink.batch import format_batch
from sink.csvfmt import record_cells, scored_cells
from sink.rollup import RollupParams, facts_of
from sink.unknown_rules import MAX_UNKNOWN_RULES
from tests.unit.test_fastcodec_parity import (
    CONTROLS,
    NUMBERS,
    TIMES,
    controlled,
    escaped,
    raw_values,
)
from tests.unit.test_property_decode import json_values
from tests.unit.test_property_encode import fields as valid_transactions

PROPERTY = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _typed(values: dict[str, Any]) -> str:
    """Values with their types and order (repr tells 1 from 1.0, -0.0 from 0.0)."""
    return repr(list(values.items()))


class _Kept(ScoredTransaction):
    """The schema keeping what it ignores, to name the fields it does not know."""

    model_config = ConfigDict(extra="allow")


def _agree(value: bytes) -> bool:
    """The fast decoder against the schema on `value`; whether the fast path vouched."""
    try:
        old: ScoredTransaction | None = decode(value, ScoredTransaction)
    except SchemaError:
        old = None
    fast = fastcodec.decode_scored(value)
    if old is None:
        assert fast is None, "the fast path accepts what the schema rejects"
        return False
    # the fields the schema ignored, as the sink names them (the least), and only those
    extra = tuple(_Kept.model_validate_json(value).model_extra or {})
    expected = tuple(sorted({field_name(n) for n in extra})[:MAX_UNKNOWN_FIELDS])
    assert fastcodec.unknown_scored_fields(value) == expected
    # a rule's flag is true or false as written, never text ("yes" was read as true)
    written = from_json(value).get("rule_flags")
    assert not any(isinstance(v, str) for v in (written or {}).values()), written
    # the sink exports the row and counts the rules it has no column for, by the names it
    # shows (the least `MAX_UNKNOWN_RULES`), whichever decoder read it
    result = format_batch([(0, 0, value)], RollupParams())
    assert result.rows == 1 and result.rejected == []
    unknown = sorted({field_name(n) for n in old.rule_flags if n not in RULE_NAMES})
    assert result.delta.unknown_rules.rows == dict.fromkeys(unknown[:MAX_UNKNOWN_RULES], 1)
    assert result.delta.unknown_rules.any == (1 if unknown else 0)
    if fast is None:
        return False
    # the exact record when there is no unknown field (the sink then looks no further)
    assert (type(fast) is fastcodec.ScoredRecord) == (not extra)
    names = fastcodec.ScoredRecord.__struct_fields__
    assert _typed({n: getattr(fast, n) for n in names}) == _typed(old.__dict__)
    assert record_cells(fast) == scored_cells(old)
    assert repr(facts_of(fast)) == repr(facts_of(old))
    # the schema path's record (`scored_record`) formats as the model does
    assert record_cells(fastcodec.scored_record(old)) == scored_cells(old)
    return True


def valid_scored() -> dict[str, object]:
    return {
        "schema_version": 1, "transaction_id": "t1", "customer_id": "c1",
        "timestamp": "2025-01-01T00:00:00", "amount": 12.5, "country": "CH",
        "channel": "app", "device": "pc", "merchant_category": "food", "ip": "10.0.0.1",
        "is_anomaly": None, "anomaly_type": None, "attributes": {}, "score": 0.25,
        "model_score": None, "is_ml_flag": False,
        "rule_flags": {name: False for name in RULE_NAMES}, "is_rule_flag": False,
        "is_flag": False, "reasons_top3": [], "triggered_rules": [], "model_version": "m1",
        "source_partition": 0, "source_offset": 7,
    }


def _list(items: list[str]) -> str:
    return "[" + ",".join(items) + "]"


UNIT = ["0", "1", "-0", "-0.0", "0.0", "1.0", "1e0", "0.5", "0.999999999999999999",
        "1.0000000000000002", "1e-400", "-1e-400", "5e-324", "2", "-0.5", "1e400", "NaN",
        "Infinity", "true", '"0.5"', "null", "01", ".5"]
BOOLS = ["true", "false", "null", "1", "0", "1.0", '"yes"', '"true"', "[]"]
INTS = ["0", "7", "-1", "1.0", "1e2", "null", '"1"', "true", "9223372036854775807",
        "9223372036854775808", "18446744073709551616", "-0"]
verdict_text = (st.builds(lambda t: json.dumps(t, ensure_ascii=False), controlled) | escaped
                | st.sampled_from(['""', '"x"', "null", "1", '"=1+1"', '"-5"',
                                   '"' + "x" * MAX_VERDICT_TEXT_CHARS + '"',
                                   '"' + "x" * (MAX_VERDICT_TEXT_CHARS + 1) + '"',
                                   '"' + "\u00e9" * MAX_VERDICT_TEXT_CHARS + '"']))
#: Names a newer detector (or anyone) might add (fields, rules): any text, near misses of
#: known names.
unknown_names = st.text(max_size=50) | st.sampled_from(
    ["Score", "score ", " score", "is_flag\u0000", "verdict_confidence", "x" * 41,
     "a\u202eb", "score\u2028", ""])
verdict_raw: dict[str, st.SearchStrategy[str]] = {
    "score": st.sampled_from(UNIT),
    "model_score": st.sampled_from(UNIT),
    "is_ml_flag": st.sampled_from(BOOLS),
    "is_rule_flag": st.sampled_from(BOOLS),
    "is_flag": st.sampled_from(BOOLS),
    "rule_flags": st.lists(st.tuples(verdict_text | st.sampled_from(
        [json.dumps(n) for n in RULE_NAMES]) | st.builds(json.dumps, unknown_names),
        st.sampled_from(BOOLS)), max_size=4).map(
            lambda kv: "{" + ",".join(f"{k}:{v}" for k, v in kv) + "}")
    | st.sampled_from(["null", "[]", '{"burst": true, "burst": false}',
                       "{" + ",".join(f'"r{i}": true' for i in range(MAX_VERDICT_ITEMS))
                       + "}",
                       "{" + ",".join(f'"r{i}": true' for i in range(MAX_VERDICT_ITEMS + 1))
                       + "}",
                       "{" + ",".join(f'"r{i % 40}": true' for i in range(80)) + "}"]),
    "reasons_top3": st.lists(verdict_text, max_size=4).map(_list)
    | st.sampled_from(["null", "{}", '"a"', _list(['"a"'] * MAX_VERDICT_ITEMS),
                       _list(['"a"'] * (MAX_VERDICT_ITEMS + 1))]),
    "triggered_rules": st.lists(verdict_text, max_size=3).map(_list)
    | st.sampled_from(['["burst", "burst"]', '[1]']),
    "model_version": verdict_text,
    "source_partition": st.sampled_from(INTS),
    "source_offset": st.sampled_from(INTS),
}
all_raw = {**raw_values, **verdict_raw}
#: Unknown values where msgspec, skipping them, checks less than the schema reads them
#: (nesting, integer digits, UTF-8), at and past the schema's limits.
ODD_VALUES = ["[" * n + "]" * n for n in (98, 99, 100, 199, 200, 201, 202, 300)] + [
    "1" * n for n in (999, 1000, 4300, 4301)] + [
    '"\udcff"', '"\ud800"', '{"a": [' * 60 + "1" + "]}" * 60, '"\u00e9\u20ac"']


@st.composite
def near_valid_scored_text(draw: st.DrawFn) -> bytes:
    """A valid scored row's JSON with up to 5 fields replaced, repeated or dropped, each
    value as raw text (every way JSON writes it), the keys in any order, any spacing."""
    pairs = [(k, json.dumps(v)) for k, v in valid_scored().items()]
    for _ in range(draw(st.integers(0, 5))):
        name = draw(st.sampled_from(sorted(all_raw)))
        raw = draw(all_raw[name])
        how = draw(st.sampled_from(["replace", "replace", "repeat", "drop"]))
        if how == "drop":
            pairs = [(k, v) for k, v in pairs if k != name]
        elif how == "repeat" or name not in dict(pairs):
            pairs.append((name, raw))
        else:
            pairs = [(k, raw if k == name else v) for k, v in pairs]
    # fields the sink does not know (a newer detector's), any value JSON writes
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, MAX_UNKNOWN_FIELDS + 1]))):
        name = draw(unknown_names)
        pairs.append((name, draw(st.builds(json.dumps, json_values)
                                 | st.sampled_from(UNIT + BOOLS + INTS + ODD_VALUES))))
    if draw(st.booleans()):
        pairs = draw(st.permutations(pairs))
    ws = draw(st.sampled_from(["", " ", "\n\t "]))
    body = ",".join(f"{ws}{json.dumps(k)}{ws}:{ws}{v}{ws}" for k, v in pairs)
    return (ws + "{" + body + "}" + ws).encode("utf-8", "surrogatepass")


@PROPERTY
@given(near_valid_scored_text())
def test_near_valid_scored_text_gets_the_schemas_verdict(value: bytes) -> None:
    _agree(value)


rule_keys = st.sampled_from(RULE_NAMES) | unknown_names


@PROPERTY
@given(st.lists(st.tuples(rule_keys, st.sampled_from(BOOLS)), max_size=20),
       st.sampled_from(BOOLS))
def test_any_rules_flags_get_the_schemas_verdict(flags: list[tuple[str, str]], fired: str
                                                 ) -> None:
    """A newer detector's rules (any names, known or not, repeated) with flags written
    every way, in an otherwise valid row."""
    pairs = [(k, json.dumps(v)) for k, v in valid_scored().items()]
    raw = "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in flags) + "}"
    pairs = [(k, raw if k == "rule_flags" else fired if k == "is_rule_flag" else v)
             for k, v in pairs]
    _agree(("{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in pairs) + "}").encode(
        "utf-8", "surrogatepass"))


@PROPERTY
@given(st.binary(max_size=300))
def test_arbitrary_bytes_get_the_schemas_verdict(value: bytes) -> None:
    _agree(value)


@PROPERTY
@given(json_values)
def test_arbitrary_json_gets_the_schemas_verdict(value: object) -> None:
    _agree(json.dumps(value, ensure_ascii=True, allow_nan=True).encode())


texts = st.text(st.characters(exclude_categories=["Cs"]).filter(
    lambda c: c not in "".join(CONTROLS[:1])), max_size=30)
unit = st.none() | st.floats(0, 1) | st.sampled_from([0.0, -0.0, 1.0, 0.01, 0.1 + 0.2])


@st.composite
def scored_rows(draw: st.DrawFn) -> ScoredTransaction | None:
    """A row as the detector writes it (any valid transaction, any valid verdict); None
    when the drawn text is one the schema refuses (a control character)."""
    flags = draw(st.dictionaries(st.sampled_from(RULE_NAMES) | texts, st.booleans(),
                                 max_size=8))
    try:
        return ScoredTransaction.model_validate({
            **draw(valid_transactions), "score": draw(unit), "model_score": draw(unit),
            "is_ml_flag": draw(st.booleans()), "rule_flags": flags,
            "is_rule_flag": draw(st.booleans()), "is_flag": draw(st.booleans()),
            "reasons_top3": draw(st.lists(texts, max_size=3)),
            "triggered_rules": draw(st.lists(texts, max_size=3)),
            "model_version": draw(texts),
            "source_partition": draw(st.none() | st.integers(0, 2**31)),
            "source_offset": draw(st.none() | st.integers(0, 2**63 - 1)),
        })
    except ValueError:
        return None


@PROPERTY
@given(scored_rows())
def test_the_fast_path_vouches_for_every_row_the_detector_writes(
    tx: ScoredTransaction | None,
) -> None:
    if tx is None:
        return
    value = encode(tx)
    if any(t[:1].isspace() or t[-1:].isspace()
           for t in (tx.transaction_id, tx.customer_id, tx.country)):
        _agree(value)  # stripped already: the schema's own output has no edge space
        return
    assert _agree(value), value


def test_scored_record_has_the_schemas_fields_in_order() -> None:
    assert fastcodec.ScoredRecord.__struct_fields__ == tuple(ScoredTransaction.model_fields)


def test_numbers_written_every_way_agree() -> None:
    base = json.dumps(valid_scored())
    for raw in [*UNIT, *NUMBERS]:
        for name in ("score", "model_score", "amount"):
            value = base.replace(f'"{name}": {json.dumps(valid_scored()[name])}',
                                 f'"{name}": {raw}')
            assert value != base or raw == json.dumps(valid_scored()[name])
            _agree(value.encode())


def test_times_written_every_way_agree() -> None:
    base = json.dumps(valid_scored())
    for time in TIMES:
        _agree(base.replace('"2025-01-01T00:00:00"', json.dumps(time)).encode())


def test_unknown_values_at_the_schemas_reading_limits_agree() -> None:
    """msgspec skips an unknown field's value unread where the schema reads it: nesting,
    long integers and UTF-8 at and past the schema's limits get the schema's verdict."""
    base = json.dumps(valid_scored())[:-1].encode("utf-8")
    raws = [v.encode("utf-8", "surrogatepass") for v in ODD_VALUES] + [
        b'"\xff"', b'"\xc3"', b'"\xed\xa0\x80"', b'"\xc3\xa9"']
    vouched = [_agree(base + b',"later":' + raw + b"}") for raw in raws]
    # the fast path still takes the plain ones
    assert vouched[:3] == [True, True, True] and vouched[-1] is True
