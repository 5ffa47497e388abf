"""detector/kernel/observe.py: the observation (`features.observe`) and the rules, row by
row on realistic rows against the core's row loop (tests/unit/kernel_rows.py): every field
to the bit, and the rules' reasons (names, order, text) as `apply_rules`'; plus edge-case
streams (the burst and duplicate windows, the night's edges, the odd-hour history, late rows,
a country hop) and every rule at its thresholds.

What no kernel learns yet is copied from the core's state where `observe` reads it
(`_bridge`): the clock's fields are learnt by `clock.learn_clock` and the population's hours
and category offsets by `clock.learn_clock_population` (from this kernel's `amount_dev`);
the customer's amounts, hours, code tables, context, hold and novel count, and the
population's total, amount center and scale and country and category counts, come from the
core."""

from __future__ import annotations

import itertools
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import detector.core.features as features
from detector.core.config import CoreConfig
from detector.core.features import Observation, event_seconds
from detector.core.hourtail import counted_night_mass
from detector.core.knobs import Knobs
from detector.core.rules import apply_rules
from detector.core.state import CustomerState, Population
from detector.kernel import amounts, clock, geo
from detector.kernel import observe as ko
from detector.kernel import population as kp
from detector.kernel import slots as sl
from detector.kernel.codes import Codes
from detector.kernel.knobs import kernel_knobs
from shared.schemas import Transaction
from tests.ci import IN_CI
from tests.unit.kernel_rows import core_rows, generated

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")

T0 = datetime(2025, 3, 3, 12, 0)
#: The Observation's fields `observe` ports (numbers), and its strings (codes in `obs`).
NUMBERS = ("history", "gap_s", "burst_count", "burst_span_s", "hour", "night_total",
           "night_count", "night_share", "hour_change", "country_seen", "country_recent",
           "country_rarity", "hop_rate", "novel_rate", "travel_km", "travel_dt_s",
           "category_rarity", "amount", "log_amount", "amount_z", "amount_ratio",
           "amount_dev", "amount_scale", "over_max")
STRINGS = ("country", "prev_country", "category", "channel")
#: The Python core (not mypyc's): its `counted_night_mass` calls can be counted (the
#: night mass is compared on every row; this only counts how often it was computed).
PYTHON_CORE = features.__file__.endswith(".py")


def _bits(x: Any) -> Any:
    return x.hex() if isinstance(x, float) else x


def _bits_of(offsets: dict[str, list[float]]) -> list[Any]:
    return [(key, [x.hex() for x in v]) for key, v in offsets.items()]


def _same(obs: np.ndarray, o: Observation, hours: np.ndarray, values: list[str]) -> None:
    """`obs` (and the slot's `hours`) is `o` in every field `observe` ports, to the bit."""
    assert hours.tobytes() == o.hour_counts
    for name in NUMBERS:
        got = obs[ko.FIELDS.index(name)]
        want = getattr(o, name)
        assert float(got).hex() == float(want).hex(), name
        if isinstance(want, int):
            assert got == want, name
    for name in STRINGS:
        assert values[int(obs[ko.FIELDS.index(name)])] == getattr(o, name), name
    dup = obs[ko.DUP_AGE_S]
    assert (None if math.isnan(dup) else float(dup).hex()) == _bits(o.dup_age_s)


