"""`score` stopped while it writes its rollups leaves the folder's earlier run whole.

Before (hostile probe, 2026-12-07, session 21): the rollups were written straight into the
folder, one file after another, before the day files were moved in. Ctrl-C (or SIGTERM,
or a full disk) at the third left `thresholds.csv` and `metrics_by_type.csv` of the new
input beside the earlier input's day files, cases and run.json: a folder Power BI reads
as one run, mixing two, exit 130, where the README promises the folder "as it was". Now
the rollups are staged with the day files and moved in with them, the move itself holding
a signal till its last rename.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from auditstream.cli import main
from shared.atomic import atomic_write_bytes, atomic_write_text
from tests.unit.score_runs import files, scored_a


@pytest.fixture
def earlier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding `score`'s run of a.csv; b.csv, another input, beside it."""
    return scored_a(tmp_path, monkeypatch)


@pytest.mark.parametrize(("at", "stop", "code"), [
    (1, KeyboardInterrupt(), 130), (3, KeyboardInterrupt(), 130),
    (3, OSError(errno.ENOSPC, "No space left on device"), 5),
    (8, KeyboardInterrupt(), 130),  # run.json, the last
], ids=["first table, Ctrl-C", "third table, Ctrl-C", "third table, full disk",
        "run.json, Ctrl-C"])
def test_a_run_stopped_in_its_rollups_leaves_the_earlier_run(
        earlier: Path, monkeypatch: pytest.MonkeyPatch, at: int, stop: BaseException,
        code: int) -> None:
    before = files(earlier)
    written = [0]

    def stopping(write: Any) -> Any:
        def write_or_stop(path: Path, data: Any, **kwargs: Any) -> None:
            written[0] += 1
            if written[0] == at:
                raise stop
            write(path, data, **kwargs)
        return write_or_stop

    monkeypatch.setattr("sink.exports.atomic_write_bytes", stopping(atomic_write_bytes))
    monkeypatch.setattr("sink.exports.atomic_write_text", stopping(atomic_write_text))
    assert main(["score", "b.csv", "--out", "o"]) == code
    assert written[0] == at
    assert files(earlier) == before


def test_a_whole_run_replaces_every_rollup(earlier: Path) -> None:
    """The control: the staged rollups are moved in, none left in the staging folder."""
    before = files(earlier)
    assert main(["score", "b.csv", "--out", "o"]) == 0
    after = files(earlier)
    assert sorted(after) == sorted(
        name.replace("2025-01", "2025-02") for name in before)
    for name in ("thresholds.csv", "cases.csv", "run.json", "assurance.csv"):
        assert after[name] != before[name], name
    assert b"b.csv" in after["run.json"] and b"a.csv" not in after["run.json"]
    assert not any(p.name.startswith(".scored") for p in earlier.iterdir())
