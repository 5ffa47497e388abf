"""Bounded name lists of the sink stay exact and bounded whatever the stream holds.

run.json's `unknown_scored_fields` keeps the least 16 names (as `unknown_rules` does) with
every row holding each: the same counts whatever the batch cuts, worker slices
(`SINK_DECODE_WORKERS`) and restarts (it kept the first 16 a slice saw: another slice's
rows of a name the folder kept were lost). A case keeps at most 64 rule names (the most a
row holds), the least, and a cut mark when it left any out: a customer's rows naming new
rules each made its `cases.csv` cell and the checkpoint grow with every row.
"""

from __future__ import annotations

import csv
import itertools
import json
import tempfile
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sink.writer
from shared.codec import encode
from shared.columns import CASES_COLUMNS, RULE_NAMES
from shared.fastcodec import MAX_UNKNOWN_FIELDS, unknown_scored_fields
from shared.schemas import MAX_VERDICT_ITEMS, MAX_VERDICT_TEXT_CHARS, ScoredTransaction
from sink.batch import BatchResult
from sink.cases import CaseBook, flagged_of
from sink.csvfmt import scored_cells
from sink.settings import ExportSettings
from sink.state import STATE_FILE
from sink.writer import Record, SinkWriter
from tests.unit.test_rollup_pandas import random_scored

TOPIC = "transactions.scored"
#: the names a row may hold unknown: more than the bound, so which are kept matters
NAMES = [f"n{i:02d}" for i in range(MAX_UNKNOWN_FIELDS + 8)]


class _InProcessPool:
    """`SINK_DECODE_WORKERS`' pool, its slices formatted here in order (as `Pool.map`)."""

    def map(self, fn: Callable[[Any], BatchResult], items: Iterable[Any]) -> list[BatchResult]:
        return [fn(item) for item in items]

    def terminate(self) -> None:
        pass

    def join(self) -> None:
        pass


def _writer(folder: Path, workers: int) -> SinkWriter:
    w = SinkWriter(folder, TOPIC, ExportSettings())
    if workers > 1:
        w._pool, w._workers = _InProcessPool(), workers  # type: ignore[assignment]
    return w


def _with_fields(tx: ScoredTransaction, names: Sequence[str]) -> bytes:
    value = encode(tx)
    return value[:-1] + "".join(f',"{name}":{i}' for i, name in enumerate(names)).encode() + b"}"


