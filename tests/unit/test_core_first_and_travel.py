"""A first purchase is judged by what everybody uses; a too-fast hop by the customer's
rate of changing country, the short gap being the activity term's."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

import numpy as np
import pytest

from detector.core.config import CoreConfig
from detector.core.knobs import Knobs
from detector.core.state import Population
from detector.core.surprise import categorical
from shared.schemas import Transaction
from tests.unit.test_core_surprise import START, _crowd, _regular, scored_terms, tx

CONFIG = CoreConfig()


def _after(base: list[Transaction]) -> datetime:
    return base[-1].timestamp + timedelta(days=1)


def test_a_first_purchase_in_a_country_nobody_uses_surprises() -> None:
    """A new customer draws values the way everybody does: their first purchase in a
    country nobody uses is about a 1-in-(rows + 1) event; one in the crowd's country is not
    a surprise at all."""
    base = sorted(_crowd(), key=lambda r: r.timestamp)
    end = _after(base)
    nobody = scored_terms([*base, tx(900, end, 45.0, customer="new", country="ZZ")])[-1]
    usual = scored_terms([*base, tx(900, end, 45.0, customer="new")])[-1]
    # ln(rows + 1): the Good-Turing mass of values nobody used (none of this crowd's new
    # customers brought one beyond what that mass predicts: the stream's very first did)
    assert nobody["country"] == pytest.approx(math.log(len(base) + 1), abs=0.01)
    assert usual["country"] == 0.0


def _newcomers(own_device: bool, start: datetime, n: int = 30) -> list[Transaction]:
    """`n` customers who arrive one a day and buy every day, each on a device of their own
    (a device id, as many banks see them) or on the crowd's."""
    return [tx(i, start + timedelta(days=c + i, hours=10 + i % 8), 40.0 + i % 5,
               customer=f"n{c}", device=f"dev-n{c}" if own_device else "mobile")
            for c in range(n) for i in range(10)]


@pytest.mark.parametrize("own_device", [True, False])
def test_a_first_purchase_is_judged_at_the_rate_new_customers_bring_new_values(
    own_device: bool,
) -> None:
    """Where every new customer brings a device nobody used, the next one doing so is no
    surprise (the population's first purchases teach that rate, suspicious or not); where
    new customers use the crowd's devices, one on a device nobody used is."""
    base = sorted(_crowd(), key=lambda r: r.timestamp)
    rows = sorted([*base, *_newcomers(own_device, _after(base))], key=lambda r: r.timestamp)
    last = tx(0, rows[-1].timestamp + timedelta(hours=1), 45.0, customer="late",
              device="dev-late")
    device = scored_terms([*rows, last])[-1]["device"]
    if own_device:  # 30 of 40 first purchases brought their own: more than half
        assert device < -math.log(0.5)
    else:
        assert device > CONFIG.surprise_floor + 2


def test_a_ring_of_new_accounts_in_a_country_nobody_uses() -> None:
    """Ten new customers whose first purchase is in ZZ, nobody else's country: the first of
    them is as surprising as a value nobody used (ln(rows + 1)), and held back from the
    population; later ones less, as each first purchase in a value nobody used beyond
    chance raises the share of new customers who bring a value of their own (the price of
    not flagging every new customer where each brings their own device); ZZ stays a
    surprise for an established customer."""
    base = sorted([*_crowd(12), *_regular(40)], key=lambda r: r.timestamp)
    end = _after(base)
    firsts = [tx(800 + c, end + timedelta(minutes=c), 45.0, customer=f"new{c}", country="ZZ")
              for c in range(10)]
    last = tx(899, end + timedelta(hours=1), 45.0, country="ZZ")
    terms = scored_terms([*base, *firsts, last])
    ring = [t["country"] for t in terms[len(base):-1]]
    assert ring[0] == pytest.approx(math.log(len(base) + 1), abs=0.01)
    # the first ones are held back; as first purchases keep bringing a value nobody used
    # the share of such customers is learnt (below 2 from the 5th on) but never exceeds
    # the 10 of 23 first purchases that did
    assert min(ring[:3]) > CONFIG.surprise_floor + 2
    assert max(ring[4:]) < CONFIG.surprise_floor + 1
    assert min(ring) > -math.log(10 / 24)
    assert terms[-1]["country"] > CONFIG.surprise_floor + 2


