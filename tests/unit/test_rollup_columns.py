"""The rollup counts a batch by column: the same state as counting it row by row."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.schemas import ScoredTransaction
from sink.bins import GRID, N_BINS, score_bin, score_bins
from sink.csvfmt import scored_cells
from sink.rollup import POS, UNSPECIFIED_TYPE, RollupParams, facts_of
from sink.sampling import AuditSample, band_of
from sink.volume import SinkRollup
from sink.watermark import RowQuorum, time_key

_EDGES = [g for k in GRID for g in (k, math.nextafter(k, -1.0), math.nextafter(k, 2.0))]
_SCORES = st.one_of(st.none(), st.sampled_from([*_EDGES, -0.0, math.inf, -math.inf, math.nan]),
                    st.floats(allow_nan=True, allow_infinity=True))


@given(st.lists(_SCORES, min_size=1, max_size=40))
def test_bins_by_column_are_score_bin_of_each(scores: list[float | None]) -> None:
    got = score_bins(scores)
    assert got.tolist() == [score_bin(s) for s in scores]
    assert got.dtype == np.int64  # the rollup's bincount and indices take integers only


_RULES = ("burst", "duplicate", "odd_hour")


@st.composite
def _rows(draw: Any) -> list[ScoredTransaction]:
    n = draw(st.integers(1, 30))
    start = datetime(2025, 3, 1, 23, 50)
    rows = []
    for i in range(n):
        flags = {r: draw(st.booleans()) for r in draw(st.sets(st.sampled_from(_RULES)))}
        label = draw(st.sampled_from([None, True, False]))
        # built without the schema: the rollup counts any score it is given (bins 0 for
        # none, NaN or below 0), whatever the sink's schema lets in
        rows.append(ScoredTransaction.model_construct(
            transaction_id=f"t{draw(st.integers(0, 12))}-{i}", customer_id="c",
            timestamp=start + timedelta(minutes=draw(st.integers(0, 30))),
            amount=draw(st.sampled_from([-5.0, 0.0, 49.99, 50.0, 200.0, 999.0, 1000.0, 5e6])),
            country="CH", channel=draw(st.sampled_from(["app", "web"])), device="d",
            merchant_category="food", is_anomaly=label,
            anomaly_type=draw(st.sampled_from(["", "BURST", "HIGH_AMOUNT"])) if label else "",
            score=draw(_SCORES), model_score=draw(_SCORES), rule_flags=flags,
            # not derived from the flags: a row from another producer is counted as it says
            is_rule_flag=draw(st.booleans()), is_ml_flag=draw(st.booleans()),
            is_flag=draw(st.booleans()), model_version=draw(st.sampled_from(["", "if-1"])),
        ))
    return rows


def _row_by_row(rows: list[ScoredTransaction]) -> dict[str, Any]:
    """The rollup's counters as the definition says, one row at a time."""
    counts = np.zeros((3, 2, N_BINS), np.int64)
    model_counts = np.zeros((3, 2, N_BINS), np.int64)
    by_type: dict[str, np.ndarray] = {}
    by_type_model: dict[str, np.ndarray] = {}
    hits: dict[str, list[int]] = {}
    ml, flag = [0, 0, 0], [0, 0, 0]
    versions: dict[str, int] = {}
    for tx in rows:
        lab, score, rule, flags, is_ml, is_flag, _n, version, model = facts_of(tx)
        r, b, mb = int(rule), score_bin(score), score_bin(model)
        counts[lab, r, b] += 1
        model_counts[lab, r, mb] += 1
        if lab == POS:
            name = tx.anomaly_type or UNSPECIFIED_TYPE
            by_type.setdefault(name, np.zeros((2, N_BINS), np.int64))[r, b] += 1
            by_type_model.setdefault(name, np.zeros((2, N_BINS), np.int64))[r, mb] += 1
        for rule_name, hit in flags.items():
            if hit:
                hits.setdefault(rule_name, [0, 0, 0])[lab] += 1
        ml[lab] += is_ml
        flag[lab] += is_flag
        versions[version] = versions.get(version, 0) + 1
    return {"counts": counts.tolist(), "model_counts": model_counts.tolist(),
            "by_type": {k: v.tolist() for k, v in by_type.items()},
            "by_type_model": {k: v.tolist() for k, v in by_type_model.items()},
            "rule_hits": hits, "ml": ml, "flag": flag, "versions": versions}


