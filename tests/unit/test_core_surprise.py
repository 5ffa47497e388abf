"""Surprise terms: calibrated on a customer's own habits, learnt late from attacks, quickly
from a lasting change, and windows exact at their edges."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import pytest

import detector.core.surprise as surprise_module
from detector.core.calibration import Recalibration
from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.features import Observation, event_seconds, observe
from detector.core.habits import learn, learn_habits
from detector.core.knobs import Knobs
from detector.core.lowtail import amount_z
from detector.core.state import NOVELTY, CustomerState, Population
from detector.core.surprise import (
    LN2,
    LOGISTIC_S,
    TERMS,
    _neighbours,
    _over_days,
    _repeat,
    match_weights,
    poisson_tail,
    tail_pdf,
    tail_sf,
    terms,
    to_score,
)
from shared.schemas import Transaction

START = datetime(2025, 3, 3)
CONFIG = CoreConfig()
KNOBS = Knobs(CONFIG)


def tx(i: int, at: datetime, amount: float = 50.0, customer: str = "c1", country: str = "CH",
       category: str = "grocery", channel: str = "app", device: str = "mobile",
       ip: str = "192.168.1.7") -> Transaction:
    return Transaction(
        transaction_id=f"{customer}-{i}", customer_id=customer, timestamp=at, amount=amount,
        country=country, channel=channel, device=device, merchant_category=category, ip=ip,
    )


def scored_terms(rows: list[Transaction], config: CoreConfig = CONFIG) -> list[dict[str, float]]:
    """Each row's surprise terms, by name, as the engine computed them."""
    engine = PartitionEngine(config)
    engine.tap = []
    engine.process(rows)
    return [dict(zip(TERMS, raw, strict=True)) for raw, _, _, _ in engine.tap]


def habitual_stream(customers: int = 30, per_customer: int = 160, seed: int = 3
                    ) -> list[Transaction]:
    """Customers whose every event is drawn from their own fixed habits (no anomaly):
    log amounts logistic around their level, categories/channels/hours from their own
    distributions, one device and network."""
    rng = random.Random(seed)
    rows = []
    for c in range(customers):
        level = math.log(rng.uniform(20, 200))
        spread = rng.uniform(0.2, 0.5)
        cats = rng.sample(["grocery", "fuel", "restaurant", "fashion"], 3)
        weights = [0.6, 0.3, 0.1]
        hours = [rng.randint(8, 20) for _ in range(4)]
        t = START + timedelta(hours=rng.uniform(0, 24))
        for i in range(per_customer):
            t += timedelta(hours=rng.expovariate(1 / 11.0))
            at = t.replace(hour=rng.choice(hours), minute=rng.randrange(60))
            u = rng.random()
            log_amount = level + spread / 1.349 * 1.349 * LOGISTIC_S * math.log(u / (1 - u))
            rows.append(tx(i, at, round(math.exp(log_amount), 2), customer=f"h{c}",
                           category=rng.choices(cats, weights)[0],
                           channel=rng.choice(["app", "web"])))
    rows.sort(key=lambda r: r.timestamp)
    return rows


def test_each_term_is_a_calibrated_tail_probability() -> None:
    """On data drawn from the customers' own habits, share(surprise > s) is about e^-s
    (at most that, within sampling noise, once the habit is known)."""
    rows = habitual_stream()
    terms = scored_terms(rows)
    count: dict[str, int] = {}
    kept = []
    for row, values in zip(rows, terms, strict=True):
        count[row.customer_id] = count.get(row.customer_id, 0) + 1
        if count[row.customer_id] > 40:  # an established habit
            kept.append(values)
    for name in ("amount_high", "amount_low"):
        v = np.array([k[name] for k in kept])
        for s in (1.0, 2.0, 3.0):
            share = float((v > s).mean())
            assert 0.5 * math.exp(-s) <= share <= 1.5 * math.exp(-s), (name, s, share)
    for name in ("category", "hour", "device", "ip_network", "country"):
        v = np.array([k[name] for k in kept])
        for s in (2.0, 3.0, 4.0):
            assert float((v > s).mean()) <= 1.5 * math.exp(-s), (name, s)


def test_tail_and_poisson_helpers_are_probabilities() -> None:
    assert tail_sf(0.0) == pytest.approx(0.5)
    assert tail_sf(0.6745) == pytest.approx(0.25, rel=1e-3)  # quartiles of a unit normal
    assert tail_sf(-50.0) == pytest.approx(1.0)
    assert poisson_tail(0, 3.0) == 1.0
    assert poisson_tail(1, 0.5) == pytest.approx(1 - math.exp(-0.5))
    assert poisson_tail(12, 0.01) == pytest.approx(0.01**12 / math.factorial(12), rel=1e-3)
    assert to_score(0.0, KNOBS) == 0.0
    assert to_score(CONFIG.score_half, KNOBS) == pytest.approx(0.5)


def _regular(n: int, customer: str = "c1", hours: tuple[int, ...] = (9, 12, 15, 18),
             device: str = "mobile") -> list[Transaction]:
    return [tx(i, START + timedelta(days=i, hours=hours[i % len(hours)], minutes=i % 50),
               amount=40.0 + (i % 7) * 3.1, customer=customer, device=device)
            for i in range(n)]


def _crowd(n: int = 10) -> list[Transaction]:
    return [r for c in range(n) for r in _regular(40, customer=f"p{c}")]


def test_an_attack_does_not_teach_the_profile() -> None:
    """A takeover's second purchase on the new device finds it still unknown; after the
    hold the device is learnt."""
    base = sorted([*_crowd(), *_regular(40)], key=lambda r: r.timestamp)
    end = base[-1].timestamp + timedelta(days=1)
    attack = [tx(100, end, 400.0, device="emulator", channel="web", ip="81.2.3.4"),
              tx(101, end + timedelta(minutes=20), 380.0, device="emulator", channel="web",
                 ip="81.2.3.4"),
              tx(102, end + timedelta(hours=5), 45.0, device="emulator", ip="81.2.3.4")]
    terms = scored_terms([*base, *attack])
    first, second, later = terms[-3], terms[-2], terms[-1]
    assert first["device"] > CONFIG.surprise_floor + 2
    assert second["device"] == pytest.approx(first["device"], abs=0.5)
    assert later["device"] < second["device"] - 1.0


def test_a_lasting_night_shift_stops_surprising_after_a_few_nights() -> None:
    base = sorted([*_crowd(), *_regular(60)], key=lambda r: r.timestamp)
    end = base[-1].timestamp.replace(hour=0) + timedelta(days=1)
    nights = [tx(200 + k, end + timedelta(days=k, hours=2, minutes=10 * k), 45.0)
              for k in range(6)]
    terms = scored_terms([*base, *nights])
    hour = [t["hour"] for t in terms[-6:]]
    assert hour[0] > CONFIG.surprise_floor + 2
    assert max(hour[3:]) <= CONFIG.surprise_floor


@pytest.mark.parametrize(("delta", "inside"), [(-1, True), (0, True), (1, False)])
def test_repeat_window_edge(delta: int, inside: bool) -> None:
    """A similar amount exactly `repeat_window_s` later still counts; one second more not."""
    base = sorted([*_crowd(), *_regular(30)], key=lambda r: r.timestamp)
    end = base[-1].timestamp + timedelta(days=1)
    pair = [tx(300, end, 333.0, category="fashion"),
            tx(301, end + timedelta(seconds=CONFIG.repeat_window_s + delta), 334.0,
               category="fuel", channel="web")]
    # the hour's window alone (the test over days would judge these two too)
    terms = scored_terms([*base, *pair], CONFIG.model_copy(update={"similar_window_s": 0.0}))
    assert (terms[-1]["repeat"] > 0) is inside


