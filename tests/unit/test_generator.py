"""The realistic generator: each anomaly type means exactly what it says; output is seeded."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from producer.anomalies import ANOMALY_TYPES
from producer.generator import GeneratorConfig, generate
from producer.profiles import NIGHT_HOURS, is_far
from shared.csv_io import write_transactions_csv
from shared.schemas import Transaction

CONFIG = GeneratorConfig(
    seed=7, customers=300, days=60, rates=dict.fromkeys(ANOMALY_TYPES, 0.005)
)
GAP = timedelta(hours=CONFIG.travel_gap_hours)
WINDOW = timedelta(minutes=CONFIG.duplicate_window_minutes)


@pytest.fixture(scope="module")
def txs() -> list[Transaction]:
    return generate(CONFIG)


@pytest.fixture(scope="module")
def by_customer(txs: list[Transaction]) -> dict[str, list[Transaction]]:
    out: dict[str, list[Transaction]] = defaultdict(list)
    for tx in txs:
        out[tx.customer_id].append(tx)
    return out


def _of(txs: list[Transaction], kind: str) -> list[Transaction]:
    found = [t for t in txs if t.anomaly_type == kind]
    assert found, f"no {kind} generated"
    return found


def _home(history: list[Transaction]) -> str:
    return statistics.mode(t.country for t in history if t.anomaly_type == "normal")


def test_same_seed_and_arguments_give_byte_identical_csv(tmp_path: Path) -> None:
    small = GeneratorConfig(seed=3, customers=40, days=20)
    write_transactions_csv(generate(small), tmp_path / "a.csv")
    write_transactions_csv(generate(small), tmp_path / "b.csv")
    write_transactions_csv(generate(GeneratorConfig(seed=4, customers=40, days=20)),
                           tmp_path / "c.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "c.csv").read_bytes()


def test_defaults_give_about_one_and_a_half_percent_spread_over_six_types() -> None:
    txs = generate(GeneratorConfig(customers=150))
    per_day = len(txs) / 150 / 90
    assert 1.8 < per_day < 2.6
    share = sum(1 for t in txs if t.is_anomaly) / len(txs)
    assert 0.013 < share < 0.017
    assert {t.anomaly_type for t in txs} == {"normal", *ANOMALY_TYPES}


def test_rows_are_in_time_order_with_sequential_ids_and_consistent_labels(
    txs: list[Transaction],
) -> None:
    assert [t.timestamp for t in txs] == sorted(t.timestamp for t in txs)
    assert [t.transaction_id for t in txs] == [str(i) for i in range(1, len(txs) + 1)]
    assert all(t.is_anomaly == (t.anomaly_type != "normal") for t in txs)
    assert txs[0].timestamp >= CONFIG.start
    assert txs[-1].timestamp < CONFIG.start + timedelta(days=CONFIG.days)


def test_every_duplicate_repeats_a_genuine_purchase_minutes_earlier(
    txs: list[Transaction], by_customer: dict[str, list[Transaction]]
) -> None:
    fields = ("amount", "merchant_category", "country", "channel", "device", "ip")
    for dup in _of(txs, "DUPLICATE"):
        twins = [
            t for t in by_customer[dup.customer_id]
            if t.anomaly_type == "normal"
            and timedelta(0) < dup.timestamp - t.timestamp <= WINDOW
            and all(getattr(t, f) == getattr(dup, f) for f in fields)
        ]
        assert twins, f"DUPLICATE {dup.transaction_id} has no genuine twin"


def test_genuine_purchases_are_never_accidental_duplicates(
    by_customer: dict[str, list[Transaction]],
) -> None:
    for history in by_customer.values():
        normal = [t for t in history if t.anomaly_type == "normal"]
        for a, b in pairwise(normal):
            same = (a.amount, a.merchant_category) == (b.amount, b.merchant_category)
            assert not (same and b.timestamp - a.timestamp <= WINDOW)


def test_every_impossible_travel_is_far_and_too_soon_after_a_home_purchase(
    txs: list[Transaction], by_customer: dict[str, list[Transaction]]
) -> None:
    for tx in _of(txs, "IMPOSSIBLE_TRAVEL"):
        history = by_customer[tx.customer_id]
        home = _home(history)
        assert is_far(home, tx.country)
        recent_home = [
            t for t in history
            if t.country == home and timedelta(0) < tx.timestamp - t.timestamp < GAP
        ]
        assert recent_home, f"{tx.transaction_id} follows no home purchase within the gap"


def test_legitimate_trips_last_days_and_never_look_impossible(
    by_customer: dict[str, list[Transaction]],
) -> None:
    travellers = 0
    for history in by_customer.values():
        normal = [t for t in history if t.anomaly_type == "normal"]
        home = _home(history)
        abroad = [t for t in normal if t.country != home]
        if abroad and abroad[-1].timestamp - abroad[0].timestamp >= timedelta(days=2):
            travellers += 1
        for a, b in pairwise(normal):
            if a.country != b.country:
                assert b.timestamp - a.timestamp >= GAP, "a genuine trip looks impossible"
    assert travellers >= 0.05 * CONFIG.customers


def test_odd_hour_is_night_activity_of_customers_never_active_at_night(
    txs: list[Transaction], by_customer: dict[str, list[Transaction]]
) -> None:
    for tx in _of(txs, "ODD_HOUR"):
        assert 1 <= tx.timestamp.hour <= 4
        normal_night = [
            t for t in by_customer[tx.customer_id]
            if t.anomaly_type == "normal" and t.timestamp.hour in NIGHT_HOURS
        ]
        assert normal_night == []


def test_some_customers_are_legitimately_active_at_night(txs: list[Transaction]) -> None:
    night = {t.customer_id for t in txs
             if t.anomaly_type == "normal" and t.timestamp.hour in NIGHT_HOURS}
    assert len(night) >= 0.01 * CONFIG.customers


def test_high_amount_is_many_times_the_customers_usual_amount(
    txs: list[Transaction], by_customer: dict[str, list[Transaction]]
) -> None:
    lo, _ = CONFIG.high_amount_factor
    for tx in _of(txs, "HIGH_AMOUNT"):
        usual = statistics.median(
            t.amount for t in by_customer[tx.customer_id] if t.anomaly_type == "normal"
        )
        assert tx.amount >= lo * usual * 0.99
        assert tx.country == _home(by_customer[tx.customer_id])


def test_burst_is_several_small_purchases_within_a_few_minutes(
    txs: list[Transaction], by_customer: dict[str, list[Transaction]]
) -> None:
    for tx in _of(txs, "BURST"):
        history = by_customer[tx.customer_id]
        near = [t for t in history if t.anomaly_type == "BURST"
                and abs(t.timestamp - tx.timestamp) <= timedelta(minutes=5)]
        assert len(near) >= 3
        usual = statistics.median(t.amount for t in history if t.anomaly_type == "normal")
        assert tx.amount <= max(20.0, usual)


def test_new_country_is_the_first_foreign_country_of_an_established_customer(
    txs: list[Transaction], by_customer: dict[str, list[Transaction]]
) -> None:
    for tx in _of(txs, "NEW_COUNTRY"):
        history = by_customer[tx.customer_id]
        home = _home(history)
        before = [t for t in history if t.timestamp < tx.timestamp]
        assert tx.country != home
        assert all(t.country == home for t in before)
        assert len(before) >= CONFIG.min_history
        assert tx.timestamp - before[0].timestamp >= timedelta(days=CONFIG.established_days)
        neighbours = [t for t in history
                      if t is not tx and abs(t.timestamp - tx.timestamp) < GAP]
        assert neighbours == [], "a NEW_COUNTRY payment must not also be impossible travel"


def test_anomaly_rates_are_settable_and_zero_means_none() -> None:
    rates = dict.fromkeys(ANOMALY_TYPES, 0.0) | {"HIGH_AMOUNT": 0.02}
    txs = generate(GeneratorConfig(seed=1, customers=60, days=30, rates=rates))
    kinds = {t.anomaly_type for t in txs}
    assert kinds == {"normal", "HIGH_AMOUNT"}
    share = sum(1 for t in txs if t.is_anomaly) / len(txs)
    assert 0.015 < share < 0.025


def test_start_date_and_days_are_respected() -> None:
    start = datetime(2024, 6, 1)
    txs = generate(GeneratorConfig(seed=2, customers=30, days=10, start=start))
    assert min(t.timestamp for t in txs) >= start
    assert max(t.timestamp for t in txs) < start + timedelta(days=10)


@pytest.mark.parametrize(
    "bad",
    [{"rates": {"NOPE": 0.1}}, {"rates": {"BURST": 0.6}}, {"customers": 0},
     {"high_amount_factor": (0.5, 2.0)}],
)
def test_invalid_config_is_rejected_with_a_reason(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        GeneratorConfig(**bad)  # type: ignore[arg-type]


def _bursts(txs: list[Transaction]) -> list[list[Transaction]]:
    """Each customer's BURST rows cut where more than a minute passes (one burst each)."""
    runs: list[list[Transaction]] = []
    last: dict[str, list[Transaction]] = {}
    for tx in txs:
        if tx.anomaly_type != "BURST":
            continue
        run = last.get(tx.customer_id)
        if run is None or tx.timestamp - run[-1].timestamp > timedelta(seconds=60):
            run = last[tx.customer_id] = []
            runs.append(run)
        run.append(tx)
    assert runs, "no BURST generated"
    return runs


