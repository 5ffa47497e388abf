"""A customer's state packed into bytes: how a partition keeps its idle customers.

A `CustomerState` object takes about 2.2 KB of memory (a customer with one transaction);
packed, the same state takes about 0.4 KB. `detector.core.table.CustomerTable` keeps its
`hot_customers` most recently seen customers as objects and packs the others, unpacking a
customer when it is seen again. Packing loses nothing: `unpack(pack(s))` equals `s` field
for field (floats exactly), so the outputs do not depend on what is packed.

Layout: the event time of the customer's last event (`last_t`, little-endian double, so the
table can expire a packed customer without unpacking it), then the JSON array of the
fields in `CustomerState.FIELDS` order, each through `CUSTOMER_CODECS`, which the state
records also use (detector.core.stateformat, detector.core.stateparts). Packed bytes live
only in memory: they are never written, so their layout may change between versions.
"""

from __future__ import annotations

import math
import re
import struct
import sys
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Annotated, Any, Final

import msgspec
import orjson

from detector.core.habits import MAX_WINDOW
from detector.core.state import NOVELTY, OFFSET_CLIP, ROUND_STEPS, CustomerState, Recent
from detector.core.surprise import MAX_BITS
from shared.schemas import MAX_TIMESTAMP, MIN_TIMESTAMP


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
    "days": (lambda v: v, _tuples),
    "context": (lambda v: v, _tuples),
    "pending": (lambda v: v, lambda v: [(r, tuple(e)) for r, e in v]),
}

_NAMES = CustomerState.FIELDS
_ENCODE = tuple(CUSTOMER_CODECS[n][0] if n in CUSTOMER_CODECS else None for n in _NAMES)
_DECODE = tuple(CUSTOMER_CODECS[n][1] if n in CUSTOMER_CODECS else None for n in _NAMES)
_VALUES = attrgetter(*_NAMES)
_LAST_T = struct.Struct("<d")
_LAST_T_AT = _NAMES.index("last_t")


def _encoded(values: tuple[Any, ...]) -> list[Any]:
    return [v if e is None else e(v) for e, v in zip(_ENCODE, values, strict=True)]


#: A fresh customer's fields, encoded, as JSON reads them back: what a record written before
#: a field existed holds.
DEFAULTS: dict[str, Any] = orjson.loads(orjson.dumps(
    dict(zip(_NAMES, _encoded(_VALUES(CustomerState())), strict=True))))


def pack(state: CustomerState) -> bytes:
    """The state as bytes (`unpack` gives it back)."""
    return _LAST_T.pack(state.last_t) + fields_json(state)


def pack_values(values: Sequence[Any]) -> bytes:
    """The packed bytes of a customer's encoded fields in `CustomerState.FIELDS` order
    (`field_values`' list; tuples are written as lists): `field_values` gives them back."""
    return _LAST_T.pack(_or_minus_inf(values[_LAST_T_AT])) + orjson.dumps(values)


def fields_json(held: CustomerState | bytes) -> bytes:
    """The JSON array of a customer's encoded fields in `CustomerState.FIELDS` order,
    from its object or its packed bytes (no unpacking): what a snapshot stores."""
    if isinstance(held, bytes):
        return held[_LAST_T.size:]
    return orjson.dumps(_encoded(_VALUES(held)))


