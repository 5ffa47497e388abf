"""The core's faster routes give the very floats of the plain ones they replaced (issue 14).

Each reference below is the code as it was before the speed-up, kept here verbatim; the
fast route must agree with it to the last bit (==, never approx), ties and near-ties
included. bench/core_parity.py checks the same on whole streams (every verdict's digest).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.core.calibration import TERMS, Recalibration
from detector.core.config import CoreConfig
from detector.core.features import event_seconds, ipnet, observe
from detector.core.habits import MAX_WINDOW, WINDOW_S, Held, learn, learn_habits
from detector.core.hourtail import (
    BROKE,
    KERNEL,
    UNDER_WAY,
    _counted_profile,
    _near,
    _profile,
    _rank,
    _tail,
    _tail_of,
    _under_way,
    change_weight,
    changed,
    counted_hour_tail,
    counted_night_mass,
    hour_tail,
    night_mass,
    recent_hours,
    recent_profile,
)
from detector.core.knobs import Knobs, in_night
from detector.core.state import (
    NOVELTY,
    ROUND_STEPS,
    Context,
    CustomerState,
    Population,
    _count,
    _learn_rate,
    bump,
    history_band,
    round_level,
)
from detector.core.surprise import _bits, _reason, banded_categorical, categorical, terms
from shared.schemas import Transaction


def reference_tails(q: list[float]) -> list[float]:
    near = [a + b + c for a, b, c in zip([q[-1], *q[:-1]], q, [*q[1:], q[0]], strict=True)]
    return reference_ranked(near)


def reference_ranked(near: list[float]) -> list[float]:
    order = sorted(range(24), key=near.__getitem__)
    tails = [0.0] * 24
    acc, i = 0.0, 0
    while i < 24:
        j, edge = i, near[order[i]] + 1e-12
        while j < 24 and near[order[j]] <= edge:
            acc += near[order[j]] / 3.0
            j += 1
        for m in range(i, j):
            tails[order[m]] = acc
        i = j
    return tails


def reference_tail(q: list[float], hour: int) -> float:
    near = [a + b + c for a, b, c in zip([q[-1], *q[:-1]], q, [*q[1:], q[0]], strict=True)]
    mine = near[hour] + 1e-12
    return sum([y / 3.0 for y in near if y <= mine])


def reference_hour_tail(s: CustomerState, pop: Population, hour: int, cfg: Knobs) -> float:
    """`hour_tail` as of a9ac2a5, its `_tails` and `_tail` being the references above (the
    recent hours: the last learnt events' and, since, the held ones')."""
    hours = s.hours
    hn = sum(hours)
    if hn == 0:
        return 1.0
    w = cfg.prior_weight
    k = w / (pop.total + 24.0)
    d = hn + w
    common = pop.hours
    q = [(hours[i] + k * (common[i] + 1.0)) / d for i in range(24)]
    ctx = [c[5] for c in s.context] + [e[5] for _, e in s.pending]  # type: ignore[index]
    if len(ctx) >= 2:
        full = reference_tails(q)
        broke = [h for h in ctx if full[h] <= BROKE]
        if len(broke) >= 2:
            share = len(broke) / len(ctx)
            spread = share / (len(broke) + 1.0)
            mix = [(1.0 - share) * x + spread / 24.0 for x in q]
            for h in broke:
                for step, weight in enumerate(KERNEL):
                    mix[(h + step - 2) % 24] += spread * weight
            return reference_tail(mix, hour)
        return full[hour]
    return reference_tail(q, hour)


def reference_unused(pop: Population, table: str, known: dict[str, int]) -> float:
    counts = pop.tables[table]
    used = sum(counts.get(k, 0) for k in known)
    once = sum(1 for v in counts.values() if v == 1)
    return min(1.0, (once + 1.0) / (pop.total + 1.0) + max(0.0, 1.0 - used / (pop.total + 1.0)))


def _hours(counts: list[int], jitter: list[int], total: int) -> list[float]:
    """A smoothed hour distribution as `hour_tail` builds it, with near-ties (jitter of a
    few 1e-13, across the 1e-12 tie tolerance) and exact ties (equal counts)."""
    d = sum(counts) + 3.0
    k = 3.0 / (total + 24.0)
    return [(c + k) / d + j * 1e-13 for c, j in zip(counts, jitter, strict=True)]


hours_q = st.builds(
    _hours,
    st.lists(st.integers(0, 4), min_size=24, max_size=24),
    st.lists(st.sampled_from([0, 0, 0, 5, 10, 20, 30]), min_size=24, max_size=24),
    st.integers(0, 10_000),
)


@settings(max_examples=400, deadline=None)
@given(hours_q, st.lists(st.integers(0, 23), min_size=1, max_size=9))
def test_hour_tails_are_bit_identical_to_the_plain_sort_and_sum(
        q: list[float], wanted: list[int]) -> None:
    full = reference_tails(q)
    near = _near(q)
    for h in wanted:
        tail, edge = _rank(near, h)
        assert tail == full[h]
        assert _tail(q, h) == reference_tail(q, h)
    # the hours below `edge` are exactly those with a tail at most BROKE
    assert [near[h] < edge for h in range(24)] == [t <= BROKE for t in full]


def test_an_hour_whose_tail_is_exactly_broke_broke_the_habit() -> None:
    """At `BROKE` an hour broke the habit (a tail at most e^-3), one ulp above it did not:
    `edge` is the first value beyond, as the plain sort-and-sum's `<=` decides."""
    x = 3.0 * BROKE
    while x / 3.0 != BROKE:  # the +-1 h mass whose third is BROKE to the bit
        x = math.nextafter(x, 0.0 if x / 3.0 > BROKE else 1.0)
    above = math.nextafter(x, 1.0)
    assert above / 3.0 > BROKE
    for low, broke in ((x, True), (above, False)):
        near = [low, *(0.5 + h / 100 for h in range(23))]
        tail, edge = _rank(near, 0)
        assert tail == reference_ranked(near)[0] == low / 3.0
        assert (near[0] < edge) is broke
        assert near[1] >= edge  # the next hour is beyond in both
    # the last group at BROKE: no group beyond, every hour broke it
    near = [*([0.0] * 23), x]
    assert _rank(near, 23) == (reference_ranked(near)[23], math.inf)


