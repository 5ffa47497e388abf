"""detector/kernel/lru.py: the kernel's customer table drops the same customers at the same
rows as `CustomerTable` (expiry by `customer_ttl_s`, eviction beyond `max_customers`), keeps
the same least recently seen order after every row, and hands a dropped customer seen again
a fresh slot, on random id and time streams with late rows and on generated rows."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.features import event_seconds
from detector.core.table import CLOCK_QUORUM, CustomerTable, as_state
from detector.kernel import lru
from producer.generator import GeneratorConfig, generate
from tests.ci import IN_CI

#: the engines these tests compare the kernel with run the core's own loop
pytestmark = pytest.mark.usefixtures("cores_own_loop")

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")

#: Per row: (customers dropped at it, oldest first; whether the row's customer was fresh;
#: the order after it, least recently seen first).
Rows = list[tuple[list[str], bool, list[str]]]


def _core(ids: list[str], ts: list[float], max_customers: int, ttl: float,
          hot: int = 1000) -> tuple[Rows, CustomerTable]:
    """`CustomerTable` row by row, each row's customer learning its time as
    `_learn_clock` does (`last_t` its maximum; `n` counts its rows: 0 = fresh)."""
    table = CustomerTable(CoreConfig(max_customers=max_customers, customer_ttl_s=ttl,
                                     hot_customers=hot))
    rows: Rows = []
    for cid, t in zip(ids, ts, strict=True):
        before = [c for c, _ in table.held()]
        evicted = table.evicted
        state = table.get(cid, t)
        fresh = state.n == 0
        state.n += 1
        if t >= state.last_t:
            state.last_t = t
        # drops always take the head: the first of the order before the row
        rows.append((before[:table.evicted - evicted], fresh, [c for c, _ in table.held()]))
    return rows, table


def _kernel_by_row(ids: list[str], ts: list[float], max_customers: int, ttl: float,
                   per_row: bool) -> tuple[Rows, lru.Slots]:
    slots = lru.Slots(max_customers, ttl)
    rows: Rows = []
    for cid, t in zip(ids, ts, strict=True):
        dropped, fresh = slots.run([cid], np.array([t]), per_row)
        assert all(row == 0 for _, row in dropped)
        rows.append(([c for c, _ in dropped], bool(fresh[0]), slots.order()))
    return rows, slots


def _kernel_batches(ids: list[str], ts: list[float], max_customers: int, ttl: float,
                    cuts: list[int], per_row: bool = False
                    ) -> tuple[list[tuple[str, int]], list[bool], lru.Slots]:
    """The kernel over batches ending at `cuts`: drops as (id, row of the stream)."""
    slots = lru.Slots(max_customers, ttl)
    drops: list[tuple[str, int]] = []
    fresh: list[bool] = []
    lo = 0
    for hi in [*sorted(set(cuts)), len(ids)]:
        if hi <= lo:
            continue
        dropped, f = slots.run(ids[lo:hi], np.array(ts[lo:hi]), per_row)
        drops += [(c, lo + row) for c, row in dropped]
        fresh += f.tolist()
        lo = hi
    return drops, fresh, slots


def _assert_tables_equal(slots: lru.Slots, table: CustomerTable) -> None:
    held = table.held()
    assert slots.order() == [c for c, _ in held]
    a = slots.arrays
    for cid, h in held:
        assert a.seen[slots.slot_of[cid]].hex() == as_state(h).last_t.hex()
    assert slots.evicted == table.evicted
    assert slots.gone == table.gone
    assert len(slots) == len(table)


def _stream(seed: int, n: int, customers: int, late: float) -> tuple[list[str], list[float]]:
    """Random ids; times mostly rising by small steps, a share `late` going back."""
    rng = random.Random(seed)
    ids = [f"c{rng.randrange(customers)}" for _ in range(n)]
    ts, t = [], 1_000.0
    for _ in range(n):
        t += -rng.uniform(0.0, 6.0) if rng.random() < late else rng.choice((0.0, 0.5, 1.0, 2.5))
        ts.append(t)
    return ids, ts


@st.composite
def streams(draw: Any) -> tuple[list[str], list[float], int, float, list[int]]:
    n = draw(st.integers(0, 60))
    ids = draw(st.lists(st.sampled_from("abcdefg"), min_size=n, max_size=n))
    steps = draw(st.lists(st.sampled_from((-5.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 3.0, 7.0)),
                          min_size=n, max_size=n))
    ts, t = [], 0.0
    for step in steps:
        t += step
        ts.append(t)
    max_customers = draw(st.integers(1, 5))
    ttl = draw(st.sampled_from((0.25, 1.0, 2.0, 3.5, 10.0, 1e9)))
    cuts = draw(st.lists(st.integers(0, n), max_size=6))
    return ids, ts, max_customers, ttl, cuts


@settings(deadline=None, max_examples=300)  # the first example compiles the kernel
@given(streams())
def test_every_row_drops_and_orders_as_the_table(
        case: tuple[list[str], list[float], int, float, list[int]]) -> None:
    ids, ts, max_customers, ttl, _ = case
    want, table = _core(ids, ts, max_customers, ttl)
    for per_row in (True, False):
        got, slots = _kernel_by_row(ids, ts, max_customers, ttl, per_row)
        assert got == want
        _assert_tables_equal(slots, table)


@settings(deadline=None, max_examples=300)
@given(streams(), st.integers(1, 3))
def test_batches_drop_at_the_same_rows(
        case: tuple[list[str], list[float], int, float, list[int]], hot: int) -> None:
    """Drops inside a batch (a customer dropped and seen again in it finds its slot
    fresh), with few customers held as objects in the table (the others packed)."""
    ids, ts, max_customers, ttl, cuts = case
    want, table = _core(ids, ts, max_customers, ttl, hot)
    for per_row in (True, False):
        drops, fresh, slots = _kernel_batches(ids, ts, max_customers, ttl, cuts, per_row)
        assert drops == [(c, i) for i, (dropped, _, _) in enumerate(want) for c in dropped]
        assert fresh == [f for _, f, _ in want]
        _assert_tables_equal(slots, table)


@st.composite
def jumps(draw: Any) -> tuple[list[str], list[float], int, float, list[int]]:
    """Streams of runs of different customers (up to 14), each run at a level: the
    partition's own time or one far ahead (stray rows, gaps), so runs after a jump fall
    short of `CLOCK_QUORUM`, reach it and pass it."""
    ids: list[str] = []
    ts: list[float] = []
    t = 0.0
    for _ in range(draw(st.integers(0, 8))):
        level = draw(st.sampled_from((0.0, 0.0, 100.0, 100.5, 300.0)))
        run = draw(st.permutations("abcdefghijklmn"))[:draw(st.integers(1, 12))]
        for cid in run:
            t += draw(st.sampled_from((0.0, 0.5, 1.0)))
            ids.append(cid)
            ts.append(t + level)
    max_customers = draw(st.integers(1, 16))
    ttl = draw(st.sampled_from((1.0, 10.0, 99.5, 1e9)))
    cuts = draw(st.lists(st.integers(0, len(ids)), max_size=6))
    return ids, ts, max_customers, ttl, cuts


@settings(deadline=None, max_examples=300)
@given(jumps())
def test_rows_far_ahead_drop_and_order_as_the_table(
        case: tuple[list[str], list[float], int, float, list[int]]) -> None:
    """The clock past a jump (`CustomerTable._stray`, `lru._stray`) alike, per row and in
    batches."""
    ids, ts, max_customers, ttl, cuts = case
    want, table = _core(ids, ts, max_customers, ttl, hot=3)
    for per_row in (True, False):
        got, slots = _kernel_by_row(ids, ts, max_customers, ttl, per_row)
        assert got == want
        _assert_tables_equal(slots, table)
        drops, fresh, slots = _kernel_batches(ids, ts, max_customers, ttl, cuts, per_row)
        assert drops == [(c, i) for i, (dropped, _, _) in enumerate(want) for c in dropped]
        assert fresh == [f for _, f, _ in want]
        _assert_tables_equal(slots, table)


@pytest.mark.parametrize("n", [CLOCK_QUORUM - 1, CLOCK_QUORUM, CLOCK_QUORUM + 1])
def test_a_time_far_ahead_is_the_clock_once_quorum_customers_came_at_it(n: int) -> None:
    """20 customers a second apart, ttl 100; then `n` others one each at 1,000 (a row for a
    customer more, then), each row of up to `CLOCK_QUORUM` stray: all held; the next drops
    the 20, on both tables, per row and in one batch."""
    ids = [f"c{k}" for k in range(20)] + [f"x{k}" for k in range(n)]
    ts = [float(k) for k in range(20)] + [1000.0 + k for k in range(n)]
    want, table = _core(ids, ts, 100, 100.0)
    left = [f"x{k}" for k in range(n)] if n > CLOCK_QUORUM else ids
    assert [c for c, _ in table.held()] == left
    assert [i for i, (dropped, _, _) in enumerate(want) if dropped] == (
        [20 + CLOCK_QUORUM] if n > CLOCK_QUORUM else [])
    for per_row in (True, False):
        got, slots = _kernel_by_row(ids, ts, 100, 100.0, per_row)
        assert got == want
        drops, _, slots = _kernel_batches(ids, ts, 100, 100.0, [], per_row)
        assert slots.order() == left
        assert drops == [(f"c{k}", 20 + CLOCK_QUORUM) for k in range(20)] * (n > CLOCK_QUORUM)


@pytest.mark.parametrize(("seed", "max_customers", "ttl", "late"), [
    (1, 3, 4.0, 0.2), (2, 1, 2.0, 0.3), (3, 8, 1.0, 0.1), (4, 20, 30.0, 0.25),
    (5, 25, 1e9, 0.2), (6, 2, 0.5, 0.5)])
def test_seeded_streams(seed: int, max_customers: int, ttl: float, late: float) -> None:
    ids, ts = _stream(seed, 3000, 30, late)
    want, table = _core(ids, ts, max_customers, ttl, hot=5)
    rng = random.Random(seed)
    cuts = [rng.randrange(3000) for _ in range(40)]
    for per_row in (True, False):
        drops, fresh, slots = _kernel_batches(ids, ts, max_customers, ttl, cuts, per_row)
        assert drops == [(c, i) for i, (dropped, _, _) in enumerate(want) for c in dropped]
        assert len(drops) > 100
        assert fresh == [f for _, f, _ in want]
        _assert_tables_equal(slots, table)


def test_a_customer_dropped_and_seen_again_in_a_batch_is_fresh() -> None:
    """`a` expires at row 2 (idle 3 > 2), returns at row 3 in its old slot, reset."""
    slots = lru.Slots(10, 2.0)
    dropped, fresh = slots.run(["a", "b", "b", "a"], np.array([0.0, 1.0, 3.0, 3.5]))
    assert dropped == [("a", 2)]
    assert fresh.tolist() == [True, True, False, True]
    assert slots.order() == ["b", "a"]
    assert slots.slot_of == {"a": 0, "b": 1}
    assert slots.gone == set()
    assert slots.arrays.seen[0] == 3.5


def test_the_expired_row_customer_itself_is_fresh() -> None:
    """The head idle too long is the row's own customer: dropped, then added fresh."""
    slots = lru.Slots(10, 1.0)
    dropped, fresh = slots.run(["a", "a"], np.array([0.0, 3.0]))
    assert dropped == [("a", 1)]
    assert fresh.tolist() == [True, True]
    assert slots.evicted == 1


