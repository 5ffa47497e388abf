"""`auditstream score` against an unlucky moment: an input that changes while it is read is
refused (exit 2), the exports not finished (run.json and the rollups as they were), rather
than finished with a run.json whose input_sha256 describes other bytes than the rows
scored."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditstream.cli import main
from detector import offline
from shared.csv_io import write_transactions_csv
from shared.folderlock import LOCK_FILE
from shared.schemas import Transaction
from tests.unit.test_core_engine import stream
from tests.unit.test_score_stream import _files

TEST_KEY = "a-test-key-of-our-own"  # 21 characters: no warning of a public or short key


@pytest.fixture(scope="module")
def rows() -> list[Transaction]:
    return stream(n=700, customers=20, seed=5)


def _changing(change: Any) -> Any:
    """`verdict_batches` (what `score` reads) that calls `change()` once the first batch
    is scored."""
    real = offline.verdict_batches

    def batches(*args: Any, **kwargs: Any) -> Iterator[tuple[list[Transaction], list[Any]]]:
        for i, batch in enumerate(real(*args, **kwargs)):
            if i == 0:
                change()
            yield batch

    return batches


@pytest.mark.parametrize("how", ["appended", "rewritten", "replaced"])
def test_an_input_changed_while_it_is_scored_is_refused_and_the_exports_kept(
        rows: list[Transaction], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], how: str) -> None:
    source = tmp_path / "in.csv"
    write_transactions_csv(rows[:600], source)
    out = tmp_path / "out"
    assert main(["score", str(source), "--out", str(out)]) == 0
    before = _files(out)
    capsys.readouterr()

    def change() -> None:
        if how == "appended":  # a job still writing the file
            text = (tmp_path / "more.csv")
            write_transactions_csv(rows[600:], text)
            with source.open("a", encoding="utf-8") as fh:
                fh.writelines(text.read_text().splitlines(keepends=True)[1:])
        elif how == "rewritten":  # the same size, other bytes, in place
            data = source.read_bytes()
            source.write_bytes(data.replace(b",CH,", b",FR,"))
        else:  # a new file renamed over it
            write_transactions_csv(rows[100:], tmp_path / "new.csv")
            (tmp_path / "new.csv").replace(source)

    monkeypatch.setattr(offline, "BATCH", 100)
    monkeypatch.setattr(offline, "verdict_batches", _changing(change))  # `score` reads it
    assert main(["score", str(source), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("auditstream score: error: ") and "Traceback" not in err
    assert f"{source} changed while it was read" in err
    # not finished: every file as it was, the day files closed on the way too
    assert _files(out) == before


def _bad_file(path: Path, rows: list[Transaction]) -> Path:
    """`rows` in the historic layout, then one row that cannot be read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_transactions_csv(rows, path)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(f"bad-{path.parent.name},c1,not-a-date,1.0,CH,app,mobile,grocery,,False,normal\n")
    return path