def test_an_hour_of_no_mass_has_a_tail_of_zero() -> None:
    """Hours whose +-1 h mass is exactly 0.0 are the least common: their tail is 0.0, not
    the next group's. They arise from a valid prior weight so small that its share of an
    hour underflows (5e-324 / 24 is 0.0): then every hour away from the habit is empty."""
    st = _state([200 if h in (11, 12, 13) else 0 for h in range(24)], [12, 12])
    cfg = Knobs(CoreConfig(prior_weight=5e-324, hour_change_prior=0.0))
    near = _near([c / sum(st.hours) for c in st.hours])
    assert near[3] == 0.0 < near[10]
    for h in range(24):  # the empty hours (0-9, 15-23) are one group of exact zeros
        assert _rank(near, h)[0] == reference_ranked(near)[h]
        assert hour_tail(st, Population(), h, cfg) == reference_hour_tail(st, Population(), h, cfg)
    assert _rank(near, 3)[0] == 0.0
    assert hour_tail(st, Population(), 3, cfg) == 0.0


def _tails(q: list[float]) -> list[float]:
    near = _near(q)
    return [_rank(near, h)[0] for h in range(24)]


def test_hour_tails_group_values_within_the_tolerance_of_a_group_start() -> None:
    # 24 equal hours but for steps of 0.6e-12: chained ties the fast route must not take
    q = [1 / 24 + i * 6e-13 for i in range(24)]
    assert _tails(q) == reference_tails(q)
    assert len(set(reference_tails(q))) < 24  # the case has ties (it tests something)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from("abcdefghij"), st.integers(1, 50), max_size=10),
       st.dictionaries(st.sampled_from("abcdefghijklm"), st.integers(1, 9), max_size=6),
       st.booleans())
def test_unused_mass_is_bit_identical_to_the_plain_sum(
        counts: dict[str, int], known: dict[str, int], singles_known: bool) -> None:
    pop = Population()
    pop.tables["device"] = counts
    pop.total = sum(counts.values()) + 3
    if singles_known:
        pop.singles["device"] = sum(1 for v in counts.values() if v == 1)
    got = pop.unused_mass("device", known)
    assert got == reference_unused(pop, "device", known)
    assert not math.isnan(got)


def test_hour_tails_without_near_ties_are_those_of_the_plain_sort_and_sum() -> None:
    """Every value of the +-1 h profile apart from the others (distinct counts, as a
    customer with a long, uneven history has): every group is one hour, and each hour
    gets the plain sort-and-sum's float."""
    counts = [i * i + 1 for i in range(24)]
    q = [c / sum(counts) for c in counts]
    near = sorted(a + b + c for a, b, c in zip([q[-1], *q[:-1]], q, [*q[1:], q[0]],
                                                strict=True))
    assert min(b - a for a, b in pairwise(near)) > 2e-12  # no near-tie
    assert _tails(q) == reference_tails(q)


# --- the population's counts, the night hours, a customer's habits (issue 14, #obs) ---


def reference_count(table: dict[str, int], key: str, max_keys: int,
                    singles: dict[str, int], name: str) -> None:
    if name not in singles:
        singles[name] = sum(1 for v in table.values() if v == 1)
    if key in table:
        table[key] += 1
        if table[key] == 2:
            singles[name] -= 1
    elif len(table) < max_keys:
        table[key] = 1
        singles[name] += 1


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from("abcdef"), st.integers(1, 3), max_size=6),
       st.lists(st.sampled_from("abcdefgh"), max_size=30), st.integers(1, 8),
       st.booleans())
def test_population_count_is_the_plain_count(
        start: dict[str, int], keys: list[str], max_keys: int, singles_known: bool) -> None:
    """One look-up per key gives the very table and singles of the four of before, at the
    table's bound, a single's second count and a restored table without singles included."""
    table, ref = dict(start), dict(start)
    singles: dict[str, int] = {}
    if singles_known:
        singles["device"] = sum(1 for v in start.values() if v == 1)
    ref_singles = dict(singles)
    for key in keys:
        _count(table, key, max_keys, singles, "device")
        reference_count(ref, key, max_keys, ref_singles, "device")
        assert table == ref
        assert singles == ref_singles


@given(st.integers(0, 23), st.integers(1, 24), st.integers(-30, 60))
def test_night_mask_is_membership_of_the_night_hours(start: int, end: int,
                                                     hour: int) -> None:
    knobs = Knobs(CoreConfig(night_start_hour=start, night_end_hour=end))
    assert in_night(hour, knobs.night_mask) is (hour in knobs.night_hours)


def reference_learn_habits(s: CustomerState, pop: Population, cfg: Knobs,
                           held: Held) -> None:
    country, device, net, channel, category, hour, la = held
    amounts = s.amounts
    amounts.append(la)
    if len(amounts) > cfg.amount_history:
        del amounts[0]
    hours = s.hours
    if hours[hour] == 255:
        for i in range(24):
            hours[i] >>= 1
    hours[hour] += 1
    if s.learnt:
        s.novel += country not in s.countries
    cap = cfg.max_seen
    tables = [s.countries, s.categories, s.channels, s.devices, s.ipnets]
    keys = [country, category, channel, device, net]
    if s.learnt:
        established = s.learnt >= cfg.min_history
        band = history_band(s.learnt, cfg.prior_bands)
        explore, full = s.explore, cfg.max_population_keys
        pop_tables = pop.tables
        for i in range(len(NOVELTY)):
            name, table = NOVELTY[i], tables[i]
            unused = 1.0 if len(pop_tables[name]) >= full else pop.unused_mass(name, table)
            explore[i] += unused
            if established or band >= 0:
                pop.learn_novelty(name, keys[i] not in table, unused, band, established)
    for i in range(len(tables)):
        table, key = tables[i], keys[i]
        if key in table:
            table[key] += 1
        else:
            bump(table, key, cap)
    context = s.context
    context.append((country, device, net, channel, category, hour, la))
    if len(context) > cfg.context_size:
        del context[0]
    s.learnt += 1


_held_events = st.tuples(
    st.sampled_from("abcd"), st.sampled_from("ab"), st.sampled_from("abcde"),
    st.sampled_from("ab"), st.sampled_from("abc"), st.integers(0, 23),
    st.floats(-2.0, 9.0, allow_nan=False))


