"""One row dated years ahead (a mistyped year, which the schema takes up to 2100) expires no
customer (twelfth hostile probe, 2026-12-06): measured from it every customer of the
partition was idle past `customer_ttl_s`, and that one row dropped them all, so every later
row of the partition scored as a new customer's (score 0.0), on every core; nor do a few
different customers' rows one after the other (x then y: y was measured from x)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.stateparts import decode_customer
from detector.core.table import CustomerTable
from tests.ci import IN_CI
from tests.cores import core_switch
from tests.unit.state_stream import CONFIG, stream

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency")

CORES = ("python", "kernel")
ROWS = stream(330)
TTL = dt.timedelta(seconds=CONFIG.customer_ttl_s)
LAST = ROWS[299]  # the last row before the stray one: its customer the most recently seen


def _row(name: str, at: dt.datetime) -> Any:
    return LAST.model_copy(update={"transaction_id": name, "customer_id": name,
                                   "timestamp": at})


def _run(core: str, extra: list[Any]) -> tuple[int, list[float | None]]:
    """Customers held after the first 300 rows and `extra`, and the next 30 rows' scores."""
    with core_switch(core):
        engine = PartitionEngine(CONFIG, 0)
        engine.process(ROWS[:300] + extra)
        held = len(engine.checkpoint(full=True).customers)
        return held, [v.score for v in engine.process(ROWS[300:])]


@pytest.mark.parametrize("core", CORES)
def test_a_row_dated_years_ahead_drops_no_customer(core: str) -> None:
    held, scores = _run(core, [_row("typo", LAST.timestamp.replace(year=2100))])
    plain_held, plain_scores = _run(core, [])
    assert (held, plain_held) == (31, 30)
    assert scores == pytest.approx(plain_scores, abs=0.01)
    assert scores.count(0.0) == plain_scores.count(0.0) == 10  # of 30 (before: 30)


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize(("past_ttl_s", "held", "kept"),
                         [(-1, 2, "newest"), (0, 2, "none"), (1, 31, "all")])
def test_a_row_expires_only_within_the_ttl_of_the_newest_customer(
        core: str, past_ttl_s: int, held: int, kept: str) -> None:
    """A row up to the ttl past the newest customer's last event drops every customer idle
    past the ttl (all but that newest one); one second later it is stray and drops no one.
    The next row, a second later, of another customer, is measured from the first when
    that was not stray (it drops every customer idle past the ttl then: the newest one kept
    only when that is exactly the ttl), and from the partition's clock when it was: stray
    too, it drops no one (before: measured from the stray row, it dropped all 30)."""
    newest = max(r.timestamp for r in ROWS[:300])
    at = newest + TTL + dt.timedelta(seconds=past_ttl_s)
    with core_switch(core):
        engine = PartitionEngine(CONFIG, 0)
        engine.process([*ROWS[:300], _row("first", at)])
        assert len(engine.checkpoint(full=True).customers) == held
        engine.process([_row("second", at + dt.timedelta(seconds=1))])
        left = sorted(cid for cid, _ in engine.checkpoint(full=True).customers)
    newest_ids = sorted({r.customer_id for r in ROWS[:300] if r.timestamp == newest})
    every = sorted({r.customer_id for r in ROWS[:300]})
    kept_ids = {"newest": newest_ids, "none": [], "all": every}[kept]
    assert left == sorted([*kept_ids, "first", "second"])


def _held_ids(engine: PartitionEngine) -> list[str]:
    return sorted(cid for cid, _ in engine.checkpoint(full=True).customers)


def _stray(n: int, start: dt.datetime, first: int = 0) -> list[Any]:
    """`n` rows of the customer "typo", a second apart from `start` (a device whose clock
    is wrong), numbered from `first`."""
    return [_row("typo", start + dt.timedelta(seconds=k)).model_copy(
        update={"transaction_id": f"typo{k}"}) for k in range(first, first + n)]


