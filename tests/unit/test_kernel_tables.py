"""detector/kernel/tables.py: the kernel's count tables hold the very (key, count) sequences,
in order, of the core's dicts after every step: a customer's capped tables through
`state.bump` and `habits.learn_habits` (eviction of the first least counted, ties, a key
evicted and seen again, a new key from a light event counted 2), the population's through
`state._count` and `Population.observe` (the cap on keys, singles); on hypothesis key
streams and on the values of generated rows."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.core.config import CoreConfig
from detector.core.features import ipnet
from detector.core.habits import learn_habits
from detector.core.knobs import Knobs
from detector.core.state import NOVELTY, CustomerState, Population, _count, bump
from detector.kernel import population, slots, tables
from detector.kernel.codes import Codes
from producer.generator import GeneratorConfig, generate
from tests.ci import IN_CI

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")

KEYS = st.sampled_from([f"k{i}" for i in range(9)])


class Table:
    """One customer's table of one attribute in the slots' arrays (slot 1 of 3, table 2
    of 5; the others stay empty)."""

    def __init__(self, codes: Codes, room: int, start: dict[str, int] | None = None) -> None:
        self.codes = codes
        self.s = slots.allocate(slots.Dims(a=4, k=room, x=2, r=4), 3)
        for j, (key, count) in enumerate((start or {}).items()):
            self.s.tab_code[1, 2, j] = codes.code(key)
            self.s.tab_count[1, 2, j] = count
        self.s.tab_len[1, 2] = len(start or {})

    def rows(self) -> tuple[Any, Any, int]:
        return self.s.tab_code[1, 2], self.s.tab_count[1, 2], int(self.s.tab_len[1, 2])

    def bump(self, key: str, cap: int) -> None:
        code, count, length = self.rows()
        self.s.tab_len[1, 2] = tables.bump(code, count, length, self.codes.code(key), cap)

    def learn(self, key: str, cap: int, w: float) -> bool:
        """`learn_habits`' write; whether `key` was new (`find` before)."""
        code, count, length = self.rows()
        c = self.codes.code(key)
        j = tables.find(code, length, c)
        self.s.tab_len[1, 2] = tables.learn_key(code, count, length, c, cap, j, w)
        return j < 0

    def items(self) -> list[tuple[str, int]]:
        code, count, length = self.rows()
        return [(self.codes.value(int(code[j])), int(count[j])) for j in range(length)]


def _bumped(keys: list[str], cap: int, start: dict[str, int] | None = None) -> None:
    """`keys` through `state.bump` and the kernel's `bump`: equal after every key."""
    want = dict(start or {})
    got = Table(Codes(), max(cap, len(want)) + 1, want)
    for key in keys:
        bump(want, key, cap)
        got.bump(key, cap)
        assert got.items() == list(want.items())
    assert not got.s.tab_len[[0, 2]].any() and got.s.tab_len[1].sum() == len(want)


@settings(deadline=None, max_examples=400)  # the first example compiles the kernel
@given(st.lists(KEYS, max_size=80), st.integers(2, 6))
def test_bump_keeps_the_dicts_items_in_order(keys: list[str], cap: int) -> None:
    _bumped(keys, cap)


@settings(deadline=None, max_examples=200)
@given(st.dictionaries(KEYS, st.integers(1, 4), min_size=1, max_size=9),
       st.lists(KEYS, max_size=40), st.integers(2, 4))
def test_bump_on_a_restored_table_longer_than_the_cap(
        start: dict[str, int], keys: list[str], cap: int) -> None:
    """A restored table may hold more keys than `max_seen` (the config shrank): each new
    key deletes one and adds one, so it keeps its length."""
    _bumped(keys, cap, start)