#: Countries of a crowd, with shares falling geometrically (a few common, many rare).
_COUNTRIES = [f"K{i:02d}" for i in range(24)]
_WEIGHTS = [0.7**i for i in range(24)]


def test_first_purchases_drawn_like_everybodys_are_calibrated() -> None:
    """New customers whose first country is drawn from the crowd's distribution: the share
    of first purchases whose country term exceeds s is about e^-s (at most 1.3x; at least
    0.4x, so the term does say something)."""
    rng = random.Random(5)
    crowd = []
    for c in range(60):
        t = START + timedelta(hours=rng.uniform(0, 24))
        for i in range(60):
            t += timedelta(hours=rng.expovariate(1 / 11.0))
            crowd.append(tx(i, t, 45.0, customer=f"p{c}",
                            country=rng.choices(_COUNTRIES, _WEIGHTS)[0]))
    crowd.sort(key=lambda r: r.timestamp)
    end = _after(crowd)
    firsts = [tx(0, end + timedelta(seconds=k), 45.0, customer=f"new{k}",
                 country=rng.choices(_COUNTRIES, _WEIGHTS)[0]) for k in range(3000)]
    terms = scored_terms([*crowd, *firsts])[len(crowd):]
    country = np.array([t["country"] for t in terms])
    for s in (1.0, 2.0, 3.0):
        share = float((country > s).mean())
        assert 0.4 * math.exp(-s) <= share <= 1.3 * math.exp(-s), (s, share)


def _alternating(n: int, customer: str, away: str) -> list[Transaction]:
    """A customer who buys every day, in CH and in `away` in turn (a hop every purchase)."""
    return [r.model_copy(update={"country": away if i % 2 else "CH"})
            for i, r in enumerate(_regular(n, customer=customer))]


@pytest.mark.parametrize(("history", "large"), [("home", True), ("alternating", False)])
def test_a_fast_hop_is_as_surprising_as_the_customers_rate_of_changing_country(
    history: str, large: bool,
) -> None:
    """CH, then US an hour later (too fast for a flight). The short hour is the activity
    term's; given it, the hop is as improbable as a change of country is for this customer:
    large for one who never leaves CH, next to nothing for one who changes country on every
    purchase (before, both were charged the rarity of a *fast* hop, gap included)."""
    own = _regular(40) if history == "home" else _alternating(40, "c1", "US")
    base = sorted([*_crowd(), *own], key=lambda r: r.timestamp)
    end = _after(base)
    rows = [*base, tx(500, end, 45.0), tx(501, end + timedelta(hours=1), 46.0, country="US")]
    travel = scored_terms(rows)[-1]["travel"]
    hops = 0 if history == "home" else 40  # before the last purchase: 41 of them
    hop_rate = (hops + CONFIG.prior_weight * 0.1) / (41 + CONFIG.prior_weight)
    if large:
        assert travel == pytest.approx(-math.log(hop_rate), abs=0.01)
        assert travel > CONFIG.surprise_floor + 2
    else:
        assert travel < 0.1


def test_the_activity_and_travel_terms_do_not_count_one_short_gap_twice() -> None:
    """Customers who buy every few days, each time in CH or US at random: a purchase soon
    after another is rare (the activity term says how rare) and, given that, a change of
    country is a coin flip. Where both terms are high they must be as rare as their product
    says (P(rate > a and travel > b) <= e^-(a+b), within noise), as the sum assumes."""
    rng = random.Random(11)
    rows = [*_crowd(20)]
    for c in range(60):
        t = START + timedelta(hours=rng.uniform(0, 24))
        for i in range(80):
            t += timedelta(hours=rng.expovariate(1 / 72.0))
            rows.append(tx(i, t, 45.0, customer=f"r{c}", country=rng.choice(["CH", "US"])))
    rows.sort(key=lambda r: r.timestamp)
    terms = scored_terms(rows)
    rate = np.array([t["rate"] for t in terms])
    travel = np.array([t["travel"] for t in terms])
    for a, b in ((2.0, 2.0), (3.0, 2.0), (2.0, 2.5)):
        share = float(((rate > a) & (travel > b)).mean())
        assert share <= 1.3 * math.exp(-(a + b)), (a, b, share)