def test_a_repeat_tied_at_the_cap_names_the_larger_count() -> None:
    """Purchases of 44 in five categories: by the fifth, 2 and 4 earlier ones are each as
    improbable as the cap allows (the same value, 12 - ln 3); the reason names the larger
    count, the stronger evidence an auditor can check."""
    base = sorted([*_crowd(), *_regular(30)], key=lambda r: r.timestamp)
    end = base[-1].timestamp + timedelta(days=1)
    cats = ("fashion", "fuel", "restaurant", "travel", "electronics")
    burst = [tx(500 + k, end + timedelta(minutes=5 * k + 5 * (k == 4)), 44.0, category=c)
             for k, c in enumerate(cats)]
    engine = PartitionEngine(CONFIG)
    engine.tap = []
    engine.process([*base, *burst])
    reasons = [kept for _, _, kept, _ in engine.tap]
    assert reasons[-1]["repeat"] == "5 purchases of 44.00 each within 60 min"


@pytest.mark.parametrize(("delta", "counted"), [(-1, True), (0, True), (1, False)])
def test_rate_window_edge(delta: int, counted: bool) -> None:
    """An earlier purchase exactly at the edge of the shortest activity window counts."""
    window = CONFIG.rate_windows_s[0]
    config = CONFIG.model_copy(update={"rate_windows_s": (window,)})
    base = sorted([*_crowd(), *_regular(30)], key=lambda r: r.timestamp)
    end = base[-1].timestamp + timedelta(days=1)
    pair = [tx(400, end, 41.0), tx(401, end + timedelta(seconds=window + delta), 52.0)]
    terms = scored_terms([*base, *pair], config)
    assert (terms[-1]["rate"] > 0) is counted


def test_a_span_under_a_second_counts_as_one_second() -> None:
    """The activity term's span is at least 1 s: two purchases in the same second are as
    surprising as two 1 s apart (not certain-to-be-impossible), and 2 s apart less so."""
    base = sorted([*_crowd(), *_regular(30)], key=lambda r: r.timestamp)
    end = base[-1].timestamp + timedelta(days=1)

    def rate_after(seconds: float) -> float:
        pair = [tx(400, end, 41.0), tx(401, end + timedelta(seconds=seconds), 52.0)]
        return scored_terms([*base, *pair])[-1]["rate"]

    one = rate_after(1.0)
    assert CONFIG.surprise_floor < one < CONFIG.surprise_cap
    assert rate_after(0.0) == rate_after(0.4) == one
    assert rate_after(2.0) < one


def test_dormancy_grows_with_the_silence() -> None:
    base = sorted([*_crowd(), *_regular(30)], key=lambda r: r.timestamp)
    end = base[-1].timestamp
    rows = [*base, tx(500, end + timedelta(days=60), 45.0)]
    back = scored_terms(rows)[-1]["dormancy"]
    assert back > CONFIG.surprise_floor + 2


# --- recalibration: where a term's tail edge lies (detector/core/calibration.py) ------------

def _calibrated(tail: dict[float, int], rest: float = 0.5) -> Recalibration:
    """A recalibration after its first rescale (2 x EVERY rows) of the first term: `tail`
    maps values to their number of rows, every other row is `rest` (other terms 0)."""
    rows = 2 * Recalibration.EVERY
    values = [v for v, n in tail.items() for _ in range(n)]
    values += [rest] * (rows - len(values))
    cal = Recalibration(12.0)
    for v in values:
        cal.learn([v] + [0.0] * (len(TERMS) - 1))
    assert cal.total == rows >= Recalibration.MIN_ROWS
    return cal


def test_a_terms_edge_is_where_the_rows_counted_from_the_top_first_reach_its_share() -> None:
    """512 rows: e^-3 of them is 25.5, e^-4 is 9.4. With 25 rows in the top bin the e^-3
    edge is the next bin that holds a row; with 26 it is the top bin itself."""
    assert 25 < 2 * Recalibration.EVERY * math.exp(-3.0) < 26
    below = _calibrated({3.55: 25, 3.25: 1})
    assert below.shapes[0] == [[pytest.approx(3.2), 3.0], [pytest.approx(3.5), 3.5]]
    at = _calibrated({3.55: 26, 3.25: 1})
    assert at.shapes[0] == [[pytest.approx(3.5), 3.0]]  # the e^-4 edge is the same bin


def test_a_terms_edge_counts_every_row_above_it_however_spread_over_bins() -> None:
    """Five rows in each of six bins (no bin alone holds e^-4 of the rows): the e^-3 edge
    is the sixth bin from the top (30 rows), the e^-4 edge the second (10 rows)."""
    cal = _calibrated({4.55: 5, 4.45: 5, 4.35: 5, 4.25: 5, 4.15: 5, 4.05: 5})
    assert cal.shapes[0] == [[pytest.approx(4.0), 3.0], [pytest.approx(4.4), 4.0]]
    assert cal.apply([4.0] + [0.0] * (len(TERMS) - 1))[0] == pytest.approx(3.0)


def test_a_low_edge_is_a_fixed_point_of_the_map_and_starts_its_next_piece() -> None:
    """10 rows of 512 at 5.0 (e^-4 of them, not e^-3): the e^-3 edge is the bin of the
    other rows, 0.5, so the map is the identity up to 0.5, then linear to (5.0, 4.0)."""
    cal = _calibrated({5.05: 10})
    assert cal.shapes[0] == [[pytest.approx(0.5), pytest.approx(0.5)],
                             [pytest.approx(5.0), 4.0]]
    rest = [0.0] * (len(TERMS) - 1)
    assert cal.apply([0.4, *rest])[0] == pytest.approx(0.4)
    assert cal.apply([2.75, *rest])[0] == pytest.approx(0.5 + 2.25 * 3.5 / 4.5)
    assert cal.apply([5.0, *rest])[0] == pytest.approx(4.0)
    assert cal.scales[0] == pytest.approx(3.5 / 4.5)


def test_a_term_mostly_zero_is_still_mapped_at_the_level_its_tail_exceeds() -> None:
    """Ten rows of 512 at 5.0, the rest 0: no e^-3 edge above 0 (that level is skipped),
    but the e^-4 edge, 5.0, is above 4: the term is mapped down there."""
    cal = _calibrated({5.05: 10}, rest=0.0)
    assert cal.shapes[0] == [[pytest.approx(5.0), 4.0]]
    assert cal.apply([5.0] + [0.0] * (len(TERMS) - 1))[0] == pytest.approx(4.0)


def test_a_term_too_loud_at_one_level_only_is_mapped_down() -> None:
    """The e^-3 edge (3.5) is above 3, the e^-4 edge (3.8) below 4: the term still
    surprises too often at e^-3, so it is mapped, through both points."""
    cal = _calibrated({3.85: 10, 3.55: 20})
    assert cal.shapes[0] == [[pytest.approx(3.5), 3.0], [pytest.approx(3.8), pytest.approx(3.8)]]
    assert cal.apply([3.5] + [0.0] * (len(TERMS) - 1))[0] == pytest.approx(3.0)


def test_beyond_a_single_point_the_map_keeps_its_slope_from_the_origin() -> None:
    """30 rows of 512 at 3.2: one point, (3.2, 3.0); below and beyond it the map is
    the line through the origin and that point (slope 3 / 3.2)."""
    cal = _calibrated({3.25: 30})
    assert cal.shapes[0] == [[pytest.approx(3.2), 3.0]]
    assert cal.scales[0] == pytest.approx(3.0 / 3.2)
    rest = [0.0] * (len(TERMS) - 1)
    assert cal.apply([1.6, *rest])[0] == pytest.approx(1.5)
    assert cal.apply([6.4, *rest])[0] == pytest.approx(6.0)


@pytest.mark.parametrize("loud", [0, 3, len(TERMS) - 1])
def test_each_term_is_recalibrated_on_its_own_whatever_its_place(loud: int) -> None:
    """One term surprises too often, the others never: only it is mapped, wherever it
    stands in the term vector."""
    cal = Recalibration(12.0)
    for i in range(2 * Recalibration.EVERY):
        row = [0.5] * len(TERMS)
        row[loud] = 3.55 if i % 10 == 0 else 0.5
        cal.learn(row)
    assert [bool(s) for s in cal.shapes] == [i == loud for i in range(len(TERMS))]
    assert cal.scales[loud] < 1.0


