"""detector/kernel/amounts.py: each kernel function gives the core function it ports the
very floats (`.hex()`), on hypothesis inputs, on the boundaries, and on the arguments the
Python core saw while the engine scored generated rows (recorded in a subprocess under
`AUDITSTREAM_CORE=python`, so the core's module functions can be wrapped)."""

from __future__ import annotations

import math
import os
import pickle
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.core import features, habits, lowtail, state, surprise, variety
from detector.core.config import CoreConfig
from detector.core.knobs import Knobs
from detector.core.state import CustomerState, Population
from detector.kernel import amounts as ka
from detector.kernel import clock, population, slots
from detector.kernel.codes import Codes
from detector.kernel.tails import LGAMMA
from tests.ci import IN_CI

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")

EX, COMB = ka.EXPONENTS, ka.COMB
ROOT = Path(__file__).resolve().parents[2]
finite = st.floats(allow_nan=False, allow_infinity=False)


def _h(x: float) -> str:
    return float(x).hex()


def test_no_folded_powers() -> None:
    """No `x ** <literal>` or `x ** <int>` in the kernel's code (docs/kernel.md (e): folded
    into products, they differ from CPython's `pow` in the last bit); exponents are read
    from `EXPONENTS`."""
    import ast

    tree = ast.parse((ROOT / "detector/kernel/amounts.py").read_text())
    powers = [node.right for node in ast.walk(tree)
              if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow)]
    assert len(powers) == 4
    for right in powers:
        assert isinstance(right, ast.Subscript) and isinstance(right.value, ast.Name)
        assert right.value.id == "ex", ast.unparse(right)


def test_constants_are_the_cores() -> None:
    assert ka.LOGISTIC_S == surprise.LOGISTIC_S
    assert (ka.LOW_BINS, ka.LOW_RANGE) == (state.LOW_BINS, state.LOW_RANGE)
    assert ka.SPANS == variety.SPANS
    assert ka.ROUND_STEPS == state.ROUND_STEPS
    assert ka.ROUND_WINDOW_S == surprise.ROUND_WINDOW_S
    assert ka.LN2 == surprise.LN2
    assert ka.ROUND_NAMES == surprise.ROUND_NAMES
    assert len(Population().low) == ka.LOW_BINS * ka.LOW_RANGE + 1
    for n in range(65):
        for i in range(n + 1):
            assert COMB[n, i] * 0.3 == math.comb(n, i) * 0.3


# --- the pure math ------------------------------------------------------------------------


@settings(deadline=None)  # the first example compiles the kernel (or loads it)
@given(finite)
def test_tail_sf_is_the_cores(z: float) -> None:
    assert _h(ka.tail_sf(z)) == _h(surprise.tail_sf(z))


@settings(deadline=None)
@given(finite)
def test_tail_pdf_is_the_cores(z: float) -> None:
    assert _h(ka.tail_pdf(z, EX)) == _h(surprise.tail_pdf(z))


def test_tail_pdf_where_a_product_would_differ() -> None:
    """Many z where `(1 + e) * (1 + e)` is not `(1 + e) ** 2`: the kernel's `pow` is."""
    rng = np.random.default_rng(7)
    differs = 0
    for z in rng.uniform(-30.0, 30.0, 50_000):
        z = float(z)
        e = math.exp(-abs(z) / surprise.LOGISTIC_S)
        differs += (1.0 + e) * (1.0 + e) != (1.0 + e) ** 2
        assert _h(ka.tail_pdf(z, EX)) == _h(surprise.tail_pdf(z))
    assert differs > 0


@settings(deadline=None)
@given(st.integers(-1, 34), st.integers(0, 32),
       st.one_of(st.floats(0.0, 1.0), st.sampled_from([-0.5, 0.0, 1e-300, 1.0, 1.5])))
def test_binomial_tail_is_the_cores(k: int, n: int, q: float) -> None:
    assert _h(ka.binomial_tail(k, n, q, COMB, EX)) == _h(surprise.binomial_tail(k, n, q))


