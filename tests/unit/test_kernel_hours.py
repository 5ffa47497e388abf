"""detector/kernel/hours.py: the kernel's hour term, night mass and night share, and the
hour learning, equal the core's (`hourtail`, `features.observe`, `habits.learn_habits`) to
the bit, on random inputs and on the engine's own calls over generated rows."""

from __future__ import annotations

import functools
import itertools
import os
import pickle
import random
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.core import KIND, features, habits, hourtail, rowloop, surprise
from detector.core.compiled import SWITCH
from detector.core.config import CoreConfig
from detector.core.knobs import Knobs
from detector.core.state import CustomerState, Population, held_hour
from detector.kernel import hours as kh
from tests.ci import IN_CI

#: the engines these tests compare the kernel with run the core's own loop
pytestmark = pytest.mark.usefixtures("cores_own_loop")

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")

_HELD = ("CH", "mobile", "192.168.1", "app", "grocery")


@functools.cache
def _knobs(w: float = 3.0, prior: float = 0.05, night: tuple[int, int] = (0, 5),
           min_history: int = 15, max_share: float = 0.04) -> Knobs:
    return Knobs(CoreConfig(prior_weight=w, hour_change_prior=prior,
                            night_start_hour=night[0], night_end_hour=night[1],
                            odd_hour_min_history=min_history, odd_hour_max_share=max_share))


def _state(hours: list[int], ctx: list[int], held: list[int]) -> CustomerState:
    s = CustomerState()
    s.hours = bytearray(hours)
    s.context = [(*_HELD, h, 3.0) for h in ctx]
    # held events of 9 values (weights) and of 7 (a restored older checkpoint's)
    s.pending = [(0.0, (*_HELD, h, 3.0, 1.0, 1.0) if i % 2 else (*_HELD, h, 3.0))
                 for i, h in enumerate(held)]
    return s


def _pop(common: list[int], total: int) -> Population:
    p = Population()
    p.hours = list(common)
    p.total = total
    return p


def _ring(ctx: list[int], cap: int, head: int) -> np.ndarray:
    """The context's hours as a ring of capacity `cap` whose oldest entry is at `head`
    (unused slots hold garbage the kernel must not read)."""
    ring = np.full(cap, -7, np.int8)
    for i, h in enumerate(ctx):
        ring[(head + i) % cap] = h
    return ring


def _recent(ctx: list[int], held: list[int], head: int = 0) -> Any:
    cap = max(len(ctx), 1) + head % 3
    ring = _ring(ctx, cap, head % cap)
    pend = np.array(held + [99] * 3, np.int8)  # beyond `held_len`: garbage
    return kh.recent_hours(ring, len(ctx), head % cap, pend, len(held))


def _u8(hours: list[int] | bytes) -> np.ndarray:
    return np.array(list(hours), np.uint8)


def _i64(xs: list[int]) -> np.ndarray:
    return np.array(xs, np.int64)


def _hex(xs: Any) -> list[str]:
    return [float(x).hex() for x in xs]


# --- strategies ---------------------------------------------------------------------------

_count = st.one_of(st.just(0), st.integers(0, 4), st.integers(0, 255))
hour_counts = st.lists(_count, min_size=24, max_size=24)
common_counts = st.lists(st.one_of(st.integers(0, 50), st.integers(0, 10**7)),
                         min_size=24, max_size=24)
an_hour = st.integers(0, 23)
some_hours = st.lists(an_hour, max_size=10)
held_hours = st.lists(an_hour, max_size=17)
weights = st.one_of(st.sampled_from([3.0, 0.5, 1e-3, 1e12, 1e-300, 5e-324]),
                    st.floats(1e-3, 1e12))
priors = st.one_of(st.sampled_from([0.0, 0.05, 0.5, 1e-9]), st.floats(0.0, 0.999))
nights = st.tuples(st.integers(0, 23), st.integers(1, 24))


def _args(hours: list[int], common: list[int], extra: int, w: float, prior: float
          ) -> tuple[CustomerState, Population, Knobs, tuple[Any, ...]]:
    return (_state(hours, [], []), _pop(common, sum(common) + extra), _knobs(w, prior),
            (_u8(hours), _i64(common), sum(common) + extra, w, prior))