def test_a_late_row_does_not_expire_and_does_not_move_last_t_back() -> None:
    slots = lru.Slots(10, 5.0)
    slots.run(["a", "b"], np.array([100.0, 101.0]))
    dropped, fresh = slots.run(["b", "c"], np.array([90.0, 106.0]))  # b late; a idle 6
    assert dropped == [("a", 1)]
    assert fresh.tolist() == [False, True]
    assert slots.order() == ["b", "c"]
    assert slots.arrays.seen[slots.slot_of["b"]] == 101.0
    assert slots.free[-1] == 0  # a's slot, free after the call (the next taken)


def test_the_arrays_grow_by_chunks_and_slots_are_reused() -> None:
    n = lru.CHUNK + 10
    slots = lru.Slots(n, 1e9)
    ids = [f"c{i}" for i in range(n)]
    slots.run(ids, np.arange(n, dtype=np.float64))
    assert len(slots.arrays.live) == 2 * lru.CHUNK
    assert slots.order() == ids
    slots.max_customers = 5  # the next new customer drops the oldest n - 4
    dropped, _ = slots.run(["new"], np.array([n + 1.0]))
    assert [c for c, _ in dropped] == ids[:n - 4]
    assert slots.order() == [*ids[n - 4:], "new"]
    assert slots.slot_of["new"] == lru.CHUNK + 10  # a slot free before this batch
    assert len(slots.free) == 2 * lru.CHUNK - 5


