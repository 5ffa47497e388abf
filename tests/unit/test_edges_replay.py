"""Replay's readers at the edges: repeated ids across files, calendar-edge timestamps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import orjson

from producer.sources import load, ordered_row_count, stream
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