def test_constants_are_the_cores() -> None:
    assert kh.BROKE == hourtail.BROKE
    assert kh.UNDER_WAY == hourtail.UNDER_WAY
    assert kh.LOG_HALF == hourtail.LOG_HALF
    assert kh.TIE == hourtail._TIE
    assert _hex(kh.KERNEL) == _hex(hourtail.KERNEL)


# --- the profile: spread, rank, tails -----------------------------------------------------

@settings(deadline=None)  # the first example compiles the kernel (or loads it)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30))
def test_near_is_the_cores(q: list[float]) -> None:
    assert _hex(kh.near(np.array(q))) == _hex(hourtail._near(q))


@settings(deadline=None)
@given(hour_counts, common_counts, st.integers(0, 1000), weights)
def test_profile_is_the_cores(hours: list[int], common: list[int], extra: int,
                              w: float) -> None:
    st_, pop, cfg, _ = _args(hours, common, extra, w, 0.05)
    hours_b, hn = hourtail._counts(st_)
    assert kh.counts(_u8(hours)) == hn == sum(hours)
    _, k, d, near = hourtail._counted_profile(hours_b, hn, pop, cfg)
    kk, dd = kh.weights(hn, pop.total, w)
    assert (kk.hex(), dd.hex()) == (k.hex(), d.hex())
    assert _hex(kh.habit(_u8(hours), _i64(common), k, d)) \
        == _hex(hourtail._habit(hours_b, common, k, d))
    for kk, dd, nr in (kh.counted_profile(_u8(hours), hn, _i64(common), pop.total, w),
                       kh.profile(_u8(hours), _i64(common), pop.total, w)):
        assert (kk.hex(), dd.hex(), _hex(nr)) == (k.hex(), d.hex(), _hex(near))
        assert _hex(nr) == _hex(hourtail._profile(st_, pop, cfg)[3])
    if hn:
        assert _hex(kh.spread(_u8(hours), _i64(common), k, d)) == _hex(near)
        assert near == hourtail._near(hourtail._habit(hours_b, common, k, d))


_tied = st.sampled_from([0.0, 1e-3, 0.1, 0.1 + 5e-13, 0.1 + 2e-12, 0.2, 1 / 3, 0.4, 2.9])


@settings(deadline=None)
@given(st.one_of(st.lists(_tied, min_size=24, max_size=24),
                 st.lists(st.floats(0.0, 3.0), min_size=24, max_size=24)), an_hour)
def test_rank_and_tail_are_the_cores(near: list[float], hour: int) -> None:
    """Groups of values within `TIE` of their first (ties, near-ties, just beyond)."""
    arr = np.array(near)
    tail, edge = kh.rank(arr, hour)
    want = hourtail._rank(near, hour)
    assert (tail.hex(), edge.hex()) == (want[0].hex(), want[1].hex())
    assert kh.tail_of(arr, hour).hex() == hourtail._tail_of(near, hour).hex()
    assert kh.tail(arr, hour).hex() == hourtail._tail(near, hour).hex()


# --- the recent hours and the change --------------------------------------------------------

@settings(deadline=None)
@given(some_hours, held_hours, st.integers(0, 20))
def test_recent_hours_walk_the_ring_from_its_oldest(ctx: list[int], held: list[int],
                                                    head: int) -> None:
    want = hourtail.recent_hours(_state([0] * 24, ctx, held))
    assert list(_recent(ctx, held, head)) == want == ctx + held
    cap = max(len(ctx), 1) + head % 3  # into a longer scratch holding garbage: its start
    pend = np.array(held + [99] * 3, np.int8)
    out = np.full(len(ctx) + len(held) + 5, -7, np.int64)
    got = kh.recent_hours_into(_ring(ctx, cap, head % cap), len(ctx), head % cap, pend,
                               len(held), out)
    assert list(got) == want and list(out[len(want):]) == [-7] * 5


@settings(deadline=None)
@given(hour_counts, common_counts, st.integers(0, 1000), weights, priors,
       st.lists(an_hour, min_size=2, max_size=25), st.floats(0.0, 1.0))