def test_beyond_the_last_point_the_map_rises_at_most_as_fast_as_the_value() -> None:
    """Points (4.0, 3.0) and (4.5, 4.0): the last piece climbs with slope 2, but beyond
    4.5 the map keeps slope 1 (it never catches up with the raw value)."""
    cal = _calibrated({4.55: 10, 4.05: 20})
    assert cal.shapes[0] == [[pytest.approx(4.0), 3.0], [pytest.approx(4.5), 4.0]]
    assert cal.scales[0] == 1.0
    assert cal.apply([5.0] + [0.0] * (len(TERMS) - 1))[0] == pytest.approx(4.5)


def test_values_at_and_beyond_the_cap_count_in_the_top_bin() -> None:
    """Recalibration(12.0): 30 rows of 512 at 12.0 or far beyond it: all in the top
    bin, so the e^-3 edge is the cap itself."""
    cal = _calibrated({12.0: 15, 30.0: 15})
    assert cal.hist[0][-1] == 30
    assert cal.shapes[0] == [[pytest.approx(12.0), 3.0]]


def test_a_negative_value_counts_in_the_bottom_bin() -> None:
    """Terms are not negative, but a negative value must not index the histogram from
    its top end (it would count as a large surprise there)."""
    cal = Recalibration(12.0)
    cal.learn([-0.5] + [0.0] * (len(TERMS) - 1))
    assert cal.hist[0][0] == 1 and sum(cal.hist[0]) == 1


