"""The extended mix: four more fraud typologies and legitimate habit changes, in a sidecar."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from producer.anomalies import ANOMALY_TYPES
from producer.extended import (
    CHANGE_COLUMNS,
    EXTENDED_TYPES,
    Change,
    apply_changes,
    write_changes,
)
from producer.generator import GeneratorConfig, generate, generate_with_changes, mix_config
from producer.profiles import (
    CATEGORIES,
    CATEGORY_SCALE,
    DAY,
    HOUR,
    Customer,
    Event,
    is_far,
    make_customers,
    normal_activity,
)
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


def _changed(seed: int) -> tuple[list[Customer], list[Customer], list[list[Event]], list[Change]]:
    """Habits, then the same customers' events after `apply_changes` with large shares."""
    rng = np.random.default_rng(seed)
    customers = make_customers(rng, 150, 60, 2.2, 0.15, 0.05, GAP)
    events = [normal_activity(rng, c, 60, 0, GAP) for c in customers]
    before = list(customers)
    shares = {"relocation": 0.3, "night_shift": 0.3, "raise": 0.3}
    changes = apply_changes(np.random.default_rng([seed, 13]), customers, events, shares,
                            60, GAP, 14, 1.8)
    return before, customers, events, changes


GAP = 4 * HOUR
SEEDS = (1, 2, 3)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_relocated_customer_never_pays_at_the_old_home_again(seed: int) -> None:
    before, _, events, changes = _changed(seed)
    for ch in changes:
        if ch.kind != "relocation":
            continue
        home = before[ch.customer].home
        after = [e for e in events[ch.customer] if e.ts >= ch.start]
        assert all(e.ts >= ch.start + GAP + DAY for e in after), "paid while moving"
        assert all(e.country != home for e in after), "back at the old home"


@pytest.mark.parametrize("seed", SEEDS)
def test_a_night_shift_keeps_the_old_hours_before_its_day_and_night_hours_after(
    seed: int,
) -> None:
    before, _, events, changes = _changed(seed)
    for ch in changes:
        if ch.kind != "night_shift":
            continue
        old = before[ch.customer].hour_p
        for e in events[ch.customer]:
            hour = e.ts % DAY // HOUR
            if e.ts >= ch.start:
                assert hour >= 20 or hour < 7
            elif e.ts < ch.start // DAY * DAY:
                assert old[hour] > 0, "a night-shift hour before the shift"


@pytest.mark.parametrize("seed", SEEDS)
def test_a_raise_scales_every_later_amount_busy_season_included(seed: int) -> None:
    """Amounts over the customer's habitual amount for the category (the lognormal noise
    left): after a raise, those inside the busy season are the ones outside it times the
    season's lift (>= 1.1), pooled over the raised customers."""
    _, customers, events, changes = _changed(seed)
    busy = next(ch for ch in changes if ch.kind == "busy_season")
    assert busy.end is not None
    inside: list[float] = []
    for ch in changes:
        if ch.kind != "raise":
            continue
        c = customers[ch.customer]
        later = [(e, e.amount / (c.median_amount * CATEGORY_SCALE[CATEGORIES.index(e.category)]))
                 for e in events[ch.customer] if e.ts >= ch.start]
        out = [r for e, r in later if not busy.start <= e.ts < busy.end]
        if len(out) >= 10:
            level = float(np.median(out))
            inside += [r / level for e, r in later if busy.start <= e.ts < busy.end]
    assert len(inside) > 100
    assert float(np.median(inside)) >= 1.05


@pytest.mark.parametrize("seed", SEEDS)
def test_the_busy_season_adds_activity_and_lifts_amounts_for_everybody(seed: int) -> None:
    _, customers, events, changes = _changed(seed)
    busy = next(ch for ch in changes if ch.kind == "busy_season")
    assert busy.end is not None
    days = (busy.end - busy.start) // DAY
    unchanged = set(range(len(customers))) - {ch.customer for ch in changes}
    rows = [(e, e.amount / (customers[i].median_amount
                            * CATEGORY_SCALE[CATEGORIES.index(e.category)]))
            for i in unchanged for e in events[i]]
    inside = [r for e, r in rows if busy.start <= e.ts < busy.end]
    outside = [r for e, r in rows if not busy.start <= e.ts < busy.end]
    assert 1.6 <= (len(inside) / days) / (len(outside) / (60 - days)) <= 2.0  # factor 1.8
    assert 1.1 <= float(np.median(inside)) / float(np.median(outside)) <= 1.5


