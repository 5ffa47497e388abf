"""`score` stopped right after it moved its day files and tables in leaves no earlier
status.csv, report.html or transactions_scored.csv beside them.

Before (hostile probe, 2026-12-07, session 22): the move-in (`DayWriter.publish`) held a
Ctrl-C or SIGTERM till its last rename, run.json, and raised it then; status.csv,
report.html and the removal of an earlier single-file copy came after, so a stop in that
window left the earlier run's status.csv ("data as of" its last event, its row count) and
report.html (its numbers) beside the new run's tables, and an earlier run's
transactions_scored.csv beside the new day files, exit 130. Now status.csv and report.html
are staged with the tables and moved in by the same held renames, the copy removed there too.
"""

from __future__ import annotations

import csv
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from auditstream.cli import main
from tests.unit.score_runs import scored_a


@pytest.fixture
def earlier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding `score`'s run of a.csv (30 rows; with transactions_scored.csv);
    b.csv, another input of 40 rows, beside it."""
    monkeypatch.setenv("EXPORTS_SINGLE_FILE", "true")
    out = scored_a(tmp_path, monkeypatch)
    monkeypatch.delenv("EXPORTS_SINGLE_FILE")
    assert (out / "transactions_scored.csv").exists()
    return out


def _status(folder: Path) -> dict[str, str]:
    with (folder / "status.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1
    return rows[0]


def _sigterm_after(name: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Send this process SIGTERM right after `os.replace` puts a file at `name` in the
    exports folder `o` (not in its staging folder); return the names renamed into `o` and
    `o/scored`, in order."""
    replace = os.replace
    moved: list[str] = []

    def replace_then_stop(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        replace(src, dst, *args, **kwargs)
        if Path(dst).parent.name in ("o", "scored"):
            moved.append(Path(dst).name)
        if Path(dst).parent.name == "o" and Path(dst).name == name:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(os, "replace", replace_then_stop)
    return moved


def test_a_stop_right_after_the_tables_moved_in_leaves_no_earlier_status(
        earlier: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = {name: (earlier / name).read_bytes() for name in ("status.csv", "report.html")}
    assert _status(earlier)["rows"] == "30"
    moved = _sigterm_after("run.json", monkeypatch)
    assert main(["score", "b.csv", "--out", "o"]) == 130
    assert "run.json" in moved
    run = json.loads((earlier / "run.json").read_text(encoding="utf-8"))
    assert run["inputs"] == ["b.csv"]  # the new run's tables are in
    status = _status(earlier)
    assert status["rows"] == "40"  # was "30": the earlier run's row beside the new tables
    assert status["data_as_of"].startswith("2025-02-")  # b.csv's last event (a.csv: 2025-01)
    report = (earlier / "report.html").read_bytes()
    assert report != before["report.html"]
    assert run["input_sha256"].encode() in report  # the new run's page
    assert not (earlier / "transactions_scored.csv").exists()  # a.csv's rows: stale
    assert not any(p.name.startswith(".scored") for p in earlier.iterdir())


def test_status_and_report_are_the_last_files_moved_in(
        earlier: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader seeing the new status.csv sees every other file of the run in place."""
    moved = _sigterm_after("", monkeypatch)
    assert main(["score", "b.csv", "--out", "o"]) == 0
    assert moved[-2:] == ["status.csv", "report.html"]
    assert moved.index("run.json") < moved.index("status.csv")
