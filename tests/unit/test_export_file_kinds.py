"""A symbolic link, a FIFO or a folder at the name of a file the sink or `score` is about to
create or open (a new day's file, sink_rejected.jsonl, reviews_log.csv, the checkpoint, the
lock, score's staging folder, scored/ itself): refused in one line (exit 2), never written
through, never waited on for ever; the exports folder itself may be a link (hostile probe,
2026-12-05)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from auditstream.cli import main
from auditstream.report import write_report_from_rollup
from shared.codec import encode
from shared.csv_io import write_transactions_csv
from shared.errors import AuditstreamError, ExitCode
from shared.folderlock import LOCK_FILE, FolderLock
from shared.schemas import ScoredTransaction
from sink import days as dy
from sink.exports import SCORED_FILE
from sink.offline import ExportWriter, write_exports
from sink.settings import ExportSettings
from sink.state import STATE_FILE
from sink.writer import REJECTED_FILE, REVIEWS_LOG_FILE, Record, SinkWriter
from tests.scored_days import scored_lines
from tests.unit.test_core_engine import stream
from tests.unit.test_rollup_pandas import random_scored

TOPIC = "transactions.scored"
PRECIOUS = "export PATH=$HOME/bin:$PATH  # someone's ~/.bashrc\n" * 20
KINDS = ["link", "link to an empty file", "link to nothing", "fifo", "folder"]


def _row(i: int, day: int) -> bytes:
    return encode(ScoredTransaction(
        transaction_id=f"t{day}-{i}", customer_id=f"c{i % 9}",
        timestamp=datetime(2025, 1, day, 10, i % 60), amount=10.0, country="DE",
        channel="web", device="pc", merchant_category="m", score=0.1, model_score=0.1,
        is_ml_flag=False, is_rule_flag=False, is_flag=False, rule_flags={},
        triggered_rules=[], reasons_top3=[], model_version="v1"))


def _rows(day: int, first: int, n: int = 10) -> list[Record]:
    return [(0, first + i, _row(i, day)) for i in range(n)]


@contextlib.contextmanager
def _within(seconds: float) -> Iterator[None]:
    """Fail instead of hanging (a FIFO opened for writing waits for a reader for ever)."""
    def hung(*_: object) -> None:
        raise AssertionError(f"still blocked after {seconds} s")
    old = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class _World:
    """Files outside the exports folder that a link could point at."""

    def __init__(self, root: Path) -> None:
        self.bashrc = root / "home" / ".bashrc"
        self.empty = root / "home" / ".empty"
        self.nothing = root / "home" / "new.csv"
        self.bashrc.parent.mkdir()
        self.bashrc.write_text(PRECIOUS)
        self.empty.write_text("")

    def place(self, kind: str, at: Path) -> None:
        at.unlink(missing_ok=True)
        if kind == "fifo":
            os.mkfifo(at)
        elif kind == "folder":
            at.mkdir()
        else:
            target = {"link": self.bashrc, "link to an empty file": self.empty,
                      "link to nothing": self.nothing}[kind]
            at.symlink_to(target)

    def untouched(self) -> None:
        assert self.bashrc.read_text() == PRECIOUS
        assert self.empty.read_text() == ""
        assert not self.nothing.exists()


def _refused(action: Callable[[], object], at: Path) -> AuditstreamError:
    with _within(5), pytest.raises(AuditstreamError, match=str(at)) as caught:
        action()
    assert caught.value.exit_code == ExitCode.USAGE
    assert "not a regular file" in str(caught.value) or "not a folder" in str(caught.value)
    return caught.value


def _running(folder: Path) -> SinkWriter:
    w = SinkWriter(folder, TOPIC, ExportSettings())
    w.add(_rows(1, 0))
    w.checkpoint()
    return w


@pytest.mark.parametrize("kind", KINDS)
def test_a_new_days_file_name_taken_while_the_sink_runs_is_refused(
        tmp_path: Path, kind: str) -> None:
    world, folder = _World(tmp_path), tmp_path / "exports"
    w = _running(folder)
    there = folder / dy.day_file("2025-01-02")
    world.place(kind, there)
    _refused(lambda: w.add(_rows(2, 10)), there)
    world.untouched()
    assert w.cp.lengths.get(dy.day_file("2025-01-02")) is None


@pytest.mark.parametrize("kind", KINDS)
def test_the_rejects_file_name_taken_while_the_sink_runs_is_refused(
        tmp_path: Path, kind: str) -> None:
    """sink_rejected.jsonl is created at the first invalid message, whose raw value (any
    bytes a producer of the topic chose) would have been appended through a link."""
    world, folder = _World(tmp_path), tmp_path / "exports"
    w = _running(folder)
    world.place(kind, folder / REJECTED_FILE)
    _refused(lambda: w.add([(0, 10, b"echo owned >> /tmp/x")]), folder / REJECTED_FILE)
    world.untouched()


@pytest.mark.parametrize("name", [REVIEWS_LOG_FILE, REJECTED_FILE])
@pytest.mark.parametrize("kind", KINDS)
def test_an_appended_file_swapped_before_a_restart_is_refused_not_cut_through(
        tmp_path: Path, kind: str, name: str) -> None:
    """A restart cuts each appended file to its checkpointed length: through a link to a
    longer file, that was someone's file cut."""
    world, folder = _World(tmp_path), tmp_path / "exports"
    w = _running(folder)
    w.add([(0, 10, b"not json")])
    w.checkpoint()
    w.close()
    world.place(kind, folder / name)
    _refused(lambda: SinkWriter(folder, TOPIC, ExportSettings()), folder / name)
    world.untouched()