@settings(max_examples=150, deadline=None)
@given(_rows(), st.integers(1, 30))
def test_a_batch_counted_by_column_equals_its_rows_one_at_a_time(
    rows: list[ScoredTransaction], cut: int
) -> None:
    whole, single = SinkRollup(RollupParams(top_cases=5)), SinkRollup(RollupParams(top_cases=5))
    whole.update([facts_of(t) for t in rows], [scored_cells(t) for t in rows])
    for t in rows:
        single.update([facts_of(t)], [scored_cells(t)])
    assert whole.to_json() == single.to_json()
    expected = _row_by_row(rows)
    got = {"counts": whole.counts.tolist(), "model_counts": whole.model_counts.tolist(),
           "by_type": {k: v.tolist() for k, v in whole.by_type.items()},
           "by_type_model": {k: v.tolist() for k, v in whole.by_type_model.items()},
           "rule_hits": whole.rule_hits, "ml": whole.detector_ml, "flag": whole.detector_flag,
           "versions": whole.model_versions}
    assert got == expected
    # and in two batches cut anywhere
    two = SinkRollup(RollupParams(top_cases=5))
    for part in (rows[:cut], rows[cut:]):
        if part:
            two.update([facts_of(t) for t in part], [scored_cells(t) for t in part])
    assert two.to_json() == whole.to_json()


@given(_rows())
def test_the_sample_takes_each_non_flagged_row_in_its_band(rows: list[ScoredTransaction]
                                                           ) -> None:
    sample = AuditSample(per_band=2, key="k")
    sample.offer_rows([scored_cells(t) for t in rows])
    expected: dict[str, int] = {}
    for t in rows:
        stratum = f"{t.timestamp.isoformat()[:10]}|{band_of(t.amount)}"
        expected[stratum] = expected.get(stratum, 0) + 1
    assert sample.population == expected
    for stratum, kept in sample.strata.items():
        assert len(kept) <= 2 and [r[0] for r in kept] == sorted(r[0] for r in kept)
        assert all(stratum.endswith(band_of(float(r[4]))) for r in kept)


_ISO = st.builds(lambda m, us: (datetime(2025, 3, 1) + timedelta(minutes=m, microseconds=us)
                                ).isoformat(), st.integers(0, 5), st.sampled_from([0, 0, 1, 7]))


@given(st.lists(_ISO, min_size=1, max_size=20), st.lists(_ISO, min_size=1, max_size=20))
def test_the_event_range_is_the_least_and_greatest_time_as_time_key_orders_them(
    first: list[str], second: list[str]
) -> None:
    """The range's ends and row marks of batches, with and without microseconds, ties: as
    `min`/`max(times, key=time_key)` and `see_keys(map(time_key, times))` made them."""
    state = SinkRollup(RollupParams(watermark_customers=2))
    marks = RowQuorum(2)
    for times in (first, second):
        cells = [["t", "c", ts] for ts in times]
        state._event_range(cells)
        marks.see_keys(map(time_key, times))
    both = first + second
    assert (state.event_min, state.event_max) == (min(both, key=time_key),
                                                  max(both, key=time_key))
    assert state.row_marks.to_json() == marks.to_json()


def test_a_state_saved_before_model_score_counts_every_row_as_unscored_by_it() -> None:
    # the rollup's JSON without `model_counts` and `by_type_model` (written before the
    # model's score was counted): each row in model bin 0, by label, flag and type
    rows = [ScoredTransaction.model_construct(
        transaction_id=f"t{i}", customer_id="c", timestamp=datetime(2025, 3, 1, 12, i),
        amount=10.0, country="CH", channel="app", device="d", merchant_category="food",
        is_anomaly=label, anomaly_type=kind, score=score, model_score=0.9, rule_flags={},
        is_rule_flag=flag, is_ml_flag=False, is_flag=flag, model_version="")
        for i, (label, kind, score, flag) in enumerate([
            (True, "BURST", 0.9, True), (True, "BURST", 0.2, False),
            (True, "HIGH_AMOUNT", 0.7, True), (False, "", 0.1, False), (None, "", 0.5, True)])]
    state = SinkRollup(RollupParams(top_cases=5))
    state.update([facts_of(t) for t in rows], [scored_cells(t) for t in rows])
    saved = state.to_json()
    again = SinkRollup.from_json(saved)  # as saved now: every count as it was
    assert again.model_counts.tolist() == state.model_counts.tolist()
    assert again.to_json() == saved
    del saved["model_counts"], saved["by_type_model"]
    old = SinkRollup.from_json(saved)
    assert old.counts.tolist() == state.counts.tolist()
    expected = np.zeros((3, 2, N_BINS), np.int64)
    expected[:, :, 0] = state.counts.sum(axis=2)
    assert old.model_counts.tolist() == expected.tolist()
    assert sorted(old.by_type_model) == ["BURST", "HIGH_AMOUNT"]
    for kind, by_flag in old.by_type_model.items():
        assert by_flag[:, 1:].sum() == 0
        assert by_flag[:, 0].tolist() == state.by_type[kind].sum(axis=1).tolist()
    assert old.by_type_model["BURST"][:, 0].tolist() == [1, 1]  # not flagged, flagged
    # and saved again as whole numbers (a float array would write `1.0` into the checkpoint)
    assert ".0" not in json.dumps(old.to_json()["by_type_model"])