def test_bump_boundaries() -> None:
    _bumped([], 2)
    _bumped(["a"], 2)
    _bumped(["a", "b"], 2)  # full
    _bumped(["a", "b", "c"], 2)  # a tie: the first, "a", leaves
    _bumped(["a", "b", "b", "c"], 2)  # "a" least counted
    _bumped(["a", "a", "b", "c"], 2)  # "b" least counted, though not first
    _bumped(["a", "b", "c", "a", "a", "d", "b"], 2)  # evicted keys seen again
    _bumped(["a", "b", "c", "c", "b", "d", "e"], 3)  # the first least counted in the middle
    _bumped(["a", "b", "a", "c", "d", "b"], 3)
    t = Table(Codes(), 2)
    for key in ("a", "b", "b", "c"):
        t.bump(key, 2)
    assert t.items() == [("b", 2), ("c", 1)]
    t.bump("a", 2)  # the tie "c" (count 1) leaves, "a" comes back fresh
    assert t.items() == [("b", 2), ("a", 1)]


def _learn_both(events: list[tuple[tuple[str, ...], float]], cap: int) -> int:
    """Events through `habits.learn_habits` and the kernel's `find` + `learn_key` per
    attribute: every table equal after each event. Returns the new keys from light
    events (counted 2)."""
    cfg = Knobs(CoreConfig(max_seen=cap))
    state, pop, codes = CustomerState(), Population(), Codes()
    mine = [Table(codes, cap) for _ in NOVELTY]
    light = 0
    for values, w in events:
        country, category, channel, device, net = values
        learn_habits(state, pop, cfg, (country, device, net, channel, category, 3, 1.5), w)
        for i, key in enumerate(values):
            light += mine[i].learn(key, cap, w) and w < 0.5
        want = [state.countries, state.categories, state.channels, state.devices,
                state.ipnets]
        assert [m.items() for m in mine] == [list(d.items()) for d in want]
    return light


@settings(deadline=None, max_examples=200)
@given(st.lists(st.tuples(st.tuples(KEYS, KEYS, KEYS, KEYS, KEYS),
                          st.sampled_from((1.0, 0.7, 0.5, 0.4999999, 0.1, 0.0))),
                max_size=50),
       st.integers(2, 5))
def test_learn_habits_tables(events: list[tuple[tuple[str, ...], float]], cap: int) -> None:
    _learn_both(events, cap)


def test_learn_habits_light_event_counts_a_new_key_two() -> None:
    """A new key from an event of weight below one half is counted 2, one at exactly
    one half 1; then a full table (K = 2) deletes the least counted."""
    events: list[tuple[tuple[str, ...], float]] = [
        (("a",) * 5, 1.0), (("b",) * 5, 0.4), (("c",) * 5, 0.5), (("d",) * 5, 0.49)]
    assert _learn_both(events, 2) == 2 * 5


def _generated_values(seed: int) -> list[tuple[str, tuple[str, ...]]]:
    txs = sorted(generate(GeneratorConfig(seed=seed, customers=150, days=12)),
                 key=lambda tx: tx.timestamp)
    return [(tx.customer_id, (tx.country, tx.merchant_category, tx.channel, tx.device,
                              ipnet(tx.ip))) for tx in txs]


def test_learn_habits_tables_on_generated_rows() -> None:
    """Each customer's generated values (weights drawn so one event in six is light)
    through `learn_habits`, per customer, with `max_seen` 12 (the default) and 3."""
    rows = _generated_values(4)
    rng = random.Random(4)
    by_customer: dict[str, list[tuple[tuple[str, ...], float]]] = {}
    for cid, values in rows:
        w = rng.choice((1.0, 1.0, 0.9, 0.6, 0.5, 0.3))
        by_customer.setdefault(cid, []).append((values, w))
    assert len(rows) > 3000
    light = 0
    for cap in (12, 3):
        for events in by_customer.values():
            light += _learn_both(events, cap)
    assert light > 50


class Pop:
    """The population's tables in `population.PopulationArrays`, growing with the
    encoder."""

    def __init__(self, pop: Population, codes: Codes, max_keys: int) -> None:
        self.codes, self.max_keys = codes, max_keys
        self.p = population.to_arrays(pop, codes, max_keys)

    def grown(self) -> None:
        self.p = population.grow_codes(self.p, len(self.codes.values))

    def count(self, a: int, key: str) -> None:
        c = self.codes.code(key)
        self.grown()
        tables.fill_singles(self.p)  # as `_count` does first, for every table at once
        tables.pop_count(self.p, a, c, self.max_keys)

    def count_values(self, values: tuple[str, ...]) -> None:
        c = [self.codes.code(v) for v in values]
        self.grown()
        tables.pop_count_values(self.p, c[0], c[1], c[2], c[3], c[4], self.max_keys)

    def items(self) -> tuple[list[list[tuple[str, int]]], list[tuple[str, int]]]:
        p, value = self.p, self.codes.value
        found = [[(value(int(c)), int(p.tab_count[a, c])) for c in p.tab_keys[a, :p.tab_len[a]]]
                 for a in range(len(NOVELTY))]
        order = [int(p.singles_order[j]) for j in range(int(p.singles_len[0]))]
        return found, [(NOVELTY[a], int(p.singles[a])) for a in order]