def _counts(core: str, rows: list[Any]) -> dict[str, int]:
    """Each customer held after the first 300 rows and `rows`, with its count of events
    (a customer dropped on the way counts only its rows since)."""
    with core_switch(core):
        engine = PartitionEngine(CONFIG, 0)
        engine.process(ROWS[:300])
        engine.process(rows)
        return {cid: decode_customer(data)[1].n
                for cid, data in engine.checkpoint(full=True).customers}


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("n", [2, 3, 10])
def test_one_customer_s_stray_rows_in_a_row_drop_no_customer(core: str, n: int) -> None:
    """Its second row finds its own customer the most recently seen, whose last row was
    stray: passed over, it is measured from the customer seen before, so it is stray too
    (before: it dropped all, and every customer then counted only its rows after them)."""
    got = _counts(core, [*_stray(n, LAST.timestamp.replace(year=2100)), *ROWS[300:]])
    plain = _counts(core, ROWS[300:])
    assert (len(got), len(plain)) == (31, 30)
    assert got == {**plain, "typo": n}


@pytest.mark.parametrize("core", CORES)
def test_stray_rows_interleaved_with_the_partition_s_drop_no_customer(core: str) -> None:
    """Runs of one and two stray rows after each normal row: every customer is still held
    at the end, with all its events, as without them."""
    start = LAST.timestamp.replace(year=2100)
    rows: list[Any] = []
    for i, row in enumerate(ROWS[300:]):
        rows += [row, *_stray(1 + i % 2, start, first=len(rows))]
    got = _counts(core, rows)
    assert got == {**_counts(core, ROWS[300:]), "typo": 45}  # 15 runs of 1, 15 of 2


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize(("past_ttl_s", "kept_all"), [(-1, False), (0, False), (1, True)])
def test_a_stray_customer_s_next_row_is_measured_from_the_newest_other_customer(
        core: str, past_ttl_s: int, kept_all: bool) -> None:
    """After one stray row (a second past the ttl), its customer's next row, dated up to the
    ttl past the newest OTHER customer's last event, drops every customer idle past the ttl
    (all but that newest one); one second later it is stray and drops no one. Before, it was
    measured from its own first row, and one second past the ttl dropped all 30."""
    newest = max(r.timestamp for r in ROWS[:300])
    at = newest + TTL + dt.timedelta(seconds=past_ttl_s)
    with core_switch(core):
        engine = PartitionEngine(CONFIG, 0)
        engine.process([*ROWS[:300], *_stray(1, newest + TTL + dt.timedelta(seconds=1))])
        assert len(engine.checkpoint(full=True).customers) == 31
        engine.process([_row("typo", at).model_copy(update={"transaction_id": "again"})])
        left = _held_ids(engine)
    newest_ids = sorted({r.customer_id for r in ROWS[:300] if r.timestamp == newest})
    every = sorted({r.customer_id for r in ROWS[:300]})
    assert left == sorted((every if kept_all else newest_ids) + ["typo"])


