"""Replay's readers at the edges: repeated ids across files, calendar-edge timestamps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producer.sources import load, ordered_row_count, stream, streamable_rows
from shared.csv_io import RowError
from shared.schemas import CSV_FIELDS

HEADER = ",".join(CSV_FIELDS)


def _file(tmp_path: Path, name: str, rows: list[tuple[str, str]]) -> Path:
    path = tmp_path / name
    lines = [f"{tid},c1,{ts},5,CH,app,pc,food,,False,normal" for tid, ts in rows]
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def _ids(records: Sequence[tuple[object, bytes, bytes]]) -> list[str]:
    return [orjson.loads(value)["transaction_id"] for _, _, value in records]


def _reasons(rejects: dict[Path, list[RowError]]) -> list[tuple[str, int, str]]:
    return [(p.name, e.line, e.reason) for p, errs in rejects.items() for e in errs]


def test_load_rejects_ids_repeated_within_and_across_files(tmp_path: Path) -> None:
    a = _file(tmp_path, "a.csv", [("1", "2025-01-01 00:00:02"), ("2", "2025-01-01 00:00:01"),
                                  ("1", "2025-01-01 00:00:03")])
    b = _file(tmp_path, "b.csv", [("2", "2025-01-01 00:00:00"), ("3", "2025-01-01 00:00:04")])
    loaded = load([a, b])
    assert _ids(loaded.records) == ["2", "1", "3"]
    assert _reasons(loaded.rejects) == [
        ("a.csv", 4, "duplicate transaction_id '1' (first at line 2)"),
        ("b.csv", 2, f"duplicate transaction_id '2' (first at line 3 of {a})"),
    ]


def test_stream_rejects_ids_repeated_within_and_across_files(tmp_path: Path) -> None:
    a = _file(tmp_path, "a.csv", [("1", "2025-01-01 00:00:01"), ("2", "2025-01-01 00:00:03")])
    b = _file(tmp_path, "b.csv", [("1", "2025-01-01 00:00:02"), ("3", "2025-01-01 00:00:04"),
                                  ("3", "2025-01-01 00:00:05")])
    rejects: dict[Path, list[RowError]] = {}
    assert _ids(list(stream([a, b], rejects))) == ["1", "2", "3"]
    assert _reasons(rejects) == [
        ("b.csv", 2, f"duplicate transaction_id '1' (first at line 2 of {a})"),
        ("b.csv", 4, "duplicate transaction_id '3' (first at line 3)"),
    ]


def test_replaying_the_same_file_twice_in_one_run_sends_each_row_once(tmp_path: Path) -> None:
    a = _file(tmp_path, "a.csv", [("1", "2025-01-01 00:00:01"), ("2", "2025-01-01 00:00:02")])
    loaded = load([a, a])
    assert _ids(loaded.records) == ["1", "2"] and loaded.rejected == 2


def test_order_check_survives_timestamps_at_the_calendar_edges(tmp_path: Path) -> None:
    # `astimezone` raised OverflowError on these before: replay died with a traceback.
    path = _file(tmp_path, "edge.csv", [("1", "2025-01-01 00:00:00"),
                                        ("2", "0001-01-01T00:00:00+01:00"),
                                        ("3", "9999-12-31T23:59:59-01:00"),
                                        ("4", "2025-01-01 00:00:01")])
    assert ordered_row_count(path) == 4
    rejects: dict[Path, list[RowError]] = {}
    assert _ids(list(stream([path], rejects))) == ["1", "4"]
    assert [e.line for e in rejects[path]] == [3, 4]


def _score_rows(paths: Sequence[Path]) -> list[tuple[str, str, float]]:
    """What `score` keeps, in its order: its own reader and sort (auditstream.sorted_input)."""
    from auditstream.sorted_input import merged

    errors: list[RowError] = []
    with merged(paths, errors) as rows:
        return [(t.transaction_id, t.customer_id, t.amount) for t in rows]


def _replay_rows(paths: Sequence[Path]) -> list[tuple[str, str, float]]:
    """What `replay` would send, in its order: streamed when it may be, else sorted."""
    rejects: dict[Path, list[RowError]] = {}
    records = (stream(paths, rejects) if streamable_rows(paths) is not None
               else load(paths).records)
    return [(d["transaction_id"], d["customer_id"], d["amount"])
            for d in (orjson.loads(v) for _, _, v in records)]


def _file2(tmp_path: Path, name: str, rows: list[tuple[str, str, str, int]]) -> Path:
    path = tmp_path / name
    lines = [f"{tid},{cid},{ts},{amount},CH,app,pc,food,,False,normal"
             for tid, cid, ts, amount in rows]
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def test_a_copy_in_two_files_is_the_same_one_score_keeps(tmp_path: Path) -> None:
    # The hostile probe's case: both files in time order, the id in both. Streamed, replay
    # kept b.csv's copy (the earlier), score a.csv's (the first in file order): the
    # pipeline's exports differed from score's. Now neither file is streamed.
    a = _file2(tmp_path, "a.csv", [("1", "c1", "2025-01-01 10:00:00", 1),
                                   ("X", "c1", "2025-01-01 12:00:00", 111)])
    b = _file2(tmp_path, "b.csv", [("X", "c2", "2025-01-01 09:00:00", 222),
                                   ("2", "c2", "2025-01-01 13:00:00", 2)])
    assert streamable_rows([a, b]) is None
    assert _replay_rows([a, b]) == _score_rows([a, b])
    assert ("X", "c1", 111.0) in _replay_rows([a, b])


def test_a_copy_read_ahead_by_the_merge_does_not_win(tmp_path: Path) -> None:
    # The merge reads every file's first row before sending any: b.csv's first row (X, in
    # February) claimed the id before a.csv's X (January), sent first, was read.
    a = _file2(tmp_path, "a.csv", [("1", "c1", "2025-01-01 10:00:00", 1),
                                   ("X", "c1", "2025-01-05 12:00:00", 111)])
    b = _file2(tmp_path, "b.csv", [("X", "c2", "2025-02-01 09:00:00", 222),
                                   ("2", "c2", "2025-02-01 13:00:00", 2)])
    assert _replay_rows([a, b]) == _score_rows([a, b]) == [
        ("1", "c1", 1.0), ("X", "c1", 111.0), ("2", "c2", 2.0)]


def test_files_without_shared_ids_are_still_streamed(tmp_path: Path) -> None:
    a = _file2(tmp_path, "a.csv", [("1", "c1", "2025-01-01 10:00:00", 1),
                                   ("3", "c1", "2025-01-01 12:00:00", 3)])
    b = _file2(tmp_path, "b.csv", [("2", "c2", "2025-01-01 11:00:00", 2),
                                   (" 2 ", "c2", "2025-01-01 13:00:00", 4)])  # within a file
    assert streamable_rows([a, b]) == 4
    assert streamable_rows([a, a]) is None  # one file twice: every id in two reads
    assert _replay_rows([a, b]) == _score_rows([a, b])


_ids_st = st.sampled_from(["1", "2", "3", "X", " X"])
_rows_st = st.lists(st.tuples(_ids_st, st.sampled_from(["c1", "c2"]),
                              st.integers(0, 5), st.integers(1, 9)), max_size=6)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(st.tuples(_rows_st, st.booleans()), min_size=1, max_size=3))
def test_replay_sends_what_score_keeps_for_any_files(
    tmp_path: Path, files: list[tuple[list[tuple[str, str, int, int]], bool]]
) -> None:
    paths = []
    for n, (rows, ordered) in enumerate(files):
        rows = sorted(rows, key=lambda r: r[2]) if ordered else rows
        paths.append(_file2(tmp_path, f"f{n}.csv", [
            (tid, cid, f"2025-01-01 00:00:0{sec}", amount) for tid, cid, sec, amount in rows]))
    assert _replay_rows(paths) == _score_rows(paths)
