"""bench/service_split.py's accounting: each stage's time is its own (its timed parts taken
out), what is left of a parent is named as its rest, and the stages add up to the window."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from service_split import Split


def _split(spent: dict[str, float], window: float) -> Split:
    split = Split()
    split.spent.update(spent)
    split.first, split.end = 10.0, 10.0 + window
    return split


def test_each_stage_is_counted_once_and_the_stages_fill_the_window() -> None:
    spent = {"turn": 9.0, "batch": 7.5, "process": 7.0, "engine": 4.0, "decode": 0.5,
             "write (encode + produce)": 1.5, "encode": 0.5, "produce": 0.75,
             "commit": 1.25, "commit: send_offsets": 0.75, "consume": 0.5}
    out = _split(spent, 10.0).exclusive()
    assert out == pytest.approx({
        "turn, the rest (metrics, lag)": 9.0 - 7.5 - 1.25,
        "batch: begin, poll, metrics": 0.5,
        "process: grouping, loop lines": 7.0 - 4.0 - 0.5 - 1.5,
        "engine": 4.0, "decode": 0.5,
        "write: the loop's lines": 1.5 - 0.5 - 0.75, "encode": 0.5, "produce": 0.75,
        "commit, the rest": 0.5, "commit: send_offsets": 0.75,
        "consume": 0.5, "loop, the rest (between turns)": 0.5,
    })
    assert sum(out.values()) == pytest.approx(10.0)


def test_a_stage_without_timed_parts_keeps_its_name() -> None:
    out = _split({"turn": 2.0, "batch": 2.0, "process": 2.0,
                  "write (encode + produce)": 1.0}, 3.0).exclusive()
    assert out["write (encode + produce)"] == pytest.approx(1.0)
    assert "write: the loop's lines" not in out
    assert out["process: grouping, loop lines"] == pytest.approx(1.0)
    assert out["loop, the rest (between turns)"] == pytest.approx(1.0)