def test_binomial_tail_boundaries_and_powers() -> None:
    """k at n and beyond, q at 0 and 1, and many q where `q ** i` is not a product."""
    for n in range(33):
        for k in (-1, 0, 1, n - 1, n, n + 1):
            for q in (0.0, 1e-12, 0.01, 0.5, 0.99, 1.0 - 1e-16, 1.0):
                assert _h(ka.binomial_tail(k, n, q, COMB, EX)) == _h(
                    surprise.binomial_tail(k, n, q))
    rng = np.random.default_rng(3)
    differs = 0
    for q in rng.uniform(0.0, 1.0, 3_000):
        q = float(q)
        differs += q * q * q * q * q != q ** 5
        for n in (5, 17, 32):
            for k in (1, 2, n // 2, n):
                assert _h(ka.binomial_tail(k, n, q, COMB, EX)) == _h(
                    surprise.binomial_tail(k, n, q))
    assert differs > 0


cents = st.integers(-10**6, 10**14 - 1)


@settings(deadline=None)
@given(st.one_of(cents.map(lambda c: c / 100), st.floats(-1e12, 1e12),
                 st.integers(0, 10**7).map(lambda c: c / 100 + 0.01 - 0.01)))
def test_round_level_is_the_cores(amount: float) -> None:
    assert ka.round_level(amount) == state.round_level(amount)


def test_round_level_boundaries() -> None:
    for amount in (0.0, -0.0, -5.0, 0.004, 0.005, 0.0050001, 0.006, 0.015, 0.025, 0.01,
                   1.0, 0.995, 19.99 + 0.01, 10.0, 99.995, 100.0, 1000.0, 1e5, 1e12 - 0.01,
                   999_999_999_999.99, 123456.785, 5e-324, 1e-300):
        assert ka.round_level(amount) == state.round_level(amount), amount


def test_round_level_takes_an_exact_half_cent_to_the_even_cent() -> None:
    """Amounts whose cents are exactly a half (`amount * 100` is N + 0.5): the half goes to
    the even side, as `round` does, so 2.005 and 100.005 are whole (their even cent is a
    multiple of 100) and 0.995, 99.995 whole by rounding up from an odd cent. Found by
    bench/kernel_mutation.py: rounding every half up (`frac >= 0.5`) survived, since the
    hypothesis amounts almost never land on an exact half with an even cent that is whole."""
    for amount, level in ((2.005, 1), (100.005, 3), (0.995, 1), (99.995, 3), (0.125, 0)):
        assert (amount * 100.0) % 1.0 == 0.5
        assert ka.round_level(amount) == state.round_level(amount) == level, amount


@settings(deadline=None)
@given(st.lists(st.integers(0, 4), max_size=40))
def test_count_round_is_the_cores(levels: list[int]) -> None:
    counts, arr = [0] * 5, np.zeros(5, np.int64)
    for level in levels:
        state.count_round(counts, level)
        ka.count_round(arr, level)
    assert arr.tolist() == counts


@settings(deadline=None)
@given(st.lists(st.integers(0, 10**6).map(lambda c: c / 100), max_size=30),
       st.lists(st.integers(0, 5000), min_size=4, max_size=4), st.integers(19_990, 20_010),
       st.floats(0.0, 1.0))
def test_learn_round_is_the_cores(amounts: list[float], spread: list[int], counted: int,
                                  w_amount: float) -> None:
    """`_learn_round` and `Population.learn_round` across the halving at 20,000."""
    s, pop = CustomerState(), Population()
    pop.rounds = [counted, *sorted(min(c, counted) for c in spread)[::-1]]
    r, pr = np.array(s.rounds, np.int64), np.array(pop.rounds, np.int64)
    for amount in amounts:
        habits._learn_round(s, pop, amount, w_amount)
        ka.learn_round(r, pr, amount, w_amount)
        assert (r.tolist(), pr.tolist()) == (s.rounds, pop.rounds)


@settings(deadline=None)
@given(st.integers(0, 300), st.lists(st.integers(1, 200), max_size=7, unique=True))
def test_history_band_is_the_cores(learnt: int, bounds: list[int]) -> None:
    """`clock.history_band` (the clock's port, reused here) at the bounds."""
    b = tuple(sorted(bounds))
    assert clock.history_band(learnt, np.array(b, np.int64)) == state.history_band(learnt, b)
    for at in b:  # at each bound and either side
        for x in (at - 1, at, at + 1):
            assert clock.history_band(x, np.array(b, np.int64)) == state.history_band(x, b)


@settings(deadline=None)
@given(st.one_of(st.floats(-800.0, 800.0), st.sampled_from(
    [699.9999999999999, 700.0, 700.0000000000001, -math.inf])))
def test_exp_or_inf_is_the_cores(x: float) -> None:
    assert _h(ka.exp_or_inf(x)) == _h(surprise._exp_or_inf(x))


@settings(deadline=None)
@given(st.lists(st.floats(0.0, 3.0), min_size=1, max_size=32),
       st.floats(0.0, 50.0), st.floats(1.0, 60.0), st.sampled_from([0.0, surprise.LN2]))
def test_nearest_k_is_the_cores(near: list[float], factor: float, cap: float,
                                extra: float) -> None:
    near.sort()
    want = surprise._nearest_k(near, factor, cap, extra)
    got = ka.nearest_k(np.array(near), len(near), factor, cap, extra, LGAMMA)
    assert (_h(got[0]), got[1]) == (_h(want[0]), want[1])


def test_nearest_k_ties_at_the_cap() -> None:
    """Equal near gaps of 0: every k at the cap, the larger k wins the tie."""
    for others in (1, 2, 3, 4, 8, 16, 31, 32):
        near = [0.0] * others
        want = surprise._nearest_k(near, 1.0, 5.0, 0.0)
        got = ka.nearest_k(np.array(near), others, 1.0, 5.0, 0.0, LGAMMA)
        assert (_h(got[0]), got[1]) == (_h(want[0]), want[1])


def _obs(**fields: float) -> features.Observation:
    o = features.Observation()
    for k, v in fields.items():
        setattr(o, k, v)
    return o


@settings(deadline=None)
@given(st.integers(0, 300), st.floats(0.15, 20.0), st.floats(-50.0, 50.0),
       st.floats(0.0, 100.0))
def test_amount_z_is_the_cores(k: int, scale: float, z: float, w: float) -> None:
    s = CustomerState()
    s.amounts = [0.0] * k
    cfg = Knobs(CoreConfig(prior_weight=w)) if w > 0 else Knobs(CoreConfig())
    want = lowtail.amount_z(s, _obs(amount_scale=scale, amount_z=z), cfg)
    got = ka.amount_z(k, scale, z, cfg.prior_weight)
    assert (_h(got[0]), _h(got[1])) == (_h(want[0]), _h(want[1]))


lows = st.lists(st.integers(0, 500), min_size=121, max_size=121)


@settings(deadline=None)
@given(lows, st.integers(0, 40_000), st.one_of(st.floats(-40.0, 2.0), st.sampled_from(
    [0.0, -0.0, -0.25, -0.2499999, -29.75, -30.0, -30.25, -1e300])))
def test_low_share_is_the_cores(low: list[int], extra: int, z: float) -> None:
    pop = Population()
    pop.low, pop.low_n = list(low), sum(low) + extra
    got = ka.low_share(np.array(low, np.int64), pop.low_n, z)
    assert _h(got) == _h(pop.low_share(z))


@settings(deadline=None)
@given(lows, st.integers(19_990, 20_010),
       st.lists(st.floats(-40.0, 3.0), min_size=1, max_size=30))
def test_learn_low_is_the_cores(low: list[int], low_n: int, zs: list[float]) -> None:
    """Across the halving at 20,000 counted."""
    pop = Population()
    pop.low, pop.low_n = list(low), low_n
    arr, n = np.array(low, np.int64), np.array([low_n], np.int64)
    for z in zs:
        pop.learn_low(z)
        ka.learn_low(arr, n, z)
        assert n[0] == pop.low_n
        assert arr.tolist() == pop.low


@settings(deadline=None)
@given(st.lists(st.floats(-3.0, 10.0), max_size=40), st.floats(-3.0, 10.0), lows,
       st.floats(-20.0, -0.01), st.floats(0.5, 30.0), st.integers(0, 60))
def test_low_rate_is_the_cores(kept: list[float], la: float, low: list[int], z: float,
                               prior: float, head: int) -> None:
    """The customer's amounts in a ring from any head, not full (a count: order-free)."""
    s, pop = CustomerState(), Population()
    s.amounts = list(kept)
    pop.low, pop.low_n = list(low), sum(low)
    cfg = Knobs(CoreConfig(new_value_prior=prior))
    want = lowtail.low_rate(s, pop, _obs(log_amount=la), z, cfg)
    ring = _ring_of(kept, head, len(kept) + 3)  # spare slots: a ring not full
    got = ka.low_rate(ring, head % len(ring), len(kept), la, z, np.array(low, np.int64),
                      pop.low_n, cfg.new_value_prior)
    assert _h(got) == _h(want)


def _ring_of(values: list[float], head: int, capacity: int = 0) -> Any:
    # `values` in a ring of `capacity` slots from `head % capacity`; the free slots hold
    # an amount below any other (a kernel reading them would count it)
    cap = max(capacity, len(values), 1)
    ring = np.full(cap, -1e300)
    for j, v in enumerate(values):
        ring[(head + j) % cap] = v
    return ring


# --- the ring and observe's amount part ---------------------------------------------------


@settings(deadline=None)
@given(st.integers(4, 40), st.lists(st.floats(-2.0, 9.0), max_size=120),
       st.lists(st.floats(-2.0, 9.0), max_size=50), st.integers(0, 3))
def test_ring_learns_as_learn_habits(history: int, appended: list[float],
                                     restored: list[float], spare: int) -> None:
    """`learn_habits`' append and drop, from empty or a restored list (longer than the
    bound, too), through wraps of the ring: the same amounts in the same order."""
    cfg = Knobs(CoreConfig(amount_history=history))
    s, pop = CustomerState(), Population()
    s.amounts = list(restored)
    codes = Codes()
    dims = slots.Dims.of(CoreConfig(amount_history=history)).fitting([s])
    dims = replace(dims, a=dims.a + spare)
    arrays = slots.allocate(dims, 2)
    slots.store(s, arrays, 1, codes)
    for la in appended:
        habits.learn_habits(s, pop, cfg, ("CH", "d", "n", "app", "food", 3, la))
        arrays.amt_head[1], arrays.amt_len[1] = ka.ring_append(
            arrays.amt[1], int(arrays.amt_head[1]), int(arrays.amt_len[1]), la,
            cfg.amount_history)
        assert slots.load(arrays, 1, codes).amounts == s.amounts
    assert arrays.amt_len[0] == 0


def _tx(amount: float, category: str = "food") -> Any:
    from datetime import datetime

    from shared.schemas import Transaction

    return Transaction(transaction_id="t", customer_id="c", timestamp=datetime(2025, 3, 1, 12),
                       amount=amount, country="CH", channel="app", device="d",
                       merchant_category=category, ip="10.0.0.1")


def _offset(pop: Population, category: str) -> float:
    """`category_offset` read from the population's arrays (`population.to_arrays`), the
    core's value to the bit."""
    codes = Codes()
    arrays = population.to_arrays(pop, codes, 16)
    off = ka.category_offset(arrays.off_index, arrays.off_val, codes.code(category))
    assert _h(off) == _h(pop.category_offset(category))
    return off


def _observe_both(amount: float, kept: list[float], head: int, offset: list[float] | None,
                  center: float, scale: float, cfg: Knobs) -> None:
    s, pop = CustomerState(), Population()
    s.amounts = list(kept)
    pop.amount_center, pop.amount_scale = center, scale
    if offset is not None:
        pop.offsets["food"] = list(offset)
    o = features.observe(_tx(amount), 0.0, s, pop, cfg)
    want = (o.log_amount, o.amount_scale, o.amount_z, o.amount_ratio, o.amount_dev,
            o.over_max)
    off = _offset(pop, "food")
    ring = _ring_of(kept, head, cfg.amount_history)
    got = ka.observe_amount(amount, off, ring, head % len(ring), len(kept), center, scale,
                            cfg.prior_weight, cfg.min_history, EX, np.empty(len(ring)))
    assert [_h(x) for x in got] == [_h(x) for x in want]


amounts_ = st.one_of(st.floats(-100.0, 1e6), st.integers(0, 10**8).map(lambda c: c / 100))


@settings(deadline=None)
@given(amounts_, st.lists(st.floats(-3.0, 12.0), max_size=32), st.integers(0, 40),
       st.one_of(st.none(), st.tuples(st.floats(1.0, 5000.0), st.floats(-3.0, 3.0)).map(
           list)), st.floats(-2.0, 10.0), st.floats(0.05, 4.0),
       st.sampled_from([1.0, 5.0, 20.0]), st.integers(1, 40))
def test_observe_amount_is_the_cores(amount: float, kept: list[float], head: int,
                                     offset: list[float] | None, center: float, scale: float,
                                     prior: float, min_history: int) -> None:
    cfg = Knobs(CoreConfig(prior_weight=prior, min_history=min_history))
    _observe_both(amount, kept, head, offset, center, scale, cfg)


def test_observe_amount_boundaries() -> None:
    """An empty ring, one amount, a full one, equal amounts, the k % 2 and k >= 4 edges,
    a scale below the floor (0.15), amounts of 0 and below."""
    cfg = Knobs(CoreConfig())
    full = [math.log1p(10.0 + i) for i in range(cfg.amount_history)]
    for kept in ([], [2.0], [2.0, 2.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0],
                 [3.0] * 5, full, full[::-1], [2.0] * cfg.amount_history):
        for amount in (0.0, -0.0, -3.0, 0.01, 10.0, 10.005, 12.34, 1e11):
            for head in (0, 5, 31):
                _observe_both(amount, kept, head, None, 4.6, 1.0, cfg)
                _observe_both(amount, kept, head, [30.0, 0.7], 4.6, 0.01, cfg)


def test_observe_amount_where_a_product_would_differ() -> None:
    """Population scales whose `** 2` is not their product, and where that changes the
    customer's scale (a ring of one to three amounts: the spread is the population's)."""
    cfg = Knobs(CoreConfig())
    w = cfg.prior_weight
    rng = np.random.default_rng(5)
    changed = 0
    for x in rng.uniform(0.05, 4.0, 400_000):
        x = float(x)
        if x * x == x ** 2:
            continue
        for kept in ([2.0], [2.0, 3.0], [1.0, 2.0, 2.5]):
            k = len(kept)
            changed += math.sqrt((k * x * x + w * x ** 2) / (k + w)) != math.sqrt(
                (k * x * x + w * (x * x)) / (k + w))
            _observe_both(50.0, kept, 0, None, 4.0, x, cfg)
    assert changed > 0


@settings(deadline=None)
@given(st.lists(st.floats(-3.0, 12.0), min_size=1, max_size=64), st.integers(0, 70))
def test_context_level_is_the_sorted_median(levels: list[float], head: int) -> None:
    ring = _ring_of(levels, head)
    got = ka.context_level(ring, head % len(ring), len(levels), np.empty(len(ring)))
    assert _h(got) == _h(sorted(levels)[len(levels) // 2])


# --- round amounts, match weights and the repetition terms --------------------------------


def _table(d: dict[str, int], codes: Codes) -> tuple[Any, Any, int]:
    # a customer's count dict as (code int32[K], count int32[K], length), insertion order
    return (np.array([codes.code(k) for k in d], np.int32),
            np.array(list(d.values()), np.int32), len(d))


def _by_code(d: dict[str, int], codes: Codes) -> Any:
    # a population table as counts indexed by code
    for k in d:
        codes.code(k)
    out = np.zeros(len(codes.values), np.int64)
    for k, v in d.items():
        out[codes.code(k)] = v
    return out


def _events(events: list[tuple[float, float, str, str]], cats: Codes, chans: Codes,
            size: int = 32) -> tuple[Any, Any, Any, Any, int]:
    # a window (list of (t, amount, category, channel)) as arrays in arrival order
    m = max(size, len(events))
    t, amt = np.zeros(m), np.zeros(m)
    cat, chan = np.zeros(m, np.int32), np.zeros(m, np.int32)
    for j, (rt, ra, rc, rh) in enumerate(events):
        t[j], amt[j], cat[j], chan[j] = rt, ra, cats.code(rc), chans.code(rh)
    return t, amt, cat, chan, len(events)


def _match(category: str, channel: str, cats_: dict[str, int], chans_: dict[str, int],
           pop_cat: dict[str, int], pop_chan: dict[str, int], total: int, w: float,
           cats: Codes, chans: Codes) -> tuple[float, float]:
    c, h = cats.code(category), chans.code(channel)
    same, other_w = ka.match_weights(c, h, *_table(cats_, cats), *_table(chans_, chans),
                                     _by_code(pop_cat, cats), _by_code(pop_chan, chans),
                                     total, w)
    return same, other_w


def _repeat_both(amount: float, category: str, channel: str, t: float, s: CustomerState,
                 pop: Population, z: float, scale: float, cfg: Knobs,
                 want: float | None = None, said: str | None = None) -> None:
    """`_repeat` (or its recorded result and reason) against the kernel's term and its
    reason from the kernel's numbers; `match_weights` likewise."""
    if want is None:
        reasons: dict[str, str] = {}
        want = surprise._repeat(amount, category, channel, t, s, pop, z, scale, cfg, reasons)
        said = reasons.get("repeat")
    cats, chans = Codes(), Codes()
    same, other_w = _match(category, channel, s.categories, s.channels,
                           pop.tables["category"], pop.tables["channel"], pop.total,
                           cfg.prior_weight, cats, chans)
    mw = surprise.match_weights(category, channel, s, pop, cfg)
    assert (_h(same), _h(other_w)) == (_h(mw[0]), _h(mw[1]))
    work = max(32, len(s.window))
    got = ka.repeat(amount, cats.code(category), chans.code(channel), t,
                    *_events(s.window, cats, chans), s.exact, s.n, z, scale, same, other_w,
                    cfg.repeat_window_s, cfg.prior_weight, cfg.surprise_cap, LGAMMA, EX,
                    np.empty(work), np.empty(work))
    assert _h(got[0]) == _h(want)
    if want > cfg.surprise_floor:
        assert ka.repeat_reason(amount, *got[1:], cfg.repeat_window_s) == said
    else:
        assert said is None


def _over_days_both(short: float, amount: float, category: str, channel: str, t: float,
                    s: CustomerState, pop: Population, z: float, zr: float, w_recent: float,
                    scale: float, cfg: Knobs, want: float | None = None,
                    said: str | None = None) -> None:
    if want is None:
        reasons: dict[str, str] = {}
        want = surprise._over_days(short, amount, category, channel, t, s, pop, z, zr,
                                   w_recent, scale, cfg, reasons)
        said = reasons.get("repeat")
    cats, chans = Codes(), Codes()
    same, other_w = _match(category, channel, s.categories, s.channels,
                           pop.tables["category"], pop.tables["channel"], pop.total,
                           cfg.prior_weight, cats, chans)
    work = max(32, len(s.days))
    value, k, low, high = ka.over_days(
        short, amount, cats.code(category), chans.code(channel), t,
        *_events(s.days, cats, chans), z, zr, w_recent, scale, same, other_w,
        cfg.similar_window_s, cfg.surprise_cap, LGAMMA, np.empty(work), np.empty(work))
    assert _h(value) == _h(want)
    if k and value > cfg.surprise_floor:
        assert ka.similar_amounts_reason(amount, k, low, high, cfg.similar_window_s) == said
    else:
        assert said is None


names = st.sampled_from(["food", "fuel", "travel"])
chans_ = st.sampled_from(["app", "web"])
prices = st.one_of(st.sampled_from([0.0, -5.0, 9.99, 10.0, 10.004, 10.01, 12.5, 100.0]),
                   st.integers(1, 10**6).map(lambda c: c / 100))
events_ = st.lists(st.tuples(st.floats(-9000.0, 9000.0), prices, names, chans_),
                   max_size=32)
counts_ = st.dictionaries(names, st.integers(1, 30), max_size=3)
pop_counts = st.dictionaries(st.sampled_from(["food", "fuel", "travel", "toys", "app",
                                              "web", "pos"]), st.integers(0, 2000))


def _customer(events: list[Any], cats_: dict[str, int], chans: dict[str, int],
              exact: int, n: int) -> CustomerState:
    s = CustomerState()
    s.window, s.days = list(events), list(events)
    s.categories, s.channels = dict(cats_), dict(chans)
    s.exact, s.n = exact, n
    return s


def _population(pop_cat: dict[str, int], pop_chan: dict[str, int], extra: int
                ) -> Population:
    pop = Population()
    pop.tables["category"] = dict(pop_cat)
    pop.tables["channel"] = {k: v for k, v in pop_chan.items() if k in ("app", "web", "pos")}
    pop.total = sum(pop_cat.values()) + sum(pop_chan.values()) + extra
    return pop


@settings(deadline=None, max_examples=300)
@given(prices.filter(lambda a: a > 0), names, chans_, events_, counts_, counts_, pop_counts,
       pop_counts, st.integers(0, 50), st.integers(0, 100), st.floats(-6.0, 8.0),
       st.floats(0.15, 3.0), st.sampled_from([1.0, 5.0]))
def test_repeat_is_the_cores(amount: float, category: str, channel: str, events: list[Any],
                             cats_: dict[str, int], chans: dict[str, int],
                             pop_cat: dict[str, int], pop_chan: dict[str, int], exact: int,
                             extra: int, z: float, scale: float, prior: float) -> None:
    cfg = Knobs(CoreConfig(prior_weight=prior))
    s = _customer(events, cats_, chans, exact, len(events) + extra)
    pop = _population(pop_cat, pop_chan, extra)
    _repeat_both(amount, category, channel, 0.0, s, pop, z, scale, cfg)


@settings(deadline=None, max_examples=300)
@given(st.floats(0.0, 12.0), prices.filter(lambda a: a > 0), names, chans_, events_,
       counts_, counts_, pop_counts, pop_counts, st.integers(0, 100), st.floats(0.0, 8.0),
       st.floats(-6.0, 8.0), st.sampled_from([0.0, 0.5]), st.floats(0.15, 3.0))
def test_over_days_is_the_cores(short: float, amount: float, category: str, channel: str,
                                events: list[Any], cats_: dict[str, int],
                                chans: dict[str, int], pop_cat: dict[str, int],
                                pop_chan: dict[str, int], extra: int, z: float, zr: float,
                                w_recent: float, scale: float) -> None:
    cfg = Knobs(CoreConfig(similar_window_s=8000.0))
    s = _customer([(t * 60.0, a, c, h) for t, a, c, h in events], cats_, chans, 0,
                  len(events) + extra)
    pop = _population(pop_cat, pop_chan, extra)
    _over_days_both(short, amount, category, channel, 0.0, s, pop, z, zr, w_recent, scale,
                    cfg)


def test_repetition_boundaries() -> None:
    """Equal amounts to the cent (the exact test; over days skipped), one neighbour, a
    window at its edge (3600 s in, 3600.001 s out), and a full window of 32."""
    cfg = Knobs(CoreConfig())
    pop = _population({"food": 100, "fuel": 10}, {"app": 80, "web": 30}, 0)
    for events in ([], [(-3600.0, 10.0, "food", "app")], [(-3600.001, 10.0, "food", "app")],
                   [(-60.0, 10.0, "food", "app")] * 3, [(-60.0, 10.0, "fuel", "web")] * 3,
                   [(-60.0 * j, 10.0 + 0.01 * (j % 3), "food", "app") for j in range(32)],
                   [(-60.0 * j, 10.004, "food", "app") for j in range(5)]):
        s = _customer(events, {"food": 20}, {"app": 20}, 1, 40)
        for amount in (10.0, 10.004, 10.01, 25.0):
            for z in (-1.0, 0.5, 3.0, 500.0, -500.0):  # +-500: e^(z/s) infinite
                _repeat_both(amount, "food", "app", 0.0, s, pop, z, 0.5, cfg)
                _over_days_both(0.0, amount, "food", "app", 0.0, s, pop, z, z - 1.0, 0.5,
                                0.5, cfg)


def _rounds() -> Any:
    return st.lists(st.integers(0, 50), min_size=5, max_size=5).map(
        lambda c: [sum(c), *sorted(c[1:], reverse=True)])


@settings(deadline=None, max_examples=300)
@given(prices.filter(lambda a: a > 0), events_, _rounds(), _rounds(),
       st.sampled_from([1.0, 5.0]), st.floats(-90000.0, 90000.0))
def test_round_surprise_is_the_cores(amount: float, events: list[Any], rounds: list[int],
                                     pop_rounds: list[int], prior: float, t: float) -> None:
    cfg = Knobs(CoreConfig(prior_weight=prior))
    s, pop = _customer([(x * 10.0, *e) for x, *e in events], {}, {}, 0, 1), Population()
    s.rounds, pop.rounds = list(rounds), list(pop_rounds)
    r, pr = np.array(rounds, np.int64), np.array(pop_rounds, np.int64)
    level = state.round_level(amount)
    for lv in range(5):
        assert _h(ka.round_tail(lv, r, pr, prior)) == _h(surprise.round_tail(lv, s, pop, cfg))
    want = surprise.round_surprise(level, t, s, pop, cfg)
    cats, chans = Codes(), Codes()
    wt, wa, _, _, m = _events(s.window, cats, chans)
    got = ka.round_surprise(level, t, wt, wa, m, r, pr, prior, cfg.surprise_cap, COMB, EX)
    assert (_h(got[0]), got[1], got[2]) == (_h(want[0]), want[1], want[2])
    if level:
        assert ka.round_reason(amount, level, got[1], got[2], r, pr) == surprise.round_reason(
            amount, level, got[1], got[2], s, pop, surprise.ROUND_WINDOW_S)


def test_repetition_on_dense_windows() -> None:
    """Windows of near and equal amounts, so most terms pass the floor and their reasons
    (exact repeats, similar ranges, the week's) are compared too."""
    rng = np.random.default_rng(2)
    cfg = Knobs(CoreConfig(similar_window_s=8000.0))
    pop = _population({"food": 100, "fuel": 50}, {"app": 50, "web": 50}, 10)
    above = 0
    for _ in range(800):
        base = float(rng.choice([9.99, 10.0, 12.5, 100.0]))
        events = [(float(rng.uniform(-9000, 9000)),
                   float(rng.choice([base, base + 0.01, base * rng.uniform(0.9, 1.1),
                                     rng.uniform(1, 500)])),
                   str(rng.choice(["food", "fuel"])), str(rng.choice(["app", "web"])))
                  for _ in range(int(rng.integers(0, 33)))]
        s = _customer(events, {"food": int(rng.integers(1, 30))},
                      {"app": int(rng.integers(1, 30))}, int(rng.integers(0, 6)),
                      len(events) + 10)
        z, scale = float(rng.uniform(-3, 6)), float(rng.uniform(0.15, 2))
        short = surprise._repeat(base, "food", "app", 0.0, s, pop, z, scale, cfg, {})
        above += short > cfg.surprise_floor
        _repeat_both(base, "food", "app", 0.0, s, pop, z, scale, cfg)
        _over_days_both(short, base, "food", "app", 0.0, s, pop, z, z - 0.5, 0.5, scale, cfg)
    assert above > 400


# --- the arguments the core saw while the engine scored generated rows ----------------------

#: Calls kept per recorded function (the first ones: every customer's early rows and the
#: established ones' later rows alike, in a time-sorted stream).
_KEEP = 6000


def _record(path: str) -> None:  # pragma: no cover - run in a subprocess
    """Score generated rows with the Python core (`AUDITSTREAM_CORE=python`, set by the
    caller) with its amount functions wrapped: each call's inputs (copied before the call:
    the state changes later) and results, pickled to `path`."""
    import detector.core
    from detector.core import rowloop
    from detector.core.engine import PartitionEngine
    from producer.generator import GeneratorConfig, generate

    assert detector.core.KIND.startswith("python"), detector.core.KIND
    got: dict[str, list[Any]] = {}
    # the core's modules untyped here: their functions are replaced by recording wrappers
    sp: Any = surprise
    rl: Any = rowloop
    hb: Any = habits
    pp: Any = Population

    def keep(name: str, entry: Any) -> None:
        calls = got.setdefault(name, [])
        if len(calls) < _KEEP:
            calls.append(entry)

    def plain(module: Any, name: str) -> None:  # arguments are floats and ints
        fn = getattr(module, name)

        def wrapped(*args: Any) -> Any:
            out = fn(*args)
            keep(name, (args, out))
            return out
        setattr(module, name, wrapped)

    for name in ("tail_sf", "tail_pdf", "binomial_tail", "_exp_or_inf", "round_level",
                 "history_band"):
        plain(sp, name)
    plain(hb, "round_level")

    nearest = sp._nearest_k

    def nearest_k(near: list[float], *rest: Any) -> Any:
        out = nearest(near, *rest)
        keep("_nearest_k", ((list(near), *rest), out))
        return out
    sp._nearest_k = nearest_k

    def wrap_z(module: Any) -> None:
        fn = module.amount_z

        def amount_z(s: CustomerState, o: Any, cfg: Knobs) -> Any:
            out = fn(s, o, cfg)
            keep("amount_z", ((len(s.amounts), o.amount_scale, o.amount_z, cfg.prior_weight),
                              out))
            return out
        module.amount_z = amount_z
    wrap_z(sp)
    wrap_z(rl)

    low_rate = sp.low_rate

    def low_rate_(s: CustomerState, pop: Population, o: Any, z: float, cfg: Knobs) -> Any:
        args = (list(s.amounts), o.log_amount, z, list(pop.low), pop.low_n,
                cfg.new_value_prior)
        out = low_rate(s, pop, o, z, cfg)
        keep("low_rate", (args, out))
        return out
    sp.low_rate = low_rate_

    learn_low, low_share = pp.learn_low, pp.low_share

    def learn_low_(self: Population, z: float) -> None:
        before = (list(self.low), self.low_n, z)
        learn_low(self, z)
        keep("learn_low", (before, (list(self.low), self.low_n)))

    def low_share_(self: Population, z: float) -> Any:
        out = low_share(self, z)
        keep("low_share", ((list(self.low), self.low_n, z), out))
        return out
    pp.learn_low, pp.low_share = learn_low_, low_share_

    observe = rl.observe

    def observe_(tx: Any, t: float, s: CustomerState, pop: Population, cfg: Knobs) -> Any:
        entry = pop.offsets.get(tx.merchant_category)
        args = (tx.amount, None if entry is None else list(entry), list(s.amounts),
                pop.amount_center, pop.amount_scale, cfg.prior_weight, cfg.min_history,
                cfg.amount_history)
        o = observe(tx, t, s, pop, cfg)
        keep("observe", (args, (o.log_amount, o.amount_scale, o.amount_z, o.amount_ratio,
                                o.amount_dev, o.over_max)))
        return o
    rl.observe = observe_

    terms = rl.terms

    def terms_(t: float, s: CustomerState, pop: Population, o: Any, cfg: Knobs) -> Any:
        args = (s.n, list(s.amounts), [c[6] for c in s.context], list(pop.low), pop.low_n,
                o.log_amount, o.amount_scale, o.amount_z, cfg.prior_weight,
                cfg.new_value_prior, cfg.context_weight, cfg.surprise_cap)
        out = terms(t, s, pop, o, cfg)
        keep("terms", (args, (out[0][0], out[0][1])))
        return out
    rl.terms = terms_

    learn_habits = hb.learn_habits

    def learn_habits_(s: CustomerState, pop: Population, cfg: Knobs, held: Any,
                      w: float = 1.0, w_amount: float = 1.0) -> None:
        args = (list(s.amounts), held[6], w_amount, cfg.amount_history)
        learn_habits(s, pop, cfg, held, w, w_amount)
        keep("learn_habits", (args, list(s.amounts)))
    hb.learn_habits = learn_habits_

    learn_round = hb._learn_round

    def learn_round_(s: CustomerState, pop: Population, amount: float, w_amount: float
                     ) -> None:
        args = (list(s.rounds), list(pop.rounds), amount, w_amount)
        learn_round(s, pop, amount, w_amount)
        keep("_learn_round", (args, (list(s.rounds), list(pop.rounds))))
    hb._learn_round = learn_round_

    def tables(s: CustomerState, pop: Population, cfg: Knobs) -> tuple[Any, ...]:
        return (dict(s.categories), dict(s.channels), dict(pop.tables["category"]),
                dict(pop.tables["channel"]), pop.total, s.exact, s.n, cfg.prior_weight)

    repeat, over_days = sp._repeat, sp._over_days

    def repeat_(amount: float, category: str, channel: str, t: float, s: CustomerState,
                pop: Population, z: float, scale: float, cfg: Knobs,
                reasons: dict[str, str]) -> Any:
        args = (amount, category, channel, t, list(s.window), z, scale, *tables(s, pop, cfg))
        out = repeat(amount, category, channel, t, s, pop, z, scale, cfg, reasons)
        keep("_repeat", (args, (out, reasons.get("repeat"))))
        return out

    def over_days_(short: float, amount: float, category: str, channel: str, t: float,
                   s: CustomerState, pop: Population, z: float, zr: float, w_recent: float,
                   scale: float, cfg: Knobs, reasons: dict[str, str]) -> Any:
        before = reasons.get("repeat")
        args = (short, amount, category, channel, t, list(s.days), z, zr, w_recent, scale,
                *tables(s, pop, cfg))
        out = over_days(short, amount, category, channel, t, s, pop, z, zr, w_recent,
                        scale, cfg, reasons)
        said = reasons.get("repeat")
        keep("_over_days", (args, (out, None if said == before else said)))
        return out
    sp._repeat, sp._over_days = repeat_, over_days_

    round_surprise, round_reason = sp.round_surprise, sp.round_reason

    def round_surprise_(level: int, t: float, s: CustomerState, pop: Population,
                        cfg: Knobs) -> Any:
        args = (level, t, list(s.window), list(s.rounds), list(pop.rounds), cfg.prior_weight,
                cfg.surprise_cap)
        out = round_surprise(level, t, s, pop, cfg)
        keep("round_surprise", (args, out))
        return out

    def round_reason_(amount: float, level: int, k: int, m: int, s: CustomerState,
                      pop: Population, window_s: float) -> Any:
        out = round_reason(amount, level, k, m, s, pop, window_s)
        keep("round_reason", ((amount, level, k, m, list(s.rounds), list(pop.rounds),
                               window_s), out))
        return out
    sp.round_surprise, sp.round_reason = round_surprise_, round_reason_

    txs = sorted(generate(GeneratorConfig(seed=11, customers=150, days=12)),
                 key=lambda tx: tx.timestamp)
    # runs of round amounts (whole units, tens) for the round-amount test's binomial tail
    txs = [tx.model_copy(update={"amount": float(round(tx.amount, -(i % 2)) or 10.0)})
           if i % 5 == 0 else tx for i, tx in enumerate(txs)]
    engine = PartitionEngine(CoreConfig(), 0)
    for lo in range(0, len(txs), 500):
        engine.verdicts(txs[lo:lo + 500])
    got["rows"] = [len(txs)]
    Path(path).write_bytes(pickle.dumps(got))


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Any]]:
    """The recorded calls (`_record`), in a subprocess: the core must run as Python there
    (a compiled core's functions cannot be wrapped)."""
    path = tmp_path_factory.mktemp("amounts") / "calls.pkl"
    env = dict(os.environ, AUDITSTREAM_CORE="python", PYTHONPATH=str(ROOT))
    code = "import sys; from tests.unit.test_kernel_amounts import _record; _record(sys.argv[1])"
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=env, cwd=ROOT,
                   timeout=600)
    calls: dict[str, list[Any]] = pickle.loads(path.read_bytes())
    return calls