def test_the_counts_halve_rounding_down_exactly_at_the_window(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A moving window (WINDOW set to 1001 here): at 1000 rows the counts stand, at 1001
    every count halves, rounding down, and the total is their sum."""
    monkeypatch.setattr(Recalibration, "WINDOW", 1001)
    cal = Recalibration(12.0)
    for i in range(1001):
        cal.learn([1.55 if i % 2 else 0.55] + [0.0] * (len(TERMS) - 1))
        if i == 999:
            assert (cal.total, cal.hist[0][5], cal.hist[0][15]) == (1000, 500, 500)
    assert (cal.hist[0][5], cal.hist[0][15]) == (250, 250)  # 501 // 2 and 500 // 2
    assert all(type(n) is int for n in cal.hist[0])
    assert cal.total == 500 == sum(cal.hist[1])


def _spread_customer(n: int = 40, customer: str = "c1") -> list[Transaction]:
    """A customer who buys in four categories through two channels in turn (each pair
    of category and channel 1 in 8) at about 50."""
    cats, chans = ("grocery", "fuel", "restaurant", "fashion"), ("app", "web")
    return [tx(i, START + timedelta(days=i, hours=9 + i % 9), amount=40.0 + (i % 7) * 3.1,
               customer=customer, category=cats[i % 4], channel=chans[(i // 4) % 2])
            for i in range(n)]


def test_a_similar_amount_bought_the_same_way_repeats_more_than_one_bought_otherwise() -> None:
    """A customer whose purchases spread over categories and channels: a similar amount in
    the same category and channel minutes later (a split payment) is rarer by coincidence
    than one bought otherwise, by the chance of that match (1 in 8 here: x 2 pi = 1/4 for
    a match, x 2 (1 - pi) = 7/4 otherwise, ln 7 = 1.95 apart); before, only the amounts
    were compared, and both were the same."""
    base = sorted([*_crowd(), *_spread_customer()], key=lambda r: r.timestamp)
    end = base[-1].timestamp + timedelta(days=1)

    def repeat(category: str, channel: str) -> float:
        pair = [tx(600, end, 52.0, category=category, channel=channel),
                tx(601, end + timedelta(minutes=10), 53.0, category="fuel", channel="web")]
        return scored_terms([*base, *pair])[-1]["repeat"]

    same, other = repeat("fuel", "web"), repeat("grocery", "app")
    assert other > 0.0
    assert same - other == pytest.approx(math.log(7.0), abs=0.2)


@pytest.mark.parametrize(("app", "web", "weights"), [
    (50, 51, (100 / 101, 102 / 101)),  # a match 50 in 101: less likely than not, evidence
    (50, 50, (1.0, 1.0)),  # as likely as not: no evidence either way
    (51, 50, (1.0, 1.0)),
])
def test_a_match_weighs_a_repeat_only_when_less_likely_than_not(
        app: int, web: int, weights: tuple[float, float]) -> None:
    """`match_weights` at its edge, pi = 1/2 (here the channel share, the category being
    the customer's only one; no population prior): one event either side."""
    st = CustomerState()
    st.categories, st.channels = {"grocery": 1}, {"app": app, "web": web}
    config = CONFIG.model_copy(update={"prior_weight": 0.0})
    got = match_weights("grocery", "app", st, Population(), Knobs(config))
    assert got == pytest.approx(weights, rel=1e-12)


@pytest.mark.parametrize(("categories", "channels", "weights"), [
    # fuel and web new to the customer: pi = (0 + 2 x 0.25) / 5 x (0 + 2 x 0.55) / 4
    ({"grocery": 3}, {"app": 2}, (0.055, 1.945)),
    # once each: pi = (1 + 2 x 0.25) / 6 x (2 + 2 x 0.55) / 6
    ({"grocery": 3, "fuel": 1}, {"app": 2, "web": 2}, (31 / 120, 209 / 120)),
])
def test_a_match_is_shrunk_to_the_populations_shares_of_category_and_channel(
        categories: dict[str, int], channels: dict[str, int],
        weights: tuple[float, float]) -> None:
    """Each share is the customer's count plus `prior_weight` (2 here) x the population's
    smoothed share (fuel 2.5 / 10, web 5.5 / 10), over their events plus `prior_weight`;
    a value new to the customer counts 0."""
    pop = Population()
    pop.total = 9
    pop.tables["category"]["fuel"] = 2
    pop.tables["channel"]["web"] = 5
    st = CustomerState()
    st.categories, st.channels = categories, channels
    config = CONFIG.model_copy(update={"prior_weight": 2.0})
    got = match_weights("fuel", "web", st, pop, Knobs(config))
    assert got == pytest.approx(weights, rel=1e-12)


_T = 10_000.0  # the judged purchase's time (s) in the direct tests of the repeat term


def _one_way_customer(window: list[tuple[float, float, str, str]], n: int = 100,
                      exact: int = 0) -> CustomerState:
    """A customer who always buys groceries in the app (a match is likelier than not, so
    both match weights are 1), with this window of purchases (time, amount, category,
    channel), `n` events and `exact` exact repeats so far (the same purchases in the
    window over days)."""
    st = CustomerState()
    st.n, st.exact = n, exact
    st.categories, st.channels = {"grocery": n}, {"app": n}
    st.window = window
    st.days = list(window)
    return st


def _scale_for(density: float) -> float:
    """The amount scale at which a purchase at the customer's level (z = 0) has this
    density of log amounts."""
    return tail_pdf(0.0) / density


def test_the_neighbours_are_every_purchase_of_the_window_at_least_half_a_cent_apart(
        ) -> None:
    """Amounts within half a cent of 100 are 0.005 / 100 apart in log (equal); zero and
    refund amounts are no neighbours (and no error), a small purchase is one; only the
    same amount, category and channel counts as an exact repeat, however many there are."""
    grain = 0.005 / 100.0
    st = _one_way_customer([
        (_T - 3601, 100.0, "grocery", "app"),  # outside the hour
        (_T - 3600, 100.0, "grocery", "app"),  # at its edge: exact
        (_T - 60, 100.004, "grocery", "app"),  # within half a cent: equal, not exact
        (_T - 50, 0.0, "grocery", "app"),
        (_T - 40, -5.0, "grocery", "app"),
        (_T - 30, 0.8, "fuel", "web"),
        (_T - 20, 100.0, "grocery", "app"),  # exact
        (_T - 10, 100.0, "grocery", "web"),  # another channel: not exact
    ])
    buy = tx(9, START, 100.0)
    near, exact = _neighbours(buy.amount, buy.merchant_category, buy.channel, _T, st,
                              Population(), KNOBS, CONFIG.repeat_window_s)
    assert [other for _, other in near] == [100.0, 100.0, 100.0, 100.004, 0.8]
    assert [gap for gap, _ in near] == pytest.approx([grain] * 4 + [math.log(125.0)],
                                                     rel=1e-12)
    assert exact == 2


def _repeat_of(st: CustomerState, amount: float, density: float,
               config: CoreConfig = CONFIG) -> tuple[float, dict[str, str]]:
    reasons: dict[str, str] = {}
    buy = tx(9, START, amount)
    value = _repeat(amount, buy.merchant_category, buy.channel, _T, st, Population(),
                    0.0, _scale_for(density), Knobs(config), reasons)
    return value, reasons


@pytest.mark.parametrize(("neighbour", "density", "p_sim"), [
    (45.0, 2.0, 4.0 * math.log(45 / 44)),  # 2 x gap x density
    (440.0, 1.0, 1.0),  # 2 x ln 10 x 1 = 4.6: a probability, at most 1
])
def test_a_similar_amount_is_as_surprising_as_one_that_close_by_coincidence(
        neighbour: float, density: float, p_sim: float) -> None:
    """One earlier purchase: the chance that it falls within the gap either side of this
    amount is 2 x gap x the density of the customer's amounts here (at most 1); the term
    is -ln of it (as a Poisson tail), small when the amounts are far apart."""
    st = _one_way_customer([(_T - 600, neighbour, "fuel", "web")])
    value, _ = _repeat_of(st, 44.0, density)
    assert value == pytest.approx(-math.log(1.0 - math.exp(-p_sim)), rel=1e-9)


def test_the_strongest_of_the_nearest_counts_decides_not_the_last_tested() -> None:
    """Two earlier purchases, 45 and 60 after 44: the nearest alone is the stronger
    evidence (k = 1), the two together weaker but still positive (k = 2); each pays
    ln 2 for the two tests, and the term is the strongest."""
    st = _one_way_customer([(_T - 600, 60.0, "fuel", "web"), (_T - 300, 45.0, "fuel", "web")])
    value, reasons = _repeat_of(st, 44.0, 1.0, CONFIG.model_copy(update={"surprise_floor": 0.0}))
    p1, p2 = 2 * math.log(45 / 44), 2 * math.log(60 / 44)
    s1 = -math.log(poisson_tail(1, 2 * p1)) - math.log(2)
    s2 = -math.log(poisson_tail(2, 2 * p2)) - math.log(2)
    assert s1 > s2 > 0.0
    assert value == pytest.approx(s1, rel=1e-12)
    assert reasons["repeat"] == ("2 similar amounts within 60 min: 44.00 to 45.00, this one "
                                 "44.00")


def test_a_tie_under_a_low_cap_names_the_larger_count_too() -> None:
    """With `surprise_cap` 1.5, two purchases of 44 in another category are each at the
    cap: the same value 1.5 - ln 2 = 0.81 for one and for two of them. The reason names
    the larger count (as at the default cap), here where the tie is below 1."""
    config = CONFIG.model_copy(update={"surprise_cap": 1.5, "surprise_floor": 0.5})
    st = _one_way_customer([(_T - 600, 44.0, "fuel", "web"), (_T - 300, 44.0, "fuel", "web")])
    value, reasons = _repeat_of(st, 44.0, 1.0, config)
    assert value == pytest.approx(1.5 - math.log(2), rel=1e-12)
    assert reasons["repeat"] == "3 purchases of 44.00 each within 60 min"


@pytest.mark.parametrize(("exact", "n", "chance", "p_ex"), [
    # a quarter of the chance of an amount within half a cent (the customer repeats
    # exactly (0 + 0.01 x 3) / (997 + 3) = 0.00003 of the time)
    (0, 997, 0.4, 0.1),
    (0, 997, 1.6, 0.25),  # a quarter of that chance, itself at most 1
    # the customer's own rate of exact repeats, shrunk: (19 + 0.01 x 3) / (97 + 3)
    (19, 97, 0.4, 0.1903),
])
def test_an_exact_repeat_is_judged_by_the_larger_of_its_chance_and_the_customers_rate(
        exact: int, n: int, chance: float, p_ex: float) -> None:
    """The same amount, category and channel as one purchase of the hour: -ln P(a
    repeat) for P the larger of a quarter of the chance of an amount within half a cent
    (2 x 0.005 / amount x density, at most 1) and the customer's smoothed rate of exact
    repeats. Both are below the similar amount's own chance here (the chance itself, at
    most 1), so the exact repeat decides."""
    st = _one_way_customer([(_T - 600, 44.0, "grocery", "app")], n=n, exact=exact)
    density = chance / (2 * 0.005 / 44.0)
    value, reasons = _repeat_of(st, 44.0, density,
                                CONFIG.model_copy(update={"surprise_floor": 0.0}))
    assert value == pytest.approx(-math.log(1.0 - math.exp(-p_ex)), rel=1e-9)
    assert value > -math.log(1.0 - math.exp(-min(1.0, chance))) + 0.3
    assert reasons["repeat"] == "repeats an amount of 44 within 60 min"


def habitual_rows(seed: int, per_customer: int, gap: Callable[[random.Random], timedelta]
                  ) -> list[Transaction]:
    """40 customers' purchases drawn from their own habits (a logistic log amount around a
    level, 4 categories with fixed shares, any of 3 channels, all independent), `gap(rng)`
    apart, in time order."""
    rng = random.Random(seed)
    rows = []
    for c in range(40):
        level, spread = math.log(rng.uniform(20, 200)), rng.uniform(0.2, 0.5)
        cats = rng.sample(["grocery", "fuel", "restaurant", "fashion", "travel"], 4)
        t = START + timedelta(hours=rng.uniform(0, 24))
        for i in range(per_customer):
            t += gap(rng)
            u = rng.random()
            amount = math.exp(level + spread * LOGISTIC_S * math.log(u / (1 - u)))
            rows.append(tx(i, t, round(amount, 2), customer=f"h{c}",
                           category=rng.choices(cats, [0.4, 0.3, 0.2, 0.1])[0],
                           channel=rng.choice(["app", "web", "pos"])))
    rows.sort(key=lambda r: r.timestamp)
    return rows


def test_the_repeat_term_is_a_calibrated_tail_probability() -> None:
    """On purchases drawn from the customers' own habits (amounts, categories and channels
    independent), often minutes apart, among the events with an earlier one in the
    window: share(repeat > s) is at most about e^-s (the match weights keep it valid)."""
    rows = habitual_rows(5, 120, lambda rng: timedelta(minutes=rng.expovariate(1 / 40.0)))
    terms = scored_terms(rows)
    count: dict[str, int] = {}
    last: dict[str, datetime] = {}
    kept = []
    for row, values in zip(rows, terms, strict=True):
        count[row.customer_id] = count.get(row.customer_id, 0) + 1
        before = last.get(row.customer_id)
        last[row.customer_id] = row.timestamp
        if count[row.customer_id] > 20 and before is not None and (
                row.timestamp - before).total_seconds() <= CONFIG.repeat_window_s:
            kept.append(values["repeat"])
    v = np.array(kept)
    assert len(v) > 2000
    for s in (2.0, 3.0, 4.0):
        assert float((v > s).mean()) <= 1.3 * math.exp(-s), (s, float((v > s).mean()))


def test_the_repeat_over_days_is_a_calibrated_tail_probability() -> None:
    """On purchases drawn from the customers' own habits, hours apart (none within the
    hour's window: the repeat term is the test over days alone), share(repeat > s) is at
    most about e^-s / 2 (the test pays ln 2 for its second window), at most e^-s."""
    rows = habitual_rows(11, 150, lambda rng: timedelta(hours=1.01 + rng.expovariate(1 / 6.0)))
    terms = scored_terms(rows)
    count: dict[str, int] = {}
    kept = []
    for row, values in zip(rows, terms, strict=True):
        count[row.customer_id] = count.get(row.customer_id, 0) + 1
        if count[row.customer_id] > 30:  # an established habit, a full window
            kept.append(values["repeat"])
    v = np.array(kept)
    assert len(v) > 4000
    assert float((v > 0.0).mean()) > 0.05  # the test over days does run
    for s in (1.0, 2.0, 3.0, 4.0):
        assert float((v > s).mean()) <= math.exp(-s), (s, float((v > s).mean()))


def _pair(gap_s: float, amounts: tuple[float, float] = (333.0, 334.0),
          config: CoreConfig = CONFIG) -> dict[str, float]:
    """The terms of the second of two purchases (by default about 7x a daily customer's
    usual amount, 333 and 334 after 40 to 59), `gap_s` apart with nothing between them."""
    base = sorted([*_crowd(), *_regular(30)], key=lambda r: r.timestamp)
    end = base[-1].timestamp + timedelta(days=1)
    pair = [tx(300, end, amounts[0], category="fashion"),
            tx(301, end + timedelta(seconds=gap_s), amounts[1], category="fuel",
               channel="web")]
    return scored_terms([*base, *pair], config)[-1]


@pytest.mark.parametrize(("delta", "inside"), [(-1, True), (0, True), (1, False)])
def test_similar_window_edge(delta: int, inside: bool) -> None:
    """A similar high amount exactly `similar_window_s` (7 days) later still counts; one
    second more not (the customer's window keeps it exactly that long)."""
    terms = _pair(CONFIG.similar_window_s + delta)
    assert (terms["repeat"] > 0) is inside
    if inside:  # one neighbour: the cap less ln 2 (this one is 7x the usual)
        assert terms["repeat"] == pytest.approx(CONFIG.surprise_cap - LN2)


def test_the_repeat_over_days_is_off_at_a_window_of_zero_and_the_day_is_kept() -> None:
    """`similar_window_s` 0: a similar high amount two days later is no repeat (the
    window keeps a day, as before the test over days); on by default, it is one."""
    off = CONFIG.model_copy(update={"similar_window_s": 0.0})
    assert Knobs(off).days_s == 0.0 and KNOBS.days_s == CONFIG.similar_window_s
    assert _pair(2 * 86_400.0, config=off)["repeat"] == 0.0
    assert _pair(2 * 86_400.0)["repeat"] > CONFIG.surprise_floor


@pytest.mark.parametrize(("gap_s", "kept"), [(7 * 86_400 - 1, 2), (7 * 86_400, 2),
                                             (7 * 86_400 + 1, 1)])
def test_the_window_keeps_an_event_exactly_the_similar_window_old(gap_s: int,
                                                                   kept: int) -> None:
    st, pop = CustomerState(), Population()
    for i, seconds in enumerate((0, gap_s)):
        row = tx(i, START + timedelta(seconds=seconds), 12.0 + i)
        t = event_seconds(row)
        learn(t, st, pop, KNOBS, observe(row, t, st, pop, KNOBS), 0.0, 0.0)
    assert len(st.days) == kept
    assert len(st.window) == 1  # the day's window, read by every other term, keeps a day


@pytest.mark.parametrize(("amounts", "judged"), [((30.0, 30.01), False),
                                               ((80.0, 80.01), True)])
def test_over_days_only_an_amount_above_the_level_is_judged(
        amounts: tuple[float, float], judged: bool) -> None:
    """Over days only amounts above the customer's level (z > 0; theirs is about 49) are
    judged: two nearly equal purchases six hours apart below it are no repeat (everyday
    purchases repeat), above it they are."""
    terms = _pair(6 * 3600.0, amounts)
    assert (terms["repeat"] > 0) is judged


def _above_the_level(amounts: list[float], days: int) -> list[dict[str, float]]:
    """The terms of purchases of `amounts` in turn, one a day (two hours after the daily
    purchase) for `days` days, by a daily customer of about 49 after a month."""
    base = _regular(30 + days)
    end = base[29].timestamp
    extra = [tx(500 + j, end + timedelta(days=j + 1, hours=2), amounts[j % len(amounts)],
                ip="192.168.1.8") for j in range(days)]
    rows = sorted([*_crowd(), *base, *extra], key=lambda r: r.timestamp)
    terms = scored_terms(rows)
    return [terms[i] for i, r in enumerate(rows) if r.ip == "192.168.1.8"]


def test_over_days_fixed_prices_in_turn_are_no_repeat() -> None:
    """A customer who pays three fixed prices in turn (a subscription, fares), well above
    their level, every day for two weeks: equal amounts are left to the exact test, and
    the distinct prices (20% and more apart) are no similar amounts once seen, so after
    the first round no purchase is a repeat over days (with equal amounts counted, every
    one reached the cap)."""
    terms = _above_the_level([79.90, 99.00, 119.00], 14)
    assert len(terms) == 14
    assert all(v["repeat"] < 0.5 for v in terms[3:])
    assert all(v["repeat"] <= CONFIG.surprise_floor for v in terms[3:])


def test_over_days_similar_distinct_amounts_still_repeat() -> None:
    """Structuring: four distinct amounts within 4% of each other, about 4x the customer's
    level, on four days: from the second on, each is a repeat over days near the cap."""
    terms = _above_the_level([188.0, 193.5, 190.2, 195.9], 4)
    assert terms[0]["repeat"] == 0.0
    assert all(v["repeat"] > CONFIG.surprise_cap - 3.0 for v in terms[1:])


def test_over_days_an_equal_amount_is_left_to_the_exact_test() -> None:
    """Only the equal amount (to the cent) is left out over days: 80.00 after 80.00 six
    hours earlier is no repeat over days (the exact test reads an hour), 80.01 is."""
    assert _pair(6 * 3600.0, (80.0, 80.0))["repeat"] == 0.0
    assert _pair(6 * 3600.0, (80.0, 80.01))["repeat"] > CONFIG.surprise_floor


def test_over_days_the_larger_of_the_two_windows_decides_with_its_reason() -> None:
    """A neighbour 0.1% away six hours earlier: the test over days is -ln P(Poisson(p)
    >= 1) less ln 2, p the logistic's chance of an amount within that log gap either side
    of z (the gap in units of the scale), with its reason over 7 days; a stronger hour's
    value stands (and keeps its reason)."""
    st = _one_way_customer([(_T - 6 * 3600, 44.04, "grocery", "app")])
    reasons: dict[str, str] = {}
    g = math.log(44.04 / 44.0) / _scale_for(1.0)
    p = tail_sf(0.1 - g) - tail_sf(0.1 + g)
    assert p == pytest.approx(2 * g * tail_pdf(0.1), rel=1e-3)  # about 2 x gap x density
    expected = -math.log(poisson_tail(1, p)) - LN2
    assert _over_days(0.5, 44.0, "grocery", "app", _T, st, Population(), 0.1, 0.1,
                      0.0, _scale_for(1.0), KNOBS, reasons) == pytest.approx(expected, rel=1e-12)
    assert reasons["repeat"] == ("2 similar amounts within 7 days: 44.00 to 44.04, this "
                                 "one 44.00")
    kept = {"repeat": "the hour's"}
    assert _over_days(9.0, 44.0, "grocery", "app", _T, st, Population(), 0.1, 0.1,
                      0.0, _scale_for(1.0), KNOBS, kept) == 9.0
    assert kept == {"repeat": "the hour's"}


def _learnt(amounts: list[float]) -> tuple[CustomerState, Population]:
    """A customer (and their population) after purchases of these amounts, an hour apart."""
    st, pop = CustomerState(), Population()
    for i, amount in enumerate(amounts):
        row = tx(i, START + timedelta(hours=i), amount)
        t = event_seconds(row)
        learn(t, st, pop, KNOBS, observe(row, t, st, pop, KNOBS), 0.0, 0.0)
    return st, pop


@pytest.mark.parametrize("robust_z", [0.0, 0.5])
def test_an_amount_at_or_above_the_level_has_the_logistics_low_term(robust_z: float) -> None:
    """Only an amount below the customer's level is judged by the rate of such low amounts
    (`low_rate`, 1 at or above the level): at the level the low term is ln 2, a coin flip,
    and above it the logistic's P(Z <= z), which the model reads even under the floor."""
    st, pop = _learnt([50.0, 55.0])
    row = tx(2, START + timedelta(hours=2), 52.0)
    t = event_seconds(row)
    o = observe(row, t, st, pop, KNOBS)
    o.amount_z = robust_z
    z, _ = amount_z(st, o, KNOBS)
    assert (z == 0.0) is (robust_z == 0.0) and z >= 0.0
    values, _, _ = terms(t, st, pop, o, KNOBS)
    assert values[TERMS.index("amount_low")] == pytest.approx(-math.log(tail_sf(-z)))
    if robust_z == 0.0:
        assert values[TERMS.index("amount_low")] == pytest.approx(math.log(2.0))


@pytest.mark.parametrize(("purchases", "capped"), [(2, False), (3, True), (4, True)])
def test_the_recent_level_caps_the_amount_term_from_three_learnt_events(
        purchases: int, capped: bool) -> None:
    """A customer who buys at 500 among a population that buys at 10: their long level is
    still shrunk towards the population's, so 500 is far above it; from 3 learnt events
    on, the recent level (their median, 500) is evidence enough to take 500 as usual."""
    st, pop = CustomerState(), Population()
    others: dict[str, CustomerState] = {}
    rows = [tx(j, START + timedelta(minutes=j), 10.0, customer=f"o{j % 5}")
            for j in range(40)]
    rows += [tx(40 + j, START + timedelta(hours=1 + j), 500.0) for j in range(purchases)]
    for row in rows:
        s = st if row.customer_id == "c1" else others.setdefault(row.customer_id,
                                                                 CustomerState())
        t = event_seconds(row)
        learn(t, s, pop, KNOBS, observe(row, t, s, pop, KNOBS), 0.0, 0.0)
    assert len(st.context) == purchases
    row = tx(99, START + timedelta(hours=10), 500.0)
    t = event_seconds(row)
    o = observe(row, t, st, pop, KNOBS)
    assert o.amount_z > 8.0  # far above the long level in every case
    high = terms(t, st, pop, o, KNOBS)[0][TERMS.index("amount_high")]
    assert (high < CONFIG.surprise_floor) is capped


@pytest.mark.parametrize("floor", [CONFIG.surprise_floor, 0.0])
def test_a_first_purchase_surprises_only_by_its_values(floor: float) -> None:
    """Nothing is known of a new customer's habits: every term but the five novelty terms
    (judged against everybody's first purchases) is 0 (the model reads them all, even
    under the floor); and only a term above the floor has a reason, even with the floor
    at 0."""
    cfg = Knobs(CoreConfig(surprise_floor=floor))
    st = CustomerState()
    pop = _learnt([20.0, 30.0, 40.0])[1]  # a population that knows other values
    row = tx(0, START, 5000.0, country="BR", device="desktop", channel="web")
    t = event_seconds(row)
    values, reasons, wake = terms(t, st, pop, observe(row, t, st, pop, cfg), cfg)
    named = dict(zip(TERMS, values, strict=True))
    novelty = ("country", "device", "ip_network", "channel", "category")
    assert [v for name, v in named.items() if name not in novelty] == [0.0] * 7
    assert set(reasons) == {name for name, v in named.items() if v > floor}
    assert wake == 0.0


def test_while_every_purchase_is_held_the_hour_is_not_judged() -> None:
    """A customer whose only purchase is on hold (nothing learnt yet): the hour needs a
    learnt event (0.0)."""
    st, pop = _learnt([])
    first = tx(0, START, 40.0)
    t = event_seconds(first)
    learn(t, st, pop, KNOBS, observe(first, t, st, pop, KNOBS),
          CONFIG.quarantine_above, 0.0)
    assert (st.n, st.learnt, len(st.pending)) == (1, 0, 1)
    row = tx(1, START + timedelta(minutes=1), 45.0)
    t = event_seconds(row)
    values = terms(t, st, pop, observe(row, t, st, pop, KNOBS), KNOBS)[0]
    assert values[TERMS.index("hour")] == 0.0

def _moved(change: dict[str, str], hours: tuple[int, ...], judged_hour: int,
           knobs: Knobs = KNOBS) -> dict[str, float]:
    """The terms of a purchase after 40 daily ones at 9 h at home, then one a day with
    `change` (the Transaction fields it changes) at each of `hours`; the judged purchase
    has `change` too, at `judged_hour`."""
    st, pop = CustomerState(), Population()
    home = datetime(2025, 3, 3, 9)
    rows = [tx(j, home + timedelta(days=j)) for j in range(40)]
    rows += [tx(40 + j, datetime(2025, 4, 13 + j, h), **change)  # type: ignore[arg-type]
             for j, h in enumerate(hours)]
    for row in rows:
        t = event_seconds(row)
        learn(t, st, pop, knobs, observe(row, t, st, pop, knobs), 0.0, 0.0)
    row = tx(99, datetime(2025, 4, 20, judged_hour), **change)  # type: ignore[arg-type]
    t = event_seconds(row)
    values = terms(t, st, pop, observe(row, t, st, pop, knobs), knobs)[0]
    return dict(zip(TERMS, values, strict=True))


@pytest.mark.parametrize(("term", "change"), [
    ("country", {"country": "AT"}), ("device", {"device": "desktop"}),
    ("ip_network", {"ip": "10.9.9.9"}), ("channel", {"channel": "web"}),
    ("category", {"category": "fuel"})])
def test_a_value_among_the_recent_events_is_judged_by_its_recent_share(
        term: str, change: dict[str, str]) -> None:
    """3 of the 8 recent (context) events used the new value: its term is -ln of
    context_weight x 3/8 (0.1875), whatever its rarity in the long habit, and only that
    value's context count decides (every other attribute is the usual one)."""
    named = _moved(change, (9, 9, 9), 9)
    assert named[term] == pytest.approx(-math.log(CONFIG.context_weight * 3 / 8))


def test_the_recent_hours_within_an_hour_across_midnight_cap_the_hour_term() -> None:
    """Recent events at 21, 22, 23 and 0 h; a purchase at 23 h: 22, 23 and 0 h are within
    an hour of it (0 h across midnight), 21 h is not: 3 of the 8 recent events. With the
    older test of a change of hours that count is the term; with the default the four
    evenings agreeing with each other are a change under way, and 23 h is likelier still."""
    older = Knobs(CoreConfig(hour_change_prior=0.0))
    named = _moved({}, (21, 22, 23, 0), 23, older)
    cap = -math.log(CONFIG.context_weight * 3 / 8)
    assert named["hour"] == pytest.approx(cap)
    assert _moved({}, (21, 22, 23, 0), 23)["hour"] < cap - 0.1


@pytest.mark.parametrize("amount", [0.5, 1.0])
def test_micro_amounts_repeated_in_the_hour_are_judged_as_repeats(amount: float) -> None:
    """Card testing: a customer of 40-70 a day makes three purchases of `amount` within
    minutes; the fourth repeats them (any positive amount is judged, 1 and under too)."""
    st, pop = CustomerState(), Population()
    rows = [tx(j, START + timedelta(days=j), 40.0 + j) for j in range(30)]
    rows += [tx(30 + j, datetime(2025, 4, 10, 12, j), amount) for j in range(3)]
    for row in rows:
        t = event_seconds(row)
        learn(t, st, pop, KNOBS, observe(row, t, st, pop, KNOBS), 0.0, 0.0)
    row = tx(99, datetime(2025, 4, 10, 12, 5), amount)
    t = event_seconds(row)
    values, reasons, _ = terms(t, st, pop, observe(row, t, st, pop, KNOBS), KNOBS)
    assert values[TERMS.index("repeat")] > CONFIG.surprise_floor
    assert reasons["repeat"] == f"repeats an amount of {amount:g} within 60 min"


@pytest.mark.parametrize(("own", "population", "mean", "gap_s"), [
    (3600.0, 7200.0, 4680.0, 2 * 86400.0),  # (7 x 3600 + 3 x 7200) / (7 + 3)
    (30.0, 30.0, 60.0, 3600.0),  # a mean gap under a minute counts as a minute
])
def test_a_silence_is_judged_against_the_mean_gap_shrunk_to_the_populations(
        own: float, population: float, mean: float, gap_s: float) -> None:
    """The dormancy term is -ln of a Lomax tail, (1 + gap / (alpha x mean)) ** -alpha,
    the mean the customer's over their 7 gaps shrunk to the population's (prior_weight 3
    gaps), at least 60 s: alpha 2 gives 2 ln(1 + gap / (2 x mean))."""
    st, pop = _learnt([50.0, 50.0])
    st.gaps, st.gap_mean, pop.gap_mean = 7, own, population
    row = tx(2, START + timedelta(hours=1, seconds=gap_s))
    t = event_seconds(row)
    assert t - st.last_t == gap_s
    values = terms(t, st, pop, observe(row, t, st, pop, KNOBS), KNOBS)[0]
    assert values[TERMS.index("dormancy")] == pytest.approx(2.0 * math.log1p(gap_s / (2.0 * mean)))


def test_a_return_from_silence_worth_exactly_twice_the_events_own_is_not_shared() -> None:
    """Half of the last return's surprise is shared only when it beats the event's own
    silence: on a tie the event is judged (and named) by its own silence."""
    st, pop = _learnt([50.0, 50.0])
    row = tx(2, START + timedelta(days=30))
    t = event_seconds(row)
    own = terms(t, st, pop, observe(row, t, st, pop, KNOBS), KNOBS)[2]
    assert own > CONFIG.surprise_floor
    for before, shared in ((2.0 * own, False), (math.nextafter(2.0 * own, math.inf), True)):
        st.wake = (t - 600.0, before)
        values, reasons, _ = terms(t, st, pop, observe(row, t, st, pop, KNOBS), KNOBS)
        assert values[TERMS.index("dormancy")] == (before * 0.5 if shared else own)
        assert reasons["dormancy"].endswith(
            "after a return from silence" if shared else "of silence")


def _hop(speed_kmh: float, dt_s: float, fast: tuple[int, list[float]] | None = None
         ) -> tuple[float, str | None]:
    """The travel term and reason of a hop of 0.5 km (two countries without a centroid, no
    slack) `dt_s` after the last of 10 purchases at home, at `speed_kmh`; `fast`: the
    customer's hops (all of them fast) and the population's fast-hop counts, if set."""
    cfg = Knobs(CoreConfig(travel_slack_km=0.0, travel_speed_kmh=speed_kmh,
                           travel_unknown_km=0.5))
    st, pop = CustomerState(), Population()
    for i in range(10):
        row = tx(i, START + timedelta(hours=i), country="XA")
        t = event_seconds(row)
        learn(t, st, pop, cfg, observe(row, t, st, pop, cfg), 0.0, 0.0)
    if fast is not None:
        st.hops = st.fast = fast[0]
        pop.fast = fast[1]
    row = tx(10, START + timedelta(hours=9, seconds=dt_s), country="XB")
    t = event_seconds(row)
    o = observe(row, t, st, pop, cfg)
    assert (o.travel_km, o.travel_dt_s) == (0.5, dt_s)
    values, reasons, _ = terms(t, st, pop, o, cfg)
    return values[TERMS.index("travel")], reasons.get("travel")


def test_a_hop_of_under_a_kilometre_is_judged_when_the_settings_make_it_too_fast() -> None:
    """Any distance counts, however short: at 1 km/h, 0.5 km in 5 minutes is 6x too fast
    (log2 6 >= 1: the full surprise). Its chance is the customer's rate of changes of
    country, (0 + 3 x 0.1) / (10 + 3), never more than their rate of fast hops shrunk to
    the population's, (0 + 30 x 1 / (9 gaps + 100)) / (10 + 30)."""
    value, reason = _hop(1.0, 300.0)
    assert value == pytest.approx(-math.log(max(0.3 / 13.0, 30.0 / 109.0 / 40.0)))
    assert reason == "XB 5 min after a purchase in XA"


def test_a_hop_is_judged_by_the_rate_of_fast_hops_where_that_is_the_larger() -> None:
    """Where fast hops are common (2 of this customer's 10 purchases, 49 of the
    population's 100 gaps) the chance of a fast hop, (2 + 30 x (49 + 1) / (100 + 100)) /
    (10 + 30), beats the customer's rate of changes of country, (2 + 0.3) / 13, and
    decides the term (log2 6 >= 1: the full surprise)."""
    value, _ = _hop(1.0, 300.0, (2, [49.0, 100.0]))
    p_fast, p_hop = (2 + 30 * 50 / 200) / 40, 2.3 / 13
    assert p_fast > p_hop
    assert value == pytest.approx(-math.log(p_fast))


def test_a_hop_under_a_minute_is_judged_as_one_of_a_minute() -> None:
    """0.5 km at 20 km/h needs 90 s: done in 30 s it counts as in 60 s, 1.5x too fast,
    as 180 s needed (10 km/h) in 120 s; the term is log2 1.5 of the full surprise."""
    full, _ = _hop(1.0, 30.0)
    assert _hop(20.0, 30.0)[0] == pytest.approx(_hop(10.0, 120.0)[0])
    assert _hop(20.0, 30.0)[0] == pytest.approx(full * math.log2(1.5))


def test_the_population_counts_each_value_of_a_learnt_purchase_in_its_own_table() -> None:
    """Every attribute of a learnt purchase in the population's table of that attribute
    (they are all different strings, so a value in the wrong table shows)."""
    st, pop = CustomerState(), Population()
    row = tx(0, START, country="AT", category="fuel", channel="web", device="desktop",
             ip="10.9.9.9")
    t = event_seconds(row)
    learn(t, st, pop, KNOBS, observe(row, t, st, pop, KNOBS), 0.0, 0.0)
    assert pop.tables == {"country": {"AT": 1}, "category": {"fuel": 1},
                          "channel": {"web": 1}, "device": {"desktop": 1},
                          "ipnet": {"10.9.9": 1}}


def test_a_hop_of_under_a_kilometre_too_fast_for_the_settings_is_counted_as_fast() -> None:
    """The clock counts a fast hop however short: 0.5 km at 1 km/h needs 30 min, done in
    5 (no slack): the customer's and the population's counts of fast hops go up by one."""
    cfg = Knobs(CoreConfig(travel_slack_km=0.0, travel_speed_kmh=1.0, travel_unknown_km=0.5))
    st, pop = CustomerState(), Population()
    for i, (minutes, country) in enumerate(((0, "XA"), (60, "XA"), (65, "XB"))):
        row = tx(i, START + timedelta(minutes=minutes), country=country)
        t = event_seconds(row)
        learn(t, st, pop, cfg, observe(row, t, st, pop, cfg), 0.0, 0.0)
    assert (st.hops, st.fast, pop.fast) == (1, 1, [1.0, 2.0])


@pytest.mark.parametrize(("above", "kept"), [(0.0, False), (1e-9, True)])
def test_only_a_return_from_silence_above_the_floor_is_remembered(above: float,
                                                                  kept: bool) -> None:
    """A purchase's silence is remembered as a return (shared by the next day's events)
    only when its surprise is above the floor: exactly at it, it is not."""
    st, pop = _learnt([50.0])
    row = tx(1, START + timedelta(days=30))
    t = event_seconds(row)
    wake = CONFIG.surprise_floor + above
    learn(t, st, pop, KNOBS, observe(row, t, st, pop, KNOBS), 0.0, wake)
    assert st.wake == ((t, wake) if kept else (-math.inf, 0.0))


def test_a_quiet_purchase_after_a_return_from_silence_does_not_replace_it() -> None:
    """After a month of silence, two purchases 10 minutes apart: the second's own silence
    is short, so the third still shares half of the return's surprise."""
    st, pop = _learnt([50.0, 50.0])
    for minutes in (0, 10, 20):
        row = tx(2 + minutes, START + timedelta(days=30, minutes=minutes))
        t = event_seconds(row)
        o = observe(row, t, st, pop, KNOBS)
        values, reasons, wake = terms(t, st, pop, o, KNOBS)
        if minutes == 0:
            returned = wake
            assert returned > CONFIG.surprise_floor
        learn(t, st, pop, KNOBS, o, 0.0, wake)
    assert values[TERMS.index("dormancy")] == returned * 0.5
    assert reasons["dormancy"] == "20 min after a return from silence"


@pytest.mark.parametrize("amount", [0.0, 0.5, 1.0, 7.0])
def test_an_amount_is_read_as_log1p_less_its_categorys_offset(amount: float) -> None:
    """log(1 + amount), 0 and amounts under 1 included, less what the purchase's category
    adds for customers in general (fuel, learnt from others' fuel purchases above their
    levels)."""
    st, pop = _learnt([10.0, 10.0, 10.0])
    pop.learn_offset("fuel", 1.0, KNOBS.max_population_keys)
    assert pop.category_offset("fuel") != pop.category_offset("grocery")
    row = tx(9, START + timedelta(days=1), amount, category="fuel")
    o = observe(row, event_seconds(row), st, pop, KNOBS)
    assert o.log_amount == math.log1p(amount) - pop.category_offset("fuel")


@pytest.mark.parametrize(("amounts", "middle"), [
    ([10.0, 100.0, 20.0], [1]), ([10.0, 100.0, 20.0, 40.0], [1, 2]),
    ([10.0, 100.0, 20.0, 40.0, 70.0], [2]), ([10.0, 100.0, 20.0, 40.0, 70.0, 15.0], [2, 3])])
def test_a_customers_level_is_the_median_of_their_kept_amounts(
        amounts: list[float], middle: list[int]) -> None:
    """The middle kept log amount (an odd count), or the mean of the two middle ones: the
    amount's ratio to the usual is exp(its log amount - that level)."""
    st, pop = _learnt(amounts)
    row = tx(9, START + timedelta(days=1), 30.0)
    o = observe(row, event_seconds(row), st, pop, KNOBS)
    kept = sorted(st.amounts)
    level = sum(kept[i] for i in middle) / len(middle)
    assert o.amount_ratio == pytest.approx(math.exp(o.log_amount - level))


def test_the_night_share_counts_the_held_night_purchases_with_the_recent_ones() -> None:
    """8 learnt purchases (2 at 03 h, 6 at 09 h) and 2 held ones at 03 h: 4 of the 10
    recent events are at night (0.4), above the smoothed long share (2 + 1) / (8 + 2)."""
    st, pop = CustomerState(), Population()
    hours = [3, 3, 9, 9, 9, 9, 9, 9]
    rows = [tx(j, datetime(2025, 3, 3 + j, h)) for j, h in enumerate(hours)]
    for row in rows:
        t = event_seconds(row)
        learn(t, st, pop, KNOBS, observe(row, t, st, pop, KNOBS), 0.0, 0.0)
    for j in range(2):
        row = tx(20 + j, datetime(2025, 3, 20, 3, 10 * j))
        t = event_seconds(row)
        learn(t, st, pop, KNOBS, observe(row, t, st, pop, KNOBS),
              CONFIG.quarantine_above, 0.0)
    assert (len(st.context), len(st.pending)) == (8, 2)
    row = tx(30, datetime(2025, 3, 20, 3, 30))
    o = observe(row, event_seconds(row), st, pop, KNOBS)
    assert (o.night_count, o.night_total) == (2, 8)
    assert o.night_share == pytest.approx(0.4)


@pytest.mark.parametrize(("keys", "full"), [(15, False), (16, True)])
def test_a_full_population_table_counts_as_all_of_its_mass_unused(keys: int,
                                                                  full: bool) -> None:
    """A customer's exploration grows by the population's mass they have not used, but by
    exactly 1 once the population's table is full (16 keys: its counts then miss values):
    the customer here uses the common country, 40 of the population's events."""
    cfg = Knobs(CoreConfig(max_population_keys=16))
    pop = Population()
    for country in ["C0"] * 40 + [f"C{i}" for i in range(1, keys)]:
        pop.observe(country, "fuel", "web", "d1", 1.0, 16, "10.0.0")
    st = CustomerState()
    held = ("C0", "d1", "10.0.0", "web", "fuel", 9, 1.0)
    learn_habits(st, pop, cfg, held)
    before = st.explore[NOVELTY.index("country")]
    unused = pop.unused_mass("country", st.countries)
    assert unused < 0.75
    learn_habits(st, pop, cfg, held)
    assert st.explore[NOVELTY.index("country")] - before == (1.0 if full else unused)


@pytest.mark.parametrize(("gap_s", "dup_age"), [(899, 899.0), (900, 900.0), (901, None)])
def test_the_clock_keeps_a_recent_event_exactly_one_window_old(
        gap_s: int, dup_age: float | None) -> None:
    """The clock keeps the events within the longer window (the duplicate's 900 s) of the
    last learnt one, its edge included: a purchase 900 s after another, then a repeat of
    the first in the same second, is a duplicate 900 s old; 901 s after, it is none."""
    st, pop = CustomerState(), Population()
    first = tx(0, START, 12.0)
    for row in (first, tx(1, START + timedelta(seconds=gap_s), 50.0)):
        t = event_seconds(row)
        learn(t, st, pop, KNOBS, observe(row, t, st, pop, KNOBS), 0.0, 0.0)
    again = tx(2, START + timedelta(seconds=gap_s), 12.0)
    assert observe(again, event_seconds(again), st, pop, KNOBS).dup_age_s == dup_age


def test_the_population_counts_every_learnt_purchase_in_its_hour() -> None:
    st, pop = CustomerState(), Population()
    for i, hours in enumerate((10, 10, 10, 11)):
        row = tx(i, START.replace(hour=0) + timedelta(days=i, hours=hours))
        t = event_seconds(row)
        learn(t, st, pop, KNOBS, observe(row, t, st, pop, KNOBS), 0.0, 0.0)
    assert (pop.hours[9], pop.hours[10], pop.hours[11], sum(pop.hours)) == (0, 3, 1, 4)


@pytest.mark.parametrize(("gap_s", "exact"), [(86_399, 1), (86_400, 1), (86_401, 0)])
def test_an_exact_repeat_counts_within_a_day_its_edge_included(gap_s: int,
                                                               exact: int) -> None:
    st, pop = CustomerState(), Population()
    for i, seconds in enumerate((0, gap_s)):
        row = tx(i, START + timedelta(seconds=seconds), 12.0)
        t = event_seconds(row)
        learn(t, st, pop, KNOBS, observe(row, t, st, pop, KNOBS), 0.0, 0.0)
    assert st.exact == exact


def test_a_low_amounts_reason_gives_the_inverse_of_its_ratio_floored_at_1e_9() -> None:
    """The low-amount reason is 1 / the ratio to the usual, rounded: 0.1 -> 1/10, 0.04 ->
    1/25, and a ratio of 0 (or below 1e-9) is read as 1e-9, never a division by zero."""
    s = CustomerState()
    o = Observation()
    for ratio, inverse in [(0.1, "10"), (0.04, "25"), (1e-9, "1000000000"),
                           (0.0, "1000000000"), (1e-12, "1000000000")]:
        o.amount_ratio = ratio
        assert surprise_module._reason("amount_low", o, s) == (
            f"amount 1/{inverse} of this customer's usual")


def test_a_reason_for_a_name_that_is_no_term_is_a_key_error_naming_it() -> None:
    """`_reason` of a name outside `TERMS` fails as a dictionary's look-up did, with the
    name (what a caller's message shows), never with an empty text."""
    for name in ("dormancy", "ipnet", ""):
        with pytest.raises(KeyError) as raised:
            surprise_module._reason(name, Observation(), CustomerState())
        assert raised.value.args == (name,)
