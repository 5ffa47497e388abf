"""detector/kernel/clock.py: the activity, dormancy and travel terms and the clock's
learning, row by row on realistic rows against the core's row loop (tests/unit/
kernel_rows.py): every row's three terms and its wake to the bit, the reasons formatted
from the kernel's numbers, and after every row the customer's clock fields and the
population's gaps, gap bands, fast hops, hours and category offsets as the core's."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest

from detector.core.config import CoreConfig
from detector.core.knobs import Knobs
from detector.core.state import CustomerState, Population, history_band
from detector.kernel import clock, variety
from detector.kernel import population as kp
from detector.kernel import slots as sl
from detector.kernel.codes import Codes
from detector.kernel.knobs import kernel_knobs
from detector.kernel.tails import LGAMMA
from shared.schemas import Transaction
from tests.ci import IN_CI
from tests.unit.kernel_rows import core_rows, exact, generated

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")

RATE, DORMANCY, TRAVEL = 8, 10, 11
T0 = datetime(2025, 3, 3, 12, 0)
SPANS = np.array((1, 2, 4, 8, 16, 32), np.int64)
CLOCK_FIELDS = ("n", "last_t", "last_country", "recent", "window", "days", "gaps", "gap_log",
                "gap_mean", "hops", "fast", "exact", "wake")


def _run(txs: list[Any], config: CoreConfig, pop: Population | None = None) -> dict[str, int]:
    knobs = Knobs(config)
    k = kernel_knobs(knobs)
    codes = Codes()
    slots: dict[str, int] = {}
    s = sl.allocate(sl.Dims.of(config), 256)
    pop = Population() if pop is None else pop
    p = kp.to_arrays(pop, codes, config.max_population_keys)
    ages = clock.scratch()
    seen = {"rate": 0, "variety": 0, "dormancy": 0, "travel": 0, "rows": 0}
    def bridge(tx: Any, st: CustomerState, now: Population) -> None:
        nonlocal p
        for key in [*st.categories, *now.tables["category"]]:
            codes.code(key)
        p = kp.grow_codes(p, len(codes.values))
        cid = tx.customer_id
        if cid not in slots:
            slots[cid] = len(slots)
            sl.reset(s, slots[cid], codes)
        _bridge(s, slots[cid], p, st, now, codes)

    for row in core_rows(txs, config, pop, bridge):
        o = row.obs
        cid = row.tx.customer_id
        if cid not in slots:
            slots[cid] = len(slots)
            sl.reset(s, slots[cid], codes)
        c = slots[cid]
        country, category, channel = (codes.code(x) for x in (o.country, o.category,
                                                               o.channel))
        p = kp.grow_codes(p, len(codes.values))
        t = row.t
        # --- the terms, from the kernel's state before this row ---------------------------
        if s.n[c] and p.gaps[0] >= 100:
            got_rate, best_k, span, pace = clock.rate(s, c, p, t, k, LGAMMA, ages)
        else:
            got_rate, best_k, span, pace = 0.0, 0, 0.0, 0.0
        rate_why = (clock.rate_reason(best_k, span, pace)
                    if best_k and got_rate > knobs.surprise_floor else None)
        if knobs.variety_window_s > 0.0 and s.n[c]:
            ranks = variety.category_ranks(codes.values)
            varied, vk, vd, vspan = variety.variety(
                t, category, s.tab_code[c, 1], s.tab_count[c, 1], s.tab_len[c, 1], s.win_t[c],
                s.win_cat[c], s.win_len[c], p.tab_count[1], p.total[0], ranks,
                knobs.variety_window_s, knobs.prior_weight, knobs.surprise_cap,
                knobs.surprise_floor, SPANS, LGAMMA)
            got_rate = clock.fold(got_rate, varied, knobs.surprise_floor, knobs.surprise_cap)
            rate_why = clock.fold_reason(rate_why, variety.variety_reason(
                varied, vk, vd, vspan, knobs.surprise_floor))
            seen["variety"] += varied > knobs.surprise_floor
        assert got_rate.hex() == row.raw[RATE].hex(), (seen["rows"], "rate")
        if got_rate > knobs.surprise_floor:
            assert rate_why == row.reasons["rate"]
            seen["rate"] += 1
        wake, dormancy, kind, seconds = clock.dormancy(s, c, p, t, k)
        assert (wake.hex(), dormancy.hex()) == (row.wake.hex(), row.raw[DORMANCY].hex())
        assert clock.dormancy_reason(kind, seconds) == row.reasons.get("dormancy")
        seen["dormancy"] += kind > 0
        got_travel = clock.travel(s, c, p, o.travel_km, o.travel_dt_s, o.hop_rate, k)
        assert got_travel.hex() == row.raw[TRAVEL].hex()
        seen["travel"] += got_travel > 0.0
        # --- the clock learnt -------------------------------------------------------------
        clock.learn_clock(s, c, p, t, o.amount, country, category, channel, o.travel_km,
                          o.travel_dt_s, wake, k)
        clock.learn_clock_population(p, o.hour, category, o.amount_dev,
                                     knobs.max_population_keys)
        mine = sl.load(s, c, codes)
        for name in CLOCK_FIELDS:
            assert exact(getattr(mine, name)) == exact(getattr(row.state, name)), name
        if seen["rows"] % 25 == 0 or s.n[c] <= 2:  # the population: often (it is large)
            _same_population(p, row.pop, codes)
        seen["rows"] += 1
    _same_population(p, row.pop, codes)
    return seen


def _bridge(s: sl.CustomerSlots, c: int, p: Any, st: CustomerState, pop: Population,
            codes: Codes) -> None:
    """What the clock's terms read and other steps learn (the customer's and the
    population's category counts, the population's event count), copied from the core
    where its terms read them."""

    s.tab_len[c, 1] = len(st.categories)
    for j, (key, count) in enumerate(st.categories.items()):
        s.tab_code[c, 1, j] = codes.code(key)
        s.tab_count[c, 1, j] = count
    p.total[0] = pop.total
    for key, count in pop.tables["category"].items():
        p.tab_count[1, codes.code(key)] = count


def _same_population(p: Any, pop: Population, codes: Codes) -> None:
    back = kp.from_arrays(p, codes)
    for name in ("gaps", "gap_log", "gap_mean", "gap_bands", "fast", "hours", "offsets"):
        assert exact(getattr(back, name)) == exact(getattr(pop, name)), name


def test_realistic_rows() -> None:
    """Variety on (the default), folded into the activity term, its reasons joined."""
    config = CoreConfig(first_fit_after=10**9)
    seen = _run(generated(seed=3, customers=120, days=12), config)
    assert seen["rows"] > 3000
    assert seen["rate"] > 20 and seen["dormancy"] > 20 and seen["travel"] > 0


def test_realistic_rows_with_a_wide_variety_window() -> None:
    """Variety over a day at a low floor: it folds on many rows, with its reasons."""
    config = CoreConfig(first_fit_after=10**9, variety_window_s=86400.0, prior_weight=0.5,
                        surprise_floor=0.5)
    seen = _run(generated(seed=6, customers=80, days=10), config)
    assert seen["variety"] > 20


def test_late_rows_and_small_windows() -> None:
    """Rows out of order (the windows keep arrival order, `last_t` never goes back, the
    dormancy term is skipped for a late row) and windows cut by their counts."""
    config = CoreConfig(first_fit_after=10**9, variety_window_s=0.0, burst_min_count=2,
                        burst_window_s=7200.0, prior_bands=(2, 5, 40))
    seen = _run(generated(seed=4, customers=60, days=15, late_every=9), config)
    assert seen["rows"] > 1500


def test_the_repetition_over_days_off_keeps_no_week() -> None:
    config = CoreConfig(first_fit_after=10**9, variety_window_s=0.0, similar_window_s=0.0)
    _run(generated(seed=5, customers=40, days=8), config)


def _tx(i: int, seconds: float, amount: float = 50.0, country: str = "CH",
        category: str = "grocery") -> Transaction:
    return Transaction(transaction_id=f"t{i}", customer_id="c", timestamp=T0 + timedelta(
        seconds=seconds), amount=amount, country=country, channel="app", device="mobile",
        merchant_category=category, ip="10.1.2.3")


def _times(gaps: list[float]) -> list[float]:
    out, t = [], 0.0
    for g in gaps:
        t += g
        out.append(t)
    return out


def _busy_population() -> Population:
    """A population past the activity term's 100 gaps, its fast-hop average one event
    before halving."""
    pop = Population()
    pop.gaps, pop.gap_log, pop.gap_mean = 500, math.log(3600.0), 3600.0
    pop.fast = [150.0, 19_999.0]
    return pop


def test_windows_and_holds_at_their_edges() -> None:
    """One customer's purchases exactly at each window's edge and one second either side
    (the recent events' `max(burst, duplicate)` horizon, the day, the week), two at the
    same second, a burst beyond the recent events' count, and a country hop: every term
    and field as the core's, and the population's fast-hop average halved on its row."""
    config = CoreConfig(first_fit_after=10**9, variety_window_s=0.0)
    knobs = Knobs(config)
    edge = max(knobs.burst_window_s, knobs.duplicate_window_s)
    gaps = [0.0, 10.0, edge, edge - 1.0, edge + 1.0, 0.0, 86400.0, 86399.0, 86401.0,
            7 * 86400.0, 7 * 86400.0 - 1.0, 7 * 86400.0 + 1.0]
    gaps += [20.0] * 24  # a burst: more than 2 * burst_min_count + 8 recent events
    gaps += [3 * 86400.0, 60.0, 30.0]
    times = _times(gaps)
    txs = [_tx(i, t, amount=50.0 if i % 3 else 75.5, country="CH" if i % 7 else "US")
           for i, t in enumerate(times)]
    pop = _busy_population()
    seen = _run(txs, config, pop)
    assert seen["rows"] == len(txs) and seen["rate"] > 0 and seen["dormancy"] > 0
    assert pop.fast[1] < 19_999.0  # halved on the way: compared row by row


def test_a_hop_exactly_as_fast_as_the_shortest_trip_is_not_counted_fast() -> None:
    """Country hops within `travel_slack_km` (CH to DE, AT: a shortest trip of 0 s) in the
    same second as the row before, and one a second later: the customer's and the
    population's fast hops count a hop only when quicker than the shortest trip (`<`, as
    `habits._learn_clock`), so none of these. Found by bench/kernel_mutation.py:
    `learn_clock` counting a hop at exactly the shortest trip (`<=`) went unnoticed, the
    generated streams never hopping within the slack in the same second."""
    config = CoreConfig(first_fit_after=10**9, variety_window_s=0.0)
    countries = ["CH", "DE", "DE", "AT", "CH", "AT", "CH", "DE"]
    times = _times([0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 3600.0, 0.0])
    txs = [_tx(i, t, country=c) for i, (t, c) in enumerate(zip(times, countries, strict=True))]
    pop = Population()
    seen = _run(txs, config, pop)
    assert seen["rows"] == len(txs)
    assert pop.fast[0] == 0.0 < pop.fast[1]  # the core counted none of them fast


def test_dormancy_at_the_wake_window() -> None:
    """A return after a long silence, then purchases exactly `wake_s` after it and one
    second either side (three customers' worth: each a fresh copy of the stream)."""
    config = CoreConfig(first_fit_after=10**9, variety_window_s=0.0)
    wake_s = Knobs(config).wake_s
    for delta in (wake_s - 1.0, wake_s, wake_s + 1.0):
        times = _times([0.0] + [3600.0] * 30 + [60 * 86400.0, delta])
        seen = _run([_tx(i, t) for i, t in enumerate(times)], config, _busy_population())
        assert seen["dormancy"] >= 1


def test_history_band_at_its_bounds() -> None:
    for bounds in ((), (5,), (1, 3, 9), (0, 2)):
        arr = np.array(bounds, np.int64)
        for learnt in range(0, 12):
            assert clock.history_band(learnt, arr) == history_band(learnt, bounds)


def test_a_fresh_customer_has_no_dormancy_and_no_travel() -> None:
    config = CoreConfig()
    codes = Codes()
    s = sl.allocate(sl.Dims.of(config), 1)
    sl.reset(s, 0, codes)
    p = kp.to_arrays(Population(), codes, 16)
    k = kernel_knobs(Knobs(config))
    assert clock.dormancy(s, 0, p, 1e9, k) == (0.0, 0.0, 0, 0.0)
    assert clock.travel(s, 0, p, 5000.0, 1.0, 0.5, k) == 0.0
    assert sl.load(s, 0, codes).last_t == CustomerState().last_t == -math.inf
