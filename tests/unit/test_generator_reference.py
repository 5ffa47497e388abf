"""`--recipe reference`: the reference project's data, its quirks included."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta
from itertools import pairwise

import pytest

from producer.reference_recipe import ReferenceConfig, generate_reference
from shared.schemas import Transaction


@pytest.fixture(scope="module")
def txs() -> list[Transaction]:
    return generate_reference(ReferenceConfig())


def test_sizes_and_label_mix_match_the_reference(txs: list[Transaction]) -> None:
    assert len(txs) == 8_025  # 8,000 rows plus 5 x 5 burst rows
    assert len({t.customer_id for t in txs}) <= 200
    assert Counter(t.anomaly_type for t in txs) == {
        "normal": 7_872, "HIGH_AMOUNT": 40, "ODD_HOUR": 40, "IMPOSSIBLE_TRAVEL": 24,
        "DUPLICATE": 24, "BURST": 25,
    }
    assert sum(1 for t in txs if t.is_anomaly) == 153


def test_normal_rows_follow_the_reference_distributions(txs: list[Transaction]) -> None:
    normal = [t for t in txs if t.anomaly_type == "normal"]
    countries = Counter(t.country for t in normal)
    assert set(countries) == {"CH", "FR", "DE", "IT", "US"}
    assert 0.57 < countries["CH"] / len(normal) < 0.63
    mean = sum(t.amount for t in normal) / len(normal)
    assert 115 < mean < 125
    assert {t.channel for t in normal} == {"web", "app", "branch", "atm"}
    assert len({t.merchant_category for t in normal}) == 6
    span = txs[-1].timestamp - txs[0].timestamp
    assert timedelta(days=88) < span < timedelta(days=90)


def test_quirky_labels_are_injected_as_the_reference_does(txs: list[Transaction]) -> None:
    for t in txs:
        if t.anomaly_type == "DUPLICATE":
            assert (t.amount, t.merchant_category) == (999.0, "electronics")
        elif t.anomaly_type == "IMPOSSIBLE_TRAVEL":
            assert t.country == "CN"
        elif t.anomaly_type == "ODD_HOUR":
            assert 2 <= t.timestamp.hour <= 4
        elif t.anomaly_type == "HIGH_AMOUNT":
            assert t.amount > 300
        elif t.anomaly_type == "normal":
            assert t.country != "CN"
    # No DUPLICATE has a real twin: the reference's duplicate rule can never fire.
    for dup in (t for t in txs if t.anomaly_type == "DUPLICATE"):
        twins = [t for t in txs if t is not dup and t.customer_id == dup.customer_id
                 and (t.amount, t.merchant_category) == (dup.amount, dup.merchant_category)
                 and abs(t.timestamp - dup.timestamp) <= timedelta(minutes=5)]
        assert twins == []


def test_burst_is_five_customers_times_five_rows_ten_seconds_apart_on_one_day(
    txs: list[Transaction],
) -> None:
    bursts: dict[str, list[Transaction]] = defaultdict(list)
    for t in txs:
        if t.anomaly_type == "BURST":
            bursts[t.customer_id].append(t)
    assert len(bursts) == 5
    assert len({t.timestamp.date() for rows in bursts.values() for t in rows}) == 1
    for rows in bursts.values():
        gaps = {(b.timestamp - a.timestamp).total_seconds() for a, b in pairwise(rows)}
        assert len(rows) == 5 and gaps == {10.0}


def test_ids_are_not_in_time_order_but_rows_are(txs: list[Transaction]) -> None:
    assert [t.timestamp for t in txs] == sorted(t.timestamp for t in txs)
    ids = [int(t.transaction_id) for t in txs]
    assert sorted(ids) == list(range(1, 8_026)) and ids != sorted(ids)


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    a = generate_reference(ReferenceConfig(transactions=500))
    assert a == generate_reference(ReferenceConfig(transactions=500))
    assert a != generate_reference(ReferenceConfig(transactions=500, seed=1))