@pytest.mark.parametrize("kind", KINDS)
def test_the_checkpoints_name_taken_before_a_restart_is_refused(
        tmp_path: Path, kind: str) -> None:
    world, folder = _World(tmp_path), tmp_path / "exports"
    _running(folder).close()
    world.place(kind, folder / STATE_FILE)
    _refused(lambda: SinkWriter(folder, TOPIC, ExportSettings()), folder / STATE_FILE)
    world.untouched()


def test_a_fifo_at_the_single_files_name_does_not_hang_a_fresh_start(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / SCORED_FILE)
    _refused(lambda: SinkWriter(tmp_path, TOPIC, ExportSettings()), tmp_path / SCORED_FILE)


@pytest.mark.parametrize("kind", KINDS)
def test_the_locks_name_taken_is_refused_and_nothing_written_through_it(
        tmp_path: Path, kind: str) -> None:
    world, folder = _World(tmp_path), tmp_path / "exports"
    folder.mkdir()
    world.place(kind, folder / LOCK_FILE)
    _refused(lambda: FolderLock(folder, "sink").acquire(), folder / LOCK_FILE)
    world.untouched()


@pytest.mark.parametrize("kind", ["scored", "staging"])
def test_a_link_at_scored_or_the_staging_folder_is_refused_and_its_target_kept(
        tmp_path: Path, kind: str) -> None:
    """scored/ through a link would put day files elsewhere and delete that folder's day
    files at score's publish (or the sink's restart)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    theirs = elsewhere / "transactions_scored_2020-01-01.csv"
    theirs.write_text("their rows\n")
    folder = tmp_path / "exports"
    folder.mkdir()
    name = folder / (dy.SCORED_DIR if kind == "scored" else dy.STAGING)
    name.symlink_to(elsewhere)
    with _within(5):
        _refused(lambda: dy.DayWriter(folder).__enter__(), name)
    if kind == "scored":
        _refused(lambda: SinkWriter(folder, TOPIC, ExportSettings()), name)
    assert sorted(p.name for p in elsewhere.iterdir()) == [theirs.name]
    assert theirs.read_text() == "their rows\n"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "history.csv"
    path.parent.mkdir()
    write_transactions_csv(stream(n=200, customers=10, seed=3), path)
    return path


@pytest.mark.parametrize(("kind", "name"), [
    ("link", LOCK_FILE), ("fifo", LOCK_FILE),  # a file there is the lock
    ("link", dy.STAGING), ("fifo", dy.STAGING), ("file", dy.STAGING)])
def test_score_refuses_a_stranger_at_its_lock_or_staging_name_in_one_line(
        source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        kind: str, name: str) -> None:
    world, out = _World(tmp_path), tmp_path / "ex"
    out.mkdir()
    if kind == "file":
        (out / name).write_text("mine\n")
    else:
        world.place("fifo" if kind == "fifo" else "link", out / name)
    with _within(20):
        code = main(["score", str(source), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE, err
    assert "Traceback" not in err and str(out / name) in err
    world.untouched()


def test_score_and_the_sink_write_through_an_exports_folder_that_is_a_link(
        source: Path, tmp_path: Path) -> None:
    """Pointing the exports folder at another disk stays supported."""
    disk = tmp_path / "disk"
    disk.mkdir()
    (tmp_path / "ex").symlink_to(disk)
    (tmp_path / "sunk").symlink_to(disk / "sunk")
    (disk / "sunk").mkdir()
    assert main(["score", str(source), "--out", str(tmp_path / "ex")]) == 0
    assert len(scored_lines(disk)) == 200 and (disk / "run.json").is_file()
    for _ in range(2):  # a start, and a restart through the link
        with FolderLock(tmp_path / "sunk", "sink"):
            w = SinkWriter(tmp_path / "sunk", TOPIC, ExportSettings())
            w.add(_rows(1 + w.rows // 10, w.rows))
            w.checkpoint()
            w.write_rollups(report=False)
            w.close()
    assert len(scored_lines(disk / "sunk")) == 20
    assert (disk / "sunk" / LOCK_FILE).is_file() and not (disk / "sunk").is_symlink()


def test_a_folder_at_report_html_is_one_line_per_refresh_and_the_exports_go_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The page is the listener's (a failure logged, the sink goes on); a folder at its name
    is the user's to move, said in one line, not a traceback every SINK_ROLLUP_INTERVAL_S.
    (Made while the sink runs: in a folder without exports it is refused at the start,
    test_sink_foreign_folder.)"""
    w = SinkWriter(tmp_path, TOPIC, ExportSettings(), on_rollup=write_report_from_rollup)
    (tmp_path / "report.html").mkdir()
    w.add(_rows(1, 0))
    w.checkpoint()
    caplog.clear()
    assert w.write_rollups()["rows"] == 10
    w.close()
    failed = [r for r in caplog.records if "report.html" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info is None, caplog.text
    assert "is a folder" in failed[0].getMessage() and (tmp_path / "status.csv").is_file()


_APPEND_DAY_2 = """
import sys
from pathlib import Path
from shared.entry import run_guarded
from sink.settings import ExportSettings
from sink.writer import SinkWriter
from tests.unit.test_export_file_kinds import TOPIC, _rows
def go():
    w = SinkWriter(sys.argv[1], TOPIC, ExportSettings())
    there = Path(sys.argv[2])  # placed while the sink runs (a start removes it: unrecorded)
    there.write_text("")
    there.chmod(0o444)
    w.add(_rows(2, 10))
    w.checkpoint()
sys.exit(run_guarded("sink", go))
"""


def test_a_read_only_file_at_a_new_days_name_is_exit_5_and_a_restart_loses_nothing(
        tmp_path: Path) -> None:
    """Root writes whatever the mode: the child drops that right (CAP_DAC_OVERRIDE)."""
    folder, clean = tmp_path / "exports", tmp_path / "clean"
    for where in (folder, clean):
        _running(where).close()
    there = folder / dy.day_file("2025-01-02")
    drop = (["setpriv", "--bounding-set=-dac_override,-dac_read_search",
             "--inh-caps=-dac_override,-dac_read_search"] if os.geteuid() == 0 else [])
    child = subprocess.run([*drop, sys.executable, "-c", _APPEND_DAY_2, str(folder), str(there)],
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    assert child.returncode == ExitCode.OUTPUT_UNWRITABLE, child.stderr
    assert f"cannot write {there}: permission denied" in child.stderr
    assert "Traceback" not in child.stderr
    assert there.stat().st_size == 0
    there.unlink()  # what the user does; the sink would remove it too (not checkpointed)
    for where in (folder, clean):
        w = SinkWriter(where, TOPIC, ExportSettings())
        w.add(_rows(2, 10))
        w.checkpoint()
        w.close()
    assert scored_lines(folder) == scored_lines(clean) and len(scored_lines(folder)) == 20


@pytest.mark.parametrize(("name", "reset"), [
    *((name, True) for name in (STATE_FILE, REJECTED_FILE, SCORED_FILE, REVIEWS_LOG_FILE)),
    *((name, False) for name in (REJECTED_FILE, SCORED_FILE, REVIEWS_LOG_FILE))])
def test_a_folder_at_a_file_name_a_start_removes_is_one_line(
        tmp_path: Path, name: str, reset: bool) -> None:
    """A fresh start removes sink_rejected.jsonl and transactions_scored.csv, --reset every
    appended file and the checkpoint: a folder there was an IsADirectoryError traceback.
    (Without --reset the checkpoint is read: a folder there is refused, above. In a folder
    without exports, a folder at a name the sink writes is refused as a file there is.)"""
    (tmp_path / name).mkdir()
    (tmp_path / name / "theirs.txt").write_text("kept\n")
    named = f"({re.escape(str(tmp_path / name))}|{re.escape(f'{tmp_path} holds {name} ')})"
    with pytest.raises(AuditstreamError, match=named) as caught:
        SinkWriter(tmp_path, TOPIC, ExportSettings(), reset=reset)
    assert caught.value.exit_code == ExitCode.USAGE
    assert (tmp_path / name / "theirs.txt").read_text() == "kept\n"


def test_a_file_put_at_the_rejects_name_while_the_sink_runs_is_not_appended_to(
        tmp_path: Path) -> None:
    """sink_rejected.jsonl is opened at the first invalid message: a file someone put there
    meanwhile must have the length the sink made it (0) before anything is appended, as a
    day file must (it was appended to, and only the next checkpoint stopped the sink)."""
    w = _running(tmp_path)
    theirs = tmp_path / REJECTED_FILE
    theirs.write_text("someone's notes\n")
    with pytest.raises(AuditstreamError, match=f"{theirs} has 16 bytes, the sink made it 0"):
        w.add([(0, 10, b"not json")])
    assert theirs.read_text() == "someone's notes\n"


def test_an_open_day_file_moved_out_and_linked_back_stops_the_sink_at_its_checkpoint(
        tmp_path: Path) -> None:
    """The link points at the very file the sink holds open, so following it saw no change;
    the checkpoint would record a name the next start refuses (a link at a day's name)."""
    folder, moved = tmp_path / "exports", tmp_path / "elsewhere.csv"
    w = _running(folder)
    day = folder / dy.day_file("2025-01-01")
    day.rename(moved)
    day.symlink_to(moved)
    recorded = dict(w.cp.lengths)
    w.add(_rows(1, 10))
    with pytest.raises(AuditstreamError, match=f"{day} was replaced"):
        w.checkpoint()
    assert w.cp.lengths == recorded  # the checkpoint not moved


@pytest.mark.parametrize("at", ["day", SCORED_FILE])
@pytest.mark.parametrize("kind", ["folder", "link", "fifo"])
def test_a_name_score_publishes_to_taken_while_it_runs_leaves_the_earlier_run(
        tmp_path: Path, kind: str, at: str) -> None:
    """score moves its day files in after the run (and removes an earlier
    transactions_scored.csv): a folder there was a traceback after the rollups were already
    the new run's, beside the earlier run's day files."""
    world = _World(tmp_path)
    out = tmp_path / "ex"
    write_exports(random_scored(300, seed=1), out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    rows = random_scored(300, seed=2)
    last = max(tx.timestamp for tx in rows).date().isoformat()
    there = out / (dy.day_file(last) if at == "day" else at)
    with pytest.raises(AuditstreamError) as caught, ExportWriter(out) as exports:
        exports.write(rows)
        there.unlink(missing_ok=True)
        world.place("link" if kind == "link" else kind, there)
        with _within(5):
            exports.finish()
    assert caught.value.exit_code == ExitCode.USAGE and str(there) in str(caught.value)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*")
             if p.is_file() and not p.is_symlink()}
    assert after == {k: v for k, v in before.items() if out / k != there}
    assert not (out / dy.STAGING).exists()
    world.untouched()
