"""`score --out` and `dashboard sample` refuse a stopped sink's exports folder.

Before (hostile probe, 2026-12-07, session 21): `auditstream score in.csv --out exports`
in the folder where the demo's sink had streamed two days of rows (its checkpoint
`.sink-state.json` beside them) exited 0: the sink's day files were deleted and replaced by
the offline run's (21,919 bytes of streamed rows gone; `reviews_log.csv` left beside rows
it was not about), and the sink then refused to resume, "`...2025-03-01.csv` has 4708
bytes but the checkpoint recorded 10924: ... restore it, or start again with --reset",
with nothing left to restore. `dashboard sample exports` did the same. Now exit 2 in one
line, before anything is written, the sink's folder byte for byte, and the sink resumes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from auditstream.cli import main
from sink.state import STATE_FILE
from sink.writer import SinkWriter
from tests.unit.test_sink_upgrade import TOPIC, _feed, _settings, _stream

HEADER = ("transaction_id,customer_id,timestamp,amount,country,channel,device,"
          "merchant_category,ip,is_anomaly,anomaly_type\n")


@pytest.fixture
def sink_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A sink's exports folder, stopped: two event days streamed and checkpointed."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUDITSTREAM_CORE", "python")
    monkeypatch.setenv("EXPORTS_SAMPLE_KEY", "k" * 16)
    folder = tmp_path / "exports"
    w = SinkWriter(folder, TOPIC, _settings("ec3e9ff"))
    _feed(w, _stream("ec3e9ff"), 1)
    w.write_rollups(report=False)
    w.close()
    (tmp_path / "in.csv").write_text(HEADER + "".join(
        f"t{i},c{i % 3},2025-03-01 10:{i:02d}:00,{10 + i},CH,app,pc,food,,False,normal\n"
        for i in range(30)), encoding="utf-8")
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("args", "who"), [
    (["score", "in.csv", "--out", "exports"], "score"),
    (["dashboard", "sample", "exports", "--synthetic", "--rows", "50"], "dashboard"),
    (["dashboard", "sample", "exports", "--customers", "3"], "dashboard"),
], ids=["score", "sample synthetic", "sample realistic"])
def test_a_stopped_sinks_folder_is_refused_and_kept(
        sink_folder: Path, capsys: pytest.CaptureFixture[str], args: list[str],
        who: str) -> None:
    before = _files(sink_folder)
    assert len([name for name in before if name.startswith("scored/")]) == 2
    assert main(args) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert errors == [
        f"auditstream {who}: error: exports is a sink's exports folder (its checkpoint "
        f"{STATE_FILE}): {'score' if who == 'score' else 'the sample'} would replace the "
        "rows the sink wrote there, and the sink could not resume; give "
        f"{'--out' if who == 'score' else 'it'} a folder of its own (a sink's folder is "
        "written by its sink only; remove that folder first if its rows are not needed)"]
    assert _files(sink_folder) == before
    SinkWriter(sink_folder, TOPIC, _settings("ec3e9ff")).close()  # resumes


def test_a_folder_of_scores_own_is_still_replaced(
        sink_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The control: the checkpoint is what makes the folder a sink's; `score` over its own
    earlier run, and over a folder whose checkpoint was moved aside, writes as before."""
    os.rename(sink_folder / STATE_FILE, sink_folder.parent / "moved-aside.json")
    assert main(["score", "in.csv", "--out", "exports"]) == 0
    assert main(["score", "in.csv", "--out", "exports"]) == 0
    assert sorted(_files(sink_folder / "scored")) == ["transactions_scored_2025-03-01.csv"]


@pytest.mark.parametrize("args", [
    ["score", "in.csv", "--out", "exports/scored"],
    ["dashboard", "sample", "exports/scored", "--synthetic", "--rows", "50"],
], ids=["score", "sample"])
def test_a_folder_inside_a_sinks_folder_is_refused_and_kept(
        sink_folder: Path, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    """Its `scored/` too (hostile21's open end): the run's tables and `scored/` landed among
    the sink's day files, which Power BI's folder query reads as day files (and the sink's
    next refresh found files it never wrote). Refused in one line, nothing written."""
    before = _files(sink_folder)
    assert main(args) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert len(errors) == 1
    assert (f"exports/scored is inside a sink's exports folder, exports (its checkpoint "
            f"{STATE_FILE})") in errors[0]
    assert _files(sink_folder) == before
    SinkWriter(sink_folder, TOPIC, _settings("ec3e9ff")).close()  # resumes


def test_a_folder_beside_a_sinks_folder_is_taken(
        sink_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The control: a folder next to the sink's (not inside it) is written as before."""
    assert main(["score", "in.csv", "--out", "offline"]) == 0
    assert sorted(_files(sink_folder.parent / "offline" / "scored")) == [
        "transactions_scored_2025-03-01.csv"]


def test_a_link_to_a_folder_inside_a_sinks_folder_is_refused_and_kept(
        sink_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Given by a link from outside (`scores` -> `exports/scored`): its parents as given
    hold no checkpoint, its real folder's do. Refused naming the sink's real folder, nothing
    written through the link."""
    (sink_folder.parent / "scores").symlink_to(sink_folder / "scored", target_is_directory=True)
    before = _files(sink_folder)
    assert main(["score", "in.csv", "--out", "scores"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert len(errors) == 1
    assert (f"scores is inside a sink's exports folder, {sink_folder.resolve()} (its "
            f"checkpoint {STATE_FILE})") in errors[0], errors[0]
    assert _files(sink_folder) == before
