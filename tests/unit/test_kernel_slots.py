"""detector/kernel/slots.py: a customer's state into a slot of arrays and back is the same
state, field for field (floats to the bit, dicts in insertion order, tuples as tuples), for
engine states after realistic rows (held events, full tables, late rows), for the state
fixtures written by earlier releases, and for a state of lists longer than the bounds."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.packed import field_values, pack
from detector.core.state import CustomerState
from detector.core.table import as_state
from detector.kernel import slots as sl
from detector.kernel.codes import Codes
from producer.generator import GeneratorConfig, generate
from tests.unit.state_stream import CONFIG

#: the engines these tests compare the kernel with run the core's own loop
pytestmark = pytest.mark.usefixtures("cores_own_loop")

DATA = Path(__file__).resolve().parents[1] / "data" / "state"


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types all the way down (floats by their bits; a bytearray is
    compared as bytes)."""
    if isinstance(a, bytearray | bytes) and isinstance(b, bytearray | bytes):
        return bytes(a) == bytes(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a.items()) == list(b.items()) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return bool(a.hex() == b.hex())
    return bool(a == b)


def _round_trip(states: list[CustomerState], config: CoreConfig, shuffle: int = 0) -> None:
    dims = sl.Dims.of(config).fitting(states)
    codes = Codes()
    if shuffle:  # codes in another order give the same strings back
        words = sorted({"", *(w for st in states for w in _strings(st))})
        random.Random(shuffle).shuffle(words)
        for w in words:
            codes.code(w)
    slots = sl.allocate(dims, 3)
    for i, st in enumerate(states):
        c = i % 3  # slots are reused: `store` leaves nothing of the previous customer
        sl.store(st, slots, c, codes)
        back = sl.load(slots, c, codes)
        for name in CustomerState.FIELDS:
            x, y = getattr(st, name), getattr(back, name)
            assert _same(x, y), f"{name}: {x!r} came back as {y!r}"
        # a checkpoint's read of many slots at once gives what the object encodes to
        assert _same(sl.field_rows(slots, [c], codes), [field_values(st)])


def _strings(st: CustomerState) -> list[str]:
    out = [st.last_country]
    for name in sl.TABLES:
        out += list(getattr(st, name))
    for e in st.recent + st.window + st.days:
        out += [e[2], e[3]]
    for ctx in st.context:
        out += list(ctx[:5])
    for _, h in st.pending:
        out += list(h[:5])  # type: ignore[index]
    return out


def _engine_states(config: CoreConfig, late: bool = False) -> list[CustomerState]:
    txs = sorted(generate(GeneratorConfig(seed=5, customers=120, days=10)),
                 key=lambda t: t.timestamp)
    if late:  # one row in fifteen arrives after the next one
        for i in range(0, len(txs) - 1, 15):
            txs[i], txs[i + 1] = txs[i + 1], txs[i]
    engine = PartitionEngine(config, 0)
    for i in range(0, len(txs), 400):
        engine.verdicts(txs[i:i + 400])
    return [as_state(h) for _, h in engine._customers.held()]


def test_engine_states_after_realistic_rows_come_back_whole() -> None:
    states = _engine_states(CoreConfig(first_fit_after=10**9))
    assert len(states) == 120
    # the fields that make a round trip hard are all there somewhere
    assert any(st.pending for st in states)
    assert any(len(st.pending[0][1]) == 9 for st in states if st.pending)  # type: ignore[arg-type]
    assert any(len(st.context) == CoreConfig().context_size for st in states)
    assert any(st.days for st in states) and any(st.recent for st in states)
    assert any(st.wake[0] > -math.inf for st in states)
    _round_trip(states, CoreConfig())
    _round_trip(states, CoreConfig(), shuffle=7)