def test_change_and_mixtures_are_the_cores(hours: list[int], common: list[int],
                                           extra: int, w: float, prior: float,
                                           recent: list[int], lam: float) -> None:
    hours[0] += sum(hours) == 0  # a profile (hn > 0)
    st_, pop, cfg, _ = _args(hours, common, extra, w, prior)
    hours_b, hn = hourtail._counts(st_)
    _, k, d, near = hourtail._counted_profile(hours_b, hn, pop, cfg)
    h8, c64, r64, nr = _u8(hours), _i64(common), _i64(recent), np.array(near)
    q = hourtail._habit(hours_b, common, k, d)
    assert _hex(kh.recent_profile(r64, np.array(q))) == _hex(hourtail.recent_profile(recent, q))
    if prior > 0.0:
        assert kh.change_weight(nr, r64, prior).hex() \
            == hourtail.change_weight(near, recent, prior).hex()
        got = kh.changed(h8, c64, k, d, nr, r64, prior, prior)
        want = hourtail.changed(hours_b, common, k, d, near, recent, prior, prior)
        assert _hex(got) == ([] if want is None else _hex(want))
    for least in (0.0, 0.5, lam):
        got = kh.weighed(h8, c64, k, d, r64, lam, least)
        want = hourtail.weighed(hours_b, common, k, d, recent, lam, least)
        assert _hex(got) == ([] if want is None else _hex(want))
    broke = [h for h in recent if h % 3 == 0] or recent[:1]
    assert _hex(kh.mixture(h8, c64, k, d, r64, _i64(broke))) \
        == _hex(hourtail._mixture(hours_b, common, k, d, recent, broke))
    for edge in (hourtail._rank(near, 0)[1], hourtail._rank(near, recent[0])[1], np.inf):
        got = kh.under_way(h8, c64, k, d, nr, r64, edge)
        want = hourtail._under_way(hours_b, pop, k, d, near, recent, edge)
        assert _hex(got) == ([] if want is None else _hex(want))


def test_hour_differences_wrap_as_python_does() -> None:
    """`(h + step - 2) % 24` and `(h - r) % 24` on negative operands: hours at 0, 1, 22 and
    23 h spread and compared across midnight."""
    recent = [0, 23, 1, 22, 0, 12]
    near = [1.0 / 24] * 24
    assert kh.change_weight(np.array(near), _i64(recent), 0.05).hex() \
        == hourtail.change_weight(near, recent, 0.05).hex()
    q = [0.0] * 24
    assert _hex(kh.recent_profile(_i64(recent), np.array(q))) \
        == _hex(hourtail.recent_profile(recent, q))
    for hour in range(24):  # as `terms` counts them
        want = sum((h - hour) % 24 in (0, 1, 23) for h in recent)
        assert kh.near_hour(_i64(recent), hour) == want
    assert kh.near_hour(_i64(recent), 0) == 4 == kh.near_hour(_i64(recent), 23)


# --- the term and the night mass, whole ---------------------------------------------------

def _check_term(hours: list[int], common: list[int], total: int, w: float, prior: float,
                ctx: list[int], held: list[int], hour: int, night: tuple[int, int] = (0, 5),
                head: int = 0) -> None:
    s, pop, cfg = _state(hours, ctx, held), _pop(common, total), _knobs(w, prior, night)
    h8, c64, recent = _u8(hours), _i64(common), _recent(ctx, held, head)
    hours_b, hn = hourtail._counts(s)
    ng = _i64(list(cfg.night_hours))
    mass, lam = hourtail.counted_night_mass(s, pop, cfg.night_hours, cfg, hours_b, hn)
    got = kh.counted_night_mass(h8, hn, c64, total, w, prior, ng, recent)
    assert (got[0].hex(), got[1].hex()) == (mass.hex(), lam.hex())
    assert kh.night_mass(h8, c64, total, w, prior, ng, recent).hex() \
        == hourtail.night_mass(s, pop, cfg.night_hours, cfg).hex()
    for weight in (-1.0, lam):
        want = hourtail.counted_hour_tail(s, pop, hour, cfg, hours_b, hn, weight,
                                          [int(x) for x in recent])
        assert want == hourtail.counted_hour_tail(s, pop, hour, cfg, hours_b, hn, weight)
        got_t = kh.counted_hour_tail(h8, hn, c64, total, w, prior, hour, recent, weight)
        assert got_t.hex() == want.hex()
        dirty = np.full((3, 32), np.nan)  # the row kernel's scratch: wider, never clean
        got_w = kh.counted_hour_tail_into(h8, hn, c64, total, w, prior, hour, recent,
                                          weight, dirty)
        assert got_w.hex() == want.hex()
    assert kh.hour_tail(h8, c64, total, w, prior, hour, recent).hex() \
        == hourtail.hour_tail(s, pop, hour, cfg).hex()