def _run(txs: list[Any], config: CoreConfig, pop: Population | None = None
         ) -> dict[str, int]:
    knobs = Knobs(config)
    k = kernel_knobs(knobs)
    codes = Codes()
    slots: dict[str, int] = {}
    s = sl.allocate(sl.Dims.of(config), 256)
    pop = Population() if pop is None else pop
    p = kp.to_arrays(pop, codes, config.max_population_keys)
    centroids = geo.centroid_table(codes.values)
    obs = ko.empty()
    ex = amounts.EXPONENTS
    work = np.empty(s.amt.shape[1], np.float64)
    seen = {"rows": 0, "mass": 0, "change": 0, "dup": 0, "travel": 0, "late": 0,
            **{name: 0 for name in ko.RULE_NAMES}}
    core_mass: list[int] = []
    bridged: list[int] = []

    def bridge(tx: Any, st: CustomerState, now: Population) -> None:
        """The kernel's observation, where the core's terms read the state (after
        `observe`, which changes nothing)."""
        nonlocal p, centroids
        country, category, channel = (codes.code(x) for x in (
            tx.country, tx.merchant_category, tx.channel))
        cid = tx.customer_id
        if cid not in slots:
            slots[cid] = len(slots)
            sl.reset(s, slots[cid], codes)
        c = slots[cid]
        _bridge(s, c, p, st, now, codes)
        for i, name in enumerate(("country", "category")):
            counts = [(codes.code(key), count) for key, count in now.tables[name].items()]
            p = kp.grow_codes(p, len(codes.values))
            for code, count in counts:
                p.tab_count[i, code] = count
        centroids = geo.centroid_table(codes.values, centroids)
        t = event_seconds(tx)
        ko.observe(s, c, p, t, tx.timestamp.hour, tx.amount, country, category, channel,
                   centroids, k, ex, work, obs)
        bridged.append(c)

    def counting(*args: Any) -> tuple[float, float]:
        core_mass.append(len(bridged))  # this row's index (before the bridge)
        return counted_night_mass(*args)

    mp = pytest.MonkeyPatch()
    mp.setattr(features, "counted_night_mass", counting)
    try:
        last_t: dict[str, float] = {}
        for row in core_rows(txs, config, pop, bridge):
            o = row.obs
            c = slots[row.tx.customer_id]
            _same(obs, o, s.hours[c], codes.values)
            seen["mass"] += bool(core_mass) and core_mass[-1] == len(bridged) - 1
            seen["change"] += o.hour_change != -1.0
            seen["dup"] += o.dup_age_s is not None
            seen["travel"] += o.travel_km > 0
            seen["late"] += row.t < last_t.get(row.tx.customer_id, -math.inf)
            last_t[row.tx.customer_id] = max(row.t, last_t.get(row.tx.customer_id,
                                                               -math.inf))
            # --- the rules ---------------------------------------------------------------
            fired = ko.rules(obs, k)
            want = apply_rules(o, knobs)
            got = ko.rule_reasons(fired, obs, codes.values, knobs)
            assert list(got.items()) == list(want.items())
            assert [n for i, n in enumerate(ko.RULE_NAMES) if fired >> i & 1] == list(want)
            for name in want:
                seen[name] += 1
            # --- the clock learnt (what observe reads of it next) -------------------------
            clock.learn_clock(s, c, p, row.t, o.amount, int(obs[ko.COUNTRY]),
                              int(obs[ko.CATEGORY]), int(obs[ko.CHANNEL]),
                              obs[ko.TRAVEL_KM], obs[ko.TRAVEL_DT_S], row.wake, k)
            clock.learn_clock_population(p, o.hour, int(obs[ko.CATEGORY]),
                                         obs[ko.AMOUNT_DEV], knobs.max_population_keys)
            mine = sl.load(s, c, codes)
            for name in ("n", "last_t", "last_country", "recent", "hops"):
                assert getattr(mine, name) == getattr(row.state, name), name
            seen["rows"] += 1
    finally:
        mp.undo()
    return seen


