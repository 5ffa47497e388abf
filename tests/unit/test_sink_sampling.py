"""The audit sample (`sink.sampling`): deterministic by keyed hash, stratified, restartable."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from shared.columns import AUDIT_SAMPLE_COLUMNS
from shared.schemas import ScoredTransaction
from sink.csvfmt import scored_cells
from sink.offline import write_exports
from sink.rollup import RollupParams, facts_of
from sink.sampling import BAND_NAMES, band_of
from sink.settings import ExportSettings
from sink.state import SinkStateError
from sink.volume import SinkRollup
from sink.writer import SinkWriter
from tests.unit.test_rollup_pandas import random_scored
from tests.unit.test_sink_writer import TOPIC, _records

PARAMS = RollupParams(sample_per_band=4, sample_key="k1")


def _sample(rows: list[ScoredTransaction], params: RollupParams = PARAMS) -> list[Any]:
    state = SinkRollup(params)
    state.update([facts_of(t) for t in rows], [scored_cells(t) for t in rows])
    return state.sample.rows()


@pytest.mark.parametrize(("amount", "band"), [
    (-0.01, "refund"), (0.0, "0-50"), (49.99, "0-50"), (50.0, "50-200"), (199.99, "50-200"),
    (200.0, "200-1000"), (999.99, "200-1000"), (1000.0, "1000+")])
def test_amount_bands_at_their_edges(amount: float, band: str) -> None:
    assert band_of(amount) == band


def test_the_sample_is_the_smallest_keyed_hashes_of_each_day_and_band_from_scratch() -> None:
    rows = random_scored(3_000, seed=21)
    got = _sample(rows)
    key = hashlib.blake2b(b"k1", digest_size=32).digest()
    frame = pd.DataFrame({
        "tx": [t.transaction_id for t in rows],
        "day": [t.timestamp.date().isoformat() for t in rows],
        "band": [band_of(t.amount) for t in rows], "flag": [t.is_flag for t in rows],
        "h": [int.from_bytes(hashlib.blake2b(t.transaction_id.encode(), key=key,
                                             digest_size=8).digest(), "big") for t in rows]})
    frame = frame[~frame["flag"]]
    want = (frame.sort_values("h").groupby(["day", "band"]).head(4)
            .assign(o=lambda f: f["band"].map(BAND_NAMES.index))
            .sort_values(["day", "o", "h"]))
    assert [(d, b, r[1]) for d, b, _rank, r in got] == list(
        zip(want["day"], want["band"], want["tx"], strict=True))
    assert not {r[1] for *_x, r in got} & {t.transaction_id for t in rows if t.is_flag}


def test_the_same_sample_across_runs_orders_cuts_and_a_restart() -> None:
    rows = random_scored(2_000, seed=22)
    first = _sample(rows)
    assert _sample(rows) == first
    shuffled = list(rows)
    random.Random(1).shuffle(shuffled)
    assert _sample(shuffled) == first
    state = SinkRollup(PARAMS)
    for lo in range(0, 2_000, 333):
        delta = SinkRollup(PARAMS)
        part = rows[lo:lo + 333]
        delta.update([facts_of(t) for t in part], [scored_cells(t) for t in part])
        state.merge(delta)
        state = SinkRollup.from_json(json.loads(json.dumps(state.to_json())), "k1")
    assert state.sample.rows() == first
    assert _sample(rows, RollupParams(sample_per_band=4, sample_key="k2")) != first


def test_the_checkpoint_never_holds_the_key_and_another_key_is_refused(tmp_path: Path) -> None:
    settings = ExportSettings(sample_key="s3cret-key", sample_per_band=3)
    w = SinkWriter(tmp_path, TOPIC, settings)
    w.add(_records(500))
    w.checkpoint()
    w.close()
    w.write_rollups()
    for name in (".sink-state.json", "run.json", "status.csv"):
        assert "s3cret-key" not in (tmp_path / name).read_text(), name
    with pytest.raises(SinkStateError, match="EXPORTS_SAMPLE_KEY"):
        SinkWriter(tmp_path, TOPIC, ExportSettings(sample_key="other", sample_per_band=3))
    again = SinkWriter(tmp_path, TOPIC, settings)
    again.add(_records(900)[500:])
    again.checkpoint()
    again.write_rollups()
    again.close()
    one = SinkWriter(tmp_path / "b", TOPIC, settings)
    one.add(_records(900))
    one.checkpoint()
    one.write_rollups()
    one.close()
    a = (tmp_path / "audit_sample.csv").read_bytes()
    assert a == (tmp_path / "b" / "audit_sample.csv").read_bytes() and a.count(b"\n") > 10


def test_audit_sample_csv_per_day_and_band_with_populations(tmp_path: Path) -> None:
    rows = random_scored(2_500, seed=23)
    write_exports(rows, tmp_path, ExportSettings(sample_per_band=5))
    sample = pd.read_csv(tmp_path / "audit_sample.csv", dtype=str, keep_default_na=False)
    assert list(sample.columns) == list(AUDIT_SAMPLE_COLUMNS)
    assert sample.groupby(["day", "amount_band"]).size().max() <= 5
    assert set(sample["outcome"]) == {""}
    by_id = {t.transaction_id: t for t in rows}
    for _i, r in sample.iterrows():
        t = by_id[r["transaction_id"]]
        assert not t.is_flag and r["day"] == t.timestamp.date().isoformat()
        assert r["amount_band"] == band_of(t.amount)


def test_a_pickled_rollup_draws_as_before() -> None:
    """A sink worker's rollup comes back pickled (`SINK_DECODE_WORKERS`): the sample's hash
    state does not pickle, so it is made again from the key, and draws the same."""
    import pickle

    rows = random_scored(1_500, seed=23)
    state = SinkRollup(PARAMS)
    half = rows[:700]
    state.update([facts_of(t) for t in half], [scored_cells(t) for t in half])
    state = pickle.loads(pickle.dumps(state))
    rest = rows[700:]
    state.update([facts_of(t) for t in rest], [scored_cells(t) for t in rest])
    assert state.sample.rows() == _sample(rows)
