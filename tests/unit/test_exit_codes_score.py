"""`score` and `replay` agree: 1 when rows were rejected (same rejects report), 2 for a bad
file, 6 when a sink holds the --out folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from auditstream.cli import main
from producer.sources import load
from shared.csv_io import write_transactions_csv
from shared.folderlock import LOCK_FILE, FolderLock
from shared.rejects import write_rejects
from tests.scored_days import scored_lines
from tests.unit.test_core_engine import stream

BAD_ROWS = (
    "bad1,c1,not-a-date,1.0,CH,app,mobile,grocery,,False,normal\n"
    "bad2,c1,2025-01-02 10:00:00,=HYPERLINK(1),CH,app,mobile,grocery,,False,normal\n"
)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "history.csv"
    path.parent.mkdir()
    write_transactions_csv(stream(n=200, customers=10, seed=3), path)
    return path


def _with_bad_rows(path: Path) -> Path:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(BAD_ROWS)
    return path


def test_clean_input_exits_0_and_writes_no_rejects(source: Path, tmp_path: Path) -> None:
    assert main(["score", str(source), "--out", str(tmp_path / "ex")]) == 0
    assert not (source.parent / "history.rejects.csv").exists()


def test_rejected_rows_exit_1_with_replays_rejects_report(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_bad_rows(source)
    out = tmp_path / "ex"
    assert main(["score", str(source), "--out", str(out)]) == 1  # ExitCode.ROWS_REJECTED
    report = source.parent / "history.rejects.csv"
    assert f"2 rejected -> {report}" in capsys.readouterr().out
    replay_side = tmp_path / "replay.rejects.csv"
    write_rejects(load([source]).rejects[source], replay_side)  # what `replay` writes
    assert report.read_bytes() == replay_side.read_bytes()
    text = report.read_text(encoding="utf-8")
    assert text.startswith("line,reason,")
    assert "202,timestamp" in text and "'=HYPERLINK(1)" in text  # line numbers, Excel-safe
    assert len(scored_lines(out)) == 200


def test_rejects_dir_puts_the_report_elsewhere(source: Path, tmp_path: Path) -> None:
    _with_bad_rows(source)
    elsewhere = tmp_path / "rejects"
    assert main(["score", str(source), "--out", str(tmp_path / "ex"),
                 "--rejects-dir", str(elsewhere)]) == 1
    assert (elsewhere / "history.rejects.csv").exists()
    assert not (source.parent / "history.rejects.csv").exists()


def test_a_bad_file_is_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "ex")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("auditstream score: error: ") and err.count("\n") == 1


def test_out_held_by_a_sink_is_6_naming_its_pid(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ex"
    with FolderLock(out, "sink"):
        assert main(["score", str(source), "--out", str(out)]) == 6  # ExitCode.LOCKED
    err = capsys.readouterr().err
    assert f"pid {os.getpid()} (sink)" in err and err.count("\n") == 1
    assert not (out / "scored").exists() and not (out / "transactions_scored.csv").exists()
    assert main(["score", str(source), "--out", str(out)]) == 0  # released with its holder
    assert (out / LOCK_FILE).exists()


def test_the_folder_lock_is_exclusive_and_released_on_exit(tmp_path: Path) -> None:
    from shared.errors import LockedError

    first = FolderLock(tmp_path, "sink").acquire()
    with pytest.raises(LockedError, match=rf"pid {os.getpid()} \(sink\)"):
        FolderLock(tmp_path, "score").acquire()
    first.release()
    with FolderLock(tmp_path, "score"):
        assert (tmp_path / LOCK_FILE).read_text() == f"{os.getpid()} score\n"