@settings(deadline=None)
@given(hour_counts, common_counts, st.integers(0, 1000), weights, priors, some_hours,
       held_hours, an_hour, nights, st.integers(0, 20))
def test_hour_term_and_night_mass_are_the_cores(
        hours: list[int], common: list[int], extra: int, w: float, prior: float,
        ctx: list[int], held: list[int], hour: int, night: tuple[int, int],
        head: int) -> None:
    _check_term(hours, common, sum(common) + extra, w, prior, ctx, held, hour, night, head)


@pytest.mark.parametrize("prior", [0.0, 0.05])
def test_hour_term_at_its_boundaries(prior: float) -> None:
    """Empty history, one event, one recent hour, two, a full byte; a night crossing
    midnight (its mass added from 22 h, not from 0 h)."""
    common = [1000 + 37 * h for h in range(24)]
    one = [0] * 24
    one[14] = 1
    full = [255 if h in (9, 10, 11) else h % 2 for h in range(24)]
    for hours, ctx, held in [([0] * 24, [], []), ([0] * 24, [3, 3], [3]),
                             (one, [], []), (one, [14], []), (one, [14], [2]),
                             (one, [], [2, 3]), (full, [2, 2, 3], [2]),
                             (full, [9, 10], []), (full, [23, 0, 1, 23], [0, 1, 2])]:
        for hour in (0, 2, 14, 23):
            for night in ((0, 5), (22, 5), (23, 24), (5, 4)):
                _check_term(hours, common, sum(common), 3.0, prior, ctx, held, hour, night)


@pytest.mark.parametrize("prior", [0.0, 0.05])
def test_hours_impossible_under_the_habit(prior: float) -> None:
    """A prior weight that underflows (5e-324): hours with no count near them have no mass
    (`change_weight`'s base 0: backed by another recent hour, a change for sure; alone,
    the lone odd hour's 1/2)."""
    hours = [0] * 24
    hours[12] = 9
    common = [10**6] * 24
    near = hourtail._spread(bytes(hours), common, 5e-324 / (sum(common) + 24.0), 9.0)
    assert near[3] == 0.0 == near[20]
    for ctx, held in [([3, 4], []), ([3], [20]), ([12, 3], [12]), ([20, 12, 12], [3, 3])]:
        recent = ctx + held
        assert kh.change_weight(np.array(near), _i64(recent), 0.05).hex() \
            == hourtail.change_weight(near, recent, 0.05).hex()
        for hour in (3, 12, 20):
            _check_term(hours, common, sum(common), 5e-324, prior, ctx, held, hour)
    assert hourtail.change_weight(near, [3, 4], 0.05) == 1.0


def test_night_mass_adds_in_the_nights_order() -> None:
    """A night across midnight is added from its first hour: the mask's hour order gives
    another float on some inputs, so the kernel takes `Knobs.night_hours` as it is."""
    rng = random.Random(4)
    cfg = _knobs(3.0, 0.05, (21, 6))
    ng = list(cfg.night_hours)
    differs = 0
    for _ in range(300):
        hours = [rng.choice((0, 0, 1, 3, 40)) for _ in range(24)]
        hours[12] += 1
        common = [rng.randrange(1, 10**6) for _ in range(24)]
        recent = [rng.choice((21, 22, 23, 0, 1, 2, 3, 4, 5)) for _ in range(6)]
        got = kh.counted_night_mass(_u8(hours), sum(hours), _i64(common), sum(common), 3.0,
                                    0.05, _i64(ng), _i64(recent))
        s, pop = _state(hours, recent, []), _pop(common, sum(common))
        want = hourtail.counted_night_mass(s, pop, cfg.night_hours, cfg, bytes(hours),
                                           sum(hours))
        assert got[0].hex() == want[0].hex()
        in_mask_order = kh.counted_night_mass(_u8(hours), sum(hours), _i64(common),
                                              sum(common), 3.0, 0.05, _i64(sorted(ng)),
                                              _i64(recent))
        differs += in_mask_order[0] != want[0]
    assert differs > 0


