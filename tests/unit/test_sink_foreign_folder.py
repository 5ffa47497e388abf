"""The sink's exports folder when it is not (yet) the sink's own (hostile probe, 2026-12-05):
`SINK_EXPORTS_DIR=.` or `--exports ~/work` beside the user's own cases.csv, report.html,
run.json... A folder without exports that holds a file at a name the sink writes is refused
in one line (exit 2), nothing created in it; `score` and `dashboard sample` apply the same
rule (`shared.exports_folder`). The same family while the sink runs: `scored/` swapped for
a link, a hard link at an export's name (cut by replacement, never in place)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from auditstream.broker.process import free_port
from auditstream.report import write_report_from_rollup
from shared.errors import AuditstreamError, ExitCode, UsageError
from sink.settings import ExportSettings
from sink.state import STATE_FILE
from sink.writer import SinkWriter
from tests.folder_tree import tree
from tests.unit.test_sink_hostile_probe import _hostile

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "transactions.scored"
#: Every name the sink (with its report listener) replaces or deletes at the top of a new
#: folder: each was replaced by the exports' (sink_rejected.jsonl deleted), exit 0.
SINK_NAMES = ["cases.csv", "report.html", "status.csv", "run.json", "reviews_log.csv",
              "sink_rejected.jsonl", "thresholds.csv", "metrics_by_type.csv",
              "confusion_matrix.csv", "case_transactions.csv", "audit_sample.csv",
              "assurance.csv"]


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORTS_SAMPLE_KEY", "a-test-key-of-our-own")


def _work(tmp_path: Path, *theirs: str) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    for name in theirs:
        (work / name).write_text(f"the user's own {name}\n")
    (work / "notes.txt").write_text("notes\n")
    return work


def _sink(folder: Path, reset: bool = False) -> SinkWriter:
    """The sink's file side over `folder`: three rows, a checkpoint, a refresh with the
    report (as `auditstream sink` wires it)."""
    w = SinkWriter(folder, TOPIC, ExportSettings(), reset=reset,
                   on_rollup=write_report_from_rollup)
    w.add([(0, w.rows + i, _hostile(w.rows + i)) for i in range(3)])
    w.checkpoint()
    w.write_rollups()
    w.close()
    return w


@pytest.mark.parametrize("reset", [False, True])
@pytest.mark.parametrize("theirs", SINK_NAMES)
def test_a_folder_of_other_files_at_a_sink_export_name_is_refused(
        tmp_path: Path, theirs: str, reset: bool) -> None:
    """The sink replaced the user's file (deleted sink_rejected.jsonl), exit 0; --reset
    (which discards a folder's sink exports) has none to discard here."""
    work = _work(tmp_path, theirs)
    before = tree(work)
    with pytest.raises(UsageError) as caught:
        _sink(work, reset=reset)
    assert caught.value.exit_code == ExitCode.USAGE
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{work} holds {theirs} but no exports (no run.json, sink "
                              "checkpoint or day file of auditstream's): the sink would "
                              "replace it; give")
    assert tree(work) == before


def test_every_file_at_an_export_name_is_named(tmp_path: Path) -> None:
    work = _work(tmp_path, "status.csv", "cases.csv", "report.html")
    with pytest.raises(UsageError, match=r"holds cases\.csv, report\.html, status\.csv "
                       r"but no exports .*: the sink would replace them;"):
        _sink(work)


def test_a_link_at_an_export_name_in_a_foreign_folder_is_refused(tmp_path: Path) -> None:
    """A symbolic link (even to nothing) at cases.csv is a name the sink would replace."""
    work = _work(tmp_path)
    (work / "cases.csv").symlink_to(tmp_path / "nowhere.csv")
    before = tree(work)
    with pytest.raises(UsageError, match=r"holds cases\.csv but no exports"):
        _sink(work)
    assert tree(work) == before


def test_the_sink_writes_beside_other_files_and_resumes_on_its_own_folder(
        tmp_path: Path) -> None:
    """Files at other names stay as they are; the sink's own exports (its checkpoint, its
    run.json) make the folder its own at the next start."""
    work = _work(tmp_path)
    (work / "data.csv").write_text("a,b\n")
    for _ in range(2):
        _sink(work)
    assert (work / "notes.txt").read_text() == "notes\n"
    assert (work / "data.csv").read_text() == "a,b\n"
    assert _sink(work).rows == 9


def test_a_folder_with_auditstreams_run_json_is_exports(tmp_path: Path) -> None:
    """run.json of auditstream's (its checkpoint gone) still says: exports, not the user's."""
    work = _work(tmp_path)
    _sink(work)
    (work / ".sink-state.json").unlink()
    _sink(work, reset=True)
    assert (work / "notes.txt").read_text() == "notes\n"


def test_the_sink_command_refuses_a_foreign_folder_before_the_broker(tmp_path: Path) -> None:
    """`auditstream sink --exports DIR`: one line, exit 2, not even its lock file created;
    no broker asked (its address here answers nobody: exit 4 after the wait, before)."""
    work = _work(tmp_path, "report.html")
    before = tree(work)
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
           "KAFKA_STARTUP_WAIT_S": "2", "SINK_STARTUP_WAIT_S": "2",
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "auditstream", "sink", "--exports",
                           str(work), "--once"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    assert "Traceback" not in done.stderr and len(errors) == 1, done.stderr
    assert errors[0].startswith(f"auditstream sink: error: {work} holds report.html but no "
                                "exports")
    assert tree(work) == before


def _day_rows(first: int, n: int, day: int) -> list[tuple[int, int, bytes]]:
    return [(0, i, _hostile(i % 50, transaction_id=f"t{i}", rule_flags={}, triggered_rules=[],
                            timestamp=datetime(2025, 1, day, 10, i % 50)))
            for i in range(first, first + n)]


@pytest.mark.parametrize("restarted", [False, True])
def test_scored_swapped_for_a_link_while_the_sink_runs_writes_nothing_through_it(
        tmp_path: Path, restarted: bool) -> None:
    """`scored/` moved away and a link to another folder put at its name while the sink ran:
    a new day's file was created in the link's target and checkpointed there, exit 0 (after
    a restart, nothing open to notice it); with a day open, the day file was created there
    before the sink stopped. Now nothing is written through it, the checkpoint is not
    moved, and with the folder put back a restart continues exactly once."""
    folder, clean, elsewhere = tmp_path / "ex", tmp_path / "clean", tmp_path / "elsewhere"
    elsewhere.mkdir()
    for where in (clean, folder):
        w = SinkWriter(where, TOPIC, ExportSettings())
        w.add(_day_rows(0, 3, 1))
        w.checkpoint()
        if where == clean or restarted:
            w.close()
    if restarted:
        w = SinkWriter(folder, TOPIC, ExportSettings())
    state = (folder / STATE_FILE).read_bytes()
    (folder / "scored").rename(tmp_path / "scored.moved")
    (folder / "scored").symlink_to(elsewhere)
    with pytest.raises(AuditstreamError) as caught:
        w.add(_day_rows(3, 3, 2))
        w.checkpoint()
    w.close()
    assert caught.value.exit_code == ExitCode.USAGE and "\n" not in str(caught.value)
    assert str(folder / "scored") in str(caught.value)
    assert list(elsewhere.iterdir()) == []
    assert (folder / STATE_FILE).read_bytes() == state
    (folder / "scored").unlink()
    (tmp_path / "scored.moved").rename(folder / "scored")
    for where in (folder, clean):
        w = SinkWriter(where, TOPIC, ExportSettings())
        w.add(_day_rows(3, 3, 2))
        w.checkpoint()
        w.close()
    assert tree(folder / "scored") == tree(clean / "scored")
    assert len(tree(folder / "scored")) == 2


@pytest.mark.parametrize("name", ["reviews_log.csv", "scored/transactions_scored_2025-01-01.csv"])
def test_a_file_with_another_name_is_cut_by_replacement_not_in_place(
        tmp_path: Path, name: str) -> None:
    """Two names of one file (a hard link: the user's own file linked at an appended file's
    name while the sink was stopped, or a `cp -al` backup of the folder): the start's cut to
    the checkpoint truncated it in place, so the other name lost those bytes too. Now the
    name gets a new file of the checkpoint's length, the other name keeps every byte."""
    folder = tmp_path / "ex"
    w = SinkWriter(folder, TOPIC, ExportSettings())
    w.add(_day_rows(0, 3, 1))
    w.checkpoint()
    w.close()
    at = folder / name
    made = at.read_bytes()
    theirs = tmp_path / "theirs.csv"
    theirs.write_bytes(made + b"the user's own line after the sink's bytes\n" * 50)
    theirs.chmod(0o640)
    kept = theirs.read_bytes()
    at.unlink()
    os.link(theirs, at)
    SinkWriter(folder, TOPIC, ExportSettings()).close()
    assert theirs.read_bytes() == kept
    assert at.read_bytes() == made and not os.path.samefile(at, theirs)
    assert theirs.stat().st_mode & 0o777 == 0o640 and theirs.stat().st_nlink == 1


def test_a_hard_link_at_a_replaced_files_name_keeps_the_users_file(tmp_path: Path) -> None:
    """The user's own file linked at cases.csv, run.json, status.csv or report.html while
    the sink runs: the refresh renames a new file over the name, never rewrites the file in
    place, so the user's name keeps its bytes. (A guard: so it was before 2026-12-05.)"""
    folder = tmp_path / "ex"
    w = SinkWriter(folder, TOPIC, ExportSettings(), on_rollup=write_report_from_rollup)
    w.add(_day_rows(0, 3, 1))
    w.checkpoint()
    w.write_rollups()
    names = ("cases.csv", "run.json", "status.csv", "report.html")
    for name in names:
        (tmp_path / name).write_text(f"the user's own {name}\n")
        (folder / name).unlink()
        os.link(tmp_path / name, folder / name)
    w.add(_day_rows(3, 3, 1))
    w.checkpoint()
    w.write_rollups()
    w.close()
    for name in names:
        assert (tmp_path / name).read_text() == f"the user's own {name}\n"
        assert not os.path.samefile(tmp_path / name, folder / name)
    assert '"rows": 6' in (folder / "run.json").read_text()


@pytest.mark.parametrize("kind", [["--synthetic", "--rows", "50"], []])
def test_dashboard_sample_refuses_a_folder_of_other_files_at_export_names(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: list[str]) -> None:
    """`auditstream dashboard sample ~/work` replaced the user's cases.csv and deleted their
    report.html, exit 0: the same rule as the sink's and `score`'s."""
    from auditstream.cli import main

    work = _work(tmp_path, "cases.csv", "report.html")
    before = tree(work)
    assert main(["dashboard", "sample", *kind, str(work)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"auditstream dashboard: error: {work} holds cases.csv, report.html but no exports "
        "(no run.json, sink checkpoint or day file of auditstream's): the sample would "
        "replace them; give it a folder of its own\n")
    assert tree(work) == before


def test_score_refuses_a_folder_of_other_files_at_export_names_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`score --out ~/work`: the same rule, said in this process (the command's own test
    runs it in a child, where the rule's arguments had no judge)."""
    from auditstream.cli import main
    from shared.csv_io import write_transactions_csv
    from tests.unit.test_core_engine import stream

    good = tmp_path / "in.csv"
    write_transactions_csv(stream(n=20, customers=3, seed=2), good)
    work = _work(tmp_path, "cases.csv", "report.html")
    before = tree(work)
    assert main(["score", str(good), "--out", str(work)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"auditstream score: error: {work} holds cases.csv, report.html but no exports "
        "(no run.json, sink checkpoint or day file of auditstream's): score would replace "
        "them; give --out a folder of its own (created if missing)\n")
    assert tree(work) == before


def test_demo_refuses_a_foreign_exports_folder_before_it_starts_anything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`auditstream demo --exports ~/work` started a broker, the detector and its sink, whose
    refusal came late; it is said before anything starts (nothing is started here)."""
    import auditstream.demo
    from auditstream.cli import main

    def started(self: object) -> int:
        raise AssertionError("the demo started its pipeline on a foreign folder")

    monkeypatch.setattr(auditstream.demo.Demo, "run", started)
    work = _work(tmp_path, "cases.csv")
    before = tree(work)
    assert main(["demo", "--exports", str(work)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{work} holds cases.csv but no exports" in err
    assert tree(work) == before
