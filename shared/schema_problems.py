"""The schema's verdict on a large JSON message, its first problems and their count, at a
bound on memory: what a reason quotes, without pydantic's list of every problem.

pydantic-core keeps one record per problem, and for each missing field a Python copy of the
whole message (a 1,000,000-byte scored message of 83,000 problems, 8 fields missing: +200 MiB
held by the `ValidationError`, +285 MiB at the peak); it has no limit on problems
(pydantic#8242, open) and its `fail_fast` stops a list or dict at its first, which changes
the count. So a message over `WHOLE_BYTES` is asked of pydantic in small documents whose
problems are the message's, in pydantic's order (a property test holds the reason and the
verdict equal to the whole message's, tests/unit/test_property_schema_problems.py):

- the message must be a JSON object pydantic's own reader takes (else it is validated
  whole: its one problem is the reader's, or that it is no object);
- fields in their declared order, each from its last member; a missing required field is
  one problem; every other member's problems are its own (no validator reads two fields);
- a dict field (`attributes`, `rule_flags`) lists its members' problems in their order, a
  repeated key's each time; once more than its `max_length` distinct keys are read whole,
  pydantic stops it there with that one problem instead. Without a `max_length`, or with
  no more distinct keys than it, nothing can stop it: its members go as they stand, many
  to a piece. Else in pieces of at most `max_length`, each piece's problems naming the keys
  that failed (a key repeated in a piece is sent under a stand-in key: a key's problems
  and its value's are each its own);
- then, where unknown fields are forbidden, one problem per unknown name, in the order
  each first appears.

A piece holds at most `PIECE_CHARS` characters of members (but a longer member alone): at
most the problems of a message validated whole. Members are read a run at a time by
regular expressions (a Python step a run, not a member); once the first problems are
known, a piece's are only counted. Anything else unforeseen (a problem naming no member of
its piece) falls back to the whole message, as before.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import TypeVar, get_origin

from annotated_types import MaxLen
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from shared.schemas import ScoredTransaction, Transaction

M = TypeVar("M", bound=BaseModel)

#: A message of at most this many bytes is validated whole, as before (a few thousand
#: problems at most, a few MiB for an instant).
WHOLE_BYTES = 16_384
#: A member's value longer than this (characters) is validated in a document of its own.
SMALL_VALUE_CHARS = 1_024
#: Characters of members in one piece (a member alone may be longer).
PIECE_CHARS = WHOLE_BYTES
#: Members read in one step at most (`_members`).
RUN_MEMBERS = 256
#: A valid value of each required field, to stand for it in the documents of the others.
_STAND_INS = {"transaction_id": '"t"', "customer_id": '"c"',
              "timestamp": '"2025-01-01T00:00:00"', "amount": "1.0", "country": '"DE"',
              "channel": '"web"', "device": '"d"', "merchant_category": '"m"',
              "is_flag": "false"}
#: The models read this way (fields and stand-ins checked when first used).
MODELS = (Transaction, ScoredTransaction)

_WS = re.compile(r"[ \t\n\r]*")
_S = r"[ \t\n\r]*"
_STRING = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
_NAME = re.compile(_STRING)
#: A list or an object with no list or object inside: read in one step, never built.
_FLAT = rf'\[(?:[^"\[\]{{}}]++|{_STRING})*+\]|\{{(?:[^"\[\]{{}}]++|{_STRING})*+\}}'
#: A value but a list or an object with one inside (the text is JSON that pydantic's reader
#: took, so only where each ends is read).
_SCALAR = rf'{_STRING}|-?Infinity|NaN|true|false|null|[-0-9][-+.eE0-9]*+|{_FLAT}'
_VALUE = re.compile(_SCALAR)
#: A member whose value is `_SCALAR`, and the "," or "}" after it.
_SIMPLE = re.compile(rf'{_S}({_STRING}){_S}:{_S}({_SCALAR}){_S}([,}}])')
#: One such member followed by ",": `findall` over a run of them gives (raw name, raw value).
_PAIR = re.compile(rf'{_S}({_STRING}){_S}:{_S}({_SCALAR}){_S},')
#: Up to the next "[", "]", "{" or "}" that is no string's and no flat value's.
_BRACKET = re.compile(rf'(?:[^"\[\]{{}}]++|{_STRING}|{_FLAT})*+([\[\]{{}}])')


@cache
def _run(most: int) -> re.Pattern[str]:
    """A run of 1 to `most` members that `_PAIR` reads, in one step."""
    return re.compile(rf'(?:{_S}{_STRING}{_S}:{_S}(?:{_SCALAR}){_S},){{1,{most}}}')


_JSON = json.JSONDecoder()  # takes NaN and Infinity, as pydantic's reader does


@dataclass
class Problems:
    """The first problems (at most the `keep` asked for, in pydantic's order) and how many."""

    first: list[ErrorDetails] = field(default_factory=list)
    count: int = 0
    keep: int = 10

    def add(self, errors: list[ErrorDetails]) -> None:
        self.first.extend(errors[: max(0, self.keep - len(self.first))])
        self.count += len(errors)

    def add_problems(self, other: Problems) -> None:
        self.add(other.first)
        self.count += other.count - len(other.first)


class _Unforeseen(Exception):
    """The pieces' problems did not read as this module expects: validate whole."""


class _Parsed(BaseModel):
    """Any JSON object, nothing kept: pydantic's reader's verdict on the text alone."""

    model_config = ConfigDict(extra="ignore")


@dataclass(frozen=True)
class _Plan:
    fields: tuple[str, ...]  # in declared order
    stand_ins: dict[str, str]  # required field -> a valid member `"name":value`
    maps: dict[str, int | None]  # dict field -> its max_length
    forbid: bool  # unknown fields are problems
    raw_names: frozenset[str]  # each field's name as a JSON string without escapes


@cache
def _plan(model: type[BaseModel]) -> _Plan:
    fields = model.model_fields
    required = [n for n, f in fields.items() if f.is_required()]
    stand_ins = {n: f'"{n}":{_STAND_INS[n]}' for n in required}
    model.model_validate_json("{" + ",".join(stand_ins.values()) + "}")  # valid, or a bug
    maps = {n: next((m.max_length for m in f.metadata if isinstance(m, MaxLen)), None)
            for n, f in fields.items() if get_origin(f.annotation) is dict}
    return _Plan(tuple(fields), stand_ins, maps, model.model_config.get("extra") == "forbid",
                 frozenset(f'"{n}"' for n in fields))


def details(exc: ValidationError) -> list[ErrorDetails]:
    """`exc`'s problems as a reason reads them (type, place, message: no copy of the input)."""
    return exc.errors(include_url=False, include_input=False, include_context=False)


def validate(data: bytes | str, model: type[M], keep: int, *,
             whole_bytes: int = WHOLE_BYTES, piece: int | None = None) -> M | Problems:
    """`model.model_validate_json(data)`, or its first `keep` problems and their count
    without the list of all (`data` over `whole_bytes`, `model` one of `MODELS`; `piece`:
    at most this many members of a dict field per document, for tests)."""
    if isinstance(data, str) or len(data) <= whole_bytes or model not in MODELS:
        return _whole(data, model, keep)
    try:
        _Parsed.model_validate_json(data)
        found = _problems(data.decode(), model, _plan(model), keep, piece)
    except (ValidationError, _Unforeseen, ValueError, IndexError):
        # not JSON or no object (one problem), or unforeseen: the message whole
        return _whole(data, model, keep)
    return _whole(data, model, keep) if found.count == 0 else found


def _whole(data: bytes | str, model: type[M], keep: int) -> M | Problems:
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        errors = details(exc)
        return Problems(errors[:keep], len(errors), keep)


def _skip(text: str, i: int) -> int:
    """The first place at or after `i` that is not JSON whitespace."""
    found = _WS.match(text, i)
    return found.end() if found else i


def _name(raw: str) -> str:
    """The name a raw JSON string spells."""
    return raw[1:-1] if "\\" not in raw else str(_JSON.decode(raw))


@dataclass(frozen=True)
class _Batch:
    """Members of an object in a row: `text[start:end]`, and each (raw name, raw value)."""

    start: int
    end: int
    pairs: list[tuple[str, str]]


def _members(text: str, at: int, most: int = RUN_MEMBERS) -> Iterator[_Batch]:
    """The members of the object at `text[at]` in order, repeated names kept, at most `most`
    a batch (a run of members of flat values is one step); no value is built."""
    i = _skip(text, at + 1)  # text[at] is "{"
    if text[i] == "}":
        return
    run = _run(most)
    while True:
        if (found := run.match(text, i)) is not None:
            yield _Batch(i, found.end() - 1, _PAIR.findall(text, i, found.end()))
            i = found.end()
            continue
        if (simple := _SIMPLE.match(text, i)) is not None:
            yield _Batch(i, simple.start(3), [(simple.group(1), simple.group(2))])
            if simple.group(3) == "}":
                return
            i = simple.end()
            continue
        i = _skip(text, i)  # at a name whose value holds a list or an object
        name = _NAME.match(text, i)
        if name is None:
            raise _Unforeseen
        start = _skip(text, _skip(text, name.end()) + 1)  # past the ":"
        end = _value_end(text, start)
        yield _Batch(i, end, [(name.group(), text[start:end])])
        i = _skip(text, end)
        if text[i] == "}":
            return
        i = _skip(text, i + 1)  # past the ","


def _value_end(text: str, at: int) -> int:
    """Where the value at `text[at]` ends; a list or an object is never built (a million
    empty lists under an ignored name are +68 MiB as Python objects): brackets are matched,
    flat ones and strings skipped in one step."""
    if (value := _VALUE.match(text, at)) is not None:
        return value.end()
    if text[at] not in "[{":
        raise _Unforeseen
    depth, i = 0, at
    while (bracket := _BRACKET.match(text, i)) is not None:
        i = bracket.end()
        depth += 1 if bracket.group(1) in "[{" else -1
        if depth == 0:
            return i
    raise _Unforeseen  # no end: not the JSON pydantic's reader took


def _errors(model: type[BaseModel], members: list[str], where: str | None) -> list[ErrorDetails]:
    """The problems of the object of `members` at field `where` (None: all)."""
    try:
        model.model_validate_json("{" + ",".join(members) + "}")
    except ValidationError as exc:
        return [e for e in details(exc) if where is None or e["loc"][:1] == (where,)]
    return []


def _add(found: Problems, model: type[BaseModel], members: list[str], where: str | None) -> None:
    """`found` plus the problems of the object of `members` beside valid stand-ins: all of
    them (None), or a member's of dict field `where`; once `found` holds its first problems,
    only their count (the stand-ins are valid: every problem is one of these)."""
    if len(found.first) < found.keep:
        errors = _errors(model, members, where)
        if where is not None and any(len(e["loc"]) < 2 for e in errors):
            raise _Unforeseen  # a problem naming no member
        found.add(errors)
        return
    try:
        model.model_validate_json("{" + ",".join(members) + "}")
    except ValidationError as exc:
        found.count += exc.error_count()


def _packed(parts: Iterable[tuple[str, int]], most: int | None) -> Iterator[list[str]]:
    """`parts` (members' text, how many members) in pieces of at most `most` members (None:
    any) and `PIECE_CHARS` characters joined by ",", but for a part longer alone."""
    piece: list[str] = []
    count, chars = 0, -1
    for part, members in parts:
        if piece and ((most is not None and count + members > most)
                      or chars + 1 + len(part) > PIECE_CHARS):
            yield piece
            piece, count, chars = [], 0, -1
        piece.append(part)
        count += members
        chars += 1 + len(part)
    if piece:
        yield piece


def _problems(text: str, model: type[BaseModel], plan: _Plan, keep: int,
              piece: int | None) -> Problems:
    at = _skip(text, 0)
    if text[at] != "{":
        raise _Unforeseen
    last: dict[str, tuple[str, str]] = {}  # name -> (raw name, raw value): the last member
    known = frozenset(plan.fields)
    for batch in _members(text, at):
        pairs = dict(batch.pairs)  # raw name -> its last raw value, in first appearance
        names = {raw: _name(raw) for raw in pairs} if "\\" in "".join(pairs) else None
        if names is not None and len(set(names.values())) < len(names):
            for raw, value in batch.pairs:  # two spellings of one name: each member in turn
                name = _name(raw)
                if plan.forbid or name in known:
                    last[name] = (raw, value)
        elif names is not None:
            last.update({names[raw]: (raw, value) for raw, value in pairs.items()
                         if plan.forbid or names[raw] in known})
        elif plan.forbid:
            last.update({raw[1:-1]: (raw, value) for raw, value in pairs.items()})
        else:  # an unknown name is no problem: only the fields' own spellings
            last.update({raw[1:-1]: (raw, pairs[raw]) for raw in pairs.keys() & plan.raw_names})
    alone: dict[str, str] = {}  # fields validated in documents of their own
    first: list[str] = []  # the others' members
    for name in plan.fields:
        if name in last:
            raw, value = last[name]
            if (name in plan.maps and value.startswith("{")) or len(value) > SMALL_VALUE_CHARS:
                alone[name] = raw
                continue
            first.append(f"{raw}:{value}")
    first += [plan.stand_ins[n] for n in alone if n in plan.stand_ins]
    together: dict[str, list[ErrorDetails]] = {}
    for e in _errors(model, first, None):
        together.setdefault(str(e["loc"][0]), []).append(e)
    found = Problems(keep=keep)
    for name in plan.fields:
        if name not in alone:
            found.add(together.pop(name, []))
            continue
        others = [m for n, m in plan.stand_ins.items() if n != name]
        raw, value = alone[name], last[name][1]
        if name in plan.maps and value.startswith("{"):
            found.add_problems(_map_problems(model, name, raw, value, others,
                                             plan.maps[name], keep, piece))
        else:
            found.add(_errors(model, [*others, f"{raw}:{value}"], name))
    if together:  # a problem at no field of the model
        raise _Unforeseen
    if plan.forbid:
        unknown = ((f"{raw}:{value}", 1) for name, (raw, value) in last.items()
                   if name not in known)
        stand_ins = list(plan.stand_ins.values())
        for part in _packed(unknown, piece):
            _add(found, model, stand_ins + part, None)
    return found


class _Stops(Exception):
    """More distinct keys than a dict field's `max_length`: pydantic may stop it."""


def _map_problems(model: type[BaseModel], name: str, raw: str, value: str, others: list[str],
                  most: int | None, keep: int, piece: int | None) -> Problems:
    """The problems of dict field `name` (raw name `raw`) of value `value`, an object read
    member by member, in pieces validated beside `others`."""
    try:
        return _unstopped(model, name, raw, value, others, most, keep, piece)
    except _Stops:
        assert most is not None
        return _stopped(model, name, raw, value, others, most, keep, piece)


def _unstopped(model: type[BaseModel], name: str, raw: str, value: str, others: list[str],
               most: int | None, keep: int, piece: int | None) -> Problems:
    """`_map_problems` where pydantic cannot stop the field (it has no `max_length`, or no
    more distinct keys than that): its members' problems in their order, the members sent as
    they stand, many to a piece; `_Stops` where it can."""
    keys: set[str] = set()  # raw keys (distinct keys are at most as many)

    def parts() -> Iterator[tuple[str, int]]:
        for batch in _members(value, 0, piece or RUN_MEMBERS):
            if most is not None:
                keys.update(dict(batch.pairs))
                if len(keys) > most:
                    raise _Stops
            text = value[batch.start:batch.end]
            if len(text) <= PIECE_CHARS:
                yield text, len(batch.pairs)
            else:
                yield from ((f"{k}:{v}", 1) for k, v in batch.pairs)

    found = Problems(keep=keep)
    for part in _packed(parts(), piece):
        _add(found, model, [*others, f"{raw}:{{{','.join(part)}}}"], name)
    return found


def _stopped(model: type[BaseModel], name: str, raw: str, value: str, others: list[str],
             most: int, keep: int, piece: int | None) -> Problems:
    """`_map_problems` where pydantic may stop the field: each member's problems its own,
    until more than `most` keys are read whole (pieces of at most `most` members, or a run
    of distinct keys as it stands)."""
    size = min(most, piece or most)
    found = Problems(keep=keep)
    valid: dict[str, str] = {}  # keys read whole, each with its first valid member

    def check(members: list[tuple[str, str, str | None]]) -> None:
        """`members`: (key, member, value if the key repeats one before it in the piece). A
        repeat's value is sent under a stand-in key no member has (a key's problems and its
        value's are each its own): its problems are the key's, then the value's."""
        taken = {key for key, *_ in members}
        spare = (f"~{i}" for i in itertools.count() if f"~{i}" not in taken)
        sent = [key if again is None else next(spare) for key, _m, again in members]
        doc = ",".join(m if again is None else f'"{k}":{again}'
                       for (_key, m, again), k in zip(members, sent, strict=True))
        mine: dict[object, list[ErrorDetails]] = {}
        for e in _errors(model, [*others, f"{raw}:{{{doc}}}"], name):
            mine.setdefault(e["loc"][1] if len(e["loc"]) > 1 else None, []).append(e)
        if not mine.keys() <= set(sent):
            raise _Unforeseen
        for (key, m, again), k in zip(members, sent, strict=True):
            own = mine.get(k, [])
            if again is not None:
                if any(e["loc"][2:3] == ("[key]",) for e in own):
                    raise _Unforeseen  # the stand-in key refused
                own = [e for e in mine.get(key, []) if e["loc"][2:3] == ("[key]",)] + [
                    ErrorDetails({**e, "loc": (name, key, *e["loc"][2:])}) for e in own]
            if not own:
                valid.setdefault(key, m)
            found.add(own)

    stopped: list[ErrorDetails] = []  # pydantic's one problem, if it stopped a piece

    def check_plain(batch: _Batch, pairs: dict[str, str]) -> None:
        """`check` of a batch of distinct keys without escapes, of any size, sent as it
        stands: its problems in pydantic's order are its members', or, more than `most` of
        them valid, the one problem it stops the field with (so does the whole message's)."""
        errors = _errors(model, [*others, f"{raw}:{{{value[batch.start:batch.end]}}}"], name)
        if any(len(e["loc"]) < 2 for e in errors):
            if len(errors) != 1 or errors[0]["type"] != "too_long":
                raise _Unforeseen
            stopped.extend(errors)
            return
        named = {e["loc"][1] for e in errors}
        if not named <= {k[1:-1] for k in pairs}:
            raise _Unforeseen
        if len(named) < len(pairs):
            for k_raw, v_raw in pairs.items():
                if k_raw[1:-1] not in named:
                    valid.setdefault(k_raw[1:-1], f"{k_raw}:{v_raw}")
        found.add(errors)

    members: list[tuple[str, str, str | None]] = []
    keys: set[str] = set()
    for batch in _members(value, 0, piece or RUN_MEMBERS):
        pairs = dict(batch.pairs)
        if (len(pairs) == len(batch.pairs) and "\\" not in "".join(pairs)
                and batch.end - batch.start <= PIECE_CHARS):
            if members:
                check(members)
                members, keys = [], set()
                if len(valid) > most:
                    break
            check_plain(batch, pairs)
            if stopped:
                return Problems(stopped[:keep], 1, keep)
            if len(valid) > most:
                break
            continue
        for k_raw, v_raw in batch.pairs:
            key = _name(k_raw)
            if len(members) == size:
                check(members)
                members, keys = [], set()
                if len(valid) > most:
                    break
            members.append((key, f"{k_raw}:{v_raw}", v_raw if key in keys else None))
            keys.add(key)
        if len(valid) > most:
            break
    if members and len(valid) <= most:
        check(members)
    if len(valid) > most:
        # pydantic stops the field there with one problem, the others dropped
        over = list(valid.items())[: most + 1]
        doc = f"{raw}:{{{','.join(m for _k, m in over)}}}"
        stopped = _errors(model, [*others, doc], name)
        if len(stopped) != 1:
            raise _Unforeseen
        return Problems(stopped[:keep], 1, keep)
    return found
