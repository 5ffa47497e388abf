"""detector/kernel/novelty.py: the population's novelty estimates against `Population`'s on
hypothesis populations (and at their boundaries: a full table, an empty one, `singles`
absent as in an old snapshot, bands at their bounds), the novelty rates' learning, and the
five novelty terms with their reasons row by row on realistic rows against the core's row
loop, with the novelty learning (`explore`, `novel`, the population's rates; the code
tables, context and `learnt` by `tables.learn_key` and a ring push) compared after every
event the core's habits learn."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.core import habits
from detector.core.calibration import Recalibration
from detector.core.config import CoreConfig
from detector.core.features import event_seconds, observe
from detector.core.knobs import Knobs
from detector.core.lowtail import amount_z
from detector.core.state import NOVELTY, CustomerState, Population
from detector.core.surprise import banded_categorical, categorical, combine, fold_round, terms
from detector.core.table import CustomerTable
from detector.kernel import learning, tables
from detector.kernel import novelty as kn
from detector.kernel import population as kp
from detector.kernel import slots as sl
from detector.kernel.codes import Codes
from detector.kernel.knobs import kernel_knobs
from tests.ci import IN_CI
from tests.unit.kernel_rows import core_rows, generated

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")

#: The novelty terms' places in a row's raw terms (`calibration.TERMS`).
LO, HI = 2, 7
#: Values a hypothesis table draws its keys from ("" included: `learn_first` reads its
#: count), and one no table holds.
VALUES = ("", "a", "b", "c", "d", "e", "f", "g")
UNKNOWN = "zz"
NONE = np.zeros(0, np.int32)


def _codes() -> Codes:
    codes = Codes()
    for v in (*VALUES, UNKNOWN):
        codes.code(v)
    return codes


# --- hypothesis populations ----------------------------------------------------------------

@st.composite
def populations(draw: Any, max_keys: int = len(VALUES)) -> Population:
    """A population of random tables (each an insertion order of some `VALUES`, or of up to
    `max_keys` generated keys), event count at least their counts, `singles` present for
    some tables (in a random order, its counts not necessarily the tables': the estimates
    read what is stored) and novelty rates for a random set of keys (some near the
    halving point)."""
    pop = Population()
    counted = 0
    for name in NOVELTY:
        if max_keys > len(VALUES):
            keys = [f"k{i}" for i in range(draw(st.integers(0, max_keys)))]
        else:
            keys = draw(st.lists(st.sampled_from(VALUES), unique=True, max_size=max_keys))
        table = {key: draw(st.integers(1, 6)) for key in keys}
        pop.tables[name] = table
        counted += sum(table.values())
    pop.total = counted + draw(st.integers(0, 40))
    for name in draw(st.permutations(NOVELTY)):
        if draw(st.booleans()):
            pop.singles[name] = draw(st.integers(0, 12))
    for key in draw(st.permutations(kp.NOVELTY_KEYS)):
        if draw(st.booleans()):
            size = 3 if key.startswith("first:") else 2
            pop.novelty[key] = [float(draw(st.sampled_from((0.0, 1.0, 19_999.5, 20_000.0)))
                                      + draw(st.floats(0.0, 50.0))) for _ in range(size)]
    return pop


def _known(codes: Codes, keys: list[str]) -> Any:
    return np.array([codes.code(x) for x in keys], np.int32)


@settings(deadline=None, max_examples=150)
@given(populations(), st.lists(st.sampled_from((*VALUES, UNKNOWN)), unique=True, max_size=5),
       st.integers(0, 200))
def test_the_population_estimates_are_the_cores(pop: Population, known: list[str],
                                                used: int) -> None:
    codes = _codes()
    p = kp.to_arrays(pop, codes, 16)
    mine = {x: 1 for x in known}
    arr = _known(codes, known)
    for a, name in enumerate(NOVELTY):
        assert kn.unseen_mass(p, a).hex() == pop.unseen_mass(name).hex()
        assert kn.unused_share(p, a, used).hex() == pop.unused_share(name, used).hex()
        assert kn.unused_mass(p, a, arr, len(arr)).hex() == pop.unused_mass(name, mine).hex()
        for band in range(-1, 8):
            assert kn.new_rate(p, a, band).hex() == pop.new_rate(name, band).hex()
        for key in (*VALUES, UNKNOWN):
            code = codes.code(key)
            assert kn.share(p, a, code).hex() == pop.share(name, key).hex()
            assert (kn.rarer_mass(p, a, arr, len(arr), code).hex()
                    == pop.rarer_mass(name, mine, key).hex())
            assert (kn.first_base(p, a, arr, len(arr), code).hex()
                    == pop.first_base(name, mine, key).hex())
            assert kn.first_base(p, a, NONE, 0, code).hex() == pop.first_base(
                name, {}, key).hex()
            assert kn.first_tail(p, a, code, NONE).hex() == pop.first_tail(name, key).hex()


@settings(deadline=None, max_examples=60)
@given(populations(max_keys=20))
def test_the_estimates_on_larger_tables(pop: Population) -> None:
    """Tables of up to 20 generated keys (past the smallest `max_population_keys`)."""
    codes = Codes()
    p = kp.to_arrays(pop, codes, 16)
    for a, name in enumerate(NOVELTY):
        keys = list(pop.tables[name])
        for key in (*keys[:4], UNKNOWN):
            code = codes.code(key)
            p = kp.grow_codes(p, len(codes.values))
            mine = {x: 1 for x in keys[1:3]}
            arr = _known(codes, list(mine))
            assert (kn.rarer_mass(p, a, arr, len(arr), code).hex()
                    == pop.rarer_mass(name, mine, key).hex())
            assert kn.first_tail(p, a, code, NONE).hex() == pop.first_tail(name, key).hex()
        assert kn.unseen_mass(p, a).hex() == pop.unseen_mass(name).hex()


def test_estimates_at_their_boundaries() -> None:
    """An empty population (no tables, no singles, no rates: the snapshot of a fresh
    partition or one older than the fields), then singles absent with tables (counted from
    the table), an empty customer, a value counted by all events (no free mass left)."""
    codes = _codes()
    pop = Population()
    p = kp.to_arrays(pop, codes, 16)
    for a, name in enumerate(NOVELTY):
        assert kn.unseen_mass(p, a).hex() == pop.unseen_mass(name).hex()
        assert kn.new_rate(p, a, 3) == pop.new_rate(name, 3) == 1.0
        assert kn.first_tail(p, a, 1, NONE).hex() == pop.first_tail(name, "a").hex()
    pop.tables["device"] = {"a": 1, "b": 1, "c": 7}
    pop.total = 9
    pop.singles = {"country": 0}  # the device's absent: counted from its table (2)
    p = kp.to_arrays(pop, codes, 16)
    d = NOVELTY.index("device")
    assert kn.unseen_mass(p, d).hex() == pop.unseen_mass("device").hex() == (3 / 10).hex()
    assert kn.unused_share(p, d, 9).hex() == pop.unused_share("device", 9).hex()
    both = _known(codes, ["a", "b", "c"])
    assert (kn.unused_mass(p, d, both, 3).hex()
            == pop.unused_mass("device", {"a": 1, "b": 1, "c": 1}).hex())
    for key in ("a", "c", UNKNOWN):
        assert (kn.rarer_mass(p, d, both, 3, codes.code(key)).hex()
                == pop.rarer_mass("device", {"a": 1, "b": 1, "c": 1}, key).hex())


# --- learning the rates --------------------------------------------------------------------

@settings(deadline=None, max_examples=100)
@given(populations(), st.lists(st.tuples(
    st.booleans(), st.lists(st.sampled_from((*VALUES, UNKNOWN)), min_size=5, max_size=5),
    st.integers(0, 4), st.booleans(), st.floats(0.0, 1.0), st.integers(-1, 7), st.booleans(),
    st.sampled_from((16, 3))), max_size=12))
def test_learning_the_rates_is_the_cores(pop: Population, ops: list[Any]) -> None:
    """`learn_first` (a table full or not: `max_keys` 3 against up to 8 keys) and
    `learn_novelty` (established or not, with or without a band), from rates near their
    halving point: the same entries, in the same insertion order, to the bit."""
    codes = _codes()
    p = kp.to_arrays(pop, codes, 16)
    empty = codes.code("")
    for first, keys, a, new, unused, band, established, max_keys in ops:
        if first:
            pop.learn_first(keys, max_keys)
            kn.learn_first(p, _known(codes, keys), max_keys, empty, NONE)
        else:
            pop.learn_novelty(NOVELTY[a], new, unused, band, established)
            kn.learn_novelty(p, a, new, unused, band, established)
        back = kp.from_arrays(p, codes).novelty
        assert list(back) == list(pop.novelty)
        assert {k: [x.hex() for x in v] for k, v in back.items()} == {
            k: [x.hex() for x in v] for k, v in pop.novelty.items()}


# --- the term on hypothesis tables ---------------------------------------------------------

@settings(deadline=None, max_examples=200)
@given(populations(max_keys=18),
       st.lists(st.tuples(st.integers(0, 18), st.integers(1, 4)), max_size=6),
       st.integers(0, 18), st.integers(0, 3), st.integers(0, 40), st.floats(0.0, 30.0),
       st.integers(0, 8), st.sampled_from(((), (1, 3, 9), (2,))))
def test_the_term_is_the_cores(pop: Population, table: list[tuple[int, int]], key: int,
                               a: int, learnt: int, explore: float, recent: int,
                               bands: tuple[int, ...]) -> None:
    """`banded_categorical` and `categorical` of a customer's table against a population
    of up to 18 keys (`max_population_keys` 16: full or not), a known value or a new one,
    a first purchase or not."""
    config = CoreConfig(max_population_keys=16, prior_bands=bands)
    knobs = Knobs(config)
    k = kernel_knobs(knobs)
    codes = Codes()
    name = NOVELTY[a]
    mine = {f"k{i}": n for i, n in table}
    value = f"k{key}"
    for x in (*mine, value):
        codes.code(x)
    p = kp.to_arrays(pop, codes, 16)
    s = sl.allocate(sl.Dims.of(config), 1)
    sl.reset(s, 0, codes)
    for j, (x, n) in enumerate(mine.items()):
        s.tab_code[0, a, j] = codes.code(x)
        s.tab_count[0, a, j] = n
    s.tab_len[0, a] = len(mine)
    from detector.core.state import history_band
    band = history_band(learnt, bands)
    want = banded_categorical(mine, value, learnt, band, explore, pop, name, recent, knobs)
    got, seen = kn.banded_categorical(s, 0, a, codes.code(value), learnt, band, explore, p,
                                      recent, k)
    assert got.hex() == want.hex()
    assert seen == mine.get(value, 0)
    want = categorical(mine, value, learnt, explore, pop, name, recent, knobs)
    assert kn.categorical(s, 0, a, codes.code(value), learnt, explore, p, recent,
                          k)[0].hex() == want.hex()


def test_reasons_words() -> None:
    assert kn.novelty_reason("ip_network", "10.1.2", 0, 7) == (
        "ip network 10.1.2 never seen for this customer")
    assert kn.novelty_reason("device", "x" * 80, 2, 30).startswith("device ")
    assert kn.novelty_reason("country", "CH", 1, 3) == "country CH seen only 1x in 3 purchases"


# --- row by row on realistic rows ----------------------------------------------------------

def _hex(xs: Any) -> list[str]:
    return [float(x).hex() for x in xs]


class Kernel:
    """The kernel's novelty beside the core's row loop: customers' slots and the
    population's arrays. The customer's code tables (`tables.learn_key`), context ring and
    `learnt` are learnt here beside the novelty (`learn_tables`: the rest of
    `learn_habits` the terms read) and compared with the core's; what the kernel does not
    learn yet (the population's tables, singles and event count: `Population.observe`)
    is copied from the core where the kernel reads it (`bridge`)."""

    def __init__(self, config: CoreConfig, pop: Population, customers: int) -> None:
        self.knobs = Knobs(config)
        self.k = kernel_knobs(self.knobs)
        self.codes = Codes()
        self.empty = self.codes.code("")
        self.s = sl.allocate(sl.Dims.of(config), customers)
        self.p = kp.to_arrays(pop, self.codes, config.max_population_keys)
        self.slots: dict[str, int] = {}
        self.out = np.zeros(5, np.float64)
        self.seen = np.zeros(5, np.int64)
        self.learnt_events = 0
        self.held = 0  # held events learnt (weighed)

    def slot(self, cid: str, fresh: bool) -> int:
        if cid not in self.slots:
            self.slots[cid] = len(self.slots)
            fresh = True
        c = self.slots[cid]
        if fresh:  # a new customer, or one expired and back: a fresh state
            sl.reset(self.s, c, self.codes)
        return c

    def keys(self, values: list[str]) -> Any:
        return np.array([self.codes.code(x) for x in values], np.int32)

    def bridge(self, pop: Population) -> None:
        """The population's tables, singles and event count, as the core's now."""
        p, codes = self.p, self.codes
        for a, name in enumerate(NOVELTY):
            table = pop.tables[name]
            p.tab_len[a] = len(table)
            for j, key in enumerate(table):
                p.tab_keys[a, j] = codes.code(key)
        p = self.p = kp.grow_codes(p, len(codes.values))
        for a, name in enumerate(NOVELTY):
            for key, count in pop.tables[name].items():
                p.tab_count[a, codes.codes[key]] = count
        p.singles_len[0] = len(pop.singles)
        for j, (name, once) in enumerate(pop.singles.items()):
            p.singles_order[j] = NOVELTY.index(name)
            p.singles[p.singles_order[j]] = once
        p.total[0] = pop.total

    def same_habits(self, c: int, stt: CustomerState) -> None:
        """The customer's code tables (learnt by `tables.learn_key`), context and
        `learnt` as the core's."""
        s, codes = self.s, self.codes
        for i, name in enumerate(sl.TABLES):
            table = {codes.value(int(s.tab_code[c, i, j])): int(s.tab_count[c, i, j])
                     for j in range(int(s.tab_len[c, i]))}
            assert list(table.items()) == list(getattr(stt, name).items()), name
        assert s.learnt[c] == stt.learnt
        size, head = s.ctx_la.shape[1], int(s.ctx_head[c])
        context = [tuple(codes.value(int(x)) for x in s.ctx_code[c, (head + j) % size])
                   for j in range(int(s.ctx_len[c]))]
        assert context == [e[:5] for e in stt.context]

    def learn_tables(self, c: int, keys: Any, found: Any, held: Any, w: float) -> None:
        """The rest of `learn_habits` that concerns novelty: the tables count the event
        (`tables.learn_key` at the places `found` before), the context ring takes it
        (`learning.learn_context`), `learnt` counts it."""
        s = self.s
        for i in range(5):
            s.tab_len[c, i] = tables.learn_key(s.tab_code[c, i], s.tab_count[c, i],
                                               s.tab_len[c, i], keys[i],
                                               self.knobs.max_seen, found[i], w)
        codes = np.array([self.codes.code(held[i]) for i in range(sl.STRINGS)], np.int64)
        learning.learn_context(s, c, codes, held[5], held[6], self.knobs.context_size)
        s.learnt[c] += 1

    def same_learning(self, c: int, stt: CustomerState, pop: Population) -> None:
        assert _hex(self.s.explore[c]) == _hex(stt.explore)
        assert self.s.novel[c] == stt.novel
        back = kp.from_arrays(self.p, self.codes).novelty
        assert list(back) == list(pop.novelty)
        assert {k: _hex(v) for k, v in back.items()} == {
            k: _hex(v) for k, v in pop.novelty.items()}

    def learn_held(self, c: int, stt: CustomerState, pop: Population, e: Any) -> None:
        """`habits._learn_held` (a bare held event and a row learnt at once weigh 1): the
        kernel learns first, from the population as the core's now."""
        keys = self.keys([e[0], e[4], e[3], e[1], e[2]])  # NOVELTY order
        self.bridge(pop)
        w = e[7] if len(e) > 7 else 1.0
        found = np.array([tables.find(self.s.tab_code[c, i], self.s.tab_len[c, i], keys[i])
                          for i in range(5)], np.int64)
        kn.learn_habits_novelty(self.s, c, self.p, keys, found, w, self.k)
        self.learn_tables(c, keys, found, e, w)
        habits._learn_held(stt, pop, self.knobs, e)
        self.learnt_events += 1
        self.held += len(e) > 7
        self.same_learning(c, stt, pop)
        self.same_habits(c, stt)


def _rows(txs: list[Any], config: CoreConfig, pop: Population | None = None
          ) -> tuple[dict[str, int], list[list[str]]]:
    """`kernel_rows.core_rows`' steps with `habits.learn` and `release` written out, so
    that the kernel learns beside each event the core's habits learn; each row's novelty
    terms (hex) for a check against `core_rows` itself."""
    pop = Population() if pop is None else pop
    cfg = Knobs(config)
    table = CustomerTable(config)
    calibration = Recalibration(cfg.surprise_cap)
    kernel = Kernel(config, pop, len({tx.customer_id for tx in txs}) + 1)
    floor = cfg.surprise_floor
    seen = {"rows": 0, "reasons": 0, "new": 0, "first": 0}
    raws: list[list[str]] = []
    for tx in txs:
        t = event_seconds(tx)
        stt = table.get(tx.customer_id, t)
        c = kernel.slot(tx.customer_id, stt.n == 0)
        # habits.release
        if stt.pending and stt.pending[0][0] <= t:
            due = [e for r, e in stt.pending if r <= t]
            stt.pending = [(r, e) for r, e in stt.pending if r > t]
            for e in due:
                kernel.learn_held(c, stt, pop, e)
        o = observe(tx, t, stt, pop, cfg)
        # --- the terms ---------------------------------------------------------------------
        values_in = [o.country, o.device, o.ipnet, o.channel, o.category]
        keys = kernel.keys(values_in)  # encoded before the arrays grow (`bridge`)
        kernel.bridge(pop)
        kernel.same_habits(c, stt)
        kn.novelty(kernel.s, c, kernel.p, keys, kernel.k, kernel.out, kernel.seen)
        raw, reasons, wake = terms(t, stt, pop, o, cfg)
        assert _hex(kernel.out) == _hex(raw[LO:HI]), seen["rows"]
        for i, name in enumerate(kn.NAMES):
            if raw[LO + i] > floor:
                assert reasons[name] == kn.novelty_reason(name, values_in[i],
                                                          int(kernel.seen[i]), stt.learnt)
                seen["reasons"] += 1
                seen["new"] += kernel.seen[i] == 0
        raws.append(_hex(raw[LO:HI]))
        values = calibration.apply(raw)
        fold_round(values, o.round_extra, cfg)
        total = combine(values, cfg)
        if stt.learnt >= cfg.min_history:
            calibration.learn(raw)
        if stt.n and total - combine(values[:2], cfg) < cfg.quarantine_above:
            pop.learn_low(amount_z(stt, o, cfg)[0])
        # --- habits.learn (its release: none due, done above) -------------------------------
        suspicious = total >= cfg.quarantine_above and cfg.quarantine_s > 0
        held = (o.country, o.device, o.ipnet, o.channel, o.category, o.hour, o.log_amount)
        if not stt.n:  # `_learn_clock`'s `learn_first`, before anything it counts
            keys = kernel.keys([o.country, o.category, o.channel, o.device, o.ipnet])
            kernel.bridge(pop)
            kn.learn_first(kernel.p, keys, cfg.max_population_keys, kernel.empty, NONE)
            seen["first"] += 1
        habits._learn_clock(held, o.amount, t, stt, pop, cfg, o, wake, not suspicious)
        kernel.same_learning(c, stt, pop)
        if cfg.round_amounts:
            habits._learn_round(stt, pop, o.amount,
                                habits.held_weight(total, cfg) if suspicious else 1.0)
        if suspicious:
            novelty = combine(values[LO:HI], cfg)
            weighted = (*held, habits.held_weight(total - novelty, cfg),
                        habits.held_weight(total, cfg))
            stt.pending.append((max(t, stt.last_t) + cfg.quarantine_s, weighted))
            if len(stt.pending) > habits.MAX_PENDING:
                _, oldest = stt.pending.pop(0)
                kernel.learn_held(c, stt, pop, oldest)
        else:
            kernel.learn_held(c, stt, pop, held)
        seen["rows"] += 1
    seen["learnt"] = kernel.learnt_events
    seen["held"] = kernel.held
    return seen, raws


def _check(txs: list[Any], config: CoreConfig, pop: Population | None = None,
           again: Population | None = None) -> dict[str, int]:
    """`_rows`, and its novelty terms against `core_rows`' (the loop written out is the
    core's)."""
    seen, raws = _rows(txs, config, pop)
    want = [_hex(row.raw[LO:HI]) for row in core_rows(txs, config, again)]
    assert raws == want
    return seen


def test_realistic_rows() -> None:
    config = CoreConfig(first_fit_after=10**9)
    seen = _check(generated(seed=3, customers=120, days=12), config)
    assert seen["rows"] > 3000 and seen["reasons"] > 50 and seen["new"] > 20
    assert seen["first"] >= 100 and seen["learnt"] > 2500


def test_realistic_rows_with_holds_bands_and_a_small_population() -> None:
    """Held events released later (and the hold's overflow), bands of history, the
    population's tables full at 16 keys (`full`: no estimate read), a short context."""
    config = CoreConfig(first_fit_after=10**9, quarantine_s=3 * 3600.0,
                        quarantine_above=4.0, prior_bands=(2, 5, 40),
                        max_population_keys=16, context_size=3, min_history=3)
    seen = _check(generated(seed=4, customers=60, days=15, late_every=9), config)
    assert seen["rows"] > 1500 and seen["held"] > 20


def test_realistic_rows_without_bands() -> None:
    config = CoreConfig(first_fit_after=10**9, prior_bands=(), max_seen=3)
    seen = _check(generated(seed=5, customers=50, days=10), config)
    assert seen["rows"] > 900


def test_an_old_snapshot_without_singles_or_rates() -> None:
    """A population restored from a snapshot older than `singles` and the banded rates:
    the estimates count singles from the tables until `observe` fills them."""
    txs = generated(seed=7, customers=40, days=8)
    warm = Population()
    warm2 = Population()
    config = CoreConfig(first_fit_after=10**9)
    for pop in (warm, warm2):
        for _ in core_rows(txs[:400], config, pop):
            pass
        pop.singles = {}
        pop.novelty = {k: v for k, v in pop.novelty.items() if "@" not in k}
    _check(txs[400:], config, warm, warm2)


def test_the_term_at_its_boundaries() -> None:
    """Population tables one key short of `max_population_keys`, at it and beyond (full:
    no estimate read), with `singles` present or absent; learnt at each band's bounds and
    one either side (0: a first purchase), for a known value, a new one counted by the
    population and one nobody used; the rates of each band present."""
    from detector.core.state import history_band
    bounds = (1, 3, 9)
    config = CoreConfig(max_population_keys=16, prior_bands=bounds)
    knobs = Knobs(config)
    k = kernel_knobs(knobs)
    checked = 0
    for size in (15, 16, 17):
        for with_singles in (True, False):
            pop = Population()
            for name in NOVELTY:
                pop.tables[name] = {f"k{i}": 1 + i % 3 for i in range(size)}
            pop.total = 3 * size
            if with_singles:
                pop.singles = {name: size // 3 for name in NOVELTY}
            for attr in NOVELTY:
                pop.novelty[attr] = [3.0, 40.0]
                pop.novelty["first:" + attr] = [9.0, 4.0, 20.0]
                for b in range(len(bounds) + 1):
                    pop.novelty[f"{attr}@{b}"] = [1.0 + b, 10.0 * (b + 1)]
            mine = {"k0": 2, "k1": 1, "k5": 4}
            for value in ("k1", "k7", "nobody"):
                codes = Codes()
                for x in (*mine, value, *pop.tables["country"]):
                    codes.code(x)
                p = kp.to_arrays(pop, codes, 16)
                s = sl.allocate(sl.Dims.of(config), 1)
                sl.reset(s, 0, codes)
                for a, name in enumerate(NOVELTY):
                    for j, (x, n) in enumerate(mine.items()):
                        s.tab_code[0, a, j] = codes.code(x)
                        s.tab_count[0, a, j] = n
                    s.tab_len[0, a] = len(mine)
                    for learnt in sorted({0, *(b + d for b in bounds for d in (-1, 0, 1))}):
                        band = history_band(learnt, bounds)
                        want = banded_categorical(mine, value, learnt, band, 2.5, pop, name,
                                                  1, knobs)
                        got, seen = kn.banded_categorical(s, 0, a, codes.code(value), learnt,
                                                          band, 2.5, p, 1, k)
                        assert got.hex() == want.hex(), (size, value, name, learnt)
                        assert seen == mine.get(value, 0)
                        checked += 1
    assert checked == 3 * 2 * 3 * 5 * 8  # learnt 0, 1, 2, 3, 4, 8, 9, 10
