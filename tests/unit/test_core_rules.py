"""Each rule fires on a hand-built case and stays quiet on its near miss."""

from __future__ import annotations

from datetime import datetime, timedelta

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from shared.columns import RULE_NAMES
from shared.schemas import ScoredTransaction, Transaction

START = datetime(2025, 3, 3, 12, 0)
CONFIG = CoreConfig()
_AMOUNTS = (42.0, 55.5, 48.2, 61.0, 39.9, 52.3, 47.7, 58.1, 44.4, 50.0)


def tx(i: int, at: datetime, amount: float = 50.0, customer: str = "c1", country: str = "CH",
       category: str = "grocery", channel: str = "app", device: str = "mobile") -> Transaction:
    return Transaction(
        transaction_id=f"{customer}-{i}", customer_id=customer, timestamp=at, amount=amount,
        country=country, channel=channel, device=device, merchant_category=category,
    )


def habits(n: int = 30, customer: str = "c1", country: str = "CH",
           hours: tuple[int, ...] = (9, 12, 14, 17, 19)) -> list[Transaction]:
    """A customer's ordinary life: one purchase a day at their usual hours, in one country."""
    return [
        tx(i, START + timedelta(days=i, hours=hours[i % len(hours)] - 12, minutes=7 * (i % 5)),
           amount=_AMOUNTS[i % len(_AMOUNTS)], customer=customer, country=country)
        for i in range(n)
    ]


def last_verdict(rows: list[Transaction], config: CoreConfig = CONFIG) -> ScoredTransaction:
    return PartitionEngine(config).process(rows)[-1]


def after(rows: list[Transaction], **delta: float) -> datetime:
    return rows[-1].timestamp + timedelta(**delta)


def fired(row: ScoredTransaction) -> set[str]:
    return {name for name, on in row.rule_flags.items() if on}


def test_high_amount_fires_far_above_the_customers_usual() -> None:
    rows = habits()
    row = last_verdict([*rows, tx(99, after(rows, hours=2), amount=900.0)])
    assert fired(row) == {"high_amount"}
    assert row.reasons_top3[0].startswith("amount 18x this customer's usual")


def test_high_amount_quiet_for_a_merely_large_purchase() -> None:
    rows = habits()
    assert fired(last_verdict([*rows, tx(99, after(rows, hours=2), amount=95.0)])) == set()


def test_odd_hour_fires_at_night_for_a_daytime_customer() -> None:
    rows = habits()
    night = rows[-1].timestamp.replace(hour=3) + timedelta(days=1)
    row = last_verdict([*rows, tx(99, night)])
    assert fired(row) == {"odd_hour"}
    assert "03 h" in row.reasons_top3[0]


def test_odd_hour_quiet_for_a_customer_who_often_pays_at_night() -> None:
    rows = habits(hours=(1, 3, 14, 22, 23))
    night = rows[-1].timestamp.replace(hour=3) + timedelta(days=1)
    assert "odd_hour" not in fired(last_verdict([*rows, tx(99, night)]))


def test_odd_hour_quiet_early_in_the_morning_outside_the_night_window() -> None:
    rows = habits()
    morning = rows[-1].timestamp.replace(hour=6) + timedelta(days=1)
    assert "odd_hour" not in fired(last_verdict([*rows, tx(99, morning)]))


def test_duplicate_within_window_is_flagged() -> None:
    rows = habits()
    first = tx(98, after(rows, hours=3), amount=77.7, category="fashion")
    twin = tx(99, after(rows, hours=3, minutes=5), amount=77.7, category="fashion")
    row = last_verdict([*rows, first, twin])
    assert "duplicate" in fired(row)
    assert any("5 min earlier" in r for r in row.reasons_top3)