def _bridge(s: sl.CustomerSlots, c: int, p: Any, st: CustomerState, pop: Population,
            codes: Codes) -> None:
    """What `observe` reads and no kernel learns yet, copied from the core: the amounts,
    the hours, the code tables, the context, the hold, the novel count; the population's
    total, amount center and scale. What the clock learnt is checked instead: the
    population's hours and category offsets."""
    s.amt[c, :] = 0.0
    head = (len(st.amounts) * 5 + 1) % s.amt.shape[1]  # any head: the ring is read from it
    for j, x in enumerate(st.amounts):
        s.amt[c, (head + j) % s.amt.shape[1]] = x
    s.amt_head[c] = head
    s.amt_len[c] = len(st.amounts)
    p.amount_center[0] = pop.amount_center
    p.amount_scale[0] = pop.amount_scale
    back = kp.from_arrays(p, codes)
    assert (back.hours, _bits_of(back.offsets)) == (pop.hours, _bits_of(pop.offsets))
    s.hours[c, :] = np.frombuffer(bytes(st.hours), np.uint8)
    for i, name in enumerate(sl.TABLES):
        table: dict[str, int] = getattr(st, name)
        for j, (key, count) in enumerate(table.items()):
            s.tab_code[c, i, j] = codes.code(key)
            s.tab_count[c, i, j] = count
        s.tab_len[c, i] = len(table)
    cap = s.ctx_la.shape[1]
    head = (len(st.context) * 7 + 3) % cap  # any head: the ring is read from it
    for j, entry in enumerate(st.context):
        e: tuple[Any, ...] = entry
        at = (head + j) % cap
        for i in range(sl.STRINGS):
            s.ctx_code[c, at, i] = codes.code(e[i])
        s.ctx_hour[c, at] = e[5]
        s.ctx_la[c, at] = e[6]
    s.ctx_head[c] = head
    s.ctx_len[c] = len(st.context)
    b = c  # the hold pool has a block per slot: slot c's is block c (read only here)
    s.pend_at[c] = b if st.pending else -1
    for j, (release, event) in enumerate(st.pending):
        held: tuple[Any, ...] = event  # type: ignore[assignment]
        s.pend_r[b, j] = release
        for i in range(sl.STRINGS):
            s.pend_code[b, j, i] = codes.code(held[i])
        s.pend_hour[b, j] = held[5]
        s.pend_la[b, j] = held[6]
    s.pend_len[c] = len(st.pending)
    s.novel[c] = st.novel
    p.total[0] = pop.total


def test_realistic_rows() -> None:
    config = CoreConfig(first_fit_after=10**9)
    seen = _run(generated(seed=3, customers=120, days=12), config)
    assert seen["rows"] > 3000
    assert seen["change"] > 0 and seen["dup"] > 0 and seen["travel"] > 0
    for name in ko.RULE_NAMES:
        assert seen[name] > 0, name


def test_late_rows_a_short_context_and_a_night_across_midnight() -> None:
    config = CoreConfig(first_fit_after=10**9, context_size=3, night_start_hour=22,
                        night_end_hour=3, burst_min_count=2, odd_hour_min_history=4,
                        odd_hour_max_share=0.3, hour_change_prior=0.5, quarantine_above=2.0)
    seen = _run(generated(seed=4, customers=60, days=15, late_every=9), config)
    assert seen["rows"] > 1500 and seen["late"] > 0
    assert seen["odd_hour"] > 0 and seen["burst"] > 0 and seen["change"] > 0


def _tx(customer: str, i: int, at: datetime, amount: float = 50.0, country: str = "CH",
        category: str = "grocery", channel: str = "app") -> Transaction:
    return Transaction(transaction_id=f"{customer}-{i}", customer_id=customer, timestamp=at,
                       amount=amount, country=country, channel=channel, device="mobile",
                       merchant_category=category, ip="10.1.2.3")