#: The most a count of a customer's events may hold (`n`, `gaps`, ..., a code table's
#: counts, `rounds`): about a billion events of one customer, which no stream gives. The
#: kernel keeps the code tables' counts as int32 and the others as int64
#: (detector.kernel.slots), so a larger count (or one beyond 64 bits) could not be stored
#: or counted on exactly; a negative one is no count.
MAX_COUNT: Final = 1 << 30
_COUNT = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]
_COUNTS = dict[str, _COUNT]
_BYTE = Annotated[int, msgspec.Meta(ge=0, le=255)]
#: A last event's time (`last_t`, seconds since 1970): one of the event times the schema
#: takes (1970-01-01 .. 2100-12-31), or none yet. One beyond (2200, -1) is no event's:
#: restored, that customer held the idle expiry of every customer seen after it once it
#: was the least recently seen (twelfth hostile probe, 2026-12-06).
LAST_T_END: Final = (MAX_TIMESTAMP - MIN_TIMESTAMP).total_seconds()
_LAST_T_VALUE = Annotated[float, msgspec.Meta(ge=0.0, lt=LAST_T_END)]
_HOUR = Annotated[int, msgspec.Meta(ge=0, le=23)]
#: The range of a log amount (`amounts`, a context entry's and a held event's): what
#: `features.observe` gives, `log1p(max(amount, 0))` of a finite amount less its category's
#: offset (within +-`OFFSET_CLIP`). Beyond it the core raised (an overflow of `exp`)
#: where the kernel went on.
LOG_AMOUNT_MIN: Final = -OFFSET_CLIP
LOG_AMOUNT_MAX: Final = math.log1p(sys.float_info.max) + OFFSET_CLIP
_LOG_AMOUNT = Annotated[float, msgspec.Meta(ge=LOG_AMOUNT_MIN, le=LOG_AMOUNT_MAX)]
#: A learnt habit (`state.Context`), its hour and log amount in range (the kernel indexes
#: its 24-hour profiles by the hour, unchecked).
_CONTEXT = tuple[str, str, str, str, str, _HOUR, _LOG_AMOUNT]
#: The day's and the week's windows: at most `MAX_WINDOW` events, as every release kept
#: them (the kernel's tables of lgamma and binomial coefficients end at 64 events).
_WINDOW = Annotated[list[Recent], msgspec.Meta(max_length=MAX_WINDOW)]
#: The running mean of the log of the gaps between events (`habits._learn_clock`: each at
#: least log 1 = 0); a negative one made the core's `exp(-typical)` raise in `_rate` where
#: the kernel went on.
_GAP_LOG = Annotated[float, msgspec.Meta(ge=0.0)]
#: The last return from silence (`CustomerState.wake`): its time, and its surprise, a
#: term's value (at most `surprise.MAX_BITS`; one beyond made the core's recalibration
#: raise on an infinite bin where the kernel went on).
_WAKE = tuple[float | None, Annotated[float, msgspec.Meta(ge=0.0, le=MAX_BITS)]]
#: A held event (`habits.Held`) and its weights, or without them as written before them
#: (one msgspec type cannot take both tuple layouts: `check_held` checks each place).
_HELD = Annotated[tuple[str | int | float, ...], msgspec.Meta(min_length=7, max_length=9)]
#: The round-amount counters (`CustomerState.rounds`): counted, then at least each level.
_ROUNDS = Annotated[list[_COUNT],
                    msgspec.Meta(min_length=len(ROUND_STEPS) + 1, max_length=len(ROUND_STEPS) + 1)]
#: Each customer field's value as its record holds it (encoded, read back by JSON), deep:
#: a float field takes any JSON number, an integer field only an integer.
FIELD_TYPES: dict[str, Any] = {
    "amounts": list[_LOG_AMOUNT], "categories": _COUNTS, "channels": _COUNTS,
    "context": list[_CONTEXT], "countries": _COUNTS, "days": _WINDOW, "devices": _COUNTS,
    "exact": _COUNT,
    "explore": Annotated[list[float], msgspec.Meta(min_length=len(NOVELTY),
                                                   max_length=len(NOVELTY))],
    "fast": _COUNT, "gap_log": _GAP_LOG, "gap_mean": float, "gaps": _COUNT,
    "hops": _COUNT, "hours": Annotated[list[_BYTE], msgspec.Meta(min_length=24, max_length=24)],
    "ipnets": _COUNTS, "last_country": str, "last_t": _LAST_T_VALUE | None, "learnt": _COUNT,
    "n": _COUNT, "novel": _COUNT, "pending": list[tuple[float, _HELD]], "recent": list[Recent],
    "rounds": _ROUNDS,
    "wake": _WAKE, "window": _WINDOW,
}
_ROW: Any = tuple[tuple(FIELD_TYPES[n] for n in _NAMES)]  # type: ignore[misc]
_CHECK = msgspec.json.Decoder(_ROW).decode
#: where msgspec says a value failed: `$[i]...` in a row of fields, `$.fields.name...` in a
#: customer record (detector.core.stateparts.record_values)
_AT = re.compile(r" - at `\$(?:\[(\d+)\]|\.fields\.(\w+))([^`]*)`$")