@pytest.mark.parametrize("core", CORES)
def test_a_partition_idle_past_the_ttl_expires_after_quorum_customers_after_the_gap(
        core: str) -> None:
    """The whole partition silent for a day more than the ttl, then three rows of the most
    recently seen customer A and one each of seven others (QUORUM customers), then two more
    customers: the first QUORUM customers' rows are stray (measured from the partition's
    time before the gap), so all 30 stay held and those keep their state; the next row,
    measured from theirs, drops every customer idle past the ttl (its own customer's old
    state too: fresh), leaving the QUORUM and it; then the last one, fresh too."""
    a = LAST.customer_id
    others = sorted({r.customer_id for r in ROWS[:300]} - {a})[:QUORUM + 1]
    came = [a, a, a, *others]
    start = max(r.timestamp for r in ROWS[:300]) + TTL + dt.timedelta(days=1)
    after = [LAST.model_copy(update={"transaction_id": f"g{i}", "customer_id": cid,
                                     "timestamp": start + dt.timedelta(minutes=i)})
             for i, cid in enumerate(came)]
    with core_switch(core):
        engine = PartitionEngine(CONFIG, 0)
        engine.process(ROWS[:300])
        every = _held_ids(engine)
        before = {cid: decode_customer(data)[1].n
                  for cid, data in engine.checkpoint(full=True).customers}
        left = []
        for row in after:
            engine.process([row])
            left.append(_held_ids(engine))
        n = {cid: decode_customer(data)[1].n
             for cid, data in engine.checkpoint(full=True).customers}
    assert len(every) == 30
    stray = QUORUM + 2  # rows: A's three and seven others'
    assert left[:stray] == [every] * stray
    assert left[stray:] == [sorted({*came[:stray + 1]}), sorted({*came})]
    kept = [a, *others[:QUORUM - 1]]
    assert n == {**{cid: before[cid] + came.count(cid) for cid in kept},
                 **dict.fromkeys(others[QUORUM - 1:], 1)}


@pytest.mark.parametrize("core", CORES)
def test_two_rows_of_one_customer_dated_years_ahead_drop_no_customer(core: str) -> None:
    """Two rows of one customer dated 2100 in a row (found checking f5b3214: the second was
    measured from the first, every other customer idle past the ttl): none dropped, and the
    next 30 rows score as without them."""
    at = LAST.timestamp.replace(year=2100)
    extra = [LAST.model_copy(update={"transaction_id": f"typo{k}", "customer_id": "typo",
                                     "timestamp": at + dt.timedelta(seconds=k)})
             for k in range(2)]
    held, scores = _run(core, extra)
    plain_held, plain_scores = _run(core, [])
    assert (held, plain_held) == (31, 30)  # before: (1, 30)
    assert scores.count(0.0) == plain_scores.count(0.0) == 10  # of 30 (before: 23)


#: Distinct customers whose rows in a row at one time make it the partition's clock
#: (`detector.core.table.CLOCK_QUORUM`; written out, so the test also fails on the old code).
QUORUM = 8


def _strays(names: list[str], start: dt.datetime) -> list[Any]:
    """One row each of the customers `names`, a second apart from `start`."""
    return [_row(name, start + dt.timedelta(seconds=k)).model_copy(
        update={"transaction_id": f"{name}-{k}"}) for k, name in enumerate(names)]


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("n", [2, 3, 5])
def test_stray_rows_of_different_customers_in_a_row_drop_no_customer(
        core: str, n: int) -> None:
    """x then y (then z ...), each one row dated 2100: the second was measured from the
    first's time, every customer idle past the ttl from it, and all 30 dropped."""
    names = [f"x{k}" for k in range(n)]
    got = _counts(core, [*_strays(names, LAST.timestamp.replace(year=2100)), *ROWS[300:]])
    want = {**_counts(core, ROWS[300:]), **dict.fromkeys(names, 1)}
    assert (len(got), sum(got.values())) == (len(want), sum(want.values())) == (30 + n, 330 + n)
    assert got == want


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("n", [2, 3, 5])
def test_runs_of_different_stray_customers_drop_no_customer(core: str, n: int) -> None:
    """`n` customers dated 2100, each two rows in a row (x x y y ...), then all of them
    again in turn (x y ... x y ...), then the partition's rows."""
    names = [f"x{k}" for k in range(n)]
    order = [name for name in names for _ in range(2)] + names + names
    got = _counts(core, [*_strays(order, LAST.timestamp.replace(year=2100)), *ROWS[300:]])
    want = {**_counts(core, ROWS[300:]), **dict.fromkeys(names, 4)}
    assert (len(got), sum(got.values())) == (len(want), sum(want.values()))
    assert got == want