def test_the_burst_and_duplicate_windows_at_their_edges() -> None:
    """Per customer a purchase, then one exactly `burst_window_s` / `duplicate_window_s`
    after it or one second either side (and as a late row, as long before it), same
    amount, category and channel or one of them differing; then a burst of purchases
    each at the burst window's edge of the first."""
    config = CoreConfig(first_fit_after=10**9)
    knobs = Knobs(config)
    txs = []
    n = 0
    for window in (knobs.burst_window_s, knobs.duplicate_window_s):
        for delta in (window - 1.0, window, window + 1.0):
            for sign in (1, -1):
                for change in ({}, {"amount": 50.01}, {"category": "fuel"},
                               {"channel": "web"}):
                    cid = f"c{n}"
                    base = T0 + timedelta(days=n)
                    n += 1
                    txs.append(_tx(cid, 0, base))
                    txs.append(_tx(cid, 1, base + timedelta(seconds=sign * delta), **change))
                    txs.append(_tx(cid, 2, base + timedelta(seconds=2 * sign * delta)))
    base = T0 + timedelta(days=n)
    for j, seconds in enumerate((0.0, 100.0, 299.0, 300.0, 300.0, 301.0, 0.0, 600.0)):
        txs.append(_tx("burst", j, base + timedelta(seconds=seconds), amount=10.0 + j))
    seen = _run(txs, config)
    assert seen["dup"] > 10 and seen["duplicate"] > 10 and seen["burst"] > 0
    assert seen["late"] > 0


def _history(customer: str, m: int, night_at: list[int] | None = None) -> list[Transaction]:
    """`m` purchases a day apart at noon (or at the hours of `night_at`, one each)."""
    hours = night_at or []
    return [_tx(customer, i, T0.replace(hour=hours[i] if i < len(hours) else 12)
                + timedelta(days=i), amount=20.0 + i) for i in range(m)]


def test_the_night_edges_and_the_odd_hour_history() -> None:
    """After `odd_hour_min_history` - 1, at, + 1 daytime purchases, one at an edge of the
    night window (its start and its end, exactly and one second either side) or at the
    top of the hour before either edge, one second either side; and customers with a few
    night purchases (the counted night mass, its change weight computed). The
    night share allowed is raised so that 1 / (15 + 2) passes it (at the default 0.04 the
    rule needs 24 earlier purchases, whatever the minimum)."""
    for start, end in ((0, 5), (22, 3)):
        config = CoreConfig(first_fit_after=10**9, night_start_hour=start,
                            night_end_hour=end, odd_hour_max_share=0.1)
        knobs = Knobs(config)
        least = knobs.odd_hour_min_history
        txs: list[Transaction] = []
        days = 0
        for m in (least - 1, least, least + 1):
            for hour in (start - 1, start, end - 1, end):
                for second in (-1, 0, 1):
                    cid = f"c{m}-{hour}-{second}"
                    rows = _history(cid, m)
                    last = rows[-1].timestamp + timedelta(days=1)
                    at = last.replace(hour=hour % 24, minute=0, second=0) \
                        + timedelta(seconds=second)
                    rows.append(_tx(cid, m, at, amount=33.0))
                    txs += [r.model_copy(update={"timestamp": r.timestamp + timedelta(
                        days=days)}) for r in rows]
                    days += 1
        for nights in (1, 2, 5):  # a few nights among the history: the night mass
            cid = f"n{nights}"
            rows = _history(cid, least + 3, night_at=[(start + 1) % 24] * nights)
            rows.append(_tx(cid, 99, rows[-1].timestamp.replace(hour=start)
                            + timedelta(days=1)))
            txs += rows
        seen = _run(sorted(txs, key=lambda x: x.timestamp), config)
        assert seen["odd_hour"] > 5 and seen["change"] > 5
        assert seen["mass"] > 5 or not PYTHON_CORE


def test_a_country_hop_and_a_new_country() -> None:
    """A customer past `new_country_min_history` at home, then abroad within minutes (far,
    near, unknown), then back: travel, the rarities and both country rules."""
    config = CoreConfig(first_fit_after=10**9)
    txs = _history("h", 12)
    at = txs[-1].timestamp
    for j, (country, minutes) in enumerate((("US", 30), ("DE", 31), ("ZZ", 40),
                                            ("CH", 45), ("US", 45))):
        txs.append(_tx("h", 20 + j, at + timedelta(minutes=minutes), country=country,
                       amount=70.0 + j))
    seen = _run(txs, config)
    assert seen["impossible_travel"] > 0 and seen["new_country"] > 0