def pack_fields(fields: dict[str, Any]) -> bytes:
    """The packed state of a state record's encoded fields by name (as `pack` would give
    for the state the record decodes to): a field the record lacks is the default, a field
    unknown here is ignored. A value not of its field's type, to the last list item, is
    `ValueError`: a record is checked as it is read, not when its customer is next unpacked
    (mid-stream, where it would fail that customer's every transaction)."""
    if tuple(fields) == _NAMES:  # as this version writes them: in order, none missing
        values = list(fields.values())
    else:
        values = [fields[n] if n in fields else DEFAULTS[n] for n in _NAMES]
    row = orjson.dumps(values)
    try:
        _CHECK(row)  # typed JSON decode in C: ~4 us a customer
    except msgspec.ValidationError as exc:
        raise ValueError(field_error(str(exc))) from None
    if "pending" in fields:
        check_held(fields["pending"])
    return _LAST_T.pack(_or_minus_inf(fields.get("last_t"))) + row


def _held_kind(place: int, value: object) -> bool:
    """Whether `value` fits place `place` of a held event (`habits.Weighted`): five texts,
    an hour of the day, then numbers: its log amount (in range) and weights."""
    if place < 5:
        return isinstance(value, str)
    if place == 5:
        return type(value) is int and 0 <= value <= 23
    if place == 6:  # its log amount, in range as a context entry's
        return isinstance(value, (int, float)) and LOG_AMOUNT_MIN <= value <= LOG_AMOUNT_MAX
    return isinstance(value, (int, float))


#: The lengths of a held event's record: `habits.Held`, written before the weights, and
#: `habits.Weighted` (`_HELD` takes 7 to 9: 8, one weight without the other, would crash
#: at the event's release).
HELD_SIZES: Final[tuple[int, ...]] = (7, 9)


def check_held(pending: list[Any]) -> None:
    """Each held event's length and values by place: `_HELD` (one msgspec type for the 7-
    and 9-value layouts) takes 8 values too and lets any of str, int or float stand
    anywhere."""
    for i, (_, event) in enumerate(pending):
        if len(event) not in HELD_SIZES:
            raise ValueError(f"field 'pending' holds a record of {len(event)} values at held "
                             f"event {i} (7, or 9 with its weights)")
        for place, value in enumerate(event):
            if not _held_kind(place, value):
                raise ValueError(f"field 'pending' holds a value of another kind at held "
                                 f"event {i}, place {place}: {value!r}")


def field_error(message: str) -> str:
    """msgspec's "Expected `int`, got `str` - at `$[18][2]`" (or `$.fields.n[2]`), told by
    field name."""
    at = _AT.search(message)
    if at is None:
        return f"fields hold another kind of value: {message}"
    name = _NAMES[int(at.group(1))] if at.group(1) is not None else at.group(2)
    where = f" at {at.group(3)}" if at.group(3) else ""
    what = message[:at.start()]
    return f"field {name!r} holds a value of another kind{where}: {what}"


def field_values(held: CustomerState | bytes) -> list[Any]:
    """A customer's encoded fields in `CustomerState.FIELDS` order, as its state record holds
    them (JSON's lists, `None` for -inf, the hours as a list), from its object or its packed
    bytes, without building the other: what the kernel's slots are filled from at once
    (detector.kernel.slots.store_rows)."""
    if isinstance(held, bytes):
        return orjson.loads(memoryview(held)[_LAST_T.size:])  # type: ignore[no-any-return]
    return _encoded(_VALUES(held))


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