@settings(max_examples=150, deadline=None)
@given(st.lists(_held_events, min_size=1, max_size=40),
       st.lists(_held_events, max_size=40), st.integers(2, 4), st.integers(16, 20))
def test_learn_habits_in_one_pass_is_the_two_pass_fold(
        events: list[Held], others: list[Held], max_seen: int, max_keys: int) -> None:
    """Every field of the customer and of the population as the two loops left them: new
    and known values, evictions at `max_seen`, full population tables, the established
    customer's novelty rates (min_history 3)."""
    cfg = Knobs(CoreConfig(max_seen=max_seen, max_population_keys=max_keys,
                           min_history=3))
    pops = (Population(), Population())
    for other in others:  # values the population knows from other customers
        for pop in pops:
            pop.observe(other[0], other[4], other[3], other[1], other[6], max_keys, other[2])
    mine, ref = CustomerState(), CustomerState()
    for held in events:
        learn_habits(mine, pops[0], cfg, held)
        reference_learn_habits(ref, pops[1], cfg, held)
        for pop in pops:
            pop.observe(held[0], held[4], held[3], held[1], held[6], max_keys, held[2])
        assert mine.__getstate__() == ref.__getstate__()
        assert pops[0].__getstate__() == pops[1].__getstate__()


def _purchase(at: float, amount: float, category: str) -> Transaction:
    return Transaction(transaction_id="t", customer_id="c", amount=amount, country="CH",
                       timestamp=datetime(2026, 1, 1) + timedelta(seconds=at),
                       channel="online", device="d", merchant_category=category,
                       ip="10.1.2.3")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.floats(-4000.0, 100_000.0, allow_nan=False),
                          st.sampled_from([5.0, 12.5, 40.0]), st.sampled_from("ab")),
                min_size=1, max_size=45))
def test_the_windows_keep_the_events_the_plain_filters_keep(
        steps: list[tuple[float, float, str]]) -> None:
    """Each row's recent, day and days windows and exact repeats are the comprehensions'
    of before (events moved as objects instead): ages at and beyond each window (late
    events too: the distance is absolute), the windows' bounds, repeated amounts."""
    cfg = Knobs(CoreConfig())
    s, pop = CustomerState(), Population()
    clock = 0.0
    for step, amount, category in steps:
        clock += step
        tx = _purchase(clock, amount, category)
        t = event_seconds(tx)
        entry = (t, amount, category, "online")
        horizon = max(cfg.burst_window_s, cfg.duplicate_window_s)
        recent = [*[r for r in s.recent if abs(t - r[0]) <= horizon], entry]
        window = [r for r in s.window if abs(t - r[0]) <= WINDOW_S]
        days = [r for r in s.days if abs(t - r[0]) <= cfg.days_s]
        exact = s.exact + any(r[1] == amount for r in window)
        learn(t, s, pop, cfg, observe(tx, t, s, pop, cfg), 0.0, 0.0)
        assert s.recent == recent[-2 * cfg.burst_min_count - 8:]
        assert s.window == [*window, entry][-MAX_WINDOW:]
        assert s.days == [*days, entry][-MAX_WINDOW:]
        assert s.exact == exact


def test_the_log_of_a_count_as_a_float_is_the_log_of_the_int() -> None:
    """`_rate` and `_repeat` take math.log(float(len(tested))) (native when compiled)
    where they took math.log(len(tested)): the same float for every count."""
    for count in range(1, 10_000):
        assert math.log(float(count)).hex() == math.log(count).hex()


def _state(hours: list[int], recent: list[int], held: int = 0) -> CustomerState:
    """A customer with these hours; `recent` the hours of their last events, the last
    `held` of them on hold."""
    s = CustomerState()
    s.hours = bytearray(hours)
    cut = len(recent) - held
    s.context = [_context(h) for h in recent[:cut]]
    s.pending = [(0.0, _context(h)) for h in recent[cut:]]
    return s


def _context(hour: int) -> Context:
    return ("IT", "pc", "10.0.0", "app", "food", hour, 4.0)


def _population(hours: list[int], extra: int) -> Population:
    pop = Population()
    pop.hours = hours
    pop.total = sum(hours) + extra
    return pop


#: A customer's hours: mostly empty, small counts (exact ties), a habit, the byte's top.
customer_hours = st.lists(st.sampled_from([0, 0, 0, 0, 1, 1, 2, 3, 7, 40, 255]),
                          min_size=24, max_size=24)
#: The prior's weights tried: the default and either side (the older test of a change of
#: hours, which the reference implements; the newer is tests/unit/test_core_hour_change.py).
CONFIGS = [Knobs(CoreConfig(prior_weight=w, hour_change_prior=0.0)) for w in (0.5, 3.0, 10.0)]
population_hours = st.one_of(st.lists(st.integers(0, 3), min_size=24, max_size=24),
                             st.lists(st.integers(0, 5000), min_size=24, max_size=24))


@settings(max_examples=500, deadline=None)
@given(customer_hours, population_hours, st.integers(0, 1000),
       st.lists(st.integers(0, 23), max_size=8), st.integers(0, 23),
       st.sampled_from(CONFIGS))
def test_hour_tail_is_bit_identical_to_the_plain_sort_and_sum(
        hours: list[int], common: list[int], extra: int, recent: list[int], hour: int,
        cfg: Knobs) -> None:
    """Every route of `hour_tail` (one recent event or none, the long habit, the mixture
    after two breaks) gives the floats of the code before the speed-up."""
    s, pop = _state(hours, recent), _population(common, extra)
    assert hour_tail(s, pop, hour, cfg) == reference_hour_tail(s, pop, hour, cfg)


