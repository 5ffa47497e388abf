"""Idle customers packed into bytes (detector.core.packed, detector.core.table): nothing lost,
nothing changed in the outputs, objects bounded by `hot_customers`."""

from __future__ import annotations

import math
import sys
from collections import OrderedDict

import orjson
import pytest

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.packed import last_t, pack, pack_fields, unpack
from detector.core.state import CustomerState
from detector.core.stateparts import CUSTOMER_MAGIC, decode_customer, encode_customer
from detector.core.table import CustomerTable, Held
from tests.state_scale import deep_size
from tests.unit.test_core_engine import FAST, stream


def _fields(st: CustomerState) -> dict[str, object]:
    return {name: getattr(st, name) for name in CustomerState.FIELDS}


def _states(rows: int = 900, customers: int = 60) -> list[CustomerState]:
    engine = PartitionEngine(FAST)
    engine.process(stream(rows, customers))
    return [st for _, st in engine._state()[0].items()]


def _with_every_codec() -> list[CustomerState]:
    """States of a real stream, and one with a held event and no wake yet (-inf)."""
    fresh = CustomerState()
    fresh.pending = [(1.5, ("CH", "d", "10.0.0", "app", "fuel", 3, 4.25))]
    fresh.wake = (-math.inf, 0.0)
    return [*_states(), fresh]


def _assert_same_state(back: CustomerState, st: CustomerState) -> None:
    assert _fields(back) == _fields(st)
    for name in CustomerState.FIELDS:  # tuples stay tuples, a bytearray a bytearray
        assert type(getattr(back, name)) is type(getattr(st, name)), name
    assert [type(r) for r in back.recent] == [type(r) for r in st.recent]
    assert [type(e) for _, e in back.pending] == [type(e) for _, e in st.pending]
    assert list(back.countries) == list(st.countries)  # dict order: the ties of `bump`


def _number(seq: int, state: object) -> int:
    """A checkpoint's encoding reduced to the customer's number."""
    return seq


def test_unpacking_gives_every_field_back_exactly_with_its_type() -> None:
    for st in _with_every_codec():
        back = unpack(pack(st))
        _assert_same_state(back, st)
        assert encode_customer(7, back) == encode_customer(7, st)
        assert last_t(pack(st)) == st.last_t


def test_a_customer_record_decodes_to_every_field_exactly_with_its_type() -> None:
    """The checkpoint's customer record (read back by `decode_customer`, the record's own
    reader) loses nothing either: a list read as a tuple's field or `null` for -inf would
    change the next score or checkpoint of that customer."""
    for st in _with_every_codec():
        seq, back = decode_customer(encode_customer(7, st))
        assert seq == 7
        _assert_same_state(back, st)


def test_a_packed_customer_takes_a_fraction_of_the_object() -> None:
    st = _states(rows=60, customers=60)[0]
    assert st.n == 1 and sys.getsizeof(pack(st)) * 3 < deep_size(st)


def test_a_record_packs_to_what_its_state_packs_to_older_and_newer_fields_included() -> None:
    st = _states()[3]
    fields = orjson.loads(encode_customer(0, st)[len(CUSTOMER_MAGIC):])["fields"]
    assert pack_fields(fields) == pack(st)
    older = dict(fields)
    del older["wake"]  # a record written before the field existed: its default
    assert unpack(pack_fields(older)).wake == CustomerState().wake
    newer = {**fields, "field_of_a_later_version": [1, 2]}  # ignored
    assert pack_fields(newer) == pack(st)
    reordered = dict(reversed(list(fields.items())))  # by name, not by place
    assert pack_fields(reordered) == pack(st)
    assert decode_customer(encode_customer(0, st))[1].n == unpack(pack_fields(fields)).n


@pytest.mark.parametrize("hot", [1, 2, 7])
def test_outputs_and_checkpoints_do_not_depend_on_how_many_customers_are_unpacked(
        hot: int) -> None:
    rows = stream(1500, 40)
    cfg = FAST.model_copy(update={"max_customers": 25, "customer_ttl_s": 30 * 86400.0})
    all_hot = PartitionEngine(cfg.model_copy(update={"hot_customers": 1000}))
    few_hot = PartitionEngine(cfg.model_copy(update={"hot_customers": hot}))
    for lo in range(0, len(rows), 250):
        batch = rows[lo:lo + 250]
        assert few_hot.process(batch) == all_hot.process(batch)
        a, b = few_hot.checkpoint(), all_hot.checkpoint()
        assert (a.customers, a.removed, a.parts) == (b.customers, b.removed, b.parts)
        objects = [h for _, h in few_hot._state()[0].held() if not isinstance(h, bytes)]
        assert len(objects) <= hot
    assert few_hot._state()[0].evicted == all_hot._state()[0].evicted > 0
    assert few_hot.snapshot() == all_hot.snapshot()


