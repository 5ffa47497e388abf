"""The extended mix: four more fraud typologies and legitimate habit changes, in a sidecar."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest

from producer.anomalies import ANOMALY_TYPES
from producer.extended import CHANGE_COLUMNS, EXTENDED_TYPES, Change, write_changes
from producer.generator import GeneratorConfig, generate, generate_with_changes, mix_config
from shared.schemas import Transaction

CONFIG = mix_config("extended", seed=5, customers=200, days=60)


@pytest.fixture(scope="module")
def data() -> tuple[list[Transaction], list[Change]]:
    return generate_with_changes(CONFIG)


def _by_customer(txs: list[Transaction]) -> dict[str, list[Transaction]]:
    out: dict[str, list[Transaction]] = defaultdict(list)
    for tx in txs:
        out[tx.customer_id].append(tx)
    return out


def _runs(txs: list[Transaction], kind: str) -> list[list[Transaction]]:
    """Consecutive rows of `kind` per customer (one attack each)."""
    runs: list[list[Transaction]] = []
    for history in _by_customer(txs).values():
        run: list[Transaction] = []
        for tx in history:
            if tx.anomaly_type == kind:
                if run and tx.timestamp - run[-1].timestamp > timedelta(hours=3):
                    runs.append(run)
                    run = []
                run.append(tx)
        if run:
            runs.append(run)
    assert runs, f"no {kind} generated"
    return runs


def test_extended_mix_has_every_kind_and_is_reproducible(
    data: tuple[list[Transaction], list[Change]],
) -> None:
    txs, changes = data
    assert {t.anomaly_type for t in txs} == {"normal", *ANOMALY_TYPES, *EXTENDED_TYPES}
    assert {c.kind for c in changes} == {"relocation", "night_shift", "raise", "busy_season"}
    again, changes_again = generate_with_changes(CONFIG)
    assert again == txs and changes_again == changes
    assert [t.transaction_id for t in txs] == [str(i) for i in range(1, len(txs) + 1)]
    assert [t.timestamp for t in txs] == sorted(t.timestamp for t in txs)


def test_the_default_mix_is_untouched_by_the_extended_machinery() -> None:
    small = GeneratorConfig(seed=3, customers=40, days=20)
    assert generate(small) == generate(mix_config("default", seed=3, customers=40, days=20))
    assert generate(small) != generate(mix_config("extended", seed=3, customers=40, days=20))


def test_card_testing_is_micro_amounts_spread_over_minutes(
    data: tuple[list[Transaction], list[Change]],
) -> None:
    for run in _runs(data[0], "CARD_TESTING"):
        assert 5 <= len(run) <= 12
        assert all(0.5 <= t.amount <= 5.0 for t in run)
        assert run[-1].timestamp - run[0].timestamp >= timedelta(minutes=4 * 1.5)


def test_split_payments_are_similar_large_amounts(
    data: tuple[list[Transaction], list[Change]],
) -> None:
    for run in _runs(data[0], "SPLIT_PAYMENT"):
        amounts = [t.amount for t in run]
        assert len(run) >= 3 and max(amounts) <= min(amounts) * 1.07
        assert len({(t.merchant_category, t.channel) for t in run}) == 1


def test_account_takeover_uses_a_device_new_to_the_customer_when_one_exists(
    data: tuple[list[Transaction], list[Change]],
) -> None:
    history = _by_customer(data[0])
    fresh = 0
    for run in _runs(data[0], "ACCOUNT_TAKEOVER"):
        before = {t.device for t in history[run[0].customer_id] if t.timestamp < run[0].timestamp}
        fresh += run[0].device not in before
        assert len({t.ip for t in run}) == 1
    assert fresh > 0


def test_dormant_reactivation_follows_weeks_of_silence(
    data: tuple[list[Transaction], list[Change]],
) -> None:
    history = _by_customer(data[0])
    for run in _runs(data[0], "DORMANT_REACTIVATION"):
        earlier = [t for t in history[run[0].customer_id] if t.timestamp < run[0].timestamp]
        assert earlier and run[0].timestamp - earlier[-1].timestamp >= timedelta(days=35)


def test_legitimate_changes_are_normal_rows_that_really_change(
    data: tuple[list[Transaction], list[Change]],
) -> None:
    txs, changes = data
    history = _by_customer(txs)
    for change in changes:
        if change.customer < 0:
            continue
        rows = history[str(change.customer + 1)]
        at = CONFIG.start + timedelta(seconds=change.start)
        after = [t for t in rows if t.timestamp >= at + timedelta(hours=5)
                 and t.anomaly_type == "normal"]
        before = [t for t in rows if t.timestamp < at and t.anomaly_type == "normal"]
        if change.kind == "night_shift":
            assert all(t.timestamp.hour >= 20 or t.timestamp.hour < 7 for t in after)
        elif change.kind == "relocation" and before and after:
            assert after[-1].country != before[0].country or after[-1].ip != before[0].ip


def test_sidecar_lists_every_change(data: tuple[list[Transaction], list[Change]],
                                    tmp_path: Path) -> None:
    changes = data[1]
    path = tmp_path / "changes.csv"
    write_changes(path, changes, CONFIG.start, [str(i + 1) for i in range(CONFIG.customers)])
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == CHANGE_COLUMNS
    assert len(rows) == len(changes)
    busy = [r for r in rows if r["customer_id"] == "*"]
    assert len(busy) == 1 and busy[0]["change"] == "busy_season" and busy[0]["end"]


def test_unknown_mix_or_change_is_refused() -> None:
    with pytest.raises(ValueError):
        mix_config("nope")
    with pytest.raises(ValueError):
        GeneratorConfig(changes={"divorce": 0.1})