def test_recorded_leaf_math_is_the_kernels(captured: dict[str, list[Any]]) -> None:
    assert captured["rows"][0] > 3000
    for (z,), out in captured["tail_sf"]:
        assert _h(ka.tail_sf(z)) == _h(out)
    for (z,), out in captured["tail_pdf"]:
        assert _h(ka.tail_pdf(z, EX)) == _h(out)
    for (x,), out in captured["_exp_or_inf"]:
        assert _h(ka.exp_or_inf(x)) == _h(out)
    assert len(captured["binomial_tail"]) > 100
    for (k, n, q), out in captured["binomial_tail"]:
        assert _h(ka.binomial_tail(k, n, q, COMB, EX)) == _h(out)
    for name in ("round_level",):
        for (amount,), out in captured[name]:
            assert ka.round_level(amount) == out
    for (learnt, bounds), out in captured["history_band"]:
        assert clock.history_band(learnt, np.array(bounds, np.int64)) == out
    for (near, factor, cap, extra), out in captured["_nearest_k"]:
        got = ka.nearest_k(np.array(near), len(near), factor, cap, extra, LGAMMA)
        assert (_h(got[0]), got[1]) == (_h(out[0]), out[1])
    for args, out in captured["amount_z"]:
        z, scale = ka.amount_z(*args)
        assert (_h(z), _h(scale)) == (_h(out[0]), _h(out[1]))
    assert min(len(captured[n]) for n in ("tail_pdf", "binomial_tail", "_nearest_k",
                                          "_exp_or_inf", "round_level")) > 100


