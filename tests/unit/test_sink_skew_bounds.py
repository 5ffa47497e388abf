"""Bounded name lists of the sink stay exact and bounded whatever the stream holds.

run.json's `unknown_scored_fields` keeps the least 16 names (as `unknown_rules` does) with
every row holding each: the same counts whatever the batch cuts, worker slices
(`SINK_DECODE_WORKERS`) and restarts (it kept the first 16 a slice saw: another slice's
rows of a name the folder kept were lost).
"""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sink.writer
from shared.codec import encode
from shared.fastcodec import MAX_UNKNOWN_FIELDS, unknown_scored_fields
from shared.schemas import ScoredTransaction
from sink.batch import BatchResult
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