def test_a_restored_order_continues_as_the_table() -> None:
    ids, ts = _stream(7, 1200, 40, 0.2)
    want, _ = _core(ids, ts, 25, 8.0)
    first, half = _core(ids[:600], ts[:600], 25, 8.0)
    slots = lru.Slots(25, 8.0)
    held = half.held()
    slots.restore([c for c, _ in held], [as_state(h).last_t for _, h in held])
    assert slots.order() == first[-1][2]
    drops, _ = slots.run(ids[600:], np.array(ts[600:]))
    assert [(c, 600 + r) for c, r in drops] == [
        (c, i) for i, (dropped, _, _) in enumerate(want) if i >= 600 for c in dropped]
    assert slots.order() == want[-1][2]


@pytest.mark.parametrize("n", [0, 1, 2, 5])
def test_a_restore_links_both_ways(n: int) -> None:
    """A restore of none, one or a few customers: the order from the head (drops) and from
    the tail (checkpoints' changed tail) are each other's reverse; the next customer goes
    last."""
    slots = lru.Slots(100, 1e9)
    ids = [f"c{i}" for i in range(n)]
    slots.restore(ids, [float(i) for i in range(n)])
    a = slots.arrays
    back, s = [], int(a.ends[lru.TAIL])
    while s >= 0:
        back.append(slots.id_of[s])
        s = int(a.prev[s])
    assert slots.order() == ids == back[::-1] and len(slots) == n
    assert [float(a.seen[slots.slot_of[c]]) for c in ids] == [float(i) for i in range(n)]
    slots.run(["new"], np.array([float(n)]))
    assert slots.order() == [*ids, "new"]
    with pytest.raises(ValueError, match="used before"):
        slots.restore(["x"])


