"""The rollup's merge, audit sample and restore flags, row by row (mutation round 21's
survivors of `sink/rollup.py`: docs/mutation.md). A worker's rollup merged into the sink's
must count what one rollup of all the rows counts: every export an auditor reads is made
of these counters."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from shared.schemas import ScoredTransaction
from sink.csvfmt import scored_cells
from sink.rollup import RollupParams, RollupState, facts_of, params_of
from sink.sampling import AuditSample
from sink.settings import ExportSettings


def _rows() -> list[ScoredTransaction]:
    """30 rows of 6 customers over two days: every label, two anomaly types in both halves,
    rules fired per label, flagged and not, two model versions, scores across the bins."""
    start = datetime(2025, 3, 1, 22, 0)
    out = []
    for i in range(30):
        label = (True, False, None)[i % 3]
        rules = {"burst": i % 4 == 0, "duplicate": i % 5 == 0, "odd_hour": i % 7 == 0}
        flagged = any(rules.values()) or i % 6 == 1
        out.append(ScoredTransaction.model_construct(
            transaction_id=f"t{i:02d}", customer_id=f"c{i % 6}",
            timestamp=start + timedelta(minutes=17 * i), amount=(5.0, 75.0, 600.0)[i % 3] + i,
            country="CH", channel="app", device="d", merchant_category="food",
            is_anomaly=label, anomaly_type=("BURST", "HIGH_AMOUNT", "")[i // 3 % 3] if label
            else "", score=(i % 11) / 10, model_score=None if i % 4 == 3 else (i % 9) / 8,
            rule_flags=rules, is_rule_flag=any(rules.values()), is_ml_flag=i % 3 == 1,
            is_flag=flagged, model_version=("if-1", "if-2")[i % 2]))
    return out


def _state(rows: list[ScoredTransaction]) -> RollupState:
    state = RollupState(RollupParams(top_cases=50, watermark_customers=2, sample_per_band=50))
    if rows:
        state.update([facts_of(t) for t in rows], [scored_cells(t) for t in rows])
    return state


@pytest.mark.parametrize("cut", [0, 1, 9, 15, 29, 30])
def test_two_rollups_merged_count_what_one_rollup_of_all_their_rows_counts(cut: int) -> None:
    rows = _rows()
    whole = _state(rows)
    merged = _state(rows[:cut])
    merged.merge(_state(rows[cut:]))
    got, expected = merged.to_json(), whole.to_json()
    assert got == expected
    # the counters an export reads, spelled out: each type's positives, each rule's hits
    assert expected["by_type"]["BURST"] != expected["by_type"]["HIGH_AMOUNT"]
    assert sum(map(sum, expected["by_type"]["BURST"])) == 4
    assert expected["rule_hits"]["burst"] == [3, 3, 2]  # rows 0, 12, 24; 4, 16, 28; 8, 20
    assert expected["detector_ml"] == [0, 10, 0]
    assert expected["model_versions"] == {"if-1": 15, "if-2": 15}


def test_a_merge_into_a_rollup_of_the_same_types_adds_to_them_not_replaces_them() -> None:
    rows = _rows()
    mine, other = _state(rows[:15]), _state(rows[15:])
    before = {k: v.copy() for k, v in mine.by_type.items()}
    other_by = {k: v.copy() for k, v in other.by_type.items()}
    mine.merge(other)
    for kind in ("BURST", "HIGH_AMOUNT"):
        assert (mine.by_type[kind] == before[kind] + other_by[kind]).all()
        assert mine.by_type_model[kind].sum() == before[kind].sum() + other_by[kind].sum()
    assert (other.by_type["BURST"] == other_by["BURST"]).all()  # the merged one untouched


def test_the_audit_sample_holds_the_rows_not_flagged_and_only_those() -> None:
    rows = _rows()
    state = _state(rows)
    sampled = sorted(r[1] for kept in state.sample.strata.values() for r in kept)
    assert sampled == sorted(t.transaction_id for t in rows if not t.is_flag)
    assert sum(state.sample.population.values()) == sum(not t.is_flag for t in rows) == 12


def test_a_restored_rollup_says_whether_it_was_saved_with_its_marks() -> None:
    saved = _state(_rows()).to_json()
    again = RollupState.from_json(saved)
    assert again.first_mark_saved is True and again.row_marks_saved is True
    del saved["first_mark"], saved["row_marks"]
    old = RollupState.from_json(saved)
    assert old.first_mark_saved is False and old.row_marks_saved is False


def test_a_merge_skips_only_the_newer_rules_the_merged_count_no_longer_keeps() -> None:
    # the other rollup's hits: a newer detector's rule the merged count drops (it keeps the
    # least 16 names: sink.unknown_rules), then a known rule, which still counts
    rows = _rows()[:2]
    mine_rows = [r.model_copy(update={"rule_flags": {f"a{k:02d}": True for k in range(16)}})
                 for r in rows[:1]]
    other_rows = [r.model_copy(update={"rule_flags": {"zz_newer": True, "burst": True}})
                  for r in rows[1:]]
    mine, other = _state(mine_rows), _state(other_rows)
    assert list(other.rule_hits) == ["zz_newer", "burst"]
    mine.merge(other)
    assert mine.to_json() == _state(mine_rows + other_rows).to_json()
    assert "zz_newer" not in mine.rule_hits and mine.rule_hits["burst"] == [0, 1, 0]
    assert sorted(mine.rule_hits) == [*(f"a{k:02d}" for k in range(16)), "burst"]


def test_a_merge_drops_this_rollups_hits_of_a_rule_the_merged_count_no_longer_keeps() -> None:
    # this rollup's newer rule, kept while it was the only one, pushed out by the other's 16
    # lesser names (the count keeps the least 16): its hits go too, as in one rollup of all
    # the rows, or the rules table would list a rule the count no longer names
    rows = _rows()[:2]
    mine_rows = [r.model_copy(update={"rule_flags": {"zz_newer": True, "burst": True}})
                 for r in rows[:1]]
    other_rows = [r.model_copy(update={"rule_flags": {f"a{k:02d}": True for k in range(16)}})
                  for r in rows[1:]]
    mine, other = _state(mine_rows), _state(other_rows)
    assert sorted(mine.rule_hits) == ["burst", "zz_newer"]
    mine.merge(other)
    assert mine.to_json() == _state(mine_rows + other_rows).to_json()
    assert sorted(mine.rule_hits) == [*(f"a{k:02d}" for k in range(16)), "burst"]


def test_a_batch_drops_the_hits_of_a_rule_the_count_no_longer_keeps() -> None:
    # one rollup, two batches: its newer rule counted, then pushed out by 16 lesser names
    # (the count keeps the least 16): its hits go with it, as in one batch of all the rows
    rows = _rows()[:2]
    first = [r.model_copy(update={"rule_flags": {"zz_newer": True, "burst": True}})
             for r in rows[:1]]
    then = [r.model_copy(update={"rule_flags": {f"a{k:02d}": True for k in range(16)}})
            for r in rows[1:]]
    state = _state(first)
    assert sorted(state.rule_hits) == ["burst", "zz_newer"]
    state.update([facts_of(t) for t in then], [scored_cells(t) for t in then])
    assert state.to_json() == _state(first + then).to_json()
    assert sorted(state.rule_hits) == [*(f"a{k:02d}" for k in range(16)), "burst"]


def test_the_rollup_takes_every_one_of_its_settings() -> None:
    # each EXPORTS_ setting of the rollup reaches it, none left at its default
    settings = ExportSettings(top_cases=7, case_gap_s=600.0, case_days=2.0, sample_per_band=3,
                              sample_key="s3cret-key", watermark_customers=4)
    assert params_of(settings) == RollupParams(7, 600.0, 2.0, 3, "s3cret-key", 4)
    assert params_of(settings) != params_of(ExportSettings())


def _flagged(i: int, customer: str, when: datetime, score: float) -> ScoredTransaction:
    return _rows()[0].model_copy(update={
        "transaction_id": f"f{i}", "customer_id": customer, "timestamp": when,
        "score": score, "is_flag": True})


def test_the_cases_recency_is_measured_by_the_rollups_quorum_also_after_a_restore() -> None:
    # cases.csv: the top case by score plus every case of the last day before the time 2
    # customers reached (the quorum). a's case of day 1 is neither, once both reached day
    # 10; measured with the default quorum (8) no time is reached and every case is listed.
    # A case book saved before the quorum (its latest time only) restores with it too.
    day = datetime(2025, 3, 1, 10)
    rows = [_flagged(0, "a", day, 0.5), _flagged(1, "a", day + timedelta(days=9), 0.6),
            _flagged(2, "b", day + timedelta(days=9, hours=1), 0.9)]
    params = RollupParams(top_cases=1, case_days=1.0, watermark_customers=2)
    state = RollupState(params)
    state.update([facts_of(t) for t in rows], [scored_cells(t) for t in rows])
    assert [(c.customer, c.first) for c in state.cases.listed()] == [
        ("b", "2025-03-10T11:00:00"), ("a", "2025-03-10T10:00:00")]
    saved = state.to_json()
    del saved["case_book"]["clock"]  # as saved before the quorum
    old = RollupState.from_json(saved)
    later = [_flagged(3, "a", day + timedelta(days=20), 0.1),
             _flagged(4, "b", day + timedelta(days=20, hours=1), 0.2)]
    old.update([facts_of(t) for t in later], [scored_cells(t) for t in later])
    # the top case, then day 21's by score: a's of day 10 no longer recent
    assert [(c.customer, c.first) for c in old.cases.listed()] == [
        ("b", "2025-03-10T11:00:00"), ("b", "2025-03-21T11:00:00"), ("a", "2025-03-21T10:00:00")]


def test_a_case_of_the_rollup_shows_its_rows_highest_score_and_model_score() -> None:
    # cases.csv's score and model_score cells: the highest of the case's rows (an empty
    # model_score cell is a case the model never scored)
    day = datetime(2025, 3, 1, 10)
    rows = [_flagged(0, "a", day, 0.5).model_copy(update={"model_score": 0.25}),
            _flagged(1, "a", day + timedelta(minutes=5), 0.75).model_copy(
                update={"model_score": 0.125})]
    state = RollupState(RollupParams(top_cases=5, watermark_customers=1))
    state.update([facts_of(t) for t in rows], [scored_cells(t) for t in rows])
    [case] = state.cases.ranked()
    assert case[2] == "a" and case[7:9] == ["0.75", "0.25"]


def test_a_rollup_without_rows_has_no_event_times_until_its_first_row() -> None:
    # run.json's event_time_min and _max (and the checkpoint) say null, not "", for a sink
    # that has written no row yet; the first row is both
    empty = RollupState.from_json(RollupState().to_json())
    assert (empty.event_min, empty.event_max) == (None, None)
    assert json.loads(json.dumps(RollupState().to_json()))["event_max"] is None
    row = _rows()[3]
    empty.update([facts_of(row)], [scored_cells(row)])
    assert (empty.event_min, empty.event_max) == ("2025-03-01T22:51:00",) * 2


def test_every_count_is_saved_as_an_integer() -> None:
    # the checkpoint and the exports read whole numbers: a float array (numpy's default)
    # would save `1.0`, which equals 1 in Python but not in the JSON's text
    text = json.dumps(_state(_rows()).to_json())
    for key in ("counts", "model_counts", "by_type", "by_type_model", "rule_hits",
                "detector_ml", "detector_flag", "model_versions"):
        assert ".0" not in json.dumps(json.loads(text)[key]), key


def test_a_rollup_saved_before_its_first_mark_and_any_row_restores_without_a_mark() -> None:
    # no rows, no earliest time: no start of the dashboards' date range (run.json's
    # event_low_watermark None), not a made-up one
    saved = RollupState().to_json()
    del saved["first_mark"]
    old = RollupState.from_json(saved)
    assert old.first_mark_saved is False
    assert old.first_mark.value == ""


def test_a_rollup_made_with_a_number_keeps_that_many_top_cases() -> None:
    # `RollupState(n)`, the tests' and bench/rollup_bench.py's short form: its case book
    # cut at n top cases, the other params their defaults (every caller passed 100, the
    # default, so the number ignored passed every test)
    state = RollupState(2)
    assert state.params == RollupParams(top_cases=2)
    assert state.to_json()["case_book"]["top"] == 2


def test_a_rollup_saved_before_its_params_restores_with_the_defaults() -> None:
    saved = _state(_rows()).to_json()
    del saved["params"]
    old = RollupState.from_json(saved)
    assert old.params == RollupParams()
    assert old.to_json()["counts"] == saved["counts"]


def test_a_rollup_with_newer_rules_restores_their_counts() -> None:
    rows = [r.model_copy(update={"rule_flags": {"zz_newer": True, "burst": True}})
            for r in _rows()[:3]]
    state = _state(rows)
    again = RollupState.from_json(json.loads(json.dumps(state.to_json())))
    assert again.unknown_rules.to_json() == {"rows": {"zz_newer": 3}, "fired": {"zz_newer": 3},
                                             "any": 3}
    assert again.to_json() == state.to_json()


def test_the_audit_sample_is_drawn_with_the_rollups_own_key() -> None:
    # the key (EXPORTS_SAMPLE_KEY) makes the sample unpredictable to those it audits: drawn
    # with the default key instead, anyone could tell which rows an auditor will see
    rows = _rows()
    params = RollupParams(sample_per_band=1, sample_key="a secret of the audit team")
    state = RollupState(params)
    state.update([facts_of(t) for t in rows], [scored_cells(t) for t in rows])
    alone = AuditSample(1, "a secret of the audit team")
    alone.offer_rows([scored_cells(t) for t in rows if not t.is_flag])
    default = AuditSample(1)
    default.offer_rows([scored_cells(t) for t in rows if not t.is_flag])
    assert state.sample.to_json() == alone.to_json()
    assert alone.strata != default.strata  # the keys choose other rows
