"""A customer's state packed into bytes: how a partition keeps its idle customers.

A `CustomerState` object takes about 2.2 KB of memory (a customer with one transaction);
packed, the same state takes about 0.4 KB. `detector.core.table.CustomerTable` keeps its
`hot_customers` most recently seen customers as objects and packs the others, unpacking a
customer when it is seen again. Packing loses nothing: `unpack(pack(s))` equals `s` field
for field (floats exactly), so the outputs do not depend on what is packed.

Layout: the event time of the customer's last event (`last_t`, little-endian double, so the
table can expire a packed customer without unpacking it), then the JSON array of the
fields in `CustomerState.__slots__` order, each through `CUSTOMER_CODECS`, which the state
records also use (detector.core.stateformat, detector.core.stateparts). Packed bytes live
only in memory: they are never written, so their layout may change between versions.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from operator import attrgetter, contains
from typing import Any

import orjson

from detector.core.state import CustomerState


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _or_minus_inf(x: float | None) -> float:
    return -math.inf if x is None else x


def _tuples(v: list[list[Any]]) -> list[tuple[Any, ...]]:
    return [tuple(x) for x in v]


#: Per customer field, (encode, decode) when JSON alone would not give the value back
#: (tuples come back as lists, -inf is not JSON, a bytearray is not a list); others as is.
CUSTOMER_CODECS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "hours": (list, bytearray),
    "last_t": (_finite_or_none, _or_minus_inf),
    "wake": (lambda w: (_finite_or_none(w[0]), w[1]), lambda w: (_or_minus_inf(w[0]), w[1])),
    "recent": (lambda v: v, _tuples),
    "window": (lambda v: v, _tuples),
    "context": (lambda v: v, _tuples),
    "pending": (lambda v: v, lambda v: [(r, tuple(e)) for r, e in v]),
}

_NAMES = CustomerState.__slots__
_ENCODE = tuple(CUSTOMER_CODECS[n][0] if n in CUSTOMER_CODECS else None for n in _NAMES)
_DECODE = tuple(CUSTOMER_CODECS[n][1] if n in CUSTOMER_CODECS else None for n in _NAMES)
_VALUES = attrgetter(*_NAMES)
_LAST_T = struct.Struct("<d")


def _encoded(values: tuple[Any, ...]) -> list[Any]:
    return [v if e is None else e(v) for e, v in zip(_ENCODE, values, strict=True)]


#: A fresh customer's fields, encoded, as JSON reads them back: what a record written before
#: a field existed holds.
_DEFAULTS: dict[str, Any] = orjson.loads(orjson.dumps(
    dict(zip(_NAMES, _encoded(_VALUES(CustomerState())), strict=True))))


def pack(state: CustomerState) -> bytes:
    """The state as bytes (`unpack` gives it back)."""
    return _LAST_T.pack(state.last_t) + fields_json(state)


def fields_json(held: CustomerState | bytes) -> bytes:
    """The JSON array of a customer's encoded fields in `CustomerState.__slots__` order,
    from its object or its packed bytes (no unpacking): what a snapshot stores."""
    if isinstance(held, bytes):
        return held[_LAST_T.size:]
    return orjson.dumps(_encoded(_VALUES(held)))


_NUMBER = frozenset({int, float})


def _kinds(default: Any) -> frozenset[type]:
    """The JSON kinds (Python types as orjson reads them) a field's value may have, from
    its fresh value: any number for a number (JSON may write 2.0 as 2), a number for
    null (-inf written as null: `last_t`)."""
    kind = type(default)
    if kind in _NUMBER:
        return _NUMBER
    return _NUMBER | {kind} if default is None else frozenset({kind})


#: Per field in `_NAMES` order, the kinds its value may have.
_KINDS = [_kinds(_DEFAULTS[n]) for n in _NAMES]


def pack_fields(fields: dict[str, Any]) -> bytes:
    """The packed state of a state record's encoded fields by name (as `pack` would give
    for the state the record decodes to): a field the record lacks is the default, a field
    unknown here is ignored. A value of another JSON kind than its field's is `ValueError`:
    a record is checked as it is read, not when its customer is next unpacked."""
    values = [fields[n] if n in fields else _DEFAULTS[n] for n in _NAMES]
    if not all(map(contains, _KINDS, map(type, values))):  # ~1 us a customer
        for name, kinds, value in zip(_NAMES, _KINDS, values, strict=True):
            if type(value) not in kinds:
                raise ValueError(f"field {name!r} holds {type(value).__name__}, not "
                                 f"{' or '.join(sorted(k.__name__ for k in kinds))}")
    last_t = _or_minus_inf(fields.get("last_t"))
    return _LAST_T.pack(last_t) + orjson.dumps(values)


def unpack(data: bytes) -> CustomerState:
    """The state `data` packs."""
    state = CustomerState.__new__(CustomerState)
    values = orjson.loads(memoryview(data)[_LAST_T.size:])
    for name, decode, value in zip(_NAMES, _DECODE, values, strict=True):
        setattr(state, name, value if decode is None else decode(value))
    return state


def last_t(data: bytes) -> float:
    """The packed customer's `last_t`, without unpacking it."""
    return float(_LAST_T.unpack_from(data)[0])