def test_recorded_low_side_is_the_kernels(captured: dict[str, list[Any]]) -> None:
    for i, ((kept, la, z, low, low_n, prior), out) in enumerate(captured["low_rate"]):
        ring = _ring_of(kept, i, len(kept) + 2)
        got = ka.low_rate(ring, i % len(ring), len(kept), la, z, np.array(low, np.int64),
                          low_n, prior)
        assert _h(got) == _h(out)
    for (low, low_n, z), out in captured["low_share"]:
        assert _h(ka.low_share(np.array(low, np.int64), low_n, z)) == _h(out)
    for (low, low_n, z), (low_after, n_after) in captured["learn_low"]:
        arr, n = np.array(low, np.int64), np.array([low_n], np.int64)
        ka.learn_low(arr, n, z)
        assert (arr.tolist(), int(n[0])) == (low_after, n_after)
    assert len(captured["low_rate"]) > 100 and len(captured["learn_low"]) > 1000


def test_recorded_amount_observations_and_learning_are_the_kernels(
        captured: dict[str, list[Any]]) -> None:
    """observe's amount part and learn_habits' amounts, each from a ring whose head moves
    with the call (wrapped rings); the amount terms of `terms` with the context's level."""
    for i, (args, out) in enumerate(captured["observe"]):
        amount, entry, kept, center, scale, w, min_history, history = args
        pop = Population()
        if entry is not None:
            pop.offsets["food"] = entry
        off = _offset(pop, "food")
        ring = _ring_of(kept, i, history)
        got = ka.observe_amount(amount, off, ring, i % len(ring), len(kept), center, scale,
                                w, min_history, EX, np.empty(len(ring)))
        assert [_h(x) for x in got] == [_h(x) for x in out]
    for i, ((kept, la, w_amount, history), after) in enumerate(captured["learn_habits"]):
        cap = max(history, len(kept))
        ring, head = _ring_of(kept, i, cap), i % cap  # the head anywhere: wrapped rings
        head, length = ka.learn_amount(ring, head, len(kept), la, w_amount, history)
        assert [float(ring[(head + j) % cap]) for j in range(length)] == after
    for i, (args, out) in enumerate(captured["terms"]):
        n, kept, levels, low, low_n, la, o_scale, o_z, w, prior, w_ctx, cap = args
        ctx = _ring_of(levels, i)
        ring = _ring_of(kept, i, len(kept) + 2)
        got = ka.amount_terms(n, la, o_scale, o_z, ring, i % len(ring), len(kept),
                              np.array(low, np.int64), low_n, ctx, i % len(ctx),
                              len(levels), w, prior, w_ctx, cap, np.empty(len(ctx)))
        assert (_h(got[0]), _h(got[1])) == (_h(out[0]), _h(out[1]))
    full = [a for a, _ in captured["learn_habits"] if len(a[0]) == a[3]]
    assert len(full) > 100  # amount_history reached: the oldest dropped
    assert any(a[2] < 0.5 for a, _ in captured["learn_habits"])  # a held amount not kept