def test_a_restore_into_a_table_that_only_mapped_ids_is_refused() -> None:
    """`map` gives ids slots before the kernel holds them (`len` still 0): the table is
    used, and a restore into it would overwrite their slots, so it is refused as into one
    holding customers; a table never used takes it."""
    mapped = lru.Slots(100, 1e9)
    mapped.map(["a"])
    assert len(mapped) == 0
    with pytest.raises(ValueError, match="used before"):
        mapped.restore(["b"])
    assert lru.Slots(100, 1e9).restore(["b"]).tolist() == [0]


@pytest.mark.parametrize("n", [0, 1, lru.CHUNK, lru.CHUNK + 1, 6 * lru.CHUNK + 7])
def test_a_restore_takes_the_slots_mapping_would(n: int) -> None:
    """At any size about a growth step: the same slots, capacity and free list as mapping
    the ids one by one into a new table (slot numbers never reach an output, but a
    restored engine then takes its next slots as a running one would)."""
    ids = [f"c{i}" for i in range(n)]
    restored, mapped = lru.Slots(100, 1e9), lru.Slots(100, 1e9)
    assert restored.restore(ids).tolist() == mapped.map(ids).tolist()
    assert restored.slot_of == mapped.slot_of and restored.id_of == mapped.id_of
    assert restored.free == mapped.free and len(restored.arrays.seen) == len(mapped.id_of)
    with pytest.raises(ValueError, match="twice"):
        lru.Slots(100, 1e9).restore(["a", "b", "a"])


def _whole(slots: lru.Slots) -> tuple[object, ...]:
    """Everything a table holds: bounds, maps, free list, counts, arrays."""
    return (slots.max_customers, slots.ttl, slots.order(), dict(slots.slot_of),
            list(slots.id_of), list(slots.free), slots.evicted, set(slots.gone),
            [a.tolist() for a in slots.arrays])


