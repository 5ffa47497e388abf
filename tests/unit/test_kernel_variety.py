"""detector/kernel/variety.py: the kernel's variety term, its shares, tail and Cantelli test
equal the core's (`detector.core.variety`) to the bit, on hypothesis inputs and on every call
the engine makes while it scores generated rows; its reason, worded from the kernel's
numbers, is the core's."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.core import variety as core
from detector.core.config import CoreConfig
from detector.core.knobs import Knobs
from detector.core.rules import duration
from detector.core.state import NOVELTY, CustomerState, Population
from detector.kernel import population, slots
from detector.kernel import variety as kernel
from detector.kernel.codes import Codes
from detector.kernel.tails import LGAMMA
from tests.ci import IN_CI

if not IN_CI:  # in CI a missing numba fails the run , never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")

ROOT = Path(__file__).resolve().parents[2]
#: Category names whose string order is not their order of first arrival.
NAMES = ["grocery", "fuel", "travel", "electronics", "jewelry", "atm", "restaurant",
         "pharmacy", "gaming", "books", "zoo", "clothing", "hotel", "bar", "", "Taxi"]

Table = list[tuple[str, int]]
Window = list[tuple[float, str]]


def _customer_and_population(table: Table, window: Window, pop_cat: dict[str, int],
                             pop_total: int) -> tuple[CustomerState, Population]:
    """The core's customer and population holding a call's category table and window."""
    stt = CustomerState()
    stt.categories = dict(table)
    stt.window = [(wt, 1.0, c, "app") for wt, c in window]
    pop = Population()
    pop.tables["category"] = dict(pop_cat)
    pop.total = pop_total
    return stt, pop


def _core(t: float, category: str, table: Table, window: Window, pop_cat: dict[str, int],
          pop_total: int, cfg: Knobs) -> tuple[float, str | None]:
    stt, pop = _customer_and_population(table, window, pop_cat, pop_total)
    reasons: dict[str, str] = {}
    value = core.variety(t, category, stt, pop, cfg, reasons)
    return value, reasons.get("variety")


def _kernel(codes: Codes, t: float, category: str, table: Table, window: Window,
            pop_cat: dict[str, int], pop_total: int, horizon: float, w: float, cap: float,
            floor: float) -> tuple[float, str | None]:
    for key in [category, *(k for k, _ in table), *(c for _, c in window), *pop_cat]:
        codes.code(key)
    size = len(table)
    tab_code = np.zeros(size + 3, np.int32)  # longer than used: only tab_len is read
    tab_count = np.zeros(size + 3, np.int32)
    for i, (key, count) in enumerate(table):
        tab_code[i], tab_count[i] = codes.code(key), count
    win_t = np.zeros(32)
    win_cat = np.zeros(32, np.int32)
    for i, (wt, c) in enumerate(window):
        win_t[i], win_cat[i] = wt, codes.code(c)
    counts = np.zeros(len(codes.values), np.int64)
    for key, count in pop_cat.items():
        counts[codes.code(key)] = count
    ranks = kernel.category_ranks(codes.values)
    best, k, d, span = kernel.variety(
        t, codes.code(category), tab_code, tab_count, size, win_t, win_cat, len(window),
        counts, pop_total, ranks, horizon, w, cap, floor, kernel.SPANS, LGAMMA)
    return best, kernel.variety_reason(best, k, d, span, floor)


def _both(t: float, category: str, table: Table, window: Window, pop_cat: dict[str, int],
          pop_total: int, horizon: float, w: float, cap: float, floor: float) -> None:
    # the population counts every purchase: its total is never below a category's count
    # (drawn apart, total 0 beside a counted category divides by zero in the core too)
    pop_total = max(pop_total, sum(pop_cat.values()))
    cfg = Knobs(CoreConfig(variety_window_s=horizon, prior_weight=w, surprise_cap=cap,
                           surprise_floor=floor))
    want, why = _core(t, category, table, window, pop_cat, pop_total, cfg)
    got, got_why = _kernel(Codes(), t, category, table, window, pop_cat, pop_total, horizon,
                           w, cap, floor)
    assert got.hex() == want.hex()
    assert got_why == why


def test_the_constants_are_the_cores() -> None:
    assert tuple(kernel.SPANS) == core.SPANS
    assert kernel.TINY == core._TINY


# --- the parts ---------------------------------------------------------------------------

shares_args = st.tuples(
    st.lists(st.tuples(st.sampled_from(NAMES), st.integers(1, 10**6)), max_size=16,
             unique_by=lambda kv: kv[0]),
    st.dictionaries(st.sampled_from(NAMES), st.integers(0, 10**9)),
    st.integers(0, 10**12),
    st.floats(1e-6, 1e12, allow_nan=False))


@settings(deadline=None)  # the first example compiles the kernel (or loads it)
@given(shares_args)
def test_shares_are_the_cores(args: tuple[Table, dict[str, int], int, float]) -> None:
    table, pop_cat, pop_total, w = args
    stt = CustomerState()
    stt.categories = dict(table)
    pop = Population()
    pop.tables["category"] = dict(pop_cat)
    pop.total = pop_total
    want, want_rest = core.shares(stt, pop, w)
    codes = Codes()
    tab_code = np.array([codes.code(k) for k, _ in table], np.int32)
    tab_count = np.array([v for _, v in table], np.int32)
    counts = np.zeros(len(NAMES) + 1, np.int64)
    for key, count in pop_cat.items():
        counts[codes.code(key)] = count
    out = np.full(len(table) + 2, -1.0)
    rest = kernel.shares(tab_code, tab_count, len(table), counts, pop_total, w, out)
    assert rest.hex() == want_rest.hex()
    assert [x.hex() for x in out[:len(table)]] == [x.hex() for x in want]


def _pis(raw: list[float], rest_raw: float) -> tuple[list[float], float]:
    """Shares as `shares` makes them: positive, summing to at most 1 with the rest."""
    total = sum(raw) + rest_raw
    if total <= 0.0:
        return [], 1.0
    return [x / total for x in raw], rest_raw / total


tail_args = st.tuples(
    st.integers(-1, 35), st.integers(1, 33),
    st.lists(st.floats(0.0, 1.0), max_size=13), st.floats(0.0, 1.0))


@settings(deadline=None)
@given(tail_args)
def test_distinct_tail_is_the_cores(args: tuple[int, int, list[float], float]) -> None:
    d, m, raw, rest_raw = args
    pis, rest = _pis(raw, rest_raw)
    want = core.distinct_tail(d, m, pis, rest)
    assert kernel.distinct_tail(d, m, np.array(pis, np.float64), rest, LGAMMA).hex() == \
        want.hex()


def test_distinct_tail_takes_both_sums_and_every_size() -> None:
    """Every (d, m) up to 33 draws, either sum (`_by_repeats` where few repeats are
    allowed, `_by_presence` else), shares with a zero, a rest of 0, one category alone."""
    cases = [([0.4, 0.3, 0.0, 0.2], 0.1), ([0.5, 0.5], 0.0), ([], 1.0), ([1.0], 0.0),
             ([0.05] * 12, 0.4), ([0.9, 0.01, 0.01], 0.08)]
    repeats = presence = 0
    for pis, rest in cases:
        array = np.array(pis, np.float64)
        for m in range(1, 34):
            for d in range(0, m + 2):
                want = core.distinct_tail(d, m, pis, rest)
                assert kernel.distinct_tail(d, m, array, rest, LGAMMA).hex() == want.hex()
                r = m - d
                if 1 < d <= m:
                    if (r + 1) * (r + 2) <= 2 * (d + 1) * m:
                        repeats += 1
                    else:
                        presence += 1
    assert repeats > 100 and presence > 100


common_args = st.tuples(
    st.integers(0, 35), st.integers(1, 33),
    st.lists(st.floats(0.0, 1.0), max_size=13), st.floats(0.0, 1.0),
    st.floats(0.0, 1.0))


@settings(deadline=None)
@given(common_args)
def test_surely_common_is_the_cores(args: tuple[int, int, list[float], float, float]) -> None:
    d, m, raw, rest_raw, level = args
    pis, rest = _pis(raw, rest_raw)
    want = core.surely_common(d, m, pis, rest, level)
    assert kernel.surely_common(d, m, np.array(pis, np.float64), rest, level) is want


# --- the term ----------------------------------------------------------------------------

#: Times on a coarse grid, so ages tie (the core then orders by category string).
times = st.integers(-40, 40).map(lambda i: 1_000_000.0 + 90.0 * i)
term_args = st.tuples(
    times, st.sampled_from(NAMES),
    st.lists(st.tuples(st.sampled_from(NAMES), st.integers(1, 500)), max_size=12,
             unique_by=lambda kv: kv[0]),
    st.lists(st.tuples(times | st.floats(990_000.0, 1_010_000.0), st.sampled_from(NAMES)),
             max_size=32),
    st.dictionaries(st.sampled_from(NAMES), st.integers(0, 5000)),
    st.integers(0, 100_000),
    st.sampled_from([0.0, 60.0, 900.0, 3600.0, 86400.0]) | st.floats(0.0, 1e6),
    st.floats(0.01, 1e3), st.floats(0.5, 40.0), st.sampled_from([0.0, 1.0, 2.0, 3.5]))


@settings(deadline=None, max_examples=300)
@given(term_args)
def test_variety_is_the_cores(args: tuple[Any, ...]) -> None:
    _both(*args)


#: Busy windows: 1 to 32 purchases within the hour among a few categories, a small table
#: and a light prior, no floor: the term above 0 on most examples, every span tested.
busy_args = st.tuples(
    st.just(1_000_000.0), st.sampled_from(NAMES[:6]),
    st.lists(st.tuples(st.sampled_from(NAMES[:6]), st.integers(1, 40)), max_size=4,
             unique_by=lambda kv: kv[0]),
    st.lists(st.tuples(st.integers(-60, 60).map(lambda i: 1_000_000.0 + 60.0 * i),
                       st.sampled_from(NAMES[:9])), min_size=1, max_size=32),
    st.dictionaries(st.sampled_from(NAMES), st.integers(0, 500)),
    st.integers(0, 5000), st.just(3600.0), st.floats(0.01, 3.0), st.just(12.0),
    st.just(0.0))


@settings(deadline=None, max_examples=300)
@given(busy_args)
def test_variety_of_busy_windows_is_the_cores(args: tuple[Any, ...]) -> None:
    _both(*args)


def test_variety_off_empty_and_one() -> None:
    """Off (window 0), an empty window, nothing within the window, one purchase within it
    (k = 1 only), an empty table (every draw new), a full table."""
    t = 10_000.0
    full = [(n, 3 + i) for i, n in enumerate(NAMES[:12])]
    for horizon in (0.0, 3600.0):
        _both(t, "fuel", full, [(t - 10.0, "atm")], {"fuel": 3}, 50, horizon, 3.0, 12.0, 2.0)
    _both(t, "fuel", full, [], {}, 0, 3600.0, 3.0, 12.0, 2.0)
    _both(t, "fuel", full, [(t - 4000.0, "atm")], {}, 0, 3600.0, 3.0, 12.0, 2.0)
    _both(t, "fuel", [], [(t - 10.0, "atm")], {}, 0, 3600.0, 3.0, 12.0, 2.0)
    _both(t, "fuel", [], [(t - 10.0 * i, NAMES[i % 16]) for i in range(32)], {}, 0,
          3600.0, 3.0, 12.0, 0.0)


@pytest.mark.parametrize("offset_s", [-1.0, 0.0, 1.0])
def test_variety_at_the_window_edge(offset_s: float) -> None:
    """A purchase exactly `variety_window_s` before is within it (<=), later or earlier by
    a second either side; 32 purchases, so every span is tested."""
    t = 50_000.0
    window = [(t - 3600.0 - offset_s, "jewelry")] + [
        (t - 60.0 * (i + 1), NAMES[i % 12]) for i in range(31)]
    for k in (0, 1, 2):
        _both(t, NAMES[k], [(n, 2) for n in NAMES[:3]], window, {"grocery": 900}, 1000,
              3600.0, 3.0, 40.0, 0.0)


def test_ties_of_age_are_ordered_by_category_string() -> None:
    """Two purchases as far from this one, before and after it (a late row): the core's
    sorted tuples put the category first in string order among the k nearest, whatever
    their order of arrival or their codes. Without `cat_rank` (codes as ranks) the kernel
    would count the other category, and another D."""
    t = 1000.0
    window = [(900.0, "zoo"), (1100.0, "atm"), (800.0, "zoo")]
    table = [("zoo", 50), ("grocery", 1)]
    _both(t, "zoo", table, window, {}, 0, 3600.0, 0.1, 40.0, 0.0)
    codes = Codes()
    for key in ("zoo", "grocery", "atm"):
        codes.code(key)
    tab_code = np.array([0, 1], np.int32)
    tab_count = np.array([50, 1], np.int32)
    win_t = np.array([900.0, 1100.0, 800.0])
    win_cat = np.array([0, 2, 0], np.int32)
    args = (tab_code, tab_count, 2, win_t, win_cat, 3, np.zeros(3, np.int64), 0)
    knobs = (3600.0, 0.1, 40.0, 0.0, kernel.SPANS, LGAMMA)
    by_string = kernel.variety(t, 0, *args, kernel.category_ranks(codes.values), *knobs)
    by_code = kernel.variety(t, 0, *args, np.arange(3, dtype=np.int64), *knobs)
    assert by_string[1:3] == (1, 2)  # k = 1: "atm" is the nearest, D = 2
    assert by_code[0] != by_string[0]


def test_category_ranks_follow_string_order() -> None:
    values = ["zoo", "Taxi", "", "atm", "Zoo"]
    ranks = kernel.category_ranks(values)
    assert [values[i] for i in np.argsort(ranks)] == sorted(values)
    assert len(kernel.category_ranks([])) == 0


@pytest.mark.parametrize("span", [0.0, 119.4, 119.6, 5399.0, 86400.0, 3 * 86400.0])
def test_reason_words_as_the_core(span: float) -> None:
    assert kernel.variety_reason(2.5, 4, 3, span, 2.0) == (
        f"5 purchases in 3 different categories within {duration(span)}")
    assert kernel.variety_reason(2.0, 4, 3, span, 2.0) is None  # at the floor: none
    assert kernel.variety_reason(2.5, 0, 0, span, 2.0) is None


# --- the calls the engine makes ------------------------------------------------------------

CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    # a day's window, a light prior and no floor: larger k, more different and more reasons
    "wide": {"variety_window_s": 86400.0, "prior_weight": 0.5, "surprise_floor": 0.0},
}


def capture(seed: int, customers: int, days: int, mix: str,
            config: str) -> list[tuple[Any, ...]]:
    """Every call of `variety` while `PartitionEngine` scores generated rows: its arguments
    as plain values and its value and reason. Run under `AUDITSTREAM_CORE=python` (a
    compiled core calls its own `variety`, which cannot be wrapped)."""
    from detector.core import surprise
    from detector.core.engine import PartitionEngine
    from producer.generator import generate, mix_config

    calls: list[tuple[Any, ...]] = []
    original = core.variety

    def recording(t: float, category: str, stt: CustomerState, pop: Population, cfg: Knobs,
                  reasons: dict[str, str]) -> float:
        args = (t, category, list(stt.categories.items()),
                [(r[0], r[2]) for r in stt.window], dict(pop.tables["category"]),
                pop.total, cfg.variety_window_s, cfg.prior_weight, cfg.surprise_cap,
                cfg.surprise_floor)
        value = original(t, category, stt, pop, cfg, reasons)
        calls.append((*args, value, reasons.get("variety")))
        return value

    surprise.__dict__["variety"] = recording  # the name `terms` calls
    txs = sorted(generate(mix_config(mix, seed=seed, customers=customers, days=days)),
                 key=lambda tx: tx.timestamp)
    engine = PartitionEngine(CoreConfig(first_fit_after=10**9, **CONFIGS[config]), 0)
    for i in range(0, len(txs), 500):
        engine.verdicts(txs[i:i + 500])
    return calls


#: The runs captured: (seed, customers, days, the generator's mix, `CONFIGS` key).
RUNS = [(3, 150, 12, "default", "default"), (4, 200, 20, "extended", "default"),
        (5, 150, 12, "extended", "wide")]


@pytest.fixture(scope="module", params=RUNS, ids=[f"{r[3]}-{r[4]}" for r in RUNS])
def engine_calls(request: pytest.FixtureRequest) -> tuple[str, list[tuple[Any, ...]]]:
    code = ("import pickle, sys; from tests.unit.test_kernel_variety import capture; "
            f"sys.stdout.buffer.write(pickle.dumps(capture(*{request.param!r})))")
    env = {**os.environ, "AUDITSTREAM_CORE": "python", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True,
                         capture_output=True).stdout
    calls: list[tuple[Any, ...]] = pickle.loads(out)
    return request.param[4], calls


def test_variety_is_the_engines(engine_calls: tuple[str, list[tuple[Any, ...]]]) -> None:
    """Each call replayed into the kernel, with one encoder for the whole run (codes in
    first-arrival order, as the shell's): the same term and reason. At the defaults the
    term is rarely above 0 and never above the floor on these rows; the wide window
    tests spans up to 16 and words thousands of reasons."""
    config, calls = engine_calls
    codes = Codes()
    above = reasons = longest = 0
    for *args, want, why in calls:
        got, got_why = _kernel(codes, *args)
        assert got.hex() == want.hex(), args
        assert got_why == why, args
        above += want > 0.0
        reasons += why is not None
        longest = max(longest, sum(abs(args[0] - wt) <= args[6] for wt, _ in args[3]))
    assert len(calls) > 3000 and above > 20, (len(calls), above)
    if config == "wide":
        assert reasons > 1000 and longest >= 16, (reasons, longest)  # k = 16 tested


def test_variety_reads_the_slot_and_population_arrays(
        engine_calls: tuple[str, list[tuple[Any, ...]]]) -> None:
    """The engine's calls again, the customer stored in a slot (`slots.store`) and the
    population converted (`population.to_arrays`): the kernel reads the category table,
    the window and the population's counts as those layouts hold them (rows of 2-D
    arrays, capacities beyond the lengths used)."""
    _, calls = engine_calls
    codes = Codes()
    held = slots.allocate(slots.Dims.of(CoreConfig()), 3)
    cat_table, cat_pop = slots.TABLES.index("categories"), NOVELTY.index("category")
    for *args, want, _ in calls[::7]:
        t, category, table, window, pop_cat, pop_total, horizon, w, cap, floor = args
        stt, pop = _customer_and_population(table, window, pop_cat, pop_total)
        code = codes.code(category)
        slots.store(stt, held, 1, codes)
        arrays = population.to_arrays(pop, codes, 16)
        got = kernel.variety(
            t, code, held.tab_code[1, cat_table], held.tab_count[1, cat_table],
            held.tab_len[1, cat_table], held.win_t[1], held.win_cat[1], held.win_len[1],
            arrays.tab_count[cat_pop], arrays.total[0], kernel.category_ranks(codes.values),
            horizon, w, cap, floor, kernel.SPANS, LGAMMA)[0]
        assert got.hex() == want.hex(), args
