"""A first purchase is judged by what everybody uses; a too-fast hop by the customer's
rate of changing country, the short gap being the activity term's."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

import numpy as np
import pytest

from detector.core.config import CoreConfig
from shared.schemas import Transaction
from tests.unit.test_core_surprise import START, _crowd, _regular, scored_terms, tx

CONFIG = CoreConfig()


def _after(base: list[Transaction]) -> datetime:
    return base[-1].timestamp + timedelta(days=1)


def test_a_first_purchase_in_a_country_nobody_uses_surprises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new customer draws values the way everybody does: their first purchase in a
    country nobody uses is about a 1-in-(rows + 1) event; one in the crowd's country is not
    a surprise at all."""
    base = sorted(_crowd(), key=lambda r: r.timestamp)
    end = _after(base)
    nobody = scored_terms([*base, tx(900, end, 45.0, customer="new", country="ZZ")],
                          monkeypatch)[-1]
    usual = scored_terms([*base, tx(900, end, 45.0, customer="new")], monkeypatch)[-1]
    assert nobody["country"] == pytest.approx(math.log(len(base) + 1), abs=0.01)
    assert usual["country"] == 0.0


def test_a_value_only_first_purchases_use_does_not_become_common(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ten new customers whose first purchase is in ZZ (nobody else's country) do not teach
    the population that ZZ is usual: an established customer's first ZZ purchase surprises
    about as much as without them (their surprise holds their values back, as for anybody)."""
    base = sorted([*_crowd(12), *_regular(40)], key=lambda r: r.timestamp)
    end = _after(base)
    firsts = [tx(800 + c, end + timedelta(minutes=c), 45.0, customer=f"new{c}", country="ZZ")
              for c in range(10)]
    last = tx(899, end + timedelta(hours=1), 45.0, country="ZZ")
    alone = scored_terms([*base, last], monkeypatch)[-1]["country"]
    after = scored_terms([*base, *firsts, last], monkeypatch)[-1]["country"]
    assert alone > CONFIG.surprise_floor + 2
    assert after >= alone - 0.5


#: Countries of a crowd, with shares falling geometrically (a few common, many rare).
_COUNTRIES = [f"K{i:02d}" for i in range(24)]
_WEIGHTS = [0.7**i for i in range(24)]


def test_first_purchases_drawn_like_everybodys_are_calibrated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
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
    terms = scored_terms([*crowd, *firsts], monkeypatch)[len(crowd):]
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
    monkeypatch: pytest.MonkeyPatch, history: str, large: bool,
) -> None:
    """CH, then US an hour later (too fast for a flight). The short hour is the activity
    term's; given it, the hop is as improbable as a change of country is for this customer:
    large for one who never leaves CH, next to nothing for one who changes country on every
    purchase (before, both were charged the rarity of a *fast* hop, gap included)."""
    own = _regular(40) if history == "home" else _alternating(40, "c1", "US")
    base = sorted([*_crowd(), *own], key=lambda r: r.timestamp)
    end = _after(base)
    rows = [*base, tx(500, end, 45.0), tx(501, end + timedelta(hours=1), 46.0, country="US")]
    travel = scored_terms(rows, monkeypatch)[-1]["travel"]
    hops = 0 if history == "home" else 40  # before the last purchase: 41 of them
    hop_rate = (hops + CONFIG.prior_weight * 0.1) / (41 + CONFIG.prior_weight)
    if large:
        assert travel == pytest.approx(-math.log(hop_rate), abs=0.01)
        assert travel > CONFIG.surprise_floor + 2
    else:
        assert travel < 0.1


def test_the_activity_and_travel_terms_do_not_count_one_short_gap_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
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
    terms = scored_terms(rows, monkeypatch)
    rate = np.array([t["rate"] for t in terms])
    travel = np.array([t["travel"] for t in terms])
    for a, b in ((2.0, 2.0), (3.0, 2.0), (2.0, 2.5)):
        share = float(((rate > a) & (travel > b)).mean())
        assert share <= 1.3 * math.exp(-(a + b)), (a, b, share)