@pytest.mark.parametrize("case", ["same name, --rejects-dir", "one file twice"])
def test_two_inputs_that_would_share_a_rejects_report_are_refused_up_front(
        rows: list[Transaction], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        case: str) -> None:
    """jan/tx.csv and feb/tx.csv with --rejects-dir both report to tx.rejects.csv there (the
    second report used to replace the first: its rejected rows lost); a file given twice
    (by any spelling) also did. Refused before anything is read or written."""
    jan = _bad_file(tmp_path / "jan" / "tx.csv", rows[:300])
    if case == "one file twice":
        inputs, extra = [jan, tmp_path / "jan" / ".." / "jan" / "tx.csv"], []
        report = tmp_path / "jan" / "tx.rejects.csv"
    else:
        inputs = [jan, _bad_file(tmp_path / "feb" / "tx.csv", rows[300:])]
        extra = ["--rejects-dir", str(tmp_path / "rejects")]
        report = tmp_path / "rejects" / "tx.rejects.csv"
    out = tmp_path / "out"
    assert main(["score", *map(str, inputs), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("auditstream score: error: ") and "Traceback" not in err
    assert f"{inputs[0]} and {inputs[1]}" in err and str(report) in err
    assert not report.exists() and not (out / "run.json").exists()


def test_inputs_of_the_same_name_in_their_own_folders_each_keep_their_report(
        rows: list[Transaction], tmp_path: Path) -> None:
    """Without --rejects-dir each report is beside its input: no clash, nothing lost."""
    jan = _bad_file(tmp_path / "jan" / "tx.csv", rows[:300])
    feb = _bad_file(tmp_path / "feb" / "tx.csv", rows[300:])
    assert main(["score", str(jan), str(feb), "--out", str(tmp_path / "out")]) == 1
    for folder in ("jan", "feb"):
        text = (tmp_path / folder / "tx.rejects.csv").read_text()
        assert f"bad-{folder}" in text and text.count("\n") == 2


def test_replay_refuses_inputs_that_would_share_a_rejects_report(
        rows: list[Transaction], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from auditstream.broker.process import free_port
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")  # none there
    monkeypatch.setenv("KAFKA_STARTUP_WAIT_S", "1")
    from producer.replay import run_replay
    from producer.settings import ProducerSettings
    from shared.errors import AuditstreamError
    jan = _bad_file(tmp_path / "jan" / "tx.csv", rows[:300])
    feb = _bad_file(tmp_path / "feb" / "tx.csv", rows[300:])
    with pytest.raises(AuditstreamError, match="would both report rejected rows to"):
        run_replay([jan, feb], ProducerSettings(), rejects_dir=tmp_path / "rejects")
    assert not (tmp_path / "rejects").exists()


@pytest.mark.parametrize("how", ["the same path", "a hard link", "a symlink", "--rejects-dir"])
def test_a_rejects_report_that_would_replace_an_input_is_refused_up_front(
        rows: list[Transaction], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        how: str) -> None:
    """`score a.csv` reports to a.rejects.csv; the user corrects the rows there and runs
    `score a.csv a.rejects.csv`: a.csv's bad row was reported again over a.rejects.csv, the
    user's corrected input replaced without a word. Refused before anything is read, by any
    name of that file (a link too), and the input left as it was."""
    a = _bad_file(tmp_path / "a.csv", rows[:300])
    corrected = tmp_path / "a.rejects.csv"
    write_transactions_csv(rows[300:310], corrected)
    extra: list[str] = []
    given = corrected
    if how == "a hard link":
        given = tmp_path / "fixed.csv"
        os.link(corrected, given)
    elif how == "a symlink":
        given = tmp_path / "fixed.csv"
        given.symlink_to(corrected)
    elif how == "--rejects-dir":  # sub/a.csv's report in tmp_path is the input a.rejects.csv
        a = _bad_file(tmp_path / "sub" / "a.csv", rows[:300])
        extra = ["--rejects-dir", str(tmp_path)]
    before = corrected.read_bytes()
    out = tmp_path / "out"
    assert main(["score", str(a), str(given), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("auditstream score: error: ") and "Traceback" not in err
    assert err.count("\n") == 1
    assert f"{a} would report its rejected rows to {corrected}, an input of this run" in err
    assert how in ("the same path", "--rejects-dir") or f"(given as {given})" in err
    assert "--rejects-dir" in err
    assert corrected.read_bytes() == before and not (out / "run.json").exists()


def test_replay_refuses_a_rejects_report_that_would_replace_an_input(
        rows: list[Transaction], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from auditstream.broker.process import free_port
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")  # none there
    monkeypatch.setenv("KAFKA_STARTUP_WAIT_S", "1")
    from producer.replay import run_replay
    from producer.settings import ProducerSettings
    from shared.errors import AuditstreamError
    a = _bad_file(tmp_path / "a.csv", rows[:300])
    corrected = tmp_path / "a.rejects.csv"
    write_transactions_csv(rows[300:310], corrected)
    before = corrected.read_bytes()
    with pytest.raises(AuditstreamError, match="an input of this run"):
        run_replay([a, corrected], ProducerSettings())
    assert corrected.read_bytes() == before


#: A child that scores `in.csv` into `out` and gets SIGTERM once its first batch is scored
#: (as `timeout`, systemd or a container stop would send it).
_TERMINATED = """
import os, signal, sys
from auditstream.cli import main
from detector import offline
offline.BATCH = 100
real = offline.verdict_batches
def batches(*args, **kwargs):
    for i, batch in enumerate(real(*args, **kwargs)):
        yield batch
        if i == 5:  # past the 32 days kept open
            os.kill(os.getpid(), signal.SIGTERM)
offline.verdict_batches = batches  # read by `score` as it runs
sys.exit(main(["score", sys.argv[1], "--out", sys.argv[2]]))
"""


def test_sigterm_ends_score_like_ctrl_c_without_temporary_files(
        rows: list[Transaction], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM used to kill `score` where it stood: every day file being written stayed
    behind as a hidden .tmp file, for good. Now it ends as Ctrl-C does: exit 130, one line,
    the exports not finished and no temporary file left."""
    import subprocess
    import sys
    monkeypatch.setenv("EXPORTS_SAMPLE_KEY", TEST_KEY)  # no warning: neither public nor short
    source = tmp_path / "in.csv"
    write_transactions_csv(rows, source)
    out = tmp_path / "out"
    assert main(["score", str(source), "--out", str(out)]) == 0
    before = _files(out)
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", _TERMINATED, str(source), str(out)],
                          cwd=root, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(root), "EXPORTS_SAMPLE_KEY": TEST_KEY})
    assert (done.returncode, done.stderr) == (130, "auditstream score: interrupted\n")
    assert not [p for p in out.rglob("*.tmp")]
    # every file the earlier run's, the days closed before the signal too (32 later days
    # started: they were new beside old ones, found by a hostile probe)
    assert _files(out) == before
    assert not [p for p in out.rglob("*") if p.name.startswith(".") and p.name != LOCK_FILE]


def test_temporary_files_a_killed_run_left_are_removed_by_the_next(
        rows: list[Transaction], tmp_path: Path) -> None:
    """SIGKILL, an OOM kill or a power cut leave the hidden temporary files of the files
    being written; the next `score` on the folder (which holds its lock) removes them and
    nothing else."""
    out = tmp_path / "out"
    (out / "scored").mkdir(parents=True)
    stale = [out / "scored" / ".transactions_scored_2025-01-01.csv.m_5q9_vd.tmp",
             out / ".run.json.abcd1234.tmp"]
    kept = [out / "notes.tmp", out / ".keep.tmp", out / "scored" / ".x.csv.toolongname.tmp"]
    for path in stale + kept:
        path.write_text("half")
    source = tmp_path / "in.csv"
    write_transactions_csv(rows[:200], source)
    assert main(["score", str(source), "--out", str(out)]) == 0
    assert [p.exists() for p in stale] == [False, False]
    assert [p.exists() for p in kept] == [True, True, True]


@pytest.mark.parametrize("case", ["header only", "every row rejected"])
def test_an_input_without_a_row_to_score_is_refused_and_the_exports_kept(
        rows: list[Transaction], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        case: str) -> None:
    """A header-only file (an upstream export that failed) or one whose every row is bad
    used to replace the folder's earlier run with an empty one (exit 0 or 1). Refused: exit
    2, the earlier run kept whole; the bad rows still reported."""
    out = tmp_path / "out"
    good = tmp_path / "good.csv"
    write_transactions_csv(rows[:300], good)
    assert main(["score", str(good), "--out", str(out)]) == 0
    before = _files(out)
    capsys.readouterr()
    empty = tmp_path / "empty.csv"
    if case == "header only":
        write_transactions_csv([], empty)
    else:
        empty.write_text(good.read_text().splitlines()[0] + "\n"
                         + "x1,c1,not-a-date,1.0,CH,app,mobile,grocery,,False,normal\n"
                         + "x2,c1,2025-01-01T00:00:00,-inf,CH,app,mobile,grocery,,False,normal\n")
    assert main(["score", str(empty), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("auditstream score: error: ") and "Traceback" not in err
    assert f"no row to score in {empty}" in err
    assert _files(out) == before
    report = tmp_path / "empty.rejects.csv"
    if case == "header only":
        assert not report.exists()
    else:
        lines = report.read_text().splitlines()[1:]
        assert [(r.split(",")[0], r.split(",")[2]) for r in lines] == [("2", "x1"), ("3", "x2")]
    fresh = tmp_path / "fresh"
    assert main(["score", str(empty), "--out", str(fresh)]) == 2
    assert not (fresh / "run.json").exists()