def _sink(records: list[Record], cuts: list[int], restart: int | None,
          workers: Sequence[int]) -> dict[str, Any]:
    """run.json after `records` in batches cut at `cuts`, the sink restarted from its
    checkpoint before the batch `restart`, each process with its number of `workers`."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        w = _writer(folder, workers[0])
        bounds = [0, *cuts, len(records)]
        for i, (a, b) in enumerate(itertools.pairwise(bounds)):
            if i == restart:
                w.checkpoint()
                w.close()
                w = _writer(folder, workers[1])
            w.add(records[a:b])
        w.checkpoint()
        run = w.write_rollups(report=False)
        w.close()
        return run


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.sampled_from(NAMES), unique=True, max_size=MAX_UNKNOWN_FIELDS),
                min_size=1, max_size=30), st.data())
def test_unknown_fields_counts_are_the_same_whatever_the_cuts_slices_and_restarts(
        monkeypatch: pytest.MonkeyPatch, rows_names: list[list[str]], data: st.DataObject
) -> None:
    monkeypatch.setattr(sink.writer, "MIN_SLICE", 1)  # slice batches of any size
    rows = random_scored(len(rows_names), seed=3)
    records: list[Record] = [(0, i, _with_fields(tx, names))
                             for i, (tx, names) in enumerate(zip(rows, rows_names, strict=True))]
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(records)), max_size=4))))
    restart = data.draw(st.none() | st.integers(1, len(cuts))) if cuts else None
    workers = data.draw(st.lists(st.integers(1, 4), min_size=2, max_size=2))
    run = _sink(records, cuts, restart, workers)
    kept = sorted({name for names in rows_names for name in names})[:MAX_UNKNOWN_FIELDS]
    assert run["unknown_scored_fields"] == {
        name: sum(name in names for names in rows_names) for name in kept}
    assert run["rows_with_unknown_fields"] == sum(map(bool, rows_names))


@pytest.mark.parametrize("n", [MAX_UNKNOWN_FIELDS - 1, MAX_UNKNOWN_FIELDS,
                               MAX_UNKNOWN_FIELDS + 1, 1_000])
def test_a_message_names_its_least_unknown_fields(n: int) -> None:
    """The least, not the first written: a name the folder keeps is counted in every row
    holding it, however many other names a row holds."""
    names = [f"f{i:04d}" for i in reversed(range(n))]
    value = _with_fields(random_scored(1, seed=1)[0], names)
    assert unknown_scored_fields(value) == tuple(sorted(names)[:MAX_UNKNOWN_FIELDS])


def test_a_checkpoint_with_the_first_names_seen_continues() -> None:
    """A checkpoint of a sink before the least-names rule (up to 16 names, the first seen)
    restores; names past the bound give way to less ones from then on."""
    rows = random_scored(3, seed=2)
    first = [f"z{i:02d}" for i in range(MAX_UNKNOWN_FIELDS)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        w = SinkWriter(folder, TOPIC, ExportSettings())
        w.add([(0, 0, encode(rows[0]))])
        w.checkpoint()
        w.close()
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        state["extra"]["unknown_scored_fields"] = dict.fromkeys(first, 2)
        state["extra"]["rows_with_unknown_fields"] = 2
        (folder / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
        w = SinkWriter(folder, TOPIC, ExportSettings())
        w.add([(0, 1, _with_fields(rows[1], ["a1", "z99"])),
               (0, 2, _with_fields(rows[2], ["z00"]))])
        w.checkpoint()
        run = w.write_rollups(report=False)
        w.close()
    assert run["unknown_scored_fields"] == {
        "a1": 1, **dict.fromkeys(first[:MAX_UNKNOWN_FIELDS - 1], 2), "z00": 3}
    assert run["rows_with_unknown_fields"] == 4


def _rules_message(tx: ScoredTransaction, rules: list[str]) -> bytes:
    value = json.loads(encode(tx))
    value.update(triggered_rules=rules, is_rule_flag=True, is_flag=True)
    return json.dumps(value).encode()


def _cases(folder: Path) -> list[dict[str, str]]:
    with open(folder / "cases.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("rows", [1, 2, 40])
def test_a_cases_rule_names_are_bounded_whatever_its_rows_name(tmp_path: Path,
                                                               rows: int) -> None:
    """One customer's rows within the case gap, each naming 64 new 1,000-character rules
    (the schema's most): the case keeps the least 64 and says it left others out."""
    base = random_scored(rows, seed=8)
    t0 = base[0].timestamp
    names = [f"{i:05d}" + "r" * (MAX_VERDICT_TEXT_CHARS - 5)
             for i in reversed(range(rows * MAX_VERDICT_ITEMS))]
    records: list[Record] = []
    for i, tx in enumerate(base):
        one = tx.model_copy(update={"customer_id": "c1", "timestamp": t0 + timedelta(seconds=i)})
        records.append((0, i, _rules_message(
            one, names[i * MAX_VERDICT_ITEMS:(i + 1) * MAX_VERDICT_ITEMS])))
    w = SinkWriter(tmp_path, TOPIC, ExportSettings())
    w.add(records)
    w.checkpoint()
    w.write_rollups(report=False)
    w.close()
    [case] = _cases(tmp_path)
    least = sorted(names)[:MAX_VERDICT_ITEMS]
    more = len(names) > MAX_VERDICT_ITEMS
    assert case["triggered_rules"].split(";") == [*least, *(["…"] if more else [])]
    assert case["transactions"] == str(rows)
    # the cell and the checkpoint hold no more than one row's rules can, whatever the rows
    assert len(case["triggered_rules"]) <= MAX_VERDICT_ITEMS * (MAX_VERDICT_TEXT_CHARS + 1) + 1
    assert (tmp_path / STATE_FILE).stat().st_size < 200_000
    assert (tmp_path / "cases.csv").stat().st_size < 80_000


def test_a_cases_rules_are_the_same_whatever_the_order_of_its_rows() -> None:
    """The least names, not the first: the kept names and the mark depend on what the rows
    hold, and a case restored from its checkpoint goes on as one never stopped."""
    base = random_scored(3, seed=4)
    groups = [[f"b{i:03d}" for i in range(60)], [f"a{i:03d}" for i in range(10)],
              ["c", RULE_NAMES[-1]]]
    cells = []
    for order in ([0, 1, 2], [2, 1, 0]):
        book = CaseBook()
        for j, k in enumerate(order):
            tx = base[j].model_copy(update={
                "customer_id": "c1", "timestamp": base[0].timestamp + timedelta(seconds=j),
                "triggered_rules": groups[k], "rule_flags": {}, "is_flag": True})
            book.offer(flagged_of(scored_cells(tx), tx.score, tx.model_score, False, True))
            book = CaseBook.from_json(json.loads(json.dumps(book.to_json())))
        [case] = book.listed()
        cells.append(case.cells(1)[CASES_COLUMNS.index("triggered_rules")])
    # a known rule first (cases.csv's order), then the least by name: 64, and the mark
    assert cells[0] == cells[1] == ";".join(
        [RULE_NAMES[-1], *sorted(groups[1] + groups[0])[:MAX_VERDICT_ITEMS - 1], "…"])


@pytest.mark.parametrize("n", [MAX_VERDICT_ITEMS - 1, MAX_VERDICT_ITEMS, MAX_VERDICT_ITEMS + 1])
def test_a_case_marks_its_rules_only_past_the_bound(n: int) -> None:
    base = random_scored(2, seed=5)
    names = [f"r{i:03d}" for i in range(n)]
    book = CaseBook()
    for j, part in enumerate((names[1:], names[:1])):
        tx = base[j].model_copy(update={
            "customer_id": "c1", "timestamp": base[0].timestamp + timedelta(seconds=j),
            "triggered_rules": part, "rule_flags": {}, "is_flag": True})
        book.offer(flagged_of(scored_cells(tx), tx.score, tx.model_score, False, True))
    [case] = book.listed()
    assert case.rules == [*names[:MAX_VERDICT_ITEMS], *(["…"] if n > MAX_VERDICT_ITEMS else [])]