def _recorded_population(pop_cat: dict[str, int], pop_chan: dict[str, int], total: int
                         ) -> Population:
    pop = Population()
    pop.tables["category"], pop.tables["channel"], pop.total = pop_cat, pop_chan, total
    return pop


def test_recorded_repetition_and_round_amounts_are_the_kernels(
        captured: dict[str, list[Any]]) -> None:
    cfg = Knobs(CoreConfig())
    said = 0
    for args, (out, reason) in captured["_repeat"]:
        amount, category, channel, t, window, z, scale, cats_, chans, pc, ph, total, ex, n, \
            w = args
        assert w == cfg.prior_weight
        s, pop = _customer(window, cats_, chans, ex, n), _recorded_population(pc, ph, total)
        _repeat_both(amount, category, channel, t, s, pop, z, scale, cfg, out, reason)
        said += reason is not None
    over = 0
    for args, (out, reason) in captured["_over_days"]:
        short, amount, category, channel, t, days, z, zr, w_recent, scale, cats_, chans, \
            pc, ph, total, ex, n, w = args
        s, pop = _customer(days, cats_, chans, ex, n), _recorded_population(pc, ph, total)
        _over_days_both(short, amount, category, channel, t, s, pop, z, zr, w_recent, scale,
                        cfg, out, reason)
        over += out > short
    for (level, t, window, rounds, pop_rounds, w, cap), out in captured["round_surprise"]:
        wt = np.array([e[0] for e in window] + [0.0])
        wa = np.array([e[1] for e in window] + [0.0])
        got = ka.round_surprise(level, t, wt, wa, len(window), np.array(rounds, np.int64),
                                np.array(pop_rounds, np.int64), w, cap, COMB, EX)
        assert (_h(got[0]), got[1], got[2]) == (_h(out[0]), out[1], out[2])
    for (amount, level, k, m, rounds, pop_rounds, window_s), out in captured["round_reason"]:
        assert ka.round_reason(amount, level, k, m, np.array(rounds, np.int64),
                               np.array(pop_rounds, np.int64), window_s) == out
    assert len(captured["_repeat"]) > 500 and said > 10
    assert len(captured["_over_days"]) > 100 and over > 10
    for (rounds, pop_rounds, amount, w_amount), after in captured["_learn_round"]:
        r, pr = np.array(rounds, np.int64), np.array(pop_rounds, np.int64)
        ka.learn_round(r, pr, amount, w_amount)
        assert (r.tolist(), pr.tolist()) == after
    assert len(captured["round_surprise"]) > 100 and len(captured["round_reason"]) > 10
    assert len(captured["_learn_round"]) > 1000