def test_a_burst_is_3_to_6_small_purchases_10_to_60_s_apart_on_one_channel_and_category(
    txs: list[Transaction], by_customer: dict[str, list[Transaction]]
) -> None:
    """The documented shape, both ends of each range reached (the detector's burst rule is
    tested against the tightest and the loosest burst the generator makes)."""
    runs = _bursts(txs)
    gaps = [(b.timestamp - a.timestamp).total_seconds() for r in runs for a, b in pairwise(r)]
    assert min(gaps) == 10 and max(gaps) == 60
    assert {len(r) for r in runs} == {3, 4, 5, 6}
    for run in runs:
        history = by_customer[run[0].customer_id]
        usual = statistics.median(t.amount for t in history if t.anomaly_type == "normal")
        top = max(2.0, min(20.0, 0.3 * usual))
        assert all(1.0 <= t.amount <= top + 0.005 for t in run)
        assert len({t.amount for t in run}) == len(run)  # no accidental duplicate inside
        assert len({(t.channel, t.merchant_category, t.device, t.country, t.ip)
                    for t in run}) == 1
        assert run[0].country == _home(history)


def test_an_anomaly_is_habitual_in_all_but_its_kind(
    txs: list[Transaction], by_customer: dict[str, list[Transaction]]
) -> None:
    """Each type breaks one habit only: the category and channel of its purchases are drawn
    from the customer's own, so a detector is not handed a second, unlabelled novelty. The
    mean share, among the customer's genuine purchases, of an anomaly's category (channel)
    is about that of a genuine purchase (drawn uniformly it would be about half)."""

    def share(tx: Transaction, field: str) -> float:
        normal = [t for t in by_customer[tx.customer_id] if t.anomaly_type == "normal"]
        same: int = sum(getattr(t, field) == getattr(tx, field) for t in normal)
        return same / len(normal)

    genuine = [t for t in txs if t.anomaly_type == "normal"][::50]
    for field in ("merchant_category", "channel"):
        usual = statistics.fmean(share(t, field) for t in genuine)
        for kind in ("HIGH_AMOUNT", "ODD_HOUR", "IMPOSSIBLE_TRAVEL", "NEW_COUNTRY"):
            got = statistics.fmean(share(t, field) for t in _of(txs, kind))
            assert got > 0.75 * usual, (field, kind, got, usual)