# --- observe's night share ----------------------------------------------------------------

def _observed(hours: list[int], ctx: list[int], held: list[int], hour: int,
              cfg: Knobs, pop: Population) -> features.Observation:
    from shared.schemas import Transaction

    tx = Transaction(transaction_id="t", customer_id="c", timestamp=datetime(2026, 1, 5, hour),
                     amount=12.5, country="CH", channel="app", device="mobile",
                     merchant_category="grocery", ip="192.168.1.7")
    return features.observe(tx, 0.0, _state(hours, ctx, held), pop, cfg)


def _check_share(hours: list[int], common: list[int], total: int, w: float, prior: float,
                 ctx: list[int], held: list[int], hour: int, night: tuple[int, int],
                 min_history: int, max_share: float) -> None:
    cfg = _knobs(w, prior, night, min_history, max_share)
    o = _observed(hours, ctx, held, hour, cfg, _pop(common, total))
    got = kh.night_share(_u8(hours), hour, _i64(list(cfg.night_hours)),
                         np.frombuffer(cfg.night_mask, np.uint8), _recent(ctx, held), min_history,
                         max_share, _i64(common), total, w, prior)
    want = (o.night_share, o.night_total, o.night_count, o.hour_change)
    assert (got[0].hex(), got[1], got[2], got[3].hex()) \
        == (want[0].hex(), want[1], want[2], want[3].hex())


@settings(deadline=None)
@given(hour_counts, common_counts, weights, priors, some_hours, held_hours, an_hour, nights,
       st.integers(1, 40), st.sampled_from([0.0, 0.04, 0.3, 1.0]))
def test_night_share_is_observes(hours: list[int], common: list[int], w: float,
                                 prior: float, ctx: list[int], held: list[int], hour: int,
                                 night: tuple[int, int], min_history: int,
                                 max_share: float) -> None:
    _check_share(hours, common, sum(common), w, prior, ctx, held, hour, night, min_history,
                 max_share)


@pytest.mark.parametrize("night", [(0, 5), (22, 5), (1, 24)])
def test_night_share_at_the_nights_edges(night: tuple[int, int]) -> None:
    """This hour and the recent ones at the night's first and last hour and either side;
    the history at `odd_hour_min_history` and one below."""
    start, end = night
    edges = sorted({(x + d) % 24 for x in (start, end - 1) for d in (-1, 0, 1)})
    common = [500 + h for h in range(24)]
    for hn in (14, 15):
        hours = [0] * 24
        hours[12] = hn - 1
        hours[(end - 1) % 24] = 1  # one night purchase (the last night hour)
        for hour in edges:
            for recent in ([], [start % 24], edges, [(start - 1) % 24, end % 24]):
                for prior in (0.0, 0.05):
                    _check_share(hours, common, sum(common), 3.0, prior, recent[:8],
                                 recent[8:], hour, night, 15, 1.0)


# --- the hour learning ----------------------------------------------------------------------

@settings(deadline=None)
@given(st.lists(st.one_of(st.integers(0, 255), st.just(255), st.just(254)),
                min_size=24, max_size=24), st.lists(an_hour, min_size=1, max_size=6))
def test_learn_hour_is_learn_habits(hours: list[int], learnt: list[int]) -> None:
    """`learn_habits`' hour counts, through its halving at 255 (odd counts round down)."""
    s, pop, cfg = _state(hours, [], []), Population(), _knobs()
    arr = _u8(hours)
    for h in learnt:
        habits.learn_habits(s, pop, cfg, (*_HELD, h, 3.0))
        kh.learn_hour(arr, h)
        assert bytes(arr) == bytes(s.hours)