@pytest.mark.parametrize("seed", SEEDS)
def test_a_traveller_pays_abroad_during_a_trip_and_never_in_transit(seed: int) -> None:
    before, _, events, changes = _changed(seed)
    moved = {ch.customer for ch in changes if ch.kind == "relocation"}
    for c in before:
        for trip in c.trips:
            during = [e for e in events[c.index] if trip.start <= e.ts < trip.end + GAP]
            assert all(trip.start + GAP <= e.ts < trip.end for e in during), "in transit"
            if c.index not in moved:
                assert all(e.country == trip.country for e in during)


def test_each_change_begins_on_a_day_between_30_and_65_percent_of_the_period() -> None:
    """Mid-period (docs/producer.md): weeks of the old habits to learn first, weeks of the
    new ones after. Over the seeds both ends of the span are drawn: day 18 and day 38 of 60
    (0.65 x 60 = 39 is the first day past it)."""
    days = [ch.start // DAY for seed in SEEDS for ch in _changed(seed)[3] if ch.customer >= 0]
    assert min(days) == 18 and max(days) == 38


def test_a_relocation_goes_next_door_or_to_another_region() -> None:
    """Both kinds of move occur, so the false alarms on relocated customers measure a far
    move (every purchase then looks like travel) and a near one."""
    far = []
    for seed in SEEDS:
        before, _, events, changes = _changed(seed)
        for ch in changes:
            after = [e.country for e in events[ch.customer] if e.ts >= ch.start]
            if ch.kind == "relocation" and after:
                far.append(is_far(before[ch.customer].home, max(set(after), key=after.count)))
    assert 0.25 < sum(far) / len(far) < 0.75, (sum(far), len(far))


@pytest.mark.parametrize("seed", SEEDS)
def test_amounts_lifted_by_the_busy_season_keep_their_cents(seed: int) -> None:
    """A lifted amount is rounded to the cent, like every other: whole amounts stay as rare
    inside the season as outside (round-amount habits are a detector's term)."""
    _, _, events, changes = _changed(seed)
    busy = next(ch for ch in changes if ch.kind == "busy_season")
    assert busy.end is not None
    inside = [e.amount for evs in events for e in evs if busy.start <= e.ts < busy.end]
    assert len(inside) > 1_000
    assert sum(a == int(a) for a in inside) < 0.05 * len(inside)
    assert all(round(a, 2) == a for a in inside)


def test_an_account_takeover_comes_through_the_customers_least_used_channel(
    data: tuple[list[Transaction], list[Change]],
) -> None:
    """Least used by the customer's habits (their drawn channel shares), so in the rows the
    least used or nearly: on average a few percent of the customer's genuine purchases go
    through it (a channel picked regardless would average about a quarter)."""
    history = _by_customer(data[0])
    shares, least = [], 0
    for run in _runs(data[0], "ACCOUNT_TAKEOVER"):
        assert len({t.channel for t in run}) == 1
        normal = [t.channel for t in history[run[0].customer_id] if t.anomaly_type == "normal"]
        counts = {c: normal.count(c) for c in ("web", "app", "branch", "atm")}
        shares.append(counts[run[0].channel] / len(normal))
        least += counts[run[0].channel] == min(counts.values())
    assert sum(shares) / len(shares) < 0.1 and least >= 0.66 * len(shares)


def test_card_testing_amounts_go_down_to_the_documented_50_cents(
    data: tuple[list[Transaction], list[Change]],
) -> None:
    """0.50-5.00 (docs/producer.md): the smallest tests are under 1.00, the largest near 5."""
    amounts = [t.amount for run in _runs(data[0], "CARD_TESTING") for t in run]
    assert 0.5 <= min(amounts) < 1.0 and 4.5 < max(amounts) <= 5.0


def test_the_sidecars_times_are_the_changes_own_from_the_start_of_the_data(
    data: tuple[list[Transaction], list[Change]], tmp_path: Path
) -> None:
    """bench/quality.py --changes judges a changed customer's rows from `start` on: each row
    is the change's offset after the data's first instant, in ISO form; `end` empty for a
    change that lasts, the busy season's end its own."""
    changes = data[1]
    path = tmp_path / "changes.csv"
    ids = [f"c{i}" for i in range(CONFIG.customers)]
    write_changes(path, changes, CONFIG.start, ids)
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    want = [{"customer_id": "*" if ch.customer < 0 else ids[ch.customer], "change": ch.kind,
             "start": (CONFIG.start + timedelta(seconds=ch.start)).isoformat(),
             "end": "" if ch.end is None
             else (CONFIG.start + timedelta(seconds=ch.end)).isoformat()} for ch in changes]
    assert rows == want
    assert all(CONFIG.start.isoformat() < r["start"] for r in rows)