@pytest.mark.parametrize("core", CORES)
def test_different_stray_customers_interleaved_with_the_partition_s_drop_no_customer(
        core: str) -> None:
    """After each normal row, a run of one to three different stray customers (of five, in
    turn): every customer is still held at the end, with all its events."""
    start = LAST.timestamp.replace(year=2100)
    rows: list[Any] = []
    turn = 0
    for i, row in enumerate(ROWS[300:]):
        names = [f"x{(turn + k) % 5}" for k in range(1 + i % 3)]
        turn += len(names)
        rows += [row, *_strays(names, start + dt.timedelta(seconds=len(rows)))]
    got = _counts(core, rows)
    want = {**_counts(core, ROWS[300:]), **dict.fromkeys(
        [f"x{k}" for k in range(5)], 12)}  # 60 stray rows, 5 customers in turn
    assert (len(got), sum(got.values())) == (len(want), sum(want.values())) == (35, 390)
    assert got == want


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("n", [QUORUM - 1, QUORUM, QUORUM + 1])
def test_a_new_time_becomes_the_clock_after_quorum_different_customers(
        core: str, n: int) -> None:
    """Up to QUORUM different customers' rows in a row dated 2100 drop no one; the next
    row at that time (of a customer more) is measured from theirs, and drops every customer
    idle past the ttl then: all the partition's, the 2100 ones left."""
    names = [f"x{k}" for k in range(n)]
    with core_switch(core):
        engine = PartitionEngine(CONFIG, 0)
        engine.process(ROWS[:300])
        every = _held_ids(engine)
        engine.process(_strays(names, LAST.timestamp.replace(year=2100)))
        left = _held_ids(engine)
    assert len(every) == 30
    assert len(left) == (n if n > QUORUM else 30 + n)
    assert left == sorted(names if n > QUORUM else every + names)


@pytest.mark.parametrize(("cid", "at", "held", "evicted"), [
    ("a", 100.0, ["a"], 0),  # its own row exactly the ttl after its last: kept
    ("a", 100.5, ["a"], 1),  # past it: a customer alone is never stray, it expires
    ("b", 100.0, ["a", "b"], 0),
    ("b", 100.5, ["a", "b"], 0),  # another's row past it is stray: 'a' kept
])
def test_a_customer_alone_expires_and_another_s_row_after_the_ttl_is_stray(
        cid: str, at: float, held: list[str], evicted: int) -> None:
    """One customer held (last event at 0 s, ttl 100 s): its own next row more than the
    ttl later expires it (it starts afresh); another customer's such row is stray and
    drops no one (`CustomerTable._stray`: the walk needs some customer before it)."""
    table = CustomerTable(CoreConfig(customer_ttl_s=100.0))
    first = table.get("a", 0.0)
    first.last_t = 0.0
    state = table.get(cid, at)
    assert [k for k, _ in table.held()] == held and table.evicted == evicted
    assert (state is first) is (cid == "a" and not evicted)


@pytest.mark.parametrize(("at", "held"), [
    (100.0, ["a", "b", "c"]),  # 'a' idle exactly the ttl: no one dropped
    (101.0, ["b", "c"]),  # 'a' idle past it; 'b' exactly the ttl: kept
    (102.0, ["c"]),  # both past it
])
def test_expiry_drops_the_customers_idle_past_the_ttl_and_keeps_one_idle_exactly_it(
        at: float, held: list[str]) -> None:
    """Customers last seen at 0, 1 and 50 s (ttl 100 s), then a row of the last at `at`:
    every customer idle more than the ttl is dropped, the first one idle exactly the ttl
    kept, however many were dropped before it."""
    table = CustomerTable(CoreConfig(customer_ttl_s=100.0))
    for cid, t in (("a", 0.0), ("b", 1.0), ("c", 50.0)):
        table.get(cid, t).last_t = t
    table.get("c", at)
    assert [k for k, _ in table.held()] == held and table.evicted == 3 - len(held)