def test_learn_hour_halves_at_255() -> None:
    hours = [255 if h == 7 else h * 11 for h in range(24)]
    arr = _u8(hours)
    kh.learn_hour(arr, 7)
    assert list(arr) == [128 if h == 7 else (h * 11) >> 1 for h in range(24)]
    kh.learn_hour(arr, 8)
    assert arr[8] == 45
    common = _i64([0] * 24)
    kh.count_hour(common, 23)
    assert list(common) == [0] * 23 + [1]


# --- the engine's own calls -------------------------------------------------------------------

def _generated(seed: int, customers: int, days: int) -> list[Any]:
    from producer.generator import GeneratorConfig, generate

    return sorted(generate(GeneratorConfig(seed=seed, customers=customers, days=days)),
                  key=lambda t: t.timestamp)


def _shifted(seed: int) -> list[Any]:
    """Generated rows, with customers who move from day to night hours (a new night shift:
    the change and its mixtures) and one who buys 25 times a day at 10 h (its count passes
    255 and is halved)."""
    from shared.schemas import Transaction

    rng = random.Random(seed)
    rows = _generated(seed=seed, customers=150, days=12)
    start = datetime(2025, 1, 1)

    def tx(cid: str, day: int, hour: int, minute: int) -> Transaction:
        return Transaction(
            transaction_id=f"{cid}-{day}-{hour}-{minute}", customer_id=cid,
            timestamp=start + timedelta(days=day, hours=hour, minutes=minute),
            amount=round(rng.uniform(5.0, 80.0), 2), country="CH", channel="app",
            device="mobile", merchant_category="grocery", ip="10.1.2.3")

    for c in range(8):
        for day in range(12):
            hours = (9 + c % 3, 13, 18) if day < 7 + c % 3 else (23 + c % 2, 1, 2, 3 + c % 2)
            rows += [tx(f"shift{c}", day, h % 24, rng.randrange(60)) for h in hours]
    rows += [tx("busy", day, 10, 2 * i) for day in range(12) for i in range(25)]
    return sorted(rows, key=lambda t: t.timestamp)


def _record(name: str) -> dict[str, list[Any]]:
    """Run the engine (configuration `_ENGINE_CONFIGS[name]`) over `_shifted` rows,
    recording every call of the core's hour functions with its inputs as they were at the
    call (the state is changed afterwards) and its result. The Python core only: the
    compiled one binds its calls natively, so there it runs in a Python-core subprocess."""
    if not KIND.startswith("python"):
        return _recorded_in_python()[name]
    from detector.core.engine import PartitionEngine

    got: dict[str, list[Any]] = {"tail": [], "mass": [], "observe": [], "learn": []}

    def facts(s: CustomerState, pop: Population) -> tuple[Any, ...]:
        return (bytes(s.hours), [c[5] for c in s.context],
                [held_hour(e) for _, e in s.pending], list(pop.hours), pop.total)

    def tail(s: CustomerState, pop: Population, hour: int, cfg: Knobs, hours: bytes,
             hn: int, weight: float = -1.0, recent: list[int] | None = None) -> float:
        before = (facts(s, pop), hour, bytes(hours), hn, weight, list(recent or []))
        out = hourtail.counted_hour_tail(s, pop, hour, cfg, hours, hn, weight, recent)
        got["tail"].append((before, out))
        return out

    def mass(s: CustomerState, pop: Population, night: tuple[int, ...], cfg: Knobs,
             hours: bytes, hn: int) -> tuple[float, float]:
        before = (facts(s, pop), night, bytes(hours), hn)
        out = hourtail.counted_night_mass(s, pop, night, cfg, hours, hn)
        got["mass"].append((before, out))
        return out

    def observe(tx: Any, t: float, s: CustomerState, pop: Population, cfg: Knobs
                ) -> features.Observation:
        before = (facts(s, pop), tx.timestamp.hour)
        o = features.observe(tx, t, s, pop, cfg)
        got["observe"].append((before, (o.night_share, o.night_total, o.night_count,
                                        o.hour_change)))
        return o

    def learn(s: CustomerState, pop: Population, cfg: Knobs, held: Any, w: float = 1.0,
              w_amount: float = 1.0) -> None:
        before = bytes(s.hours)
        learn_habits(s, pop, cfg, held, w, w_amount)
        got["learn"].append((before, held[5], bytes(s.hours)))

    learn_habits = habits.learn_habits
    txs = _shifted(seed=7)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(surprise, "counted_hour_tail", tail)
        patch.setattr(features, "counted_night_mass", mass)
        patch.setattr(rowloop, "observe", observe)
        patch.setattr(habits, "learn_habits", learn)
        engine = PartitionEngine(_engine_config(name), 0)
        for i in range(0, len(txs), 500):
            engine.verdicts(txs[i:i + 500])
    return got


