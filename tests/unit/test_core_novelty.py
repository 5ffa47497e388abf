"""Issue 13 follow-up: novelty against the population's unused mass, activity and
repetition at the observed spans, held purchases as "seen" for the country rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from shared.schemas import Transaction
from tests.unit.test_core_surprise import _crowd, _regular, scored_terms, tx

CONFIG = CoreConfig()


def _home(n: int, customer: str, countries: tuple[str, ...]) -> list[Transaction]:
    rows = _regular(n, customer=customer)
    return [r.model_copy(update={"country": countries[i % len(countries)]})
            for i, r in enumerate(rows)]


def test_a_new_value_nobody_uses_surprises_more_than_a_popular_one() -> None:
    """Same customer history, a new country: one that half the crowd uses vs one nobody
    uses. The unknown one is rarer across customers, so it is the less likely new value."""
    crowd = [*_crowd(6), *[r for c in range(6) for r in _home(40, f"q{c}", ("FR",))]]
    base = sorted([*crowd, *_home(40, "c1", ("CH",))], key=lambda r: r.timestamp)
    end = base[-1].timestamp + timedelta(days=1)
    popular = scored_terms([*base, tx(900, end, 45.0, country="FR")])[-1]
    unknown = scored_terms([*base, tx(900, end, 45.0, country="ZZ")])[-1]
    assert unknown["country"] > popular["country"] + 1.0


@pytest.mark.parametrize("seconds", [10, 250])
def test_activity_is_judged_at_the_observed_span(seconds: int) -> None:
    """Two purchases 10 s apart are more surprising than 250 s apart (both inside the
    5-minute window that used to treat them alike)."""
    base = sorted([*_crowd(), *_regular(30)], key=lambda r: r.timestamp)
    end = base[-1].timestamp + timedelta(days=1)
    rows = [*base, tx(400, end, 41.0), tx(401, end + timedelta(seconds=seconds), 52.0)]
    near = scored_terms(rows)[-1]["rate"]
    rows10 = [*base, tx(400, end, 41.0), tx(401, end + timedelta(seconds=10), 52.0)]
    rows250 = [*base, tx(400, end, 41.0), tx(401, end + timedelta(seconds=250), 52.0)]
    if seconds == 10:
        assert near > scored_terms(rows250)[-1]["rate"] + 2.0
    else:
        assert near < scored_terms(rows10)[-1]["rate"] - 2.0


def test_similar_large_amounts_count_without_a_fixed_tolerance() -> None:
    """Two large amounts 5% apart within the hour (beyond the old 3% tolerance) repeat
    improbably for a customer whose amounts are 40-60; 1% apart more so; a usual amount
    next to a usual one far less."""
    base = sorted([*_crowd(), *_regular(40)], key=lambda r: r.timestamp)
    end = base[-1].timestamp + timedelta(days=1)

    def repeat(first: float, second: float) -> float:
        rows = [*base, tx(300, end, first, category="fashion"),
                tx(301, end + timedelta(minutes=9), second, category="fashion", channel="web")]
        return scored_terms(rows)[-1]["repeat"]

    five, one, usual = repeat(300.0, 315.0), repeat(300.0, 303.0), repeat(45.0, 47.0)
    assert five > CONFIG.surprise_floor
    assert one >= five
    assert usual < five - 3.0


def test_new_country_fires_once_for_a_country_used_minutes_before() -> None:
    """The first purchase in a new country is held (not learnt); the second, 20 minutes
    later, finds it seen, so the rule does not fire twice for one country."""
    base = sorted([*_crowd(), *_regular(40)], key=lambda r: r.timestamp)
    end = base[-1].timestamp + timedelta(days=1)
    rows = [*base, tx(700, end, 45.0, country="NL", ip="81.2.3.4"),
            tx(701, end + timedelta(minutes=20), 44.0, country="NL", ip="81.2.3.4")]
    out = PartitionEngine(CONFIG).process(rows)
    assert out[-2].rule_flags["new_country"]
    assert not out[-1].rule_flags["new_country"]


def test_suspicious_events_do_not_make_their_value_common() -> None:
    """Ten customers' suspicious purchases from country ZZ do not teach the population that
    ZZ is usual: an eleventh customer's first ZZ purchase surprises about as much."""
    base = sorted([*_crowd(12), *_regular(40)], key=lambda r: r.timestamp)
    end = base[-1].timestamp + timedelta(days=1)
    attacks = [tx(800 + c, end + timedelta(minutes=c), 900.0, customer=f"p{c}",
                  country="ZZ", device="emulator", channel="web", ip="81.2.3.4")
               for c in range(10)]
    last = tx(899, end + timedelta(hours=1), 45.0, country="ZZ")
    first = scored_terms([*base, last.model_copy(update={"timestamp": end})])
    after = scored_terms([*base, *attacks, last])
    assert after[-1]["country"] >= first[-1]["country"] - 0.5