def test_held_night_purchases_abroad() -> None:
    """Purchases at night abroad, held (quarantined) as they come: the next ones count the
    held events' night hours and country (seen, recent) as the core does."""
    config = CoreConfig(first_fit_after=10**9)
    txs = _history("h", 20)
    at = txs[-1].timestamp.replace(hour=3) + timedelta(days=1)
    for j, (country, minutes) in enumerate((("US", 0), ("US", 10), ("CH", 20), ("US", 30))):
        txs.append(_tx("h", 30 + j, at + timedelta(minutes=minutes), country=country,
                       amount=400.0 + j))
    seen = _run(txs, config)
    assert seen["rows"] == 24 and seen["new_country"] == 1


# --- the rules on generated observations -------------------------------------------------

_VALUES = ["CH", "US", "grocery", "électronique " * 5, "app"]


def _observation(draw: Any) -> Observation:
    o = Observation()
    o.history = draw(st.integers(0, 20))
    o.amount_ratio = draw(st.sampled_from([4.99, 5.0, 5.01, 1.0, 300.0]))
    o.over_max = draw(st.sampled_from([math.log(2.0), math.log(2.0) - 1e-12, 0.0, 2.0]))
    o.amount_z = draw(st.sampled_from([6.0, 5.999, 12.0, -1.0]))
    o.hour = draw(st.integers(0, 23))
    o.night_total = draw(st.integers(0, 20))
    o.night_count = draw(st.integers(0, 20))
    o.night_share = draw(st.sampled_from([0.04, 0.0400001, 0.01, 0.5]))
    o.dup_age_s = draw(st.sampled_from([None, 0.0, 0.4, 119.5, 5399.0, 172800.0]))
    o.burst_count = draw(st.integers(1, 25))
    o.burst_span_s = draw(st.sampled_from([0.0, 0.5, 1.0, 119.6, 300.0]))
    o.travel_km = draw(st.sampled_from([0.0, 600.0, 600.5, 2500.0, 9000.0]))
    o.travel_dt_s = draw(st.sampled_from([0.0, 2.25, 3600.0, 9450.0, 86400.0 * 3, math.inf]))
    o.hop_rate = draw(st.sampled_from([0.15, 0.1500001, 0.01]))
    o.country_seen = draw(st.integers(0, 4))
    o.country_recent = draw(st.sampled_from([0.0, 0.15, 0.1499, 1.0]))
    o.novel_rate = draw(st.sampled_from([0.05, 0.0500001, 0.0]))
    o.country, o.prev_country, o.category = (draw(st.sampled_from(_VALUES))
                                             for _ in range(3))
    return o


def _check_rules(o: Observation, knobs: Knobs) -> dict[str, str]:
    """The kernel's rules on `o` as the core's (names, order, text); the core's."""
    obs = ko.empty()
    for name in ("history", "amount_ratio", "over_max", "amount_z", "hour", "night_total",
                 "night_count", "night_share", "burst_count", "burst_span_s", "travel_km",
                 "travel_dt_s", "hop_rate", "country_seen", "country_recent", "novel_rate"):
        obs[ko.FIELDS.index(name)] = getattr(o, name)
    obs[ko.DUP_AGE_S] = math.nan if o.dup_age_s is None else o.dup_age_s
    for name in ("country", "prev_country", "category"):
        obs[ko.FIELDS.index(name)] = _VALUES.index(getattr(o, name))
    fired = ko.rules(obs, kernel_knobs(knobs))
    want = apply_rules(o, knobs)
    assert list(ko.rule_reasons(fired, obs, _VALUES, knobs).items()) == list(want.items())
    return want


@settings(deadline=None)  # the first example compiles the kernel (or loads it)
@given(st.data())
def test_rules_on_generated_observations(data: Any) -> None:
    _check_rules(_observation(data.draw), Knobs(CoreConfig()))