def test_the_hour_tail_cases_cover_every_route() -> None:
    """Seeded profiles like the property test's, every hour of each: bit-identical, and
    each route taken many times (so the comparison above is not vacuous)."""
    rng, cfg = random.Random(14), Knobs(CoreConfig(hour_change_prior=0.0))
    routes = {"none": 0, "few": 0, "habit": 0, "mixture": 0, "ties": 0, "held": 0}
    for case in range(300):
        hours = [rng.choice([0, 0, 0, 0, 1, 1, 2, 3, 7, 40]) * (case % 20 > 0)
                 for _ in range(24)]
        common = [rng.randint(0, 3) for _ in range(24)]
        recent = [rng.randrange(24) for _ in range(rng.randint(0, 8))]
        s = _state(hours, recent, rng.randint(0, len(recent)) if case % 3 == 0 else 0)
        pop = _population(common, rng.randint(0, 50))
        q = [(c + 3.0 / (pop.total + 24.0) * (p + 1.0)) / (sum(hours) + 3.0)
             for c, p in zip(hours, common, strict=True)]
        full = reference_tails(q)
        broke = sum(1 for h in recent if full[h] <= BROKE)
        route = ("none" if not sum(hours) else "few" if len(recent) < 2
                 else "mixture" if broke >= 2 else "habit")
        routes[route] += 1
        routes["ties"] += len(set(full)) < 24
        routes["held"] += route == "mixture" and bool(s.pending)
        for h in range(24):
            assert hour_tail(s, pop, h, cfg) == reference_hour_tail(s, pop, h, cfg)
    assert min(routes.values()) >= 10, routes


class _Stamp:
    """Only what `event_seconds` reads of a transaction."""

    def __init__(self, timestamp: datetime) -> None:
        self.timestamp = timestamp


def reference_event_seconds(timestamp: datetime) -> float:
    return (timestamp - datetime(1970, 1, 1)).total_seconds()


@settings(max_examples=2000, deadline=None)
@given(st.one_of(
    st.datetimes(),  # years 1 to 9999: beyond 2^53 microseconds of 1970 both ways
    st.datetimes(datetime(1969, 12, 31), datetime(1970, 1, 2)),  # around 0, signs
    st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1))))  # the streams' dates
def test_event_seconds_is_the_timedeltas_total_seconds(timestamp: datetime) -> None:
    """`event_seconds` divides the microseconds itself where they convert to floats
    exactly, else calls `total_seconds()`: the same float either way."""
    got = event_seconds(_Stamp(timestamp))  # type: ignore[arg-type]
    assert got.hex() == reference_event_seconds(timestamp).hex()


def test_event_seconds_at_the_edges_of_the_exact_route() -> None:
    """At 2^53 microseconds from 1970 and one either side, both signs (the route
    changes there), and at the datetime type's ends."""
    edges = [datetime(1970, 1, 1) + timedelta(microseconds=s * ((1 << 53) + d))
             for s in (1, -1) for d in (-1, 0, 1)]
    for timestamp in [*edges, datetime.min, datetime.max, datetime(1970, 1, 1)]:
        got = event_seconds(_Stamp(timestamp))  # type: ignore[arg-type]
        assert got.hex() == reference_event_seconds(timestamp).hex()


def reference_low_share(pop: Population, z: float) -> float:
    if z >= 0.0:
        return 1.0
    b = int(-z * 4)
    low = pop.low
    return (sum(low[b if b < len(low) else -1:]) + 1) / (pop.low_n + 1)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.integers(0, 20_000), min_size=121, max_size=121),
       st.one_of(st.floats(-40.0, 1.0, allow_nan=False),
                 st.sampled_from([0.0, -0.0, -0.25, -0.26, -30.0, -30.25, -30.5, -1e9])))
def test_low_share_is_the_plain_sum_of_the_slice(low: list[int], z: float) -> None:
    """`Population.low_share` sums its bins in a loop where it summed a slice: the same
    (ints), the last bin alone beyond the range."""
    pop = Population()
    pop.low = list(low)
    pop.low_n = sum(low)
    assert pop.low_share(z).hex() == reference_low_share(pop, z).hex()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 255), min_size=24, max_size=24),
       st.integers(0, 23), st.integers(1, 24))
def test_observe_counts_the_hours_and_nights_as_the_plain_sums(
        hours: list[int], start: int, length: int) -> None:
    """`observe` adds the hour counts in loops over a bytes copy where it called `sum`."""
    cfg = Knobs(CoreConfig(night_start_hour=start, night_end_hour=(start + length - 1) % 24 + 1))
    s = CustomerState()
    s.hours = bytearray(hours)
    tx = Transaction(transaction_id="t", customer_id="c", timestamp=datetime(2024, 5, 1, 3),
                     amount=10.0, country="IT", channel="app", device="pc",
                     merchant_category="food", ip="10.0.0.1")
    o = observe(tx, event_seconds(tx), s, Population(), cfg)
    assert o.night_total == sum(hours)
    assert o.night_count == sum(hours[h] for h in cfg.night_hours)


def reference_reason_value(name: str, tx: Transaction, s: CustomerState) -> tuple[str, int]:
    value = {"country": tx.country, "device": tx.device, "ip_network": ipnet(tx.ip),
             "channel": tx.channel, "category": tx.merchant_category}[name]
    table = {"country": s.countries, "device": s.devices, "ip_network": s.ipnets,
             "channel": s.channels, "category": s.categories}[name]
    return value, table.get(value, 0)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["CH", "IT"]), st.sampled_from(["pc", "phone"]),
       st.sampled_from(["10.1.2.3", "10.1.3.3", "2001:db8:1::1"]),
       st.sampled_from(["app", "web"]), st.sampled_from(["food", "fuel"]),
       st.integers(0, 3))
def test_a_novelty_terms_reason_names_the_value_and_count_it_did(
        country: str, device: str, ip: str, channel: str, category: str, seen: int) -> None:
    """`_reason` picks the value and the customer's table by a chain of tests on the
    observation where it built two dictionaries over the transaction: the same text, for
    a value never seen and one seen `seen` times."""
    s = CustomerState()
    s.learnt = 7
    known = {"country": "CH", "device": "pc", "ip_network": "10.1.2",
             "channel": "app", "category": "food"}
    for name, table in [("country", s.countries), ("device", s.devices),
                        ("ip_network", s.ipnets), ("channel", s.channels),
                        ("category", s.categories)]:
        if seen:
            table[known[name]] = seen
    tx = Transaction(transaction_id="t", customer_id="c", timestamp=datetime(2024, 5, 1, 3),
                     amount=10.0, country=country, channel=channel, device=device,
                     merchant_category=category, ip=ip)
    o = observe(tx, event_seconds(tx), s, Population(), Knobs(CoreConfig()))
    for name in known:
        value, count = reference_reason_value(name, tx, s)
        label = name.replace("_", " ")
        want = (f"{label} {value} never seen for this customer" if count == 0 else
                f"{label} {value} seen only {count}x in 7 purchases")
        assert _reason(name, o, s) == want