def test_a_packed_customer_expires_exactly_after_the_ttl() -> None:
    table = CustomerTable(CoreConfig(customer_ttl_s=100.0, hot_customers=1))
    table.get("a", 0.0).last_t = 0.0
    table.get("b", 0.0).last_t = 100.0  # packs 'a'
    assert isinstance(dict(table.held())["a"], bytes)
    table.get("b", 100.0)  # 'a' idle exactly the ttl: kept
    assert [k for k, _ in table.held()] == ["a", "b"]
    table.get("b", 100.5)  # idle 100.5 s: dropped, packed as it was
    assert [k for k, _ in table.held()] == ["b"] and table.evicted == 1
    assert "a" in table.gone


def test_eviction_of_a_packed_customer_and_its_return_start_afresh() -> None:
    table = CustomerTable(CoreConfig(max_customers=2, hot_customers=1))
    for cid, n in (("a", 5), ("b", 6)):
        st = table.get(cid, 0.0)
        st.n, st.last_t = n, 0.0
    table.get("c", 0.0)  # 'a', least recent and packed, is evicted
    assert [k for k, _ in table.held()] == ["b", "c"] and table.evicted == 1
    assert table.get("b", 0.0).n == 6  # unpacked, as it was
    assert table.get("a", 0.0).n == 0
    assert len(table._hot) == 1


def test_a_restore_keeps_the_newest_objects_up_to_the_bound_and_packs_the_rest() -> None:
    table = CustomerTable(CoreConfig(hot_customers=2))
    states = {cid: CustomerState() for cid in "abcd"}
    for i, st in enumerate(states.values()):
        st.n, st.last_t = i, 0.0
    held: OrderedDict[str, Held] = OrderedDict(states)
    held["b"] = pack(states["b"])
    table.replace_items(held)
    kinds = {k: isinstance(h, bytes) for k, h in table.held()}
    assert kinds == {"a": True, "b": True, "c": False, "d": False}
    assert list(table._hot) == ["c", "d"]
    assert [st.n for _, st in table.items()] == [0, 1, 2, 3]
    table.get("a", 0.0)  # unpacked; 'c', the least recent object, is packed
    assert list(table._hot) == ["d", "a"]
    assert isinstance(dict(table.held())["c"], bytes)


def test_a_restored_engine_holds_its_customers_packed_and_scores_alike() -> None:
    rows = stream(1200, 40)
    engine = PartitionEngine(FAST)
    engine.process(rows[:800])
    ck = engine.checkpoint(full=True)
    back = PartitionEngine.resume(
        {k: v for k, v in ck.parts.items() if v is not None}, ck.customers, FAST)
    if back._kernel is None:  # the core's memory form; the kernel holds slots
        assert all(isinstance(h, bytes) for _, h in back._state()[0].held())
    assert back.process(rows[800:]) == engine.process(rows[800:])


@pytest.mark.parametrize("by", ["count", "age"])
def test_customers_all_held_as_objects_are_evicted_and_expired_for_good(by: str) -> None:
    """With `hot_customers` >= `max_customers` every customer is an object: one evicted (or
    expired) leaves the hot set too, so a later customer never tries to pack it."""
    table = CustomerTable(CoreConfig(max_customers=2, hot_customers=2, customer_ttl_s=10.0))
    step = 20.0 if by == "age" else 0.0  # each customer idle past the ttl at its next's 2nd row
    for i in range(6):
        # by age: 9 s apart, so no row is stray (one more than the ttl after the partition's
        # last: expiry would wait for a second customer, `CustomerTable._stray`)
        for t in ((i * step, i * step + 9, i * step + 18) if by == "age" else (0.0,)):
            table.get(f"c{i}", t).last_t = t
        kept = [f"c{i - 1}", f"c{i}"] if by == "count" and i else [f"c{i}"]
        assert [k for k, _ in table.held()] == kept
        assert not any(isinstance(h, bytes) for _, h in table.held())
    assert table.evicted == (4 if by == "count" else 5)


def test_a_customer_evicted_before_a_checkpoint_is_neither_written_nor_numbered() -> None:
    """A checkpoint numbers the customers it writes on from the last one, without gaps: a
    customer seen and then evicted since the last checkpoint is only among the gone."""
    table = CustomerTable(CoreConfig(max_customers=2, hot_customers=1))
    for cid in "abc":  # 'a' is evicted by 'c', all three seen since the last checkpoint
        table.get(cid, 0.0).last_t = 0.0
    changed, gone = table.take_changes(_number)
    assert changed == [("b", 0), ("c", 1)] and gone == ["a"]
    table.get("d", 0.0)
    changed, gone = table.take_changes(_number)
    assert changed == [("d", 2)] and gone == ["b"]
