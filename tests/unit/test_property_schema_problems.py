"""Property: `shared.schema_problems.validate` (a large message's problems asked of pydantic in
small documents) gives what pydantic gives the whole message: the same record, or the same
first 10 problems and count, so the same reason and the same dead letter's error class."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from detector.dlq import DecodeFailure, decode_transaction
from shared.codec import MAX_PROBLEMS, describe_problems, describe_validation_error
from shared.schema_problems import (
    PIECE_CHARS,
    SMALL_VALUE_CHARS,
    Problems,
    _packed,
    _Parsed,
    _plan,
    _problems,
    _value_end,
    validate,
)
from shared.schemas import ScoredTransaction, Transaction

PROPERTY = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

LONG = "x" * (SMALL_VALUE_CHARS + 1)  # a value validated in a document of its own
_text = st.sampled_from(['"t"', '"  c "', '""', '"a\\"b\\\\"', '"\\u0000"', '"\\u2028x"',
                         f'"{"k" * 70}"', f'"{"v" * 300}"', f'"{LONG}"', '"é"'])
_scalar = st.sampled_from(["1", "-1", "1.5", "1e999", "NaN", "-Infinity", "true", "false",
                           "null", "[]", "{}", '[1,"a"]', '{"a":1}', f"[{','.join(['1'] * 70)}]"])
_value = _text | _scalar
_time = st.sampled_from(['"2025-01-01T00:00:00"', '"2025-01-01 00:00:00Z"', '"1969-01-01T00:00:00"',
                         '"2025-13-01T00:00:00"', '"x"', "0"])
_amount = st.sampled_from(["1.0", "-5", '"12.5"', '"1_000"', '"inf"', "1e12", "true", '"x"'])
_list = st.lists(_text | _scalar, max_size=70).map(lambda xs: f"[{','.join(xs)}]")
_map_key = st.sampled_from(['"a"', '"b"', '"\\u0061"', '"q\\"k"', f'"{"k" * 70}"', '"\\u0007"',
                            '"c"']) | st.integers(0, 40).map(lambda i: f'"{i}"')
_attr_value = st.sampled_from(['"v"', '"w"', "1", "[]", "[ ]", "{ }", "-Infinity", '"\\""',
                              '"\\u0000"', f'"{"v" * 300}"', "null"])
_flag_value = st.sampled_from(["true", "false", '"yes"', "1", "null"])


_space = st.sampled_from(["", " ", "\n\t "])


def _object(keys: st.SearchStrategy[str], values: st.SearchStrategy[str], most: int
            ) -> st.SearchStrategy[str]:
    return st.lists(st.tuples(_space, keys, _space, values, _space), max_size=most).map(
        lambda ms: "{" + ",".join(f"{a}{k}{b}:{b}{v}{c}" for a, k, b, v, c in ms) + "}")


_VALUES: dict[str, st.SearchStrategy[str]] = {
    "timestamp": _time, "amount": _amount, "schema_version": st.sampled_from(["1", "2", "true"]),
    "attributes": _object(_map_key, _attr_value, 45) | _value,
    "rule_flags": _object(_map_key, _flag_value, 70) | _value,
    "reasons_top3": _list | _value, "triggered_rules": _list | _value,
}
_NAMES = list(ScoredTransaction.model_fields)
_name = st.sampled_from(_NAMES) | st.sampled_from(["zz", "yy", "a b", "\\u0061mount", "é"])


@st.composite
def _member(draw: st.DrawFn) -> str:
    name = draw(_name)
    value = draw(_VALUES.get(name, _value))
    space = draw(st.sampled_from(["", " ", "\n\t"]))
    return f'"{name}"{space}:{space}{value}'


messages = st.one_of(
    st.lists(_member(), max_size=30).map(lambda ms: "{" + ",".join(ms) + "}"),
    st.sampled_from(['[1,2]', '"x"', '{"a":1,}', '{"a":', "", '{"a":1} x', " {} "]),
).map(str.encode)


def _whole(value: bytes, model: type[BaseModel]) -> BaseModel | tuple[str, int, bool]:
    try:
        return model.model_validate_json(value)
    except ValidationError as exc:
        kinds = {e["type"] for e in exc.errors()}
        return describe_validation_error(exc), exc.error_count(), "json_invalid" in kinds


def _pieces(value: bytes, model: type[BaseModel], piece: int) -> BaseModel | tuple[str, int, bool]:
    """`validate` in pieces; a JSON object pydantic's reader takes never falls back to the
    whole message (the bound on memory holds for it)."""
    try:
        _Parsed.model_validate_json(value)
        an_object = value.lstrip(b" \t\n\r").startswith(b"{")
    except ValidationError:
        an_object = False
    found: BaseModel | Problems
    if an_object:
        found = _problems(value.decode(), model, _plan(model), MAX_PROBLEMS, piece)
        if found.count == 0:
            return model.model_validate_json(value)
    else:
        found = validate(value, model, MAX_PROBLEMS, whole_bytes=0, piece=piece)
    if not isinstance(found, Problems):
        return found
    kinds = {e["type"] for e in found.first}
    return describe_problems(found.first, found.count), found.count, "json_invalid" in kinds



def _missing(model: type[BaseModel]) -> int:
    """The problems of a message with no required field: one each (a transaction's 8; a
    scored message's 9 with `is_flag`)."""
    return sum(f.is_required() for f in model.model_fields.values())
@PROPERTY
@given(messages, st.integers(1, 5), st.sampled_from([Transaction, ScoredTransaction]))
def test_a_message_in_pieces_reads_as_the_whole_message(
    value: bytes, piece: int, model: type[BaseModel]
) -> None:
    assert _pieces(value, model, piece) == _whole(value, model)


@pytest.mark.parametrize("model", [Transaction, ScoredTransaction])
@pytest.mark.parametrize("members", [32, 33, 34])
def test_a_dict_field_at_its_bound_stops_as_pydantic_stops_it(
    model: type[BaseModel], members: int
) -> None:
    """32 distinct valid attributes and bad ones before: the bad ones' problems; 33: the one
    problem pydantic stops at, the others dropped."""
    attrs = ",".join([f'"b{i}":[]' for i in range(40)] + [f'"{i}":"v"' for i in range(members)])
    value = f'{{"attributes":{{{attrs}}}}}'.encode()
    whole = _whole(value, model)
    assert isinstance(whole, tuple)
    missing = _missing(model)
    assert whole[1] == (missing + 40 if members <= 32 else missing + 1)
    for piece in (1, 7, 32, 40):
        assert _pieces(value, model, piece) == whole
    _same_as_whole(value, model)  # runs of 256 members: 40 bad and 32, 33 or 34 good in one


@pytest.mark.parametrize("model", [Transaction, ScoredTransaction])
@pytest.mark.parametrize("members", [31, 32, 33, 34])
@pytest.mark.parametrize("bad", ['"b{}":[]', '"{}":[]', r'"\u0062{}":[]'])  # the last: b, escaped
@pytest.mark.parametrize("times", [1, 2])
def test_bad_members_after_valid_ones_at_the_bound_are_each_counted(
    model: type[BaseModel], members: int, bad: str, times: int
) -> None:
    """31 or 32 distinct valid attributes (each once, or twice: read member by member) then
    bad ones (new keys, or the same keys repeated): the bad ones' problems; 33 valid:
    pydantic's one problem. The reading must not stop at the 32nd valid key."""
    valid = [f'"{i}":"v"' for i in range(members) for _ in range(times)]
    attrs = ",".join(valid + [bad.format(i) for i in range(5)])
    value = f'{{"attributes":{{{attrs}}}}}'.encode()
    whole = _whole(value, model)
    assert isinstance(whole, tuple)
    missing = _missing(model)
    assert whole[1] == (missing + 5 if members <= 32 else missing + 1)
    for piece in (1, 2, 7, 32, 40):
        assert _pieces(value, model, piece) == whole
    _same_as_whole(value, model)


@pytest.mark.parametrize("model", [Transaction, ScoredTransaction])
@pytest.mark.parametrize("key", ['"a"', f'"{"k" * 65}"', '"\\u0007"'])
def test_a_key_repeated_past_the_bound_names_its_own_problems_each_time(
    model: type[BaseModel], key: str
) -> None:
    """A key (valid, too long, a control character) given a valid value then a bad one,
    then 32 other keys with bad values (33 keys: the field may be stopped, read member by
    member): the repeat's problems named by its key, as the whole message names them."""
    attrs = ",".join([f'{key}:"v"', f"{key}:[]", f"{key}:1"] + [f'"{i}":[]' for i in range(32)])
    value = f'{{"attributes":{{{attrs}}}}}'.encode()
    whole = _whole(value, model)
    assert isinstance(whole, tuple)
    for piece in (1, 2, 3, 32):
        assert _pieces(value, model, piece) == whole
    _same_as_whole(value, model)


def test_a_large_message_is_read_in_pieces_and_its_reason_is_the_whole_messages() -> None:
    """Over `WHOLE_BYTES` by default: 83,000 problems, the reason as before."""
    value = b'{"attributes":{' + b",".join(b'"%06x":[]' % i for i in range(2_000)) + b"}}"
    found = validate(value, Transaction, MAX_PROBLEMS)
    assert isinstance(found, Problems) and len(found.first) == MAX_PROBLEMS
    whole = _whole(value, Transaction)
    assert isinstance(whole, tuple)
    assert (describe_problems(found.first, found.count), found.count) == whole[:2]
    with pytest.raises(DecodeFailure) as failed:
        decode_transaction(value)
    assert (failed.value.error_class, failed.value.message) == ("SchemaError", whole[0])


@pytest.mark.parametrize("piece", [1, 2, 3, 32])
def test_a_key_repeated_valid_then_invalid_still_counts_toward_the_bound(piece: int) -> None:
    """`x` valid then not, in one piece: its failure must not hide that it was read whole
    (33 distinct valid keys: pydantic stops the field with its one problem)."""
    attrs = ",".join([f'"{i}":"v"' for i in range(32)] + ['"x":"v"', '"x":[]', '"y":[]'])
    value = f'{{"attributes":{{{attrs}}}}}'.encode()
    whole = _whole(value, Transaction)
    assert isinstance(whole, tuple) and whole[1] == 9  # 8 missing, the field's one
    assert _pieces(value, Transaction, piece) == whole


@pytest.mark.parametrize(("members", "value"), [(1_000, '"v"'), (1_000, "[]"), (31, "[]"),
                                                (32, "[]"), (33, "[]")])
def test_a_key_repeated_costs_no_document_of_its_own(
    monkeypatch: pytest.MonkeyPatch, members: int, value: str
) -> None:
    """One key repeated, valid or not: its members go 32 to a document (each its own before:
    262,143 bytes of `"a":"v"` took 10-22x the whole message's time), the reason unchanged."""
    import shared.schema_problems as sp

    calls: list[int] = []
    errors = sp._errors

    def counted(*args: Any) -> list[ErrorDetails]:
        calls.append(1)
        return errors(*args)

    monkeypatch.setattr(sp, "_errors", counted)
    attrs = ",".join([f'"a":{value}'] * members)
    blob = f'{{"attributes":{{{attrs}}}}}'.encode()
    found = validate(blob, Transaction, MAX_PROBLEMS, whole_bytes=0)
    assert len(calls) <= 1 + -(-members // 32) + 1  # the others, the pieces, the stop
    whole = _whole(blob, Transaction)
    assert isinstance(whole, tuple) and isinstance(found, Problems)
    assert (describe_problems(found.first, found.count), found.count) == whole[:2]


_ws = st.sampled_from(["", " ", "\t", "\n", "\r", " \r\n\t "])
_hostile_name = st.sampled_from([
    "amount", "\\u0061mount", "\\u0061\\u006dount", "amoun\\u0074", "zz", "z\\u007a", "\\ud800",
    "\\ud83d\\ude00", "attributes", "\\u0061ttributes", "rule_flags", "rule\\u005fflags", "\\\"",
    "\\/", "/", "é", "\\u00e9", "country", "\\u0000"])
_hostile_value = st.sampled_from([
    "1e400", "-1e400", "-0", "-0.0", "0e0", "1E+2", "123456789012345678901234567890", "NaN",
    "Infinity", "-Infinity", '"\\ud800"', '"\\ud83d\\ude00"', '{"a":{"b":[1,{"c":"]}"}]}}',
    '["[", "\\"{", {"}": "]"}]', "[[[[[]]]]]", '{"amount":1}', '"\\u0000"'])
_hostile_key = st.sampled_from(['"a"', '"\\u0061"', '"\\ud800"', '"~0"', '"~1"', '"b"',
                                '"\\u0007"'])
_hostile_map_value = st.sampled_from(['"v"', "true", "false", "[]", "1", "null", "-0", '"yes"'])


@st.composite
def _hostile_member(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        pairs = draw(st.lists(st.tuples(_ws, _hostile_key, _ws, _hostile_map_value), max_size=70))
        value = "{" + ",".join(f"{a}{k}{b}:{b}{v}{a}" for a, k, b, v in pairs) + "}"
    else:
        value = draw(_hostile_value | _value)
    a, b = draw(_ws), draw(_ws)
    return f'{a}"{draw(_hostile_name)}"{b}:{a}{value}{b}'


hostile = st.tuples(st.sampled_from(["", "", " \n", "\ufeff"]),
                    st.lists(_hostile_member(), max_size=25),
                    st.sampled_from(["", "", "", " \n", " x", "}", ",", "\x00"])).map(
    lambda t: (t[0] + "{" + ",".join(t[1]) + "}" + t[2]).encode())


@PROPERTY
@given(hostile | hostile.map(lambda b: b.replace(b"v", b"\xff", 1)), st.integers(1, 5),
       st.sampled_from([Transaction, ScoredTransaction]))
def test_hostile_text_reads_as_the_whole_message(
    value: bytes, piece: int, model: type[BaseModel]
) -> None:
    """Escaped, repeated and stand-in-like keys across the known/unknown line, huge and
    non-finite numbers, every JSON space, a BOM, trailing bytes, bad UTF-8, lone surrogates,
    brackets in strings: the same reason and verdict as the whole message, no exception."""
    assert _pieces(value, model, piece) == _whole(value, model)


_json_text = st.recursive(
    _hostile_value | _value | _hostile_key,
    lambda inner: (st.lists(st.tuples(_ws, inner, _ws), max_size=5).map(
        lambda xs: "[" + ",".join(f"{a}{x}{b}" for a, x, b in xs) + "]")
        | st.lists(st.tuples(_ws, _hostile_key | _text, _ws, inner), max_size=5).map(
        lambda ms: "{" + ",".join(f"{a}{k}{b}:{b}{v}{a}" for a, k, b, v in ms) + "}")),
    max_leaves=30)


@PROPERTY
@given(_json_text, st.sampled_from(["", " ", "}", "]", ',"a":[1]}', ',{"b":"]"}]']))
def test_a_values_end_is_found_without_building_it(value: str, after: str) -> None:
    """`_value_end`, where a member's value ends (strings holding brackets and quotes,
    nesting, spaces, non-finite numbers), what Python's reader says."""
    text = f"{value}{after}"
    assert _value_end(text, 0) == json.JSONDecoder().raw_decode(text)[1] == len(value)


def _same_as_whole(value: bytes, model: type[BaseModel]) -> None:
    """In pieces (never falling back to the whole message), the whole message's reason."""
    found = _problems(value.decode(), model, _plan(model), MAX_PROBLEMS, None)
    whole = _whole(value, model)
    assert isinstance(whole, tuple) and isinstance(found, Problems)
    assert (describe_problems(found.first, found.count), found.count) == whole[:2]


@pytest.mark.parametrize("keys", [31, 32, 33])
@pytest.mark.parametrize("spelled", ['"k0"', '"\\u006b0"'])
def test_a_dict_field_of_repeated_keys_sent_as_it_stands_up_to_its_bound(
    keys: int, spelled: str
) -> None:
    """Up to `max_length` distinct keys (32) pydantic cannot stop the field: its members go
    as they stand; past it, or a key spelled two ways (33 spellings, 32 keys), piece by piece
    as before: the same reason either way (33 keys, each valid once: pydantic stops it)."""
    values = ("[]", '"v"')  # a bad value, a good one
    members = [f'"k{i % keys}":{values[i % 2]}' for i in range(3 * 256)]
    members.append(f"{spelled}:[]")
    value = f'{{"attributes":{{{",".join(members)}}}}}'.encode()
    whole = _whole(value, Transaction)
    assert isinstance(whole, tuple) and whole[1] == (8 + 1 if keys == 33 else 8 + 385)
    _same_as_whole(value, Transaction)


@pytest.mark.parametrize("members", [255, 256, 257, 3_000])
@pytest.mark.parametrize("model", [Transaction, ScoredTransaction])
def test_members_read_a_run_at_a_time_read_as_the_whole_message(
    members: int, model: type[BaseModel]
) -> None:
    """At `RUN_MEMBERS` (256) members a run, one either side, and many runs and pieces of
    `PIECE_CHARS`: unknown names, a dict field without a bound, NaN and spaces."""
    flags = ",".join([' "a" :\t"x"', '"b":NaN', '"c":true'] * members)
    unknown = ",".join(f'"z{i}":-Infinity' for i in range(members))
    _same_as_whole(f'{{"rule_flags":{{{flags}}},{unknown}}}'.encode(), model)


@pytest.mark.parametrize(("sizes", "pieces"), [
    ([PIECE_CHARS // 2 - 1, PIECE_CHARS // 2], 1), ([PIECE_CHARS // 2, PIECE_CHARS // 2], 2),
    ([PIECE_CHARS - 1], 1), ([PIECE_CHARS + 1], 1), ([1, PIECE_CHARS + 1, 1], 3)])
def test_a_piece_holds_at_most_piece_chars_but_a_longer_part_alone(
    sizes: list[int], pieces: int
) -> None:
    """Parts joined by ",": two halves of `PIECE_CHARS` less the comma fit, one more not."""
    found = list(_packed((("x" * n, 1) for n in sizes), None))
    assert len(found) == pieces
    assert all(len(",".join(p)) <= PIECE_CHARS or len(p) == 1 for p in found)
    assert [len(p) for p in _packed((("x", 1) for _ in range(7)), 3)] == [3, 3, 1]  # at most 3


def test_a_piece_after_a_part_longer_alone_holds_piece_chars_again() -> None:
    """The count and the characters start afresh in each piece: two halves of
    `PIECE_CHARS` less the comma fit in the piece after a part longer alone."""
    half = PIECE_CHARS // 2
    sizes = [PIECE_CHARS + 1, half - 1, half, half, half]
    assert [[len(x) for x in p] for p in _packed((("x" * n, 1) for n in sizes), None)] == [
        [PIECE_CHARS + 1], [half - 1, half], [half], [half]]  # 2 x half + "," is one over
    assert [len(p) for p in _packed((("x", 2) for _ in range(5)), 4)] == [2, 2, 1]


@pytest.mark.parametrize("chars", [PIECE_CHARS // 256 - 10, PIECE_CHARS // 256 + 10])
def test_a_run_longer_than_a_piece_is_sent_in_pieces(
    monkeypatch: pytest.MonkeyPatch, chars: int
) -> None:
    """A run of 256 members of `chars` characters each, either side of `PIECE_CHARS`: no
    document holds more, the reason the whole message's."""
    import shared.schema_problems as sp

    sent: list[int] = []
    add = sp._add

    def recorded(found: Problems, model: type[BaseModel], members: list[str],
                 where: str | None) -> None:
        sent.append(len(members[-1]) - len('"rule_flags":{}'))
        add(found, model, members, where)

    monkeypatch.setattr(sp, "_add", recorded)
    flag = f'"a":"{"x" * (chars - 6)}"'
    assert len(flag) == chars
    _same_as_whole(f'{{"rule_flags":{{{",".join([flag] * 600)}}}}}'.encode(), ScoredTransaction)
    assert sent and max(sent) <= PIECE_CHARS


_VALID = (b'{"transaction_id":"t","customer_id":"c","timestamp":"2025-01-01T00:00:00",'
          b'"amount":1.0,"country":"DE","channel":"web","device":"d","merchant_category":"m"}')


def _routes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records how `validate` reads each message: "whole" (pydantic given all of it) or
    "pieces"."""
    import shared.schema_problems as sp

    ways: list[str] = []
    whole, problems = sp._whole, sp._problems

    def as_whole(*args: Any) -> Any:
        ways.append("whole")
        return whole(*args)

    def in_pieces(*args: Any) -> Any:
        ways.append("pieces")
        return problems(*args)

    monkeypatch.setattr(sp, "_whole", as_whole)
    monkeypatch.setattr(sp, "_problems", in_pieces)
    return ways


@pytest.mark.parametrize(("bound", "ways"), [
    (len(_VALID) - 1, ["pieces", "whole"]),  # one byte over the bound: in pieces, no problem:
    (len(_VALID), ["whole"]),  # the record from the whole message (it holds no problem)
    (len(_VALID) + 1, ["whole"]),
])
def test_a_valid_message_gives_its_record_read_whole_up_to_the_bound(
    monkeypatch: pytest.MonkeyPatch, bound: int, ways: list[str],
) -> None:
    routes = _routes(monkeypatch)
    found = validate(_VALID, Transaction, 3, whole_bytes=bound)
    assert isinstance(found, Transaction) and found.amount == 1.0
    assert routes == ways


@pytest.mark.parametrize("keep", [1, 3])
@pytest.mark.parametrize(("bound", "ways"), [(0, ["pieces"]), (10**6, ["whole"])])
def test_a_messages_first_problems_are_kept_up_to_keep_and_all_counted(
    monkeypatch: pytest.MonkeyPatch, keep: int, bound: int, ways: list[str],
) -> None:
    """Over the bound the whole message never goes to pydantic (its list of problems is the
    memory this module saves); either way the first `keep` problems and their count."""
    routes = _routes(monkeypatch)
    found = validate(b'{"amount":"x"}', Transaction, keep, whole_bytes=bound)
    assert isinstance(found, Problems)
    assert (len(found.first), found.count, found.first[0]["loc"]) == (keep, 8, ("transaction_id",))
    assert routes == ways


@pytest.mark.parametrize("data", [_VALID.decode(), _VALID])
def test_text_and_other_models_are_read_whole(
    monkeypatch: pytest.MonkeyPatch, data: str | bytes,
) -> None:
    """Text (not the bytes of a message), or a model this module has no plan for."""

    class Other(BaseModel):
        amount: float

    routes = _routes(monkeypatch)
    model: type[BaseModel] = Transaction if isinstance(data, str) else Other
    assert isinstance(validate(data, model, 3, whole_bytes=0), model)
    assert routes == ["whole"]


def test_a_message_read_unforeseen_falls_back_to_the_whole_message_keeping_keep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shared.schema_problems as sp

    def unforeseen(*_: Any) -> Problems:
        raise sp._Unforeseen

    monkeypatch.setattr(sp, "_problems", unforeseen)
    found = validate(b'{"amount":"x"}', Transaction, 2, whole_bytes=0)
    assert isinstance(found, Problems) and (len(found.first), found.count) == (2, 8)


_past_key = st.sampled_from(['"a"', '"\\u0061"', f'"{"k" * 65}"', '"\\u0007"', '"\\u0007"',
                             '"~0"', '"b"']) | st.integers(0, 40).map(lambda i: f'"{i}"')
_past_value = st.sampled_from(['"v"', '"v"', '"v"', "[]", "1", "null", f'"{"v" * 257}"',
                               "[[1]]", '{"a":{"b":[]}}'])  # the last two: values with nesting


@PROPERTY
@given(st.lists(st.tuples(_past_key, _past_value), min_size=28, max_size=90),
       st.sampled_from([None, 1, 2, 3, 5, 32]),
       st.sampled_from([Transaction, ScoredTransaction]))
def test_a_dict_field_about_its_bound_reads_as_the_whole_message(
    members: list[tuple[str, str]], piece: int | None, model: type[BaseModel],
) -> None:
    """`attributes` near and past its 32 keys (where pydantic may stop it): refused keys
    (too long, a control character) repeated and spelled two ways, valid keys repeated with
    bad values: the reason and count of the whole message, in pieces of any size."""
    attrs = ",".join(f"{k}:{v}" for k, v in members)
    value = f'{{"attributes":{{{attrs}}}}}'.encode()
    found = _problems(value.decode(), model, _plan(model), MAX_PROBLEMS, piece)
    whole = _whole(value, model)
    assert isinstance(whole, tuple)
    assert (describe_problems(found.first, found.count), found.count) == whole[:2]



@pytest.mark.parametrize("bound", [0, 10**6])
def test_problems_hold_no_copy_of_the_input(bound: int) -> None:
    """Type, place and message only: no input (a copy of a value, of the whole message for
    a missing field), no URL, no context."""
    value = b'{"amount":"x","country":"' + b"D" * 300 + b'","attributes":{"k":[]}}'
    found = validate(value, Transaction, 10, whole_bytes=bound)
    assert isinstance(found, Problems) and found.count == 9
    assert [sorted(e) for e in found.first] == [["loc", "msg", "type"]] * 9


@pytest.mark.parametrize("field", ["amount", "customer_id", "reasons_top3"])
def test_a_long_object_in_a_field_that_is_no_dict_reads_as_the_whole_message(field: str) -> None:
    value = f'{{"{field}":{{"a":"{"v" * (SMALL_VALUE_CHARS + 10)}"}}}}'.encode()
    _same_as_whole(value, ScoredTransaction)