def _pop_with(countries: dict[str, int]) -> Population:
    pop = Population()
    pop.tables["country"] = dict(countries)
    pop.total = sum(countries.values())
    return pop


def test_a_first_purchase_is_counted_new_or_not_against_its_chance() -> None:
    pop = _pop_with({"CH": 9, "DE": 1})
    keys = ["CH", "grocery", "app", "mobile", "10.0.0"]  # NOVELTY order
    pop.learn_first(keys, 4096)
    assert pop.novelty["first:country"] == [0.0, pytest.approx(2 / 11), 1.0]  # (1 + 1) / 11
    pop.learn_first(["ZZ", *keys[1:]], 4096)
    assert pop.novelty["first:country"] == [1.0, pytest.approx(4 / 11), 2.0]
    # every network was new (nobody used one), and a new customer's network is one of
    # their own for sure: all the mass unused, not the Good-Turing share (1 / 11)
    assert pop.novelty["first:ipnet"] == [2.0, 2.0, 2.0]


@pytest.mark.parametrize(("keys_in_table", "counted"), [(15, True), (16, False)])
def test_a_full_population_table_counts_no_first_purchase(keys_in_table: int,
                                                         counted: bool) -> None:
    """At `max_population_keys` the novelty term is 0 for everybody: nothing to learn."""
    pop = _pop_with({f"K{i}": 1 for i in range(keys_in_table)})
    pop.learn_first(["ZZ", "grocery", "app", "mobile", "10.0.0"], 16)
    assert ("first:country" in pop.novelty) is counted


@pytest.mark.parametrize(("firsts", "halved"), [(19_999.0, False), (20_000.0, True)])
def test_first_purchase_counts_are_a_moving_average_from_20000_on(firsts: float,
                                                                 halved: bool) -> None:
    pop = _pop_with({"CH": 5})
    pop.novelty["first:country"] = [100.0, 40.0, firsts]
    pop.learn_first(["ZZ", "grocery", "app", "mobile", "10.0.0"], 4096)
    k = 0.5 if halved else 1.0
    assert pop.novelty["first:country"] == [100.0 * k + 1.0, pytest.approx(40.0 * k + 1 / 6),
                                            firsts * k + 1.0]


def test_the_share_of_new_customers_with_values_of_their_own_is_the_excess_per_first() -> None:
    pop = _pop_with({"CH": 999})  # unseen mass 1 / 1000
    assert pop.first_tail("country", "ZZ") == pytest.approx(1 / 1000)  # no data: none
    pop.novelty["first:country"] = [3.0, 3.5, 9.0]  # fewer than chance: none
    assert pop.first_tail("country", "ZZ") == pytest.approx(1 / 1000)
    pop.novelty["first:country"] = [5.0, 1.0, 9.0]  # 4 beyond chance of 9 (+1)
    assert pop.first_tail("country", "ZZ") == pytest.approx(0.4 + 0.6 / 1000)
    assert pop.first_tail("country", "CH") == 1.0


@pytest.mark.parametrize(("max_keys", "full"), [(15, True), (16, True), (17, False)])
def test_a_first_purchase_against_a_full_population_table_surprises_in_nothing(
        max_keys: int, full: bool) -> None:
    """A full table (`max_population_keys` values or more) no longer counts new values, so
    a first purchase's value is judged with every value possible: the term is exactly 0.
    One key short of full, the same value nobody used surprises by the first purchases'
    chance (here the Good-Turing mass: 14 singles, (14 + 1) / (814 + 1))."""
    counts = {"app": 500, "web": 300, **{f"v{i}": 1 for i in range(14)}}
    pop = _pop_with({})
    pop.tables["channel"], pop.total = counts, sum(counts.values())
    knobs = Knobs(CONFIG.model_copy(update={"max_population_keys": max_keys}))
    term = categorical({}, "zz", 0, 0.0, pop, "channel", 0, knobs)
    assert term == (0.0 if full else pytest.approx(-math.log(15 / 815)))
    # the most common value: the singles' mass and the events at most as common sum past
    # 1 ((15 + 814) / 815): a chance of 1, no surprise, either way
    assert categorical({}, "app", 0, 0.0, pop, "channel", 0, knobs) == 0.0