def reference_categorical(table: dict[str, int], key: str, learnt: int, explore: float,
                          pop: Population, attribute: str, recent: int, cfg: Knobs) -> float:
    """`categorical` before `unused_mass`'s walk was folded into its pass (verbatim)."""
    count = table.get(key, 0)
    once = below = events = 0
    for v in table.values():
        once += v == 1
        events += v
        if v <= count:
            below += v
    k = cfg.new_value_prior
    rate = (once + k * pop.new_rate(attribute)) / (explore + k)
    full = len(pop.tables[attribute]) >= cfg.max_population_keys
    if not learnt:
        tail = 1.0 if full else pop.first_tail(attribute, key)
    elif count == 0:
        mass = 1.0 if full else pop.first_base(attribute, table, key)
        tail = rate * mass
        tail = tail if tail < 1.0 else 1.0
    else:
        p_new = rate * (1.0 if full else pop.unused_mass(attribute, table))
        p_new = p_new if p_new < 1.0 else 1.0
        tail = p_new + (1.0 - p_new) * below / events
    share = cfg.context_weight * recent / cfg.context_size
    return _bits(share if share > tail else tail, cfg.surprise_cap)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.sampled_from("abcdefg"), st.integers(1, 6), max_size=5),
       st.dictionaries(st.sampled_from("abcdefghijklmnopqrst"), st.integers(1, 40),
                       max_size=20),
       st.sampled_from("abcdefghz"), st.sampled_from([0, 1, 2, 30]),
       st.floats(0.0, 50.0), st.sampled_from(["device", "ipnet", "country"]),
       st.integers(0, 3), st.sampled_from([16, 10_000]), st.booleans(),
       st.lists(st.floats(0.0, 50.0), min_size=2, max_size=2))
def test_categorical_with_the_unused_walk_folded_in_is_the_two_pass_form(
        table: dict[str, int], counts: dict[str, int], key: str, learnt: int,
        explore: float, attribute: str, recent: int, max_keys: int, singles_known: bool,
        novelty: list[float]) -> None:
    """`categorical` adds the population's counts of the customer's values in its own pass
    over their table (where `unused_mass` would walk it again): the same surprise, on
    every route (first purchase, a new value, a known one; population tables full or not;
    the population's singles recorded or counted)."""
    pop = Population()
    pop.tables[attribute] = counts
    pop.total = sum(counts.values()) + 2
    if singles_known:
        pop.singles[attribute] = sum(1 for v in counts.values() if v == 1)
    pop.novelty[attribute] = novelty
    cfg = Knobs(CoreConfig(max_population_keys=max_keys))
    got = categorical(table, key, learnt, explore, pop, attribute, recent, cfg)
    want = reference_categorical(table, key, learnt, explore, pop, attribute, recent, cfg)
    assert got.hex() == want.hex()


def reference_round_level(amount: float) -> int:
    cents = round(amount * 100.0)
    if cents <= 0:
        return 0
    level = 0
    for step in ROUND_STEPS:
        if cents % step:
            break
        level += 1
    return level


def _near_cents(cents: int, half: bool, step: int) -> float:
    """An amount at a whole number of cents (or half a cent beyond), moved `step` ulps."""
    x = (cents + (0.5 if half else 0.0)) / 100.0
    for _ in range(abs(step)):
        x = math.nextafter(x, math.inf if step > 0 else -math.inf)
    return x


def _outcome(level: Callable[[float], int], amount: float) -> object:
    """A level, or the error it raised (type and text): beyond 1.8e306 x 100 is infinite."""
    try:
        return level(amount)
    except (ValueError, OverflowError) as error:
        return type(error), str(error)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(
    st.floats(),
    st.floats(-1e12, 1e12),
    st.builds(_near_cents, st.integers(-10**6, 10**14), st.booleans(), st.integers(-2, 2))))
def test_round_level_rounds_the_cents_as_the_builtin_round(amount: float) -> None:
    """`round_level` finds the cents without the builtin `round` (a generic call compiled):
    the same level everywhere, at whole and half cents and an ulp either side (a half
    cent goes to the even cent: 0.5, 1.5, 2.5 cents make 0, 2, 2), and the same error
    where there is no level (NaN, infinities, amounts whose cents overflow)."""
    assert _outcome(round_level, amount) == _outcome(reference_round_level, amount)


def test_round_level_at_the_halves_and_the_edges() -> None:
    for amount in (0.0, -0.0, 0.005, 0.015, 0.025, 9.995, 10.005, 99.995, 5e-324, -5e-324,
                   0.1 + 0.2, 19.99 + 0.01, 1.005, 1e12, -1e12, 2.0**60, 1.7e306,
                   1.7976931348623157e308, -1.7976931348623157e308, math.nan, math.inf,
                   -math.inf):
        assert _outcome(round_level, amount) == _outcome(reference_round_level, amount)
    assert [round_level(c / 200.0) for c in range(1, 8)] == [0, 0, 0, 0, 0, 0, 0]
    assert _outcome(round_level, math.nan)[0] is ValueError  # type: ignore[index]
    assert _outcome(round_level, -math.inf)[0] is OverflowError  # type: ignore[index]


def reference_one_pass_categorical(table: dict[str, int], key: str, learnt: int,
                                   explore: float, pop: Population, attribute: str,
                                   recent: int, cfg: Knobs) -> float:
    """`categorical` before the band was found once a row (main c5429c3), verbatim."""
    count = table.get(key, 0)
    counts = pop.tables[attribute]
    full = len(counts) >= cfg.max_population_keys
    once = below = events = used = 0
    for value, v in table.items():
        once += v == 1
        events += v
        if v <= count:
            below += v
        used += counts.get(value, 0)
    k = cfg.new_value_prior
    rate = (once + k * pop.new_rate(attribute, history_band(learnt, cfg.prior_bands))) / (
        explore + k)
    if not learnt:  # a first purchase: every value is new to the customer
        tail = 1.0 if full else pop.first_tail(attribute, key)
    elif count == 0:
        mass = 1.0 if full else pop.first_base(attribute, table, key)
        tail = rate * mass
        tail = tail if tail < 1.0 else 1.0
    else:
        p_new = rate * (1.0 if full else pop.unused_share(attribute, used))
        p_new = p_new if p_new < 1.0 else 1.0
        tail = p_new + (1.0 - p_new) * below / events
    share = cfg.context_weight * recent / cfg.context_size
    return _bits(share if share > tail else tail, cfg.surprise_cap)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.sampled_from("abcdefg"), st.integers(1, 6), max_size=5),
       st.dictionaries(st.sampled_from("abcdefghijklmnopqrst"), st.integers(1, 40),
                       max_size=20),
       st.sampled_from("abcdefghz"), st.sampled_from([0, 1, 2, 3, 4, 7, 8, 30, 200]),
       st.floats(0.0, 50.0), st.sampled_from(["device", "ipnet", "country"]),
       st.integers(0, 3), st.sampled_from([16, 10_000]),
       st.sampled_from([(), (3,), (3, 8), (1, 2, 4, 8, 16, 32, 64)]),
       st.lists(st.lists(st.floats(0.0, 50.0), min_size=2, max_size=2), min_size=9,
                max_size=9),
       st.lists(st.floats(0.0, 50.0), min_size=3, max_size=3))
