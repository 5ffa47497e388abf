"""The kernel's restore reads each customer record once, typed (`stateparts.record_values`),
instead of packing it as the core does (`packed.pack_fields`) and reading the packed bytes
again (`packed.field_values`). The two readers must accept and refuse the same records,
with the same reasons, and fill a slot with the same values."""

from __future__ import annotations

import math
import random
from functools import cache
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from detector.core.engine import PartitionEngine
from detector.core.packed import field_values, pack_fields, pack_values
from detector.core.state import CustomerState
from detector.core.stateparts import (
    CUSTOMER_MAGIC,
    NewerStateError,
    record_seq,
    record_values,
)
from tests.ci import IN_CI
from tests.unit.state_stream import CONFIG, stream

NAMES = CustomerState.FIELDS


@cache
def _fields() -> tuple[dict[str, Any], ...]:
    """Every customer's fields as a full checkpoint writes them, a held event and a day's
    window among them."""
    engine = PartitionEngine(CONFIG, 2)
    rows = stream(600)
    odd = rows[-1].model_copy(update={"transaction_id": "odd", "amount": 99_999.0,
                                      "country": "JP", "device": "new", "channel": "atm"})
    engine.process([*rows, odd])
    records = [orjson.loads(d[len(CUSTOMER_MAGIC):])["fields"]
               for _, d in engine.checkpoint(full=True).customers]
    assert any(f["pending"] for f in records) and any(f["window"] for f in records)
    return tuple(records)


def _record(fields: dict[str, Any], seq: int = 1) -> bytes:
    return CUSTOMER_MAGIC + orjson.dumps({"seq": seq, "fields": fields})


def _lists(value: Any) -> Any:
    """Tuples as lists, deep (what JSON gives back)."""
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    return value


def _core(fields: dict[str, Any]) -> list[Any] | str:
    """What the core's restore reads of a record's fields: their values, or its refusal."""
    try:
        return field_values(pack_fields(orjson.loads(orjson.dumps(fields))))
    except ValueError as exc:
        return str(exc)


def _kernel(fields: dict[str, Any]) -> list[Any] | str:
    try:
        return _lists(record_values("c1", _record(fields)))  # type: ignore[no-any-return]
    except ValueError as exc:
        message = str(exc)
        assert message.startswith("customer 'c1': ")
        return message[len("customer 'c1': "):]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner,
                                                                 max_size=2),
    max_leaves=6)


@st.composite
def _edited(draw: st.DrawFn) -> dict[str, Any]:
    """A written customer's fields with some changed: dropped (an older record), another
    customer's value, any JSON value, one item inside a list replaced, a field unknown here."""
    fields = dict(draw(st.sampled_from(_fields())))
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(NAMES))
        how = draw(st.sampled_from(["drop", "other", "any", "inside", "unknown"]))
        if how == "drop":
            fields.pop(name, None)
        elif how == "other":
            fields[name] = draw(st.sampled_from(_fields()))[name]
        elif how == "any":
            fields[name] = draw(_JSON)
        elif how == "inside" and isinstance(fields.get(name), list) and fields[name]:
            items = list(fields[name])
            items[draw(st.integers(0, len(items) - 1))] = draw(_JSON)
            fields[name] = items
        elif how == "unknown":
            fields[f"later_{name}"] = draw(_JSON)
    order = {name: i for i, name in enumerate(NAMES)}  # as written: in order, unknown last
    return dict(sorted(fields.items(), key=lambda kv: order.get(kv[0], len(order))))


@settings(max_examples=400, deadline=None)
@given(_edited())
@example({}).via("a record of no field: every one its default")
@example({"n": 3.0}).via("an integer field written as a float")
@example({"gap_log": 2}).via("a float field written as an integer")
@example({"pending": [[1.0, ["CH", "d", "n", "web", "food", 3, 1.0, 1.0]]]}).via(
    "a held event of 8 values: one weight without the other")
@example({"pending": [[1.0, ["CH", "d", "n", "web", 5, 3, 1.0]]]}).via(
    "a held event with a number for a text")
@example({"hours": [0] * 23 + [256]}).via("an hour count out of range")
def test_the_kernels_reader_accepts_and_refuses_what_the_cores_does(
        fields: dict[str, Any]) -> None:
    """The same values (tuples aside), or the same reason, whatever a record holds; in
    another order of its fields, the same values or a refusal by both (with several fields
    wrong, each reader names the first it meets)."""
    assert _kernel(fields) == _core(fields)
    shuffled = dict(reversed(list(fields.items())))
    mine, theirs = _kernel(shuffled), _core(shuffled)
    assert mine == theirs or (isinstance(mine, str) and isinstance(theirs, str))


def test_a_record_missing_its_fields_or_of_another_version_is_refused_naming_the_customer(
        ) -> None:
    """By both readers: `record_seq` (which orders the records and skips the fields) and
    `record_values`; a record without its fields only by the second."""
    fields = _fields()[0]
    good = _record(fields, seq=5)
    assert record_seq("c9", good) == 5
    for data, reason, seq_too in [
            (b"ASP\x03" + good[4:], "not a customer state record$", True),
            (CUSTOMER_MAGIC[:3] + b"\x02" + good[4:], "unsupported customer record version 2$",
             True),
            (CUSTOMER_MAGIC + orjson.dumps({"seq": 5}), "missing required field `fields`", False),
            (CUSTOMER_MAGIC + orjson.dumps({"fields": fields}), "missing required field `seq`",
             True),
            (CUSTOMER_MAGIC + orjson.dumps({"seq": "5", "fields": fields}), "Expected `int`",
             True),
            (good[:-1], "truncated", True)]:
        readers = [record_seq, record_values] if seq_too else [record_values]
        for read in readers:
            with pytest.raises(ValueError, match=rf"^customer 'c9': .*{reason}"):
                read("c9", data)
    assert record_seq("c9", CUSTOMER_MAGIC + orjson.dumps({"seq": 5})) == 5
    for read in (record_seq, record_values):  # a newer release's: the state's, not c9's
        with pytest.raises(NewerStateError,
                           match=r"^customer record version 4; this release reads version 3$"):
            read("c9", CUSTOMER_MAGIC[:3] + b"\x04" + good[4:])


def test_records_parked_and_put_back_fill_the_slots_as_the_packed_customers_do() -> None:
    """A checkpoint's records as the kernel reads them (`record_values`), parks them
    (`packed.pack_values`) and puts them back into slots by columns (`slots.store_rows`),
    and the core's packing of the same records, give the same slots, array for array."""
    if not IN_CI:  # in CI a missing numba fails the run, never skips
        pytest.importorskip("numba", reason="numba is a dev dependency")
    from detector.kernel import slots as sl
    from detector.kernel.codes import Codes

    fields = list(_fields())
    random.Random(3).shuffle(fields)
    mine = [field_values(pack_values(record_values(f"c{i}", _record(f, i))))
            for i, f in enumerate(fields)]
    theirs = [field_values(pack_fields(f)) for f in fields]
    assert mine == theirs
    dims = sl.Dims.of(CONFIG).fitting_values(theirs)
    filled = []
    for rows in (mine, theirs):
        slots = sl.allocate(dims, len(rows))
        sl.store_rows(rows, slots, np.arange(len(rows)), Codes(), fresh=True)
        filled.append(slots)
    for name, a, b in zip(sl.CustomerSlots._fields, *filled, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name
    assert not math.isinf(float(filled[0].last_t.max()))
