"""The sink's fast path (a scored message decoded by `shared.fastcodec.decode_scored`, its
cells by `record_cells`) writes every file of an exports folder byte for byte as the schema
path did (`decode(value, ScoredTransaction)`, `scored_cells`, `facts_of` of the model): day
files, rollups, cases, assurance, audit sample, run.json, status.csv, report.html, the
rejected messages with their reasons and the checkpoint, on generated scored messages
(valid, near-valid, broken), cut into batches anywhere.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dashboard.report
import sink.batch
import sink.exports
import sink.folder
import sink.status
from auditstream.report import write_report_from_rollup
from shared.codec import encode
from sink.csvfmt import scored_cells
from sink.settings import ExportSettings
from sink.writer import Record, SinkWriter
from tests.unit.test_fastcodec_scored import near_valid_scored_text
from tests.unit.test_rollup_pandas import random_scored

FROZEN = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)


class _Frozen(datetime):
    """`datetime` whose `now` is `FROZEN`: both folders carry the same times."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return FROZEN if tz is not None else FROZEN.replace(tzinfo=None)


@contextmanager
def _frozen_clock() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for module in (sink.exports, sink.folder, sink.status, dashboard.report):
            mp.setattr(module, "datetime", _Frozen)
        yield


@contextmanager
def _schema_path() -> Iterator[None]:
    """The sink as it read a scored message before the fast path: the schema's model for
    every message, its cells by `scored_cells`, its facts by `facts_of`."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sink.batch, "decode_scored", lambda _value: None)
        mp.setattr(sink.batch, "scored_record", lambda tx: tx)
        mp.setattr(sink.batch, "record_cells", scored_cells)
        yield


def _export(folder: Path, batches: list[list[Record]]) -> dict[str, bytes]:
    with _frozen_clock():
        w = SinkWriter(folder, "transactions.scored", ExportSettings(top_cases=15),
                       on_rollup=write_report_from_rollup)
        try:
            for batch in batches:
                w.add(batch)
                w.checkpoint()
            w.write_rollups()
            w.stopped()
        finally:
            w.close()
    files = {str(p.relative_to(folder)): p.read_bytes()
             for p in sorted(folder.rglob("*")) if p.is_file()}
    assert "report.html" in files
    return files


def _both(batches: list[list[Record]]) -> tuple[dict[str, bytes], dict[str, bytes]]:
    with tempfile.TemporaryDirectory() as tmp:
        new = _export(Path(tmp) / "new", batches)
        with _schema_path():
            old = _export(Path(tmp) / "old", batches)
    return new, old


def _assert_same(new: dict[str, bytes], old: dict[str, bytes]) -> None:
    assert sorted(new) == sorted(old)
    for name in old:
        assert new[name] == old[name], name


messages = st.lists(
    st.one_of(
        st.integers(0, 10_000).map(lambda seed: encode(random_scored(1, seed, start=seed)[0])),
        near_valid_scored_text(),
        st.sampled_from([None, b"", b"{", b"[]", b'{"transaction_id": "x"}', b"\xff"]),
    ),
    min_size=1, max_size=40)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(messages, st.lists(st.integers(0, 40), max_size=3))
def test_generated_messages_make_the_same_files_as_the_schema_path(
    values: list[bytes | None], cuts: list[int]
) -> None:
    records: list[Record] = [(i % 2, i, v) for i, v in enumerate(values)]
    edges = [0, *sorted(cuts), len(records)]
    batches = [records[a:b] for a, b in pairwise(edges) if a < b]
    _assert_same(*_both(batches))


def test_a_stream_of_rows_makes_the_same_files_as_the_schema_path() -> None:
    rows = [encode(tx) for tx in random_scored(3_000, seed=11)]
    # some the fast path leaves to the schema (edge space, an integer score, a zone), and
    # broken ones: the same rows, rejections and reasons
    rows[5] = rows[5].replace(b'"customer_id":"', b'"customer_id":" ')
    rows[6] = rows[6].replace(b'"timestamp":"2025-01-01T00:03:42"',
                              b'"timestamp":"2025-01-01T01:03:42+01:00"')
    rows[7] = rows[7].replace(b'"is_flag":false', b'"is_flag":"yes"')
    rows[8] = rows[8].replace(b'"source_partition":2', b'"source_partition":2.0')
    rows[9] = rows[9][:40]
    # a fraction finer than a microsecond: the schema truncates it (msgspec would round)
    rows[10] = re.sub(rb'"timestamp":"[^"]*"', b'"timestamp":"2025-01-01T00:06:10.1234567"',
                      rows[10])
    records: list[Record] = [(i % 3, i, v) for i, v in enumerate(rows)]
    new, old = _both([records[:1_234], records[1_234:]])
    _assert_same(new, old)
    assert new["sink_rejected.jsonl"].count(b"\n") == 2
