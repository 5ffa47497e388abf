"""A write that fails is an `OSError`, whoever names it: best-effort writes tolerate it all.

Since 2026-12-01 `shared.outputs.creating` (under every atomic write and `FolderLock`) turns
a failure it cannot name (a place refusing files such as `/proc/1`, a file where a folder
should be) into `OutputError`, exit 5, at once. Code that treats a write as best effort
catches `OSError` (the detector's failure count), and such a failure escaped it: found once,
patched at that call site. `OutputError` is an `OSError` now, so it is tolerated wherever an
OSError is, and still one line and exit 5 where nothing catches it.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from shared.atomic import atomic_path, atomic_text_writer, atomic_write_bytes, atomic_write_text
from shared.entry import run_guarded
from shared.errors import ExitCode, OutputError
from shared.folderlock import FolderLock
from shared.outputs import output_errors
from sink.exports import Rollups, notify

ROOT = Path(__file__).resolve().parents[2]
#: A folder that exists and refuses files: ENOENT as root (an errno `creating` cannot
#: name, so an `OutputError`), EACCES otherwise (a named OSError).
PROC = Path("/proc/1")
needs_proc = pytest.mark.skipif(not PROC.is_dir(), reason="needs Linux /proc")


def _text_writer(target: Path) -> None:
    with atomic_text_writer(target) as fh:
        fh.write("x")


def _path_writer(target: Path) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text("x")


WRITERS: dict[str, Callable[[Path], object]] = {
    "atomic_write_text": lambda target: atomic_write_text(target, "x"),
    "atomic_write_bytes": lambda target: atomic_write_bytes(target, b"x"),
    "atomic_text_writer": _text_writer,
    "atomic_path": _path_writer,
}


def _under_a_file(tmp_path: Path) -> Path:
    """A target whose folder would be inside a regular file (ENOTDIR: unnamed, so an
    `OutputError`, as root or not)."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    return blocker / "sub" / "out.csv"


@pytest.mark.parametrize("writer", WRITERS)
def test_an_atomic_write_where_no_file_can_be_made_is_an_oserror_naming_the_target(
    tmp_path: Path, writer: str,
) -> None:
    target = _under_a_file(tmp_path)
    with pytest.raises(OSError) as caught:  # what a best-effort caller catches
        WRITERS[writer](target)
    assert isinstance(caught.value, OutputError)
    assert caught.value.exit_code == ExitCode.OUTPUT_UNWRITABLE
    assert str(caught.value).startswith(f"cannot write {target}: not a directory; ")
    assert caught.value.errno is None  # never read as one of the named kinds (no rewrap)


@needs_proc
@pytest.mark.parametrize("writer", WRITERS)
def test_an_atomic_write_into_proc_is_an_oserror_naming_the_target(writer: str) -> None:
    target = PROC / "out.csv"
    with pytest.raises(OSError, match=f"^cannot write {target}: "):
        WRITERS[writer](target)
    assert not target.exists()


@needs_proc
def test_a_folder_lock_where_no_folder_can_be_made_is_an_oserror() -> None:
    with pytest.raises(OSError, match=f"^cannot write {PROC / 'xx'}: "):
        FolderLock(PROC / "xx").acquire()


def test_a_best_effort_except_oserror_tolerates_an_output_error(tmp_path: Path) -> None:
    # The shape of every best-effort write (detector/circuit.py's failure count).
    target = _under_a_file(tmp_path)
    try:
        atomic_write_text(target, "x")
    except OSError as exc:
        tolerated: OSError | None = exc
    else:
        tolerated = None
    assert isinstance(tolerated, OutputError)


def test_an_output_error_inside_output_errors_passes_unchanged(tmp_path: Path) -> None:
    # sink and score wrap their FolderLock and writes in output_errors(folder, after): an
    # OutputError (now an OSError too) must not be read as an OSError again and rewrapped.
    target = _under_a_file(tmp_path)
    with pytest.raises(OutputError) as caught, output_errors(tmp_path, "rows kept"):
        atomic_write_text(target, "x")
    text = str(caught.value)
    assert text.count("cannot write") == 1 and "rows kept" not in text, text
    assert isinstance(caught.value.__cause__, NotADirectoryError)  # creating's own


def test_run_guarded_prints_an_output_error_from_a_write_in_one_line_and_returns_5(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # Matched as an AuditstreamError, not by the OSError branch (which, seeing no errno it
    # knows, would re-raise it as a bug with a traceback).
    target = _under_a_file(tmp_path)
    assert run_guarded("auditstream x", lambda: atomic_write_text(target, "x")) == 5
    err = capsys.readouterr().err
    assert err.startswith(f"auditstream x: error: cannot write {target}: not a directory; ")
    assert err.count("\n") == 1


def test_the_rollup_listener_s_output_error_is_logged_and_a_full_disk_still_stops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    rollups = cast(Rollups, None)  # the listeners below do not read it

    def refused(_: Rollups, folder: Path) -> None:
        atomic_write_text(_under_a_file(folder), "report")

    notify(refused, rollups, tmp_path)  # report.html only: the exports go on
    assert "the rollup listener failed" in caplog.text

    def full(_: Rollups, folder: Path) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder / "report.html"))

    with pytest.raises(OSError, match="No space left"):  # the exports would fail too: stop
        notify(full, rollups, tmp_path)


def _run(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120, check=False)


def _one_error_line(done: subprocess.CompletedProcess[str], prog: str, target: Path) -> None:
    assert done.returncode == ExitCode.OUTPUT_UNWRITABLE, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(f"{prog}: error: cannot write {target}: "), errors
    assert errors[0].count("cannot write") == 1, errors


@needs_proc
def test_generate_into_proc_exits_5_with_one_line(tmp_path: Path) -> None:
    target = PROC / "x.csv"
    done = _run("-m", "auditstream", "generate", "--customers", "3", "--days", "1",
                "--out", str(target))
    _one_error_line(done, "auditstream generate", target)


@needs_proc
def test_python_m_sink_with_exports_in_proc_exits_5_with_one_line() -> None:
    # FolderLock inside output_errors, before any Kafka call: no broker needed.
    target = PROC / "xx"
    done = _run("-m", "sink", "--once", "--exports", str(target),
                KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9", SINK_STARTUP_WAIT_S="1")
    _one_error_line(done, "python -m sink", target)


@pytest.mark.parametrize("failure", [
    OSError(errno.EFBIG, os.strerror(errno.EFBIG)), RuntimeError("a bug in the page")])
def test_score_fails_when_its_report_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    failure: Exception,
) -> None:
    """`score` logged any report failure but a listed disk error and exited 0, the earlier
    run's report.html beside the new rollups (a hostile probe, `prlimit --fsize`: EFBIG).
    Now a file size limit is exit 5 in one line, any other failure a bug (exit 70)."""
    from auditstream import score
    from auditstream.cli import main
    from shared.csv_io import write_transactions_csv
    from tests.unit.test_core_engine import stream

    source, out = tmp_path / "in.csv", tmp_path / "out"
    write_transactions_csv(stream(n=60, customers=3, seed=1), source)

    def fails(*_: object) -> None:
        raise failure

    monkeypatch.setattr(score, "write_report_from_rollup", fails)  # the name `score` passes
    code = main(["score", str(source), "--out", str(out)])
    err = capsys.readouterr().err
    if isinstance(failure, OSError):
        assert code == ExitCode.OUTPUT_UNWRITABLE
        assert "the file is larger than the file system or a limit" in err
        assert err.count("\n") == 1 and "Traceback" not in err
    else:
        assert code == ExitCode.BUG and "a bug in the page" in err, err