def _core_items(pop: Population) -> tuple[list[list[tuple[str, int]]], list[tuple[str, int]]]:
    return [list(pop.tables[name].items()) for name in NOVELTY], list(pop.singles.items())


@settings(deadline=None, max_examples=300)
@given(st.lists(st.tuples(st.integers(0, 4), KEYS), max_size=80), st.integers(1, 6))
def test_count_keeps_the_dicts_items_and_singles(steps: list[tuple[int, str]],
                                                 max_keys: int) -> None:
    pop = Population()
    for name in ("ipnet", "country", "category", "channel", "device"):
        pop.singles[name] = 0  # as after a first counted event
    mine = Pop(pop, Codes(), max_keys)
    for a, key in steps:
        name = NOVELTY[a]
        _count(pop.tables[name], key, max_keys, pop.singles, name)
        mine.count(a, key)
        assert mine.items() == _core_items(pop)


def test_count_boundaries() -> None:
    """Full: a new key is not counted (and not a single), a known one still is; a single
    counted again is one no longer."""
    pop = Population()
    mine = Pop(pop, Codes(), 2)
    pop.singles["country"] = 0
    for key in ("a", "b", "c", "a", "c", "b", "b"):
        _count(pop.tables["country"], key, 2, pop.singles, "country")
        mine.count(0, key)
    assert mine.items()[0][0] == list(pop.tables["country"].items()) == [("a", 2), ("b", 3)]
    assert int(mine.p.singles[0]) == pop.singles["country"] == 0
    assert int(mine.p.tab_count[0, mine.codes.code("c")]) == 0


@pytest.mark.parametrize("singles", [{}, {"country": 1}, {"device": 0, "ipnet": 2}])
def test_singles_missing_from_a_restored_population(singles: dict[str, int]) -> None:
    """A snapshot older than `singles` (or with some tables' only): `_count` computes a
    table's at its first count, in `observe`'s order after those present; so does the
    kernel."""
    pop = Population()
    pop.tables = {"country": {"x": 1, "y": 3}, "category": {"m": 1}, "channel": {},
                  "device": {"d": 2}, "ipnet": {"n": 1, "o": 1}}
    pop.singles = dict(singles)
    mine = Pop(pop, Codes(), 16)
    assert mine.items() == _core_items(pop)
    for values in (("x", "m", "web", "d", "n"), ("y", "q", "web", "e", "o")):
        country, category, channel, device, net = values
        pop.observe(country, category, channel, device, 0.0, 16, net, True)
        mine.count_values(values)
        assert mine.items() == _core_items(pop)


@pytest.mark.parametrize("max_keys", [16, 40, 4096])
def test_observe_values_on_generated_rows(max_keys: int) -> None:
    """`Population.observe` over generated rows' values (one in ten suspicious: its values
    not counted), the kernel's `pop_count_values` beside it; the tables equal after every
    row, their cap reached (16, 40: devices and networks are many)."""
    rows = _generated_values(9)
    rng = random.Random(9)
    pop = Population()
    mine = Pop(pop, Codes(), max_keys)
    for _, values in rows:
        country, category, channel, device, net = values
        counted = rng.random() >= 0.1
        pop.observe(country, category, channel, device, math.log(10.0), max_keys, net,
                    counted)
        if counted:
            mine.count_values(values)
        assert mine.items() == _core_items(pop)
    if max_keys < 4096:
        assert max(len(t) for t in pop.tables.values()) == max_keys
    assert int(np.sum(mine.p.singles)) > 0