@functools.cache
def _recorded_in_python() -> dict[str, dict[str, list[Any]]]:
    """`_record` of every configuration, by one Python-core subprocess."""
    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "calls.pickle"
        code = ("import pickle, sys; from tests.unit.test_kernel_hours import "
                "_ENGINE_CONFIGS, _record; open(sys.argv[1], 'wb').write(pickle.dumps("
                "{name: _record(name) for name in _ENGINE_CONFIGS}))")
        env = {**os.environ, SWITCH: "python", "PYTHONPATH": str(root)}
        subprocess.run([sys.executable, "-c", code, str(out)], check=True, cwd=root, env=env)
        calls: dict[str, dict[str, list[Any]]] = pickle.loads(out.read_bytes())
    return calls


def _engine_config(name: str) -> CoreConfig:
    return CoreConfig(first_fit_after=10**9, **_ENGINE_CONFIGS[name])


_ENGINE_CONFIGS = {
    "defaults": {},
    "older-test": {"hour_change_prior": 0.0},
    # every night row reaches the night mass; a night across midnight
    "night-mass": {"odd_hour_min_history": 1, "odd_hour_max_share": 1.0,
                   "night_start_hour": 21, "night_end_hour": 6},
    "night-mass-older": {"odd_hour_min_history": 1, "odd_hour_max_share": 1.0,
                         "night_start_hour": 21, "night_end_hour": 6,
                         "hour_change_prior": 0.0},
}


@pytest.mark.parametrize("name", list(_ENGINE_CONFIGS))
def test_the_engines_hour_calls_replay_to_the_bit(name: str) -> None:
    """Every call the engine made over generated rows (its hour term, night mass, night
    share and hour learning), replayed into the kernel: the same floats and counts. The
    context ring is rotated (its oldest anywhere) to check the walk from the head."""
    cfg = Knobs(_engine_config(name))
    w, prior = cfg.prior_weight, cfg.hour_change_prior
    ng, mask = _i64(list(cfg.night_hours)), np.frombuffer(cfg.night_mask, np.uint8)
    got = _record(name)
    assert len(got["observe"]) > 4000
    assert len(got["tail"]) == len(got["observe"])
    assert sum(len(f[2]) > 0 for (f, *_), _ in got["tail"]) > 50  # held events' hours
    heads = itertools.count()
    for (facts, hour, hours, hn, weight, recent), want in got["tail"]:
        own, ctx, held, common, total = facts
        assert recent == ctx + held
        r64 = _recent(ctx, held, next(heads))
        term = kh.counted_hour_tail(_u8(hours), hn, _i64(common), total, w, prior, hour,
                                    r64, weight)
        assert term.hex() == want.hex()
    assert got["mass"]
    for (facts, night, hours, hn), (mass, lam) in got["mass"]:
        own, ctx, held, common, total = facts
        assert night == cfg.night_hours
        pair = kh.counted_night_mass(_u8(hours), hn, _i64(common), total, w, prior, ng,
                                     _recent(ctx, held, next(heads)))
        assert (pair[0].hex(), pair[1].hex()) == (mass.hex(), lam.hex())
    for (facts, hour), want in got["observe"]:
        own, ctx, held, common, total = facts
        share = kh.night_share(_u8(own), hour, ng, mask, _recent(ctx, held, next(heads)),
                               cfg.odd_hour_min_history, cfg.odd_hour_max_share,
                               _i64(common), total, w, prior)
        assert (share[0].hex(), share[1], share[2], share[3].hex()) \
            == (want[0].hex(), want[1], want[2], want[3].hex())
    assert any(max(before) == 255 for before, _, _ in got["learn"])
    for before, hour, after in got["learn"]:
        arr = _u8(before)
        kh.learn_hour(arr, hour)
        assert bytes(arr) == after