#: Per rule, values of the fields it reads at its thresholds (the default knobs) and one
#: step either side: every combination is checked; the other fields are neutral.
THRESHOLDS: dict[str, dict[str, list[Any]]] = {
    "high_amount": {"amount_ratio": [4.99, 5.0, 5.01], "history": [4, 5, 6],
                    "over_max": [math.log(2.0) - 1e-12, math.log(2.0)],
                    "amount_z": [math.nextafter(6.0, 0.0), 6.0]},
    "odd_hour": {"hour": [23, 0, 4, 5], "night_total": [14, 15, 16],
                 "night_share": [0.04, math.nextafter(0.04, 1.0)]},
    "duplicate": {"dup_age_s": [None, 0.0, 119.4, 119.5, 5399.0, 172799.0, 172800.0]},
    "burst": {"burst_count": [3, 4, 11, 12, 13, 21, 111],
              "burst_span_s": [0.0, 0.99, 1.0, 119.5, 120.0, 5400.0]},
    # 2500 km: 1900 km beyond the slack at 800 km/h, 8550 s
    "impossible_travel": {"travel_km": [0.0, 600.0, 2500.0], "travel_dt_s": [
        8549.0, 8550.0, 8551.0], "hop_rate": [0.15, math.nextafter(0.15, 1.0)],
        "history": [0, 20], "country_seen": [0, 3, 4], "country_recent": [
            math.nextafter(0.15, 0.0), 0.15]},
    "new_country": {"country_seen": [0, 1], "history": [9, 10, 11],
                    "novel_rate": [0.05, math.nextafter(0.05, 1.0)]},
}
NEUTRAL: dict[str, Any] = {
    "history": 8, "amount_ratio": 1.0, "over_max": 0.0, "amount_z": 0.0, "hour": 12,
    "night_total": 0, "night_count": 0, "night_share": 0.5, "dup_age_s": None,
    "burst_count": 1, "burst_span_s": 0.0, "travel_km": 0.0, "travel_dt_s": 0.0,
    "hop_rate": 0.0, "country_seen": 1, "country_recent": 1.0, "novel_rate": 0.0,
    "country": "US", "prev_country": "CH", "category": _VALUES[3]}


@pytest.mark.parametrize("rule", list(THRESHOLDS))
def test_each_rule_at_its_thresholds(rule: str) -> None:
    knobs = Knobs(CoreConfig())
    fields = THRESHOLDS[rule]
    fired = 0
    for values in itertools.product(*fields.values()):
        o = Observation()
        for name, value in (*NEUTRAL.items(), *zip(fields, values, strict=True)):
            setattr(o, name, value)
        fired += rule in _check_rules(o, knobs)
    assert fired > 0


def _observation_slots() -> set[str]:
    """`Observation.__slots__` as its source declares it (a class compiled by mypyc does
    not expose them)."""
    import ast

    import detector.core.features as features_module

    source = Path(features_module.__file__).with_suffix(".py")
    if not source.exists():  # the compiled extension's module: its source beside the package
        source = Path(__file__).resolve().parents[2] / "detector" / "core" / "features.py"
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.ClassDef) and node.name == "Observation":
            for item in node.body:
                if isinstance(item, ast.Assign) and getattr(item.targets[0], "id", "") == \
                        "__slots__":
                    return set(ast.literal_eval(item.value))
    raise AssertionError("Observation.__slots__ not found")


def test_the_fields_are_named_once() -> None:
    assert len(set(ko.FIELDS)) == ko.SIZE == ko.ROUND_EXTRA + 1
    assert set(ko.FIELDS) <= _observation_slots()
    assert [ko.FIELDS.index(n) for n in ("history", "over_max", "travel_km")] == [
        ko.HISTORY, ko.OVER_MAX, ko.TRAVEL_KM]