def test_many_customers_stored_at_once_come_back_whole() -> None:
    """`store_rows` (a restore's path: every field for all customers at once) into slots in
    a shuffled order over slots that held others, from objects and from packed bytes."""
    states = _engine_states(CoreConfig(first_fit_after=10**9))
    values = [field_values(st) for st in states]
    packed = [field_values(pack(st)) for st in states]
    dims = sl.Dims.of(CoreConfig()).fitting_values(values)
    slots = sl.allocate(dims, len(states) + 3)
    order = list(range(len(states) + 3))
    random.Random(2).shuffle(order)
    codes = Codes()
    sl.store_rows(values[::-1], slots, order[:len(states)], codes)  # others' leftovers
    for rows in (values, packed):
        sl.store_rows(rows, slots, order[:len(states)], codes)
        for st, c in zip(states, order[:len(states)], strict=True):
            back = sl.load(slots, c, codes)
            for name in CustomerState.FIELDS:
                assert _same(getattr(st, name), getattr(back, name)), name
        # and read back at once, in another order, as each customer's record holds them
        picked = order[:len(states)][::-1]
        rows = sl.field_rows(slots, picked, codes)
        assert _same(rows, values[::-1])
        assert orjson.dumps(rows) == orjson.dumps(values[::-1])
    assert sl.field_rows(slots, [], codes) == []


def test_late_rows_and_small_tables() -> None:
    config = CoreConfig(first_fit_after=10**9, max_seen=2, context_size=1, amount_history=4)
    states = _engine_states(config, late=True)
    assert any(len(st.categories) == 2 for st in states)
    _round_trip(states, config)


def test_a_fresh_state_and_a_fresh_slot_are_the_same() -> None:
    codes = Codes()
    slots = sl.allocate(sl.Dims.of(CoreConfig()), 2)
    sl.reset(slots, 1, codes)
    assert _same(sl.load(slots, 1, codes).__getstate__(), CustomerState().__getstate__())
    _round_trip([CustomerState()], CoreConfig())


def test_the_state_fixtures_of_earlier_releases_restore_into_slots() -> None:
    for name in ("engine-format3.bin", "engine-format2.bin"):
        engine = PartitionEngine.restore((DATA / name).read_bytes(), CONFIG)
        states = [as_state(h) for _, h in engine._customers.held()]
        assert len(states) == 30
        _round_trip(states, CONFIG)


def test_lists_longer_than_the_bounds_widen_the_slots() -> None:
    """A checkpoint written under larger bounds than today's configuration: the slots are
    allocated to hold it (`Dims.fitting`), as the core keeps such lists until it trims
    them; without widening, `store` refuses rather than cut."""
    st = CustomerState()
    st.amounts = [math.log(1.0 + i) for i in range(40)]
    st.categories = {f"c{i}": i + 1 for i in range(15)}
    st.context = [("DE", "d", "n", "web", f"c{i}", i % 24, 0.5 * i) for i in range(10)]
    st.pending = [(float(i), ("DE", "d", "n", "web", "c", 3, 1.0)) for i in range(20)]
    config = CoreConfig()
    _round_trip([st], config)
    slots = sl.allocate(sl.Dims.of(config), 1)
    with pytest.raises(ValueError, match="the slots hold"):
        sl.store(st, slots, 0, Codes())


def test_grown_slots_keep_their_customers() -> None:
    states = _engine_states(CoreConfig(first_fit_after=10**9))[:5]
    codes = Codes()
    slots = sl.allocate(sl.Dims.of(CoreConfig()).fitting(states), 5)
    for c, st in enumerate(states):
        sl.store(st, slots, c, codes)
    bigger = sl.grow(slots, 4096 + 5)
    assert sl.dims_of(bigger) == sl.dims_of(slots)
    for c, st in enumerate(states):
        assert _same(sl.load(bigger, c, codes).__getstate__(), st.__getstate__())
    sl.reset(bigger, 4100, codes)
    assert _same(sl.load(bigger, 4100, codes).__getstate__(), CustomerState().__getstate__())