def test_the_slots_layout_feeds_the_hour_kernels() -> None:
    """The engine's customers after `_shifted` rows stored into slots (`slots.store`, the
    population by `population.to_arrays`): the kernels read the slot's own arrays (the
    context ring from its head, rotated here as the kernel's ring would be, and the held
    events) and give `hour_tail` and `night_mass` to the bit, for every hour."""
    from detector.core.engine import PartitionEngine
    from detector.core.table import as_state
    from detector.kernel import population as kp
    from detector.kernel import slots as sl
    from detector.kernel.codes import Codes

    config = _engine_config("night-mass")
    cfg = Knobs(config)
    engine = PartitionEngine(config, 0)
    txs = _shifted(seed=3)
    for i in range(0, len(txs), 700):
        engine.verdicts(txs[i:i + 700])
    states = [as_state(h) for _, h in engine._customers.held()]
    pop = engine._population
    codes = Codes()
    s = sl.allocate(sl.Dims.of(config).fitting(states), len(states))
    pa = kp.to_arrays(pop, codes, cfg.max_population_keys)
    ng = _i64(list(cfg.night_hours))
    w, prior = cfg.prior_weight, cfg.hour_change_prior
    assert any(st_.pending for st_ in states)  # the last rows' events are still held
    rotated = masses = 0
    for c, st_ in enumerate(states):
        sl.store(st_, s, c, codes)
        n, cap = int(s.ctx_len[c]), s.ctx_hour.shape[1]
        if n == cap and n > 1:  # the same context, its oldest at slot c % cap
            s.ctx_hour[c] = np.roll(s.ctx_hour[c], c % cap)
            s.ctx_head[c] = c % cap
            rotated += c % cap > 0
        held = s.pend_hour[max(int(s.pend_at[c]), 0)]  # its block of the hold pool
        recent = kh.recent_hours(s.ctx_hour[c], s.ctx_len[c], s.ctx_head[c], held,
                                 s.pend_len[c])
        assert list(recent) == hourtail.recent_hours(st_)
        mass = hourtail.night_mass(st_, pop, cfg.night_hours, cfg)
        assert kh.night_mass(s.hours[c], pa.hours, pa.total[0], w, prior, ng, recent).hex() \
            == mass.hex()
        masses += mass > 0.0
        for hour in range(24):
            assert kh.hour_tail(s.hours[c], pa.hours, pa.total[0], w, prior, hour,
                                recent).hex() == hourtail.hour_tail(st_, pop, hour, cfg).hex()
    assert rotated > 20 and masses > 0


def test_near_weight_is_the_cores_kernel_by_gap() -> None:
    """`change_weight`'s table of another hour's weight by `gap = (h - other) % 24` is
    what `hourtail.change_weight`'s branches add (within 2 h either side), else 0.0."""
    for gap in range(24):
        want = (hourtail.KERNEL[2 + gap] if gap <= 2
                else hourtail.KERNEL[gap - 22] if gap >= 22 else 0.0)
        assert kh.NEAR_WEIGHT[gap].hex() == float(want).hex(), gap


@settings(deadline=None, max_examples=300)
@given(st.lists(st.integers(0, 23), min_size=2, max_size=17),
       st.lists(st.sampled_from([0.0, 0.01, 0.2, 1.0 / 3.0, 0.5]), min_size=24, max_size=24),
       st.sampled_from([0.01, 0.05, 0.3]))
def test_change_weight_with_repeated_hours_is_the_cores(recent: list[int], near: list[float],
                                                        prior: float) -> None:
    """Recent hours that repeat and sit within 2 h of each other (the table's every
    entry; zeros in `near`: the base-0 branches) give the core's weight to the bit."""
    assert kh.change_weight(np.array(near), _i64(recent), prior).hex() \
        == hourtail.change_weight(near, recent, prior).hex()
