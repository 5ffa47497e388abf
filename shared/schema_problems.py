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
  pydantic stops it there with that one problem instead: its members go in pieces of at
  most that many, each piece's problems naming the keys that failed (a key repeated in a
  piece is sent under a stand-in key: a key's problems and its value's are each its own);
- then, where unknown fields are forbidden, one problem per unknown name, in the order
  each first appears.

Anything else unforeseen (a problem naming no member of its piece) falls back to the whole
message, as before.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
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
#: Members of a dict field in one piece when it has no `max_length`.
PIECE_MEMBERS = 32
#: A valid value of each required field, to stand for it in the documents of the others.
_STAND_INS = {"transaction_id": '"t"', "customer_id": '"c"',
              "timestamp": '"2025-01-01T00:00:00"', "amount": "1.0", "country": '"DE"',
              "channel": '"web"', "device": '"d"', "merchant_category": '"m"'}
#: The models read this way (fields and stand-ins checked when first used).
MODELS = (Transaction, ScoredTransaction)

_WS = re.compile(r"[ \t\n\r]*")
#: A member whose value is a string, a number, a literal or empty (the text is JSON that
#: pydantic's reader took, so only where each ends is read), and the "," or "}" after it.
_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_EMPTY = r"\[[ \t\n\r]*\]|\{[ \t\n\r]*\}"
_SIMPLE = re.compile(rf'[ \t\n\r]*({_STRING})[ \t\n\r]*:[ \t\n\r]*'
                     rf'({_STRING}|[-0-9][-+.eE0-9]*|true|false|null|{_EMPTY})[ \t\n\r]*([,}}])')
#: A string or a bracket: what a container's end is found by (`_value_end`).
_TOKEN = re.compile(rf'{_STRING}|[\[\]{{}}]')
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


@cache
def _plan(model: type[BaseModel]) -> _Plan:
    fields = model.model_fields
    required = [n for n, f in fields.items() if f.is_required()]
    stand_ins = {n: f'"{n}":{_STAND_INS[n]}' for n in required}
    model.model_validate_json("{" + ",".join(stand_ins.values()) + "}")  # valid, or a bug
    maps = {n: next((m.max_length for m in f.metadata if isinstance(m, MaxLen)), None)
            for n, f in fields.items() if get_origin(f.annotation) is dict}
    return _Plan(tuple(fields), stand_ins, maps, model.model_config.get("extra") == "forbid")


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


def _members(text: str, at: int) -> Iterator[tuple[str, str, str]]:
    """(name, raw name, raw value) of each member of the object at `text[at]`, in order,
    repeated names kept; no value that is a list or an object is built."""
    for name, i, j, start, end in _spans(text, at):
        yield name, text[i:j], text[start:end]


def _spans(text: str, at: int) -> Iterator[tuple[str, int, int, int, int]]:
    """`_members` as places: (name, its start and end, its value's start and end)."""
    i = _skip(text, at + 1)  # text[at] is "{"
    if text[i] == "}":
        return
    while True:
        if (simple := _SIMPLE.match(text, i)) is not None:  # most members, in one step
            raw = simple.group(1)
            name = raw[1:-1] if "\\" not in raw else _JSON.decode(raw)
            yield name, simple.start(1), simple.end(1), simple.start(2), simple.end(2)
            if simple.group(3) == "}":
                return
            i = simple.end()
            continue
        i = _skip(text, i)  # after a simple member, at the space before the next one
        name, j = _JSON.raw_decode(text, i)
        start = _skip(text, _skip(text, j) + 1)  # past the ":"
        end = _value_end(text, start)
        yield name, i, j, start, end
        i = _skip(text, end)
        if text[i] == "}":
            return
        i = _skip(text, i + 1)  # past the ","


def _value_end(text: str, at: int) -> int:
    """Where the value at `text[at]` ends; a list or an object is never built (a million
    empty lists under an ignored name are +68 MiB as Python objects)."""
    if text[at] not in "[{":
        return int(_JSON.raw_decode(text, at)[1])
    depth = 0
    for token in _TOKEN.finditer(text, at):
        if (kind := token.group()) in ("[", "{"):
            depth += 1
        elif kind in ("]", "}"):
            depth -= 1
            if depth == 0:
                return token.end()
    raise _Unforeseen  # no end: not the JSON pydantic's reader took


def _errors(model: type[BaseModel], members: list[str], where: str | None) -> list[ErrorDetails]:
    """The problems of the object of `members` at field `where` (None: all)."""
    try:
        model.model_validate_json("{" + ",".join(members) + "}")
    except ValidationError as exc:
        return [e for e in details(exc) if where is None or e["loc"][:1] == (where,)]
    return []


def _problems(text: str, model: type[BaseModel], plan: _Plan, keep: int,
              piece: int | None) -> Problems:
    at = _skip(text, 0)
    if text[at] != "{":
        raise _Unforeseen
    last: dict[str, tuple[str, str]] = {}  # name -> (raw name, raw value): the last member
    known = frozenset(plan.fields)
    for name, raw, value in _members(text, at):
        if plan.forbid or name in known:  # an unknown name is no problem otherwise
            last[name] = (raw, value)
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
        unknown = [f"{raw}:{value}" for name, (raw, value) in last.items()
                   if name not in known]
        stand_ins = list(plan.stand_ins.values())
        size = piece or PIECE_MEMBERS
        for i in range(0, len(unknown), size):
            found.add(_errors(model, stand_ins + unknown[i:i + size], None))
    return found


def _map_problems(model: type[BaseModel], name: str, raw: str, value: str, others: list[str],
                  most: int | None, keep: int, piece: int | None) -> Problems:
    """The problems of dict field `name` (raw name `raw`) of value `value`, an object read
    member by member, in pieces of distinct keys validated beside `others`."""
    size = min(most or PIECE_MEMBERS, piece or PIECE_MEMBERS)
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

    members: list[tuple[str, str, str | None]] = []
    keys: set[str] = set()
    for key, k_raw, v_raw in _members(value, 0):
        if len(members) == size:
            check(members)
            members, keys = [], set()
            if most is not None and len(valid) > most:
                break
        members.append((key, f"{k_raw}:{v_raw}", v_raw if key in keys else None))
        keys.add(key)
    if members and (most is None or len(valid) <= most):
        check(members)
    if most is not None and len(valid) > most:
        # pydantic stops the field there with one problem, the others dropped
        over = list(valid.items())[: most + 1]
        doc = f"{raw}:{{{','.join(m for _k, m in over)}}}"
        stopped = _errors(model, [*others, doc], name)
        if len(stopped) != 1:
            raise _Unforeseen
        return Problems(stopped[:keep], 1, keep)
    return found
