"""bench/unseen_kinds.py injects every kind it names, labelled, each meaning what it says,
and the CSV it writes is one the project reads back with the same labels."""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from detector.core.geo import distance_km
from producer.generator import GeneratorConfig, generate
from shared.csv_io import load_sorted, write_transactions_csv

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import unseen_kinds
from unseen_kinds import KINDS, Row, inject

SEED = 5


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Row]]:
    path = tmp_path_factory.mktemp("unseen") / "base.csv"
    write_transactions_csv(generate(GeneratorConfig(seed=3, customers=120, days=50)), path)
    with open(path, encoding="utf-8", newline="") as f:
        return path, list(csv.DictReader(f))


@pytest.fixture(scope="module")
def injected(base: tuple[Path, list[Row]]) -> tuple[list[Row], dict[str, int]]:
    return inject(base[1], SEED, rate=0.002)


def _time(row: Row) -> datetime:
    return datetime.fromisoformat(row["timestamp"])


def _of(rows: list[Row], kind: str) -> list[Row]:
    return [r for r in rows if r["anomaly_type"] == kind]


def test_every_kind_is_placed_and_labelled(injected: tuple[list[Row], dict[str, int]],
                                           base: tuple[Path, list[Row]]) -> None:
    rows, placed = injected
    target = 0.002 * len(base[1])
    for kind in KINDS:
        labelled = _of(rows, kind)
        assert placed[kind] == len(labelled) >= target, kind
        assert all(r["is_anomaly"] == "True" for r in labelled)
    assert [_time(r) for r in rows] == sorted(_time(r) for r in rows)
    assert len({r["transaction_id"] for r in rows}) == len(rows)


def test_same_seed_same_rows_other_seed_other_rows(
        base: tuple[Path, list[Row]], injected: tuple[list[Row], dict[str, int]]) -> None:
    assert inject(base[1], SEED, rate=0.002)[0] == injected[0]
    assert inject(base[1], SEED + 1, rate=0.002)[0] != injected[0]


def test_each_kind_means_what_it_says(injected: tuple[list[Row], dict[str, int]]) -> None:
    rows, _ = injected
    past: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        past[r["customer_id"]].append(r)
    for r in _of(rows, "STEALTH_NEW_CATEGORY"):
        earlier = [x for x in past[r["customer_id"]] if _time(x) < _time(r)]
        assert r["merchant_category"] not in {x["merchant_category"] for x in earlier}
    for r in _of(rows, "SLOW_CARD_TESTING"):
        assert 0.5 <= float(r["amount"]) <= 5.0 and r["channel"] == "web"
    for r in _of(rows, "STRUCTURING"):
        limit = next(x for x in unseen_kinds.THRESHOLDS if x > float(r["amount"]))
        assert 0.96 * limit <= float(r["amount"]) < limit
    mules: dict[str, list[Row]] = defaultdict(list)
    for r in _of(rows, "MULE_EQUAL_AMOUNTS"):
        mules[r["customer_id"]].append(r)
    for group in mules.values():
        assert len({r["amount"] for r in group}) == 1
        assert len({r["ip"] for r in group}) == len(group)
    for r in _of(rows, "CLONED_CARD"):
        twins = [x for x in past[r["customer_id"]] if x["anomaly_type"] == "normal"
                 and abs(_time(x) - _time(r)) <= timedelta(seconds=60)]
        assert twins and distance_km(twins[0]["country"], r["country"], 0.0) >= 3000
    hops: dict[str, set[str]] = defaultdict(set)
    for r in _of(rows, "CATEGORY_HOP"):
        hops[r["customer_id"]].add(r["merchant_category"])
    assert hops and all(len(c) >= 5 for c in hops.values())


def test_salami_rows_are_the_customers_own_purchases_raised(
        base: tuple[Path, list[Row]], injected: tuple[list[Row], dict[str, int]]) -> None:
    before = {r["transaction_id"]: r for r in base[1]}
    for r in _of(injected[0], "SALAMI_DRIFT"):
        old = before[r["transaction_id"]]
        assert float(r["amount"]) >= 1.5 * float(old["amount"]) - 0.01
        assert {k: v for k, v in r.items() if k not in ("amount", "is_anomaly", "anomaly_type")} \
            == {k: v for k, v in old.items() if k not in ("amount", "is_anomaly", "anomaly_type")}


def test_the_written_csv_reads_back_with_its_labels(
        base: tuple[Path, list[Row]], tmp_path: Path) -> None:
    out = tmp_path / "unseen.csv"
    assert unseen_kinds.main([str(base[0]), str(out), "--seed", "2", "--rate", "0.002"]) == 0
    txs, errors = load_sorted([out])
    assert not errors
    kinds = {t.anomaly_type for t in txs if t.is_anomaly}
    assert set(KINDS) <= kinds