@pytest.mark.parametrize("want", [1, 2, 3])
def test_a_rate_asking_for_one_two_or_three_rows_of_a_type_gets_them(want: int) -> None:
    """A rate asks for round(rate x expected rows) rows (docs/producer.md), also when that
    is a handful: a small demo asking for one HIGH_AMOUNT gets one."""
    none = dict.fromkeys(ANOMALY_TYPES, 0.0)
    normal = len(generate(GeneratorConfig(seed=4, customers=40, days=20, rates=none)))
    rates = none | {"HIGH_AMOUNT": want / (normal + want)}
    txs = generate(GeneratorConfig(seed=4, customers=40, days=20, rates=rates))
    assert sum(t.anomaly_type == "HIGH_AMOUNT" for t in txs) == want
    assert len(txs) == normal + want


def test_an_anomaly_not_about_its_amount_has_a_habitual_amount(txs: list[Transaction]) -> None:
    """ODD_HOUR, IMPOSSIBLE_TRAVEL and NEW_COUNTRY break the hour or the country only: their
    amounts stray from the customer's median in the category no more than genuine ones do
    (mean |log ratio| about 0.27 for both here; a noise of sigma 1 instead of the genuine
    0.35 would give about 0.8)."""
    amounts: dict[tuple[str, str], list[float]] = defaultdict(list)
    for t in txs:
        if t.anomaly_type == "normal":
            amounts[(t.customer_id, t.merchant_category)].append(t.amount)
    usual = {k: statistics.median(v) for k, v in amounts.items() if len(v) >= 5}

    def stray(kind: str) -> float:
        return statistics.fmean(abs(math.log(t.amount / usual[key])) for t in txs
                                if t.anomaly_type == kind
                                and (key := (t.customer_id, t.merchant_category)) in usual)

    genuine = stray("normal")
    for kind in ("ODD_HOUR", "IMPOSSIBLE_TRAVEL", "NEW_COUNTRY"):
        assert stray(kind) < 1.5 * genuine, kind
