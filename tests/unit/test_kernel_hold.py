"""detector/kernel/hold.py: the kernel's hold of suspicious events keeps what the core's
keeps, row by row on realistic rows (the engine scoring one row at a time: each row's
release of due events, its own hold with its release time, the overflow of the oldest),
and the weights are the core's to the bit."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.habits import held_weight
from detector.core.knobs import Knobs
from detector.core.state import CustomerState
from detector.core.table import as_state
from detector.kernel import hold
from detector.kernel import slots as sl
from detector.kernel.codes import Codes
from producer.generator import GeneratorConfig, generate
from tests.ci import IN_CI

#: the engines these tests compare the kernel with run the core's own loop
pytestmark = pytest.mark.usefixtures("cores_own_loop")

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")


@settings(deadline=None)
@given(st.floats(-5.0, 60.0, allow_nan=False), st.floats(0.0, 40.0), st.floats(0.0, 3.0))
def test_held_weight_is_the_cores(surprise: float, above: float, discount: float) -> None:
    knobs = Knobs(CoreConfig(quarantine_above=above, quarantine_discount=discount))
    want = held_weight(surprise, knobs)
    got = hold.held_weight(surprise, knobs.quarantine_above, knobs.quarantine_discount)
    assert got.hex() == want.hex()


def _state(engine: PartitionEngine, cid: str) -> CustomerState | None:
    for key, held in engine._customers.held():
        if key == cid:
            return copy.deepcopy(as_state(held))
    return None


def _pending(s: sl.CustomerSlots, c: int, codes: Codes) -> list[tuple[float, Any]]:
    return sl.load(s, c, codes).pending


def test_the_hold_row_by_row_on_realistic_rows() -> None:
    """Each row of a few busy customers: the state before it into a slot; the kernel
    releases at the row's time and, if the core held the row, holds it (its strings,
    hour, amount and weights taken from the core's hold: what is compared is the hold's
    bookkeeping, the release time included); then the slot's hold equals the core's."""
    config = CoreConfig(first_fit_after=10**9, quarantine_s=3 * 3600.0)
    knobs = Knobs(config)
    txs = sorted(generate(GeneratorConfig(seed=11, customers=40, days=20)),
                 key=lambda t: t.timestamp)
    engine = PartitionEngine(config, 0)
    watched = {tx.customer_id for tx in txs[:400]}
    codes = Codes()
    s = sl.allocate(sl.Dims.of(config), 1)
    due = hold.due_buffer(s.pend_r.shape[1])
    held_rows = released = 0
    for tx in txs:
        cid = tx.customer_id
        before = _state(engine, cid) if cid in watched else None
        engine.verdicts([tx])
        if before is None:
            continue
        after = _state(engine, cid)
        assert after is not None
        sl.store(before, s, 0, codes)
        now = engine_time(tx)
        left = hold.release(s, 0, now, due)
        released += left
        new = [p for p in after.pending if p not in before.pending]
        if new:  # the core held this row
            (_, held), = new
            event: tuple[Any, ...] = held  # type: ignore[assignment]
            held_rows += 1
            s.last_t[0] = after.last_t
            code = np.array([codes.code(x) for x in event[:5]], np.int32)
            hold.push(s, 0, now, knobs.quarantine_s, code, event[5], event[6], event[7],
                      event[8], due)
        assert _pending(s, 0, codes) == after.pending, cid
    assert held_rows > 30 and released > 10


def engine_time(tx: Any) -> float:
    from detector.core.features import event_seconds

    return event_seconds(tx)


def test_the_oldest_leaves_when_the_hold_overflows() -> None:
    """Seventeen holds without a release: the first leaves into the due buffer, the other
    sixteen stay in order; a release at a time between two release times takes exactly
    those at or before it (at the boundary: included)."""
    codes = Codes()
    s = sl.allocate(sl.Dims.of(CoreConfig()), 1)
    sl.reset(s, 0, codes)
    due = hold.due_buffer(s.pend_r.shape[1])
    code = np.array([codes.code(x) for x in ("DE", "d", "n", "web", "food")], np.int32)
    s.last_t[0] = -math.inf
    for i in range(17):
        left = hold.push(s, 0, 100.0 * i, 1000.0, code, i % 24, 0.5 * i, 0.25, 0.75, due)
        assert left == (1 if i == 16 else 0)
    assert due.la[0] == 0.0 and due.hour[0] == 0
    pending = _pending(s, 0, codes)
    assert [r for r, _ in pending] == [100.0 * i + 1000.0 for i in range(1, 17)]
    assert hold.release(s, 0, math.nextafter(1100.0, 0.0), due) == 0
    assert hold.release(s, 0, 1200.0, due) == 2  # 1100 and 1200: at the boundary, due
    assert [float(x) for x in due.la[:2]] == [0.5, 1.0]
    assert [r for r, _ in _pending(s, 0, codes)] == [100.0 * i + 1000.0 for i in range(3, 17)]


def _pool_owned_once(s: sl.CustomerSlots) -> None:
    """Every block of the hold pool is free or owned by exactly one slot, and a slot owns
    one exactly while it holds events."""
    free = s.pool_free[:sl.free_blocks(s)].tolist()
    owned = [int(b) for b in s.pend_at if b >= 0]
    assert sorted(free + owned) == list(range(len(s.pend_r)))
    assert ((s.pend_at >= 0) == (s.pend_len > 0)).all()


@settings(deadline=None, max_examples=150)
@example([("push", 0, 0), ("release", 0, 10), ("push", 1, 3)])  # emptied: the block back
@example([("push", 2, 5), ("push", 3, 6), ("drop", 2, 0), ("reset", 3, 0), ("push", 0, 1)])
@example([("push", 1, t) for t in range(20)] + [("release", 1, 60)])  # overflowed, then out
@given(st.lists(st.tuples(st.sampled_from(["push", "release", "reset", "drop"]),
                          st.integers(0, 3), st.integers(0, 60)), max_size=90))
def test_the_pool_lends_a_block_while_a_slot_holds_events(
        ops: list[tuple[str, int, int]]) -> None:
    """Holds, releases and resets (the shell's, `slots.reset`, and the kernel's,
    `segment.reset`) in any order over four slots sharing a pool of four blocks: each slot
    holds what a list would, and owns a block exactly while it holds events."""
    from detector.kernel.segment import reset as kernel_reset

    codes = Codes()
    s = sl.allocate(sl.Dims.of(CoreConfig()), 4, blocks=4)
    for c in range(4):
        sl.reset(s, c, codes)
    due = hold.due_buffer(s.pend_r.shape[1])
    code = np.array([codes.code(x) for x in ("DE", "d", "n", "web", "food")], np.int32)
    want: dict[int, list[float]] = {c: [] for c in range(4)}
    for op, c, t in ops:
        if op == "push":
            release = max(float(t), s.last_t[c]) + 10.0
            hold.push(s, c, float(t), 10.0, code, t % 24, 0.5, 1.0, 1.0, due)
            s.last_t[c] = max(s.last_t[c], float(t))  # as the clock learns the row
            want[c] = (want[c] + [release])[-16:]
        elif op == "release":
            hold.release(s, c, float(t), due)
            want[c] = [r for r in want[c] if r > t]
        else:
            if op == "reset":
                sl.reset(s, c, codes)
            else:
                kernel_reset(s, c, codes.code(""))
            want[c] = []
        _pool_owned_once(s)
        assert {c: [r for r, _ in _pending(s, c, codes)] for c in range(4)} == want


def test_the_pool_grows_and_keeps_what_it_holds() -> None:
    codes = Codes()
    s = sl.allocate(sl.Dims.of(CoreConfig()), 3, blocks=1)
    due = hold.due_buffer(s.pend_r.shape[1])
    code = np.array([codes.code(x) for x in ("DE", "d", "n", "web", "food")], np.int32)
    sl.reset(s, 1, codes)
    hold.push(s, 1, 5.0, 10.0, code, 3, 0.5, 1.0, 1.0, due)
    assert sl.free_blocks(s) == 0
    s = sl.grow_pool(s, 3)
    assert sl.free_blocks(s) == 2
    hold.push(s, 2, 7.0, 10.0, code, 4, 0.5, 1.0, 1.0, due)
    _pool_owned_once(s)
    assert [r for r, _ in _pending(s, 1, codes)] == [15.0]
    assert [r for r, _ in _pending(s, 2, codes)] == [17.0]
    s = sl.grow(s, 10)  # more slots: the pool as it was, the new slots hold nothing
    _pool_owned_once(s)
    assert len(s.pend_r) == 3 and (s.pend_at[3:] == -1).all()
