"""Cases as episodes (`sink.cases`): the gap rule at its boundary, stable ids, and the same
cases whatever the batch cuts, restarts, worker slices or partition interleaving."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.schemas import ScoredTransaction
from sink import state as sink_state
from sink.assurance_table import transaction_rows
from sink.cases import Case, CaseBook, case_id
from sink.csvfmt import scored_cells
from sink.folder import open_checkpoint
from sink.offline import ExportWriter, write_exports
from sink.rollup import RollupParams, facts_of
from sink.settings import ExportSettings
from sink.volume import SinkRollup
from tests.unit.test_rollup_pandas import random_scored

T0 = datetime(2025, 3, 1, 8)


def _tx(txid: str, customer: str, at: timedelta, score: float = 0.9, flag: bool = True,
        rules: tuple[str, ...] = ("burst",), amount: float = 10.0) -> ScoredTransaction:
    return ScoredTransaction(
        transaction_id=txid, customer_id=customer, timestamp=T0 + at, amount=amount,
        country="CH", channel="app", device="pc", merchant_category="food", score=score,
        model_score=score / 2, rule_flags={r: True for r in rules}, is_rule_flag=bool(rules),
        is_flag=flag, triggered_rules=list(rules), reasons_top3=[f"{txid} reason"],
    )


def _state(rows: list[ScoredTransaction], cuts: list[int] | None = None,
           params: RollupParams | None = None) -> SinkRollup:
    """Rows fed as the writer feeds them: a delta per batch, merged in order."""
    state = SinkRollup(params)
    bounds = [0, *sorted(set(cuts or [])), len(rows)]
    for lo, hi in itertools.pairwise(bounds):
        if hi <= lo:
            continue
        delta = SinkRollup(params)
        chunk = rows[lo:hi]
        delta.update([facts_of(t) for t in chunk], [scored_cells(t) for t in chunk])
        state.merge(delta)
    return state


H = timedelta(hours=1)
S = timedelta(seconds=1)


def test_rows_within_the_gap_form_one_case_and_the_gap_plus_one_second_starts_another() -> None:
    rows = [_tx("a1", "alice", 0 * H), _tx("b1", "bob", 0 * H),
            _tx("a2", "alice", 2 * H),            # exactly the gap after a1: joins
            _tx("n1", "alice", 3 * H, flag=False),  # not flagged: never in a case
            _tx("a3", "alice", 4 * H + S),        # gap + 1 s after a2: a new case
            _tx("a4", "alice", 2 * H + S, score=0.95)]  # late, within the new case's span
    book = _state(rows).cases
    ranked = {r[1]: r for r in book.ranked()}
    first, second = case_id("alice", "a1"), case_id("alice", "a3")
    assert set(ranked) == {first, second, case_id("bob", "b1")}
    assert ranked[first][5] == "2" and ranked[second][5] == "2"  # a1+a2, a3+a4
    assert [tx[0] for tx in book.cases[second].txs] == ["a3", "a4"]
    assert ranked[second][3:5] == [(T0 + 2 * H + S).isoformat(), (T0 + 4 * H + S).isoformat()]
    assert ranked[second][13] == "a4"  # the strongest transaction
    assert first == "case-" + hashlib.sha256(b"alice\x1fa1").hexdigest()[:16]


def test_a_case_keeps_its_id_as_it_grows_and_ranks_by_its_highest_score() -> None:
    rows = [_tx("x1", "c", 0 * H, score=0.2), _tx("y1", "d", 0 * H, score=0.5)]
    before = [r[1] for r in _state(rows).cases.ranked()]
    rows.append(_tx("x2", "c", H, score=0.99, rules=("burst", "high_amount")))
    after = _state(rows).cases.ranked()
    assert before == [case_id("d", "y1"), case_id("c", "x1")]
    assert [r[1] for r in after] == [case_id("c", "x1"), case_id("d", "y1")]
    assert after[0][7] == "0.99" and after[0][11] == "high_amount;burst"


def _listing(state: SinkRollup) -> list[list[str]]:
    return state.cases.ranked()


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(0, 1_500), max_size=12))
def test_the_same_cases_whatever_the_batch_cuts(cuts: list[int]) -> None:
    rows = random_scored(1_500, seed=11)
    assert _listing(_state(rows, cuts)) == _listing(_state(rows))


def test_the_same_cases_after_a_restart_from_the_checkpointed_state() -> None:
    rows = random_scored(2_000, seed=12)
    whole = _state(rows)
    half = _state(rows[:900])
    restored = SinkRollup.from_json(json.loads(json.dumps(half.to_json())))
    restored.merge(_delta(rows[900:]))
    assert _listing(restored) == _listing(whole)
    assert restored.to_json() == whole.to_json()


def _delta(rows: list[ScoredTransaction]) -> SinkRollup:
    delta = SinkRollup()
    delta.update([facts_of(t) for t in rows], [scored_cells(t) for t in rows])
    return delta


def test_the_same_cases_for_another_interleaving_of_the_partitions() -> None:
    # Two sinks see each partition in order but the partitions interleaved differently;
    # a customer lives on one partition, so its rows keep their order.
    rows = random_scored(2_000, seed=13)
    parts: dict[int, list[ScoredTransaction]] = {}
    for t in rows:
        parts.setdefault(hash(t.customer_id) % 3, []).append(t)
    rng = random.Random(5)
    mixed: list[ScoredTransaction] = []
    while parts:
        p = rng.choice(sorted(parts))
        n = rng.randrange(1, 50)
        mixed += parts[p][:n]
        parts[p] = parts[p][n:]
        if not parts[p]:
            del parts[p]
    assert sorted(t.transaction_id for t in mixed) == sorted(t.transaction_id for t in rows)
    a, b = _listing(_state(rows)), _listing(_state(mixed))
    assert sorted(r[1:] for r in a) == sorted(r[1:] for r in b)
    assert [r[1] for r in a] == [r[1] for r in b]


def test_sink_and_score_list_the_same_cases(tmp_path: Path) -> None:
    rows = random_scored(1_200, seed=14)
    write_exports(rows, tmp_path / "one")
    with ExportWriter(tmp_path / "two") as exports:  # in uneven batches, as score streams
        for lo in range(0, len(rows), 97):
            exports.write(rows[lo : lo + 97])
        exports.finish()
    one = pd.read_csv(tmp_path / "one" / "cases.csv", dtype=str, keep_default_na=False)
    two = pd.read_csv(tmp_path / "two" / "cases.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(one, two)
    assert (one["transactions"].astype(int) > 1).any()  # episodes, not single alerts


def test_the_case_book_stays_bounded_as_days_go_by() -> None:
    # 60 days, a flagged row per customer every 3 h: 480 cases a day. Only the top 20
    # and the last 2 days' cases (plus each customer's latest) are kept.
    params = RollupParams(top_cases=20, case_days=2.0)
    state = SinkRollup(params)
    sizes = []
    for day in range(60):
        rows = [_tx(f"{day}-{h}-{c}", f"c{c}", timedelta(days=day, hours=3 * h),
                    score=random.Random(day * 1000 + h * 100 + c).random())
                for h in range(8) for c in range(60)]
        state.merge(_delta_p(rows, params))
        sizes.append(len(state.cases.cases))
    assert max(sizes[10:]) <= 3 * max(sizes[2:5])
    assert state.cases.created == 60 * 8 * 60
    listed = state.cases.listed()
    cutoff = (T0 + timedelta(days=59, hours=21) - timedelta(days=2)).isoformat()
    assert all(i < 20 or c.last >= cutoff for i, c in enumerate(listed))
    assert sum(n for n, _l, _a in state.cases.retired.values()) + len(state.cases.cases) == \
        state.cases.created


def _delta_p(rows: list[ScoredTransaction], params: RollupParams) -> SinkRollup:
    delta = SinkRollup(params)
    delta.update([facts_of(t) for t in rows], [scored_cells(t) for t in rows])
    return delta


def test_only_a_delta_can_be_absorbed() -> None:
    book = CaseBook()
    grouped = _state([_tx("a", "c", 0 * H)]).cases
    try:
        book.absorb(grouped)
    except ValueError as exc:
        assert "delta" in str(exc)
    else:
        raise AssertionError("a grouped book was absorbed")


def test_a_replayed_transaction_id_is_linked_once() -> None:
    rows = [_tx("a1", "c", 0 * H), _tx("a1", "c", H), _tx("a1", "d", H)]
    state = _state(rows)
    links = transaction_rows(state.cases.listed())
    assert [r[1] for r in links] == ["a1"] and len(state.cases.cases) == 2


def test_a_partition_days_behind_another_still_joins_its_customers_cases() -> None:
    # Partition A is consumed ten days ahead of partition B (a backlog after a restart);
    # B's customer must still get the case any reader gets: its late row joins the case.
    params = RollupParams(top_cases=5, case_days=7.0)
    ahead = [_tx(f"a{i}", f"a{i % 10}", timedelta(hours=i), score=0.99)
             for i in range(600)]  # 25 days, a case each 10 h per customer: prunes
    rows = [_tx("b1", "b", 0 * H, score=0.1), *ahead, _tx("b2", "b", H, score=0.1)]
    state = _state(rows, [1, 300, 601], params)
    assert len(state.cases.cases) < 600  # pruned meanwhile
    b = state.cases.cases[case_id("b", "b1")]
    assert [tx[0] for tx in b.txs] == ["b1", "b2"]
    assert state.cases.created == 601


def test_a_checkpoint_saves_each_case_as_its_fields_in_slot_order(tmp_path: Path) -> None:
    """`Case.to_json` (its fields read at once) is each slot's value in `__slots__` order,
    and `.sink-state.json` is `json.dumps` of the checkpoint as it always was."""
    state = _state(random_scored(1_500, seed=4))
    cases = list(state.cases.cases.values())
    assert len(cases) > 20
    for case in cases:
        assert case.to_json() == [getattr(case, name) for name in Case.__slots__]
    cp = open_checkpoint(tmp_path, "t", ExportSettings(), False)
    cp.rollup = state
    sink_state.save(tmp_path, cp)
    saved = (tmp_path / sink_state.STATE_FILE).read_text()
    assert saved == json.dumps(cp.to_json())
    assert json.loads(saved)["rollup"]["case_book"]["cases"] == json.loads(
        json.dumps([c.to_json() for c in sorted(cases, key=lambda c: c.id)]))
