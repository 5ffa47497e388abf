"""A `.sink-state.json` hand-edited, copied from elsewhere or damaged into valid JSON of
the wrong values (probe of 2026-12-06) is the sink's one-line `SinkStateError`, never a
traceback, and never a licence to touch files outside its folder: its `lengths` name the
files the sink cuts back to their checkpointed size at start (`cut_to_checkpoint`), so a
name `/home/u/notes.txt` or `../other/cases.csv` cut that file; a negative length was an
OSError traceback; a negative offset is Kafka's "the end" (-1) or "the beginning" (-2), not
an offset; JSON nested past Python's recursion limit was a RecursionError traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sink.state import STATE_FILE, SinkStateError, load
from tests.unit.test_state_file_damage import SAVED


def _write(folder: Path, state: dict[str, Any] | str) -> None:
    text = state if isinstance(state, str) else json.dumps(state)
    (folder / STATE_FILE).write_text(text, "utf-8")


@pytest.mark.parametrize("name", ["/tmp/victim.txt", "../victim.txt", "scored/../../victim.txt",
                                  "", ".", "..", "scored/", "a//b", "C:\\victim.txt"])
def test_a_length_for_a_file_outside_the_folder_is_a_state_error(tmp_path: Path,
                                                                 name: str) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    _write(folder, SAVED | {"lengths": SAVED["lengths"] | {name: 0}})
    with pytest.raises(SinkStateError, match=r"\.sink-state\.json is unreadable .*"
                                             r"move the folder aside"):
        load(folder)


@pytest.mark.parametrize("name", ["sink_rejected.jsonl", "scored/2026-12-06.csv",
                                  "reviews.jsonl"])
def test_the_names_the_sink_writes_still_load(tmp_path: Path, name: str) -> None:
    _write(tmp_path, SAVED | {"lengths": {name: 0, "x.csv": 1}, "offsets": {"0": 0, "3": 7}})
    cp = load(tmp_path)
    assert cp is not None
    assert cp.lengths == {name: 0, "x.csv": 1} and cp.offsets == {0: 0, 3: 7}


@pytest.mark.parametrize("change", [{"lengths": {"x.csv": -1}}, {"offsets": {"0": -1}},
                                    {"offsets": {"0": -2}}, {"offsets": {"-1": 0}}])
def test_a_negative_length_offset_or_partition_is_a_state_error(
        tmp_path: Path, change: dict[str, Any]) -> None:
    _write(tmp_path, SAVED | change)
    with pytest.raises(SinkStateError, match=r"\.sink-state\.json is unreadable"):
        load(tmp_path)


def test_json_nested_past_the_recursion_limit_is_a_state_error(tmp_path: Path) -> None:
    _write(tmp_path, "[" * 200_000 + "]" * 200_000)
    with pytest.raises(SinkStateError, match=r"\.sink-state\.json is unreadable"):
        load(tmp_path)