def test_a_clone_is_the_same_table_and_independent_of_it() -> None:
    """`clone` (`KernelRows.clone`, careful isolation's savepoint): the copy holds the same
    table (a customer dropped beyond `max_customers`, so `gone` and `evicted` are set), a
    batch run on it leaves the original as it was, and the original then runs the same
    batch to the same drops and the same table."""
    slots = lru.Slots(3, 5.0)
    slots.run(["a", "b", "c", "d"], np.array([0.0, 1.0, 2.0, 3.0]))
    assert (slots.evicted, slots.gone) == (1, {"a"})
    before = _whole(slots)
    copy = slots.clone()
    assert _whole(copy) == before
    # b and c idle over 5 s at 7.5; b back at 8.0, fresh, makes room: d (max 3)
    ids, t = ["e", "a", "b"], np.array([7.5, 7.5, 8.0])
    dropped, fresh = copy.run(ids, t)
    assert dropped == [("b", 0), ("c", 0), ("d", 2)] and fresh.tolist() == [True] * 3
    assert _whole(slots) == before
    again, fresh_again = slots.run(ids, t)
    assert again == dropped and fresh_again.tolist() == fresh.tolist()
    assert _whole(slots) == _whole(copy)


def test_generated_rows_drop_as_the_engine_does() -> None:
    """Generated rows (one in twenty swapped with the next: late rows), a table smaller
    than the customers and a ttl of two days: the same drops per row as the table, and at
    the end the very order, `last_t` and evicted count of a real engine's table."""
    txs = sorted(generate(GeneratorConfig(seed=11, customers=150, days=12)),
                 key=lambda tx: tx.timestamp)
    rng = random.Random(3)
    for i in range(len(txs) - 1):
        if rng.random() < 0.05:
            txs[i], txs[i + 1] = txs[i + 1], txs[i]
    ids = [tx.customer_id for tx in txs]
    ts = [event_seconds(tx) for tx in txs]
    config = CoreConfig(max_customers=100, customer_ttl_s=2 * 86400.0, hot_customers=40)
    want, _ = _core(ids, ts, 100, 2 * 86400.0)
    engine = PartitionEngine(config, 0)
    for lo in range(0, len(txs), 500):
        engine.verdicts(txs[lo:lo + 500])
    for per_row in (True, False):
        drops, fresh, slots = _kernel_batches(ids, ts, 100, 2 * 86400.0,
                                              list(range(0, len(ids), 500)), per_row)
        assert drops == [(c, i) for i, (dropped, _, _) in enumerate(want) for c in dropped]
        assert len(drops) > 50
        assert fresh == [f for _, f, _ in want]
        _assert_tables_equal(slots, engine._customers)


@pytest.mark.parametrize(("step", "at_y", "at_z"), [
    (-1, ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"], ["c8", "c9"]),
    (0, ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"], ["c9"]),
    (1, [], [])])
def test_a_jump_and_a_stray_row_are_more_than_the_ttl_not_exactly_it(
        step: int, at_y: list[str], at_z: list[str]) -> None:
    """ttl 100; c0..c9 at 0..9 s; y at 109 + `step` s, then z at 150 s. y exactly the ttl
    after the clock (c9's 9 s) is no stray row: it drops everyone idle past the ttl (c9,
    idle exactly it, kept); a second later it is stray and drops no one. Then from y down
    to c9 is a jump only when more than the ttl: exactly it, the clock is y's and z drops
    c9; one second more, y was passed over, the clock is c9's, and z is stray. Per row and
    in one batch, as the table (`lru._stray`'s two comparisons; the random streams reach
    these edges only by chance)."""
    ids = [f"c{k}" for k in range(10)] + ["y", "z"]
    ts = [float(k) for k in range(10)] + [109.0 + step, 150.0]
    want, table = _core(ids, ts, 100, 100.0)
    assert (want[10][0], want[11][0]) == (at_y, at_z)
    for per_row in (True, False):
        got, slots = _kernel_by_row(ids, ts, 100, 100.0, per_row)
        assert got == want
        _assert_tables_equal(slots, table)
        drops, _, slots = _kernel_batches(ids, ts, 100, 100.0, [], per_row)
        assert drops == [(c, 10) for c in at_y] + [(c, 11) for c in at_z]
        _assert_tables_equal(slots, table)