def test_categorical_given_the_band_once_is_the_one_pass_form(
        table: dict[str, int], counts: dict[str, int], key: str, learnt: int,
        explore: float, attribute: str, recent: int, max_keys: int, bands: tuple[int, ...],
        rates: list[list[float]], first: list[float]) -> None:
    """`terms` finds the band of history once a row and passes it to `banded_categorical`
    (which skips the rate of new values on a first purchase, where it is not used): the
    same surprise as the one-pass form on every route and band (the bands' own rates, the
    pooled one, none), and `categorical` (the band found inside) with it."""
    pop = Population()
    pop.tables[attribute] = counts
    pop.total = sum(counts.values()) + 2
    pop.novelty[attribute] = rates[8]
    for band in range(8):
        if rates[band][0] < 40.0:  # some bands without data (the pooled rate)
            pop.novelty[f"{attribute}@{band}"] = rates[band]
    pop.novelty[f"first:{attribute}"] = first
    cfg = Knobs(CoreConfig(max_population_keys=max_keys, prior_bands=bands))
    want = reference_one_pass_categorical(table, key, learnt, explore, pop, attribute,
                                          recent, cfg)
    band = history_band(learnt, bands)
    got = banded_categorical(table, key, learnt, band, explore, pop, attribute, recent, cfg)
    assert got.hex() == want.hex()
    assert categorical(table, key, learnt, explore, pop, attribute, recent, cfg).hex() == (
        want.hex())


def reference_apply(cal: Recalibration, values: list[float]) -> list[float]:
    """`Recalibration.apply` with `zip(strict=True)` (main c5429c3), verbatim."""
    for shape in cal.shapes:
        if shape:
            break
    else:
        return list(values)
    out = []
    for v, points, slope in zip(values, cal.shapes, cal.scales, strict=True):
        if not points or v <= 0:
            out.append(v)
            continue
        x0 = y0 = 0.0
        for x1, y1 in points:
            if v <= x1:
                mapped = y0 + (v - x0) * (y1 - y0) / (x1 - x0)
                break
            x0, y0 = x1, y1
        else:
            mapped = y0 + (v - x0) * slope
        out.append(max(v / 3.0, min(v, mapped)))
    return out


def reference_learn_counts(hist: list[list[int]], values: list[float]) -> None:
    """The counting of `Recalibration.learn` with `zip(strict=True)`, verbatim."""
    last = len(hist[0]) - 1
    per = Recalibration.BINS_PER_UNIT
    for h, v in zip(hist, values, strict=True):
        b = int(v * per)
        h[last if b > last else 0 if b < 0 else b] += 1


term_values = st.lists(st.one_of(st.floats(-2.0, 14.0), st.sampled_from(
    [0.0, -0.0, 3.0, 4.0, 12.0, 12.05, 13.0])), min_size=12, max_size=12)


@settings(max_examples=30, deadline=None)
@given(st.lists(term_values, min_size=1, max_size=40), st.sampled_from([0, 300, 600, 1100]),
       st.booleans())
def test_the_recalibration_as_index_loops_is_the_zip_form(
        rows: list[list[float]], skew: int, extreme: bool) -> None:
    """`Recalibration.apply` and `learn` walk the terms by index instead of a keyword call
    of `zip` (generic compiled): the same maps, values and counts, to the bit, identity
    maps and learnt shapes (a run of high terms makes some) alike."""
    cal, plain = Recalibration(12.0), Recalibration(12.0)
    heavy = [5.0 if extreme else 3.5] * 12
    for i in range(skew):  # enough rows for the maps to move off the identity
        row = heavy if i % 7 == 0 else [0.5] * 12
        cal.learn(row)
        reference_learn_counts(plain.hist, row)
        plain.total += 1
        if plain.total % plain.EVERY == 0:
            plain._rescale()
        assert cal.hist == plain.hist and cal.shapes == plain.shapes
    assert any(cal.shapes) == (skew >= 512)  # learnt maps from the first rescale on
    for row in rows:
        got, want = cal.apply(row), reference_apply(cal, row)
        assert [v.hex() for v in got] == [v.hex() for v in want]
        cal.learn(row)
        reference_learn_counts(plain.hist, row)
        assert cal.hist == plain.hist


@pytest.mark.parametrize("terms", [11, 13])
def test_terms_of_another_length_are_refused_by_name(terms: int) -> None:
    """Terms, maps and scales (or histograms and terms) of unequal lengths, never in a
    sound state, raise a ValueError naming the lengths, before anything is counted."""
    cal = Recalibration(12.0)
    cal.shapes[0] = [[3.0, 3.0]]  # not the identity: `apply` walks the maps
    values = [1.0] * terms
    with pytest.raises(ValueError, match=f"^terms, maps and scales of unequal lengths: "
                                         f"{terms}, 12, 12$"):
        cal.apply(values)
    hist = [list(h) for h in cal.hist]
    with pytest.raises(ValueError, match=f"^histograms and terms of unequal lengths: 12, "
                                         f"{terms}$"):
        cal.learn(values)
    assert cal.hist == hist and cal.total == 0


@settings(max_examples=300, deadline=None)
@given(customer_hours, population_hours, st.integers(0, 1000),
       st.lists(st.integers(0, 23), max_size=8), st.integers(0, 3), st.integers(0, 23),
       st.sampled_from(CONFIGS))
