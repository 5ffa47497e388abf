"""The audit sample's strata as an auditor reads them (`sink.sampling.AuditSample`): each row's
band at the amount edges, each stratum's population (the miss-rate estimate's weights), the
rank in its stratum, a replayed id, the key's fingerprint in the checkpoint."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter

import pytest

from shared.columns import SCORED_COLUMNS, SCORED_INDEX
from sink.sampling import BAND_NAMES, AuditSample, band_of

KEY = "k1"
_KEY = hashlib.blake2b(KEY.encode(), digest_size=32).digest()


def _cells(tx: str, ts: str, amount: str, customer: str = "c1") -> list[str]:
    cells = [""] * len(SCORED_COLUMNS)
    cells[SCORED_INDEX["transaction_id"]] = tx
    cells[SCORED_INDEX["customer_id"]] = customer
    cells[SCORED_INDEX["timestamp"]] = ts
    cells[SCORED_INDEX["amount"]] = amount
    cells[SCORED_INDEX["score"]] = "0.5"
    cells[SCORED_INDEX["model_score"]] = "0.25"
    cells[SCORED_INDEX["is_anomaly"]] = "false"
    return cells


def _draw(tx: str) -> int:
    return int.from_bytes(hashlib.blake2b(tx.encode(), key=_KEY, digest_size=8).digest(), "big")


EDGES = ["-0.01", "0.0", "0", "49.99", "50.0", "50", "199.99", "200.0", "999.99", "1000.0",
         "1000", "-1000", "0.01"]


def _rows(n: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [_cells(f"t{i}", f"2025-03-{rng.randint(1, 3):02d}T{rng.randint(0, 23):02d}:00:00",
                   rng.choice(EDGES)) for i in range(n)]


def _expected(rows: list[list[str]], per_band: int) -> tuple[dict[str, int], dict[str, list[str]]]:
    population: Counter[str] = Counter()
    members: dict[str, list[str]] = {}
    for c in rows:
        stratum = f"{c[SCORED_INDEX['timestamp']][:10]}|{band_of(float(c[SCORED_INDEX['amount']]))}"
        population[stratum] += 1
        members.setdefault(stratum, []).append(c[SCORED_INDEX["transaction_id"]])
    kept = {s: sorted(ids, key=_draw)[:per_band] for s, ids in members.items()}
    return dict(population), kept


def test_rows_at_the_amount_edges_fall_in_band_ofs_band_and_each_stratum_counts_them() -> None:
    rows = _rows(600, seed=5)
    sample = AuditSample(3, KEY)
    sample.offer_rows(rows)
    population, kept = _expected(rows, 3)
    assert sample.population == population
    assert {s: [r[1] for r in v] for s, v in sample.strata.items()} == kept
    assert {s.split("|")[1] for s in population} == set(BAND_NAMES)  # every band met


def test_the_population_is_the_same_by_row_by_batch_merged_and_restored() -> None:
    rows = _rows(500, seed=6)
    population, kept = _expected(rows, 4)
    one = AuditSample(4, KEY)
    for c in rows:
        one.offer(c)
    merged = AuditSample(4, KEY)
    for lo in range(0, len(rows), 70):
        part = AuditSample(4, KEY)
        part.offer_rows(rows[lo:lo + 70])
        merged.merge(part)
        merged = AuditSample.from_json(json.loads(json.dumps(merged.to_json())), KEY)
    for got in (one, merged):
        assert got.population == population
        assert {s: [r[1] for r in v] for s, v in got.strata.items()} == kept


def test_rows_lists_each_stratum_by_day_then_band_ranked_from_1_by_draw() -> None:
    rows = _rows(400, seed=7)
    sample = AuditSample(2, KEY)
    sample.offer_rows(rows)
    _population, kept = _expected(rows, 2)
    order = sorted(kept, key=lambda s: (s.split("|")[0], BAND_NAMES.index(s.split("|")[1])))
    want = [(s.split("|")[0], s.split("|")[1], rank, tx)
            for s in order for rank, tx in enumerate(kept[s], start=1)]
    assert [(d, b, rank, r[1]) for d, b, rank, r in sample.rows()] == want
    by_id = {c[SCORED_INDEX["transaction_id"]]: c for c in rows}
    for *_x, r in sample.rows():  # draw, id, customer, time, amount, score, model, label
        c = by_id[r[1]]
        assert r == [_draw(r[1])] + [c[SCORED_INDEX[k]] for k in (
            "transaction_id", "customer_id", "timestamp", "amount", "score", "model_score",
            "is_anomaly")]


def test_a_replayed_id_is_sampled_once_in_a_batch_and_in_a_merge() -> None:
    rows = [_cells(f"t{i}", "2025-03-01T10:00:00", "10") for i in range(3)]
    sample = AuditSample(10, KEY)
    sample.offer_rows(rows + rows[:2])
    other = AuditSample(10, KEY)
    other.offer_rows(rows[1:])
    sample.merge(other)
    assert sorted(r[1] for r in sample.strata["2025-03-01|0-50"]) == ["t0", "t1", "t2"]
    assert sample.population == {"2025-03-01|0-50": 7}  # rows seen, replays included


def test_a_full_stratum_keeps_the_smallest_draws_whatever_the_order() -> None:
    rows = [_cells(f"t{i}", "2025-03-01T10:00:00", "75") for i in range(40)]
    want = sorted((c[0] for c in rows), key=_draw)[:5]
    for seed in range(3):
        random.Random(seed).shuffle(rows)
        sample = AuditSample(5, KEY)
        for lo in range(0, 40, 7):
            sample.offer_rows(rows[lo:lo + 7])
        assert [r[1] for r in sample.strata["2025-03-01|50-200"]] == want


def test_the_key_fingerprint_is_the_sha256_of_the_derived_key_and_stays_as_saved() -> None:
    # A checkpoint holds `key_id`, never the key: the fingerprint must stay what earlier
    # versions saved, or a restart with the right key would be refused.
    assert AuditSample(3, "k1").key_id == "0287e1117fcf5e03"
    assert AuditSample().key_id == "9e2ee4ff30e76c7b"  # the default key
    assert AuditSample().per_band == 10
    saved = AuditSample(3, "k1").to_json()
    assert saved["key_id"] == "0287e1117fcf5e03" and "k1" not in json.dumps(saved)
    with pytest.raises(ValueError) as refused:
        AuditSample.from_json(saved, "k2")
    assert str(refused.value) == "the audit sample was drawn with another EXPORTS_SAMPLE_KEY"
    assert AuditSample.from_json(saved, "k1").per_band == 3


def test_an_empty_batch_changes_nothing() -> None:
    sample = AuditSample(3, KEY)
    sample.offer_rows([])
    assert sample.strata == {} and sample.population == {}


def test_a_row_without_an_amount_is_sampled_and_counted_in_the_first_band() -> None:
    # as the row-by-row definition had it (`band_of(0.0)`), by row and by batch
    rows = [_cells("t1", "2025-03-01T10:00:00", ""), _cells("t2", "2025-03-01T11:00:00", "5")]
    by_batch, by_row = AuditSample(3, KEY), AuditSample(3, KEY)
    by_batch.offer_rows(rows)
    for cells in rows:
        by_row.offer(cells)
    for sample in (by_batch, by_row):
        assert sample.population == {"2025-03-01|0-50": 2}
        assert sorted(r[1] for r in sample.strata["2025-03-01|0-50"]) == ["t1", "t2"]