_RING_VALUES = st.one_of(st.sampled_from([0.0, -0.0, 1.5, -2.25, math.inf, -math.inf]),
                         st.floats(-20.0, 20.0))


@settings(deadline=None, max_examples=300)
@given(st.lists(_RING_VALUES, min_size=1, max_size=40), st.integers(0, 40),
       st.integers(-3, 90))
def test_sorted_ring_is_sorted_in_ring_order(ring: list[float], length: int,
                                             head: int) -> None:
    """`sorted_ring` (its index stepped round the ring, not divided) gives, bit for bit,
    Python's `sorted` of the ring's values read from `head` (its `% cap`, and round again
    past the ring's end), equal values in ring order (a 0.0 and a -0.0 keep theirs)."""
    values = np.array(ring, np.float64)
    cap = len(values)
    want = sorted(ring[(head + j) % cap] for j in range(length))
    got = np.full(length + 1, 7.0)
    ka.sorted_ring(values, head, length, got)
    assert [_h(x) for x in got[:length]] == [_h(x) for x in want]
    assert got[length] == 7.0  # nothing written beyond


def test_sorted_ring_keeps_signed_zeros_in_ring_order() -> None:
    """0.0 and -0.0 are equal: each keeps its place in ring order (`sorted` is stable)."""
    values = np.array([0.0, 1.0, -0.0, -1.0])
    got = np.empty(4)
    ka.sorted_ring(values, 2, 4, got)  # ring order: -0.0, -1.0, 0.0, 1.0
    assert [_h(x) for x in got] == [_h(x) for x in (-1.0, -0.0, 0.0, 1.0)]
    ka.sorted_ring(values, 0, 4, got)  # ring order: 0.0, 1.0, -0.0, -1.0
    assert [_h(x) for x in got] == [_h(x) for x in (-1.0, 0.0, -0.0, 1.0)]