def test_the_hour_tail_from_the_observed_counts_is_the_plain_one(
        hours: list[int], common: list[int], extra: int, recent: list[int], held: int,
        hour: int, cfg: Knobs) -> None:
    """`terms` takes the hour term's profile from the counts `observe` copied and added
    (`Observation.hour_counts`, `night_total`) instead of copying and adding them again:
    the counts are the customer's, and the tail from them is the plain one's, to the bit."""
    s = _state(hours, recent, min(held, len(recent)))
    pop = _population(common, extra)
    tx = Transaction(transaction_id="t", customer_id="c",
                     timestamp=datetime(2024, 5, 1, hour), amount=10.0, country="IT",
                     channel="app", device="pc", merchant_category="food", ip="10.0.0.1")
    o = observe(tx, event_seconds(tx), s, pop, cfg)
    assert o.hour_counts == bytes(hours) and o.night_total == sum(hours)
    got = counted_hour_tail(s, pop, hour, cfg, o.hour_counts, o.night_total)
    assert got.hex() == reference_hour_tail(s, pop, hour, cfg).hex()
    assert got.hex() == hour_tail(s, pop, hour, cfg).hex()
    changing = Knobs(CoreConfig(prior_weight=cfg.prior_weight))  # a change of hours weighed
    o = observe(tx, event_seconds(tx), s, pop, changing)
    assert counted_hour_tail(s, pop, hour, changing, o.hour_counts, o.night_total).hex() == (
        hour_tail(s, pop, hour, changing).hex())


def reference_counted_hour_tail(st: CustomerState, pop: Population, hour: int, cfg: Knobs,
                                hours: bytes, hn: int) -> float:
    """`hourtail.counted_hour_tail` computing the change weight itself (main c1931ee),
    verbatim."""
    hours, k, d, near = _counted_profile(hours, hn, pop, cfg)
    if not near:
        return 1.0
    recent = recent_hours(st)
    if len(recent) < 2:
        return _tail_of(near, hour)
    prior = cfg.hour_change_prior
    if prior > 0.0:
        mixed = changed(hours, pop.hours, k, d, near, recent, prior, prior)
        return _tail_of(near, hour) if mixed is None else _tail(mixed, hour)
    mine, edge = _rank(near, hour)
    mix = _under_way(hours, pop, k, d, near, recent, edge)
    return mine if mix is None else _tail(mix, hour)


def reference_night_mass(st: CustomerState, pop: Population, night: tuple[int, ...],
                         cfg: Knobs) -> float:
    """`hourtail.night_mass` (main c1931ee), verbatim."""
    hours, k, d, near = _profile(st, pop, cfg)
    recent = recent_hours(st)
    if not near or len(recent) < 2:
        return 0.0
    prior = cfg.hour_change_prior
    if prior > 0.0:
        mix = changed(hours, pop.hours, k, d, near, recent, prior, UNDER_WAY)
    else:
        mix = _under_way(hours, pop, k, d, near, recent, _rank(near, 0)[1])
    if mix is None:
        return 0.0
    mass = 0.0
    for h in night:
        mass += mix[h]
    return mass


#: The change of hours weighed with priors either side of the default (0.05) and the older
#: test (0); the night-mass path starts at a weight above `UNDER_WAY`.
CHANGE_CONFIGS = [Knobs(CoreConfig(prior_weight=w, hour_change_prior=p))
                  for w in (0.5, 3.0) for p in (0.0, 0.01, 0.05, 0.3)]
#: A day customer (08-18 h): a night purchase after evenings reaches `observe`'s night mass.
day_hours = st.lists(st.sampled_from([0, 0, 1]), min_size=24, max_size=24).map(
    lambda xs: [x + (30 if 8 <= i <= 18 else 0) for i, x in enumerate(xs)])


@settings(max_examples=400, deadline=None)
@given(st.one_of(customer_hours, day_hours), population_hours, st.integers(0, 1000),
       st.lists(st.sampled_from([1, 5, 12, 20, 21, 22, 23]), max_size=9),
       st.integers(0, 3), st.one_of(st.integers(0, 4), st.integers(0, 23)),
       st.sampled_from(CHANGE_CONFIGS))
def test_the_change_weight_found_once_a_row_gives_the_plain_hour_term_and_night_mass(
        hours: list[int], common: list[int], extra: int, recent: list[int], held: int,
        hour: int, cfg: Knobs) -> None:
    """`observe`'s night-mass path keeps the change weight it found
    (`Observation.hour_change`) and the hour term takes it instead of computing it again:
    the night mass and the hour tail are the plain ones' to the bit, with the weight
    passed, not passed (-1.0) and on rows where `observe` found none."""
    s = _state(hours, recent, min(held, len(recent)))
    pop = _population(common, extra)
    counts, hn = bytes(hours), sum(hours)
    mass, lam = counted_night_mass(s, pop, cfg.night_hours, cfg, counts, hn)
    assert mass.hex() == reference_night_mass(s, pop, cfg.night_hours, cfg).hex()
    assert night_mass(s, pop, cfg.night_hours, cfg).hex() == mass.hex()
    want = reference_counted_hour_tail(s, pop, hour, cfg, counts, hn)
    assert counted_hour_tail(s, pop, hour, cfg, counts, hn, lam).hex() == want.hex()
    assert counted_hour_tail(s, pop, hour, cfg, counts, hn).hex() == want.hex()
    tx = Transaction(transaction_id="t", customer_id="c",
                     timestamp=datetime(2024, 5, 1, hour), amount=10.0, country="IT",
                     channel="app", device="pc", merchant_category="food", ip="10.0.0.1")
    o = observe(tx, event_seconds(tx), s, pop, cfg)
    assert o.hour_change == -1.0 or o.hour_change.hex() == lam.hex()
    got = counted_hour_tail(s, pop, hour, cfg, o.hour_counts, o.night_total, o.hour_change)
    assert got.hex() == want.hex()


def reference_recent_profile(recent: list[int], base: list[float]) -> list[float]:
    """`hourtail.recent_profile` indexing KERNEL in a loop (main c1931ee), verbatim."""
    r = list(base)
    for h in recent:
        for step in range(5):
            r[(h + step - 2) % 24] += KERNEL[step]
    m = len(recent) + 1.0
    return [x / m for x in r]