def test_duplicate_quiet_for_another_amount_or_outside_window() -> None:
    rows = habits()
    first = tx(98, after(rows, hours=3), amount=77.7, category="fashion")
    other = tx(99, after(rows, hours=3, minutes=5), amount=77.71, category="fashion")
    late = tx(99, after(rows, hours=3, minutes=20), amount=77.7, category="fashion")
    assert "duplicate" not in fired(last_verdict([*rows, first, other]))
    assert "duplicate" not in fired(last_verdict([*rows, first, late]))


def test_burst_fires_on_the_fourth_purchase_in_a_few_minutes() -> None:
    rows = habits()
    quick = [tx(90 + k, after(rows, hours=2, seconds=30 * k), amount=5.0 + k) for k in range(4)]
    row = last_verdict([*rows, *quick])
    assert "burst" in fired(row)
    assert "4th purchase in 90 s" in row.reasons_top3


def test_burst_quiet_for_three_purchases_or_four_spread_out() -> None:
    rows = habits()
    three = [tx(90 + k, after(rows, hours=2, seconds=30 * k), amount=5.0 + k) for k in range(3)]
    spread = [tx(90 + k, after(rows, hours=2, minutes=6 * k), amount=5.0 + k) for k in range(4)]
    assert "burst" not in fired(last_verdict([*rows, *three]))
    assert "burst" not in fired(last_verdict([*rows, *spread]))


def test_impossible_travel_fires_for_a_far_country_minutes_later() -> None:
    rows = habits()
    row = last_verdict([*rows, tx(99, after(rows, minutes=35), country="CN")])
    assert "impossible_travel" in fired(row)
    assert "CN 35 min after a purchase in CH" in row.reasons_top3


def test_impossible_travel_quiet_for_a_neighbour_or_after_a_real_flight() -> None:
    rows = habits()
    assert "impossible_travel" not in fired(
        last_verdict([*rows, tx(99, after(rows, minutes=35), country="FR")]))
    assert "impossible_travel" not in fired(
        last_verdict([*rows, tx(99, after(rows, hours=20), country="CN")]))


def test_impossible_travel_quiet_for_a_customer_who_hops_all_the_time() -> None:
    hopper = [r.model_copy(update={"country": ("CH", "US")[i % 2]})
              for i, r in enumerate(habits())]
    row = last_verdict([*hopper, tx(99, after(hopper, minutes=35), country="US")])
    assert "impossible_travel" not in fired(row)


def test_new_country_fires_for_an_established_home_customer() -> None:
    rows = habits()
    row = last_verdict([*rows, tx(99, after(rows, days=1), country="NL")])
    assert fired(row) == {"new_country"}
    assert row.reasons_top3[0] == "NL never seen for this customer (30 earlier purchases)"


def test_new_country_quiet_without_history_or_for_a_globetrotter() -> None:
    few = habits(n=5)
    assert "new_country" not in fired(last_verdict([*few, tx(99, after(few, days=1),
                                                                 country="NL")]))
    countries = ("CH", "FR", "DE", "IT", "US", "ES", "AT", "GB")
    trotter = [r.model_copy(update={"country": countries[i % 8]})
               for i, r in enumerate(habits())]
    assert "new_country" not in fired(
        last_verdict([*trotter, tx(99, after(trotter, days=1), country="NL")]))


def test_new_customer_is_not_an_anomaly_for_lack_of_history() -> None:
    """A first purchase of what everybody buys, the way everybody buys it (one using a
    value nobody uses is judged against everybody: tests/unit/test_core_first_and_travel.py)."""
    crowd = [r for c in range(20) for r in habits(n=10, customer=f"p{c}")]
    crowd.sort(key=lambda r: r.timestamp)
    newcomer = tx(1, after(crowd, hours=1), amount=80.0, customer="new")
    row = last_verdict([*crowd, newcomer])
    assert not row.is_flag
    assert row.score is not None and row.score < 0.1


def test_every_output_carries_every_rule_column() -> None:
    row = last_verdict(habits(n=3))
    assert tuple(row.rule_flags) == RULE_NAMES
    assert row.triggered_rules == []
    assert row.model_version == "rules-only"