def reference_change_weight(near: list[float], recent: list[int], prior: float) -> float:
    """`hourtail.change_weight` indexing KERNEL (main c1931ee), verbatim."""
    m = len(recent)
    llr = 0.0
    for j in range(m):
        h = recent[j]
        others = 0.0
        for i in range(m):
            if i != j:
                gap = (h - recent[i]) % 24
                if gap <= 2:
                    others += KERNEL[2 + gap]
                elif gap >= 22:
                    others += KERNEL[gap - 22]
        llr += math.log(0.5 + 0.5 * (others / (m - 1.0)) / (near[h] / 3.0))
    x = math.log(prior / (1.0 - prior)) + llr
    if x < -700.0:
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))


@settings(max_examples=500, deadline=None)
@given(st.lists(st.floats(1e-9, 3.0), min_size=24, max_size=24),
       st.lists(st.one_of(st.integers(0, 23), st.sampled_from([0, 1, 2, 22, 23])),
                min_size=2, max_size=12),
       st.one_of(st.sampled_from([0.01, 0.05, 0.3]), st.floats(1e-6, 0.999)))
def test_the_kernel_as_a_tuple_of_any_length_gives_the_plain_weight_and_profile(
        near: list[float], recent: list[int], prior: float) -> None:
    """KERNEL typed as a tuple of any length (compiled, its five floats were a native
    struct boxed anew at every read by index) and `recent_profile`'s adds written out
    (`r[i] = r[i] + w`, not the generic `+=`): the weight and the profile are the plain
    ones' to the bit, neighbours across midnight, repeated hours and every gap within
    2 h included."""
    assert change_weight(near, recent, prior).hex() == (
        reference_change_weight(near, recent, prior).hex())
    base = [x / sum(near) for x in near]
    assert [x.hex() for x in recent_profile(recent, base)] == [
        x.hex() for x in reference_recent_profile(recent, base)]


@settings(max_examples=300, deadline=None)
@given(st.one_of(customer_hours, day_hours), population_hours, st.integers(0, 1000),
       st.lists(st.sampled_from([1, 2, 5, 12, 20, 21, 22, 23]), max_size=9),
       st.integers(0, 3), st.one_of(st.integers(0, 4), st.integers(0, 23)),
       st.sampled_from(CHANGE_CONFIGS))
def test_the_hour_term_from_the_hours_terms_listed_is_the_plain_one(
        hours: list[int], common: list[int], extra: int, recent: list[int], held: int,
        hour: int, cfg: Knobs) -> None:
    """`terms` lists the recent hours (`recent_hours`: the context's, then those on hold)
    in its own walk of the context and passes them to the hour term: the hour term is
    the plain one's (`hour_tail` from the state, the context's share within 1 h), to the
    bit, with held purchases, a change of hours weighed or not."""
    s = _state(hours, recent, min(held, len(recent)))
    s.n = s.learnt = len(s.context)
    pop = _population(common, extra)
    tx = Transaction(transaction_id="t", customer_id="c",
                     timestamp=datetime(2024, 5, 1, hour), amount=10.0, country="IT",
                     channel="app", device="pc", merchant_category="food", ip="10.0.0.1")
    o = observe(tx, event_seconds(tx), s, pop, cfg)
    values = terms(event_seconds(tx), s, pop, o, cfg)[0]
    near_hour = sum((h - hour) % 24 in (0, 1, 23) for h in recent_hours(s))
    plain = max(hour_tail(s, pop, hour, cfg), cfg.context_weight * near_hour / cfg.context_size)
    assert values[TERMS.index("hour")].hex() == _bits(plain, cfg.surprise_cap).hex()


def reference_learn_rate(novelty: dict[str, list[float]], key: str, new: bool,
                         unused: float) -> None:
    """`state._learn_rate` with `+=` on the list's items (main c5429c3), verbatim."""
    entry = novelty.get(key)
    if entry is None:
        entry = novelty[key] = [0.0, 0.0]
    elif entry[1] >= 20_000:
        entry[0] *= 0.5
        entry[1] *= 0.5
    entry[0] += new
    entry[1] += unused


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.booleans(), st.floats(0.0, 1.0),
                          st.floats(-8.0, 8.0), st.floats(0.0, 3e6), st.integers(0, 3)),
                max_size=60),
       st.sampled_from([0.0, 19_999.5, 20_000.0]))
def test_the_populations_adds_written_out_are_the_in_place_adds(
        steps: list[tuple[str, bool, float, float, float, int]], start: float) -> None:
    """The population's running counts add to a list's item as `x = x + y` (native
    compiled) where they used `x += y` (a generic in-place add): the same floats, a bool
    adding as 1.0 or 0.0, the moving averages halved at the same point; the low bins' ints
    likewise (the last bin holding the rest)."""
    pop, plain = Population(), Population()
    plain_rates: dict[str, list[float]] = {}
    for key in ("a", "b"):
        pop.novelty[key] = [start / 4.0, start]
        plain_rates[key] = [start / 4.0, start]
    plain_low = list(plain.low)
    for key, new, unused, deviation, gap, band in steps:
        _learn_rate(pop.novelty, key, new, unused)
        reference_learn_rate(plain_rates, key, new, unused)
        pop.learn_offset(key, deviation, 10)
        pop.learn_gap(band, gap)
        entry = plain.offsets.setdefault(key, [0.0, 0.0])
        entry[0] = min(entry[0] + 1.0, 5000.0)
        entry[1] += (max(-3.0, min(3.0, deviation)) - entry[1]) / entry[0]
        while len(plain.gap_bands) <= band:
            plain.gap_bands.append([0.0, 0.0])
        bands = plain.gap_bands[band]
        bands[0] = min(bands[0] + 1.0, 5000.0)
        bands[1] += (gap - bands[1]) / bands[0]
        z = -deviation * 5.0
        pop.learn_low(z)
        if z < 0.0:
            b = int(-z * 4)
            plain_low[b if b < len(plain_low) else -1] += 1
    assert [[v.hex() for v in pop.novelty[k]] for k in "ab"] == [
        [v.hex() for v in plain_rates[k]] for k in "ab"]
    assert {k: [v.hex() for v in e] for k, e in pop.offsets.items()} == {
        k: [v.hex() for v in e] for k, e in plain.offsets.items()}
    assert [[v.hex() for v in e] for e in pop.gap_bands] == [
        [v.hex() for v in e] for e in plain.gap_bands]
    assert pop.low == plain_low and all(type(c) is int for c in pop.low)
