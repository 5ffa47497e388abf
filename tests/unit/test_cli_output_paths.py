"""Where the commands write: a mistyped path is refused in one line, never a tree or a traceback.

Found walking the README (2026-12-01): `generate --out /nonexist/dir/x.csv` (and `score
--out`, `sink --exports`, `dashboard sample`...) quietly created every missing folder, and a
path where no file can be created (`/proc/1/xx`) ended in a FileNotFoundError traceback.
Every command that writes files now has one rule: it creates the file or folder it is told
to write, never the folders above it (exit 2 naming the missing one); a place that refuses
the file is exit 5 in one line.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from auditstream.cli import main
from shared.errors import ExitCode

SMALL = ["--customers", "3", "--days", "1"]
#: A folder that exists and where no file can be created (root gets ENOENT, others EACCES).
UNWRITABLE = Path("/proc/1")


def _one_error_line(capsys: pytest.CaptureFixture[str], prog: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"auditstream {prog}: error: "), err
    return err[0]


@pytest.fixture(autouse=True)
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    """A closed port and short waits: a command that got past the path check (as they all
    did before) fails fast instead of waiting for, or starting, a broker."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")
    for wait in ("KAFKA_STARTUP_WAIT_S", "SINK_STARTUP_WAIT_S"):
        monkeypatch.setenv(wait, "1")


@pytest.fixture
def data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "data.csv"
    assert main(["generate", *SMALL, "--out", str(path)]) == ExitCode.OK
    capsys.readouterr()
    # auditors' outcomes for `review import`, one row bad: a rejects report to write
    (tmp_path / "cases.csv").write_text("case_id,outcome\nC1,confirmed\nC2,maybe\n")
    return path


def _commands(data: Path, target: Path) -> dict[str, list[str]]:
    """Each file-writing command, writing `target` (a file or a folder, as it takes)."""
    return {
        "generate --out": ["generate", *SMALL, "--out", str(target)],
        "generate --changes-out": ["generate", *SMALL, "--mix", "extended", "--out",
                                   str(data.parent / "ext.csv"), "--changes-out", str(target)],
        "score --out": ["score", str(data), "--out", str(target)],
        "score --rejects-dir": ["score", str(data), "--out", str(data.parent / "exports"),
                                "--rejects-dir", str(target)],
        "replay --rejects-dir": ["replay", "--strict", str(data), "--rejects-dir", str(target)],
        "review import --rejects-dir": ["review", "import", "--dry-run", "--no-check",
                                        str(data.parent / "cases.csv"), "--rejects-dir",
                                        str(target)],
        "sink --exports": ["sink", "--once", "--exports", str(target)],
        "dashboard sample": ["dashboard", "sample", "--synthetic", "--rows", "50", str(target)],
        "dashboard build --out": ["dashboard", "build", "--no-pbix", "--out", str(target)],
        "dashboard screenshots --out": ["dashboard", "screenshots", "--pbix", "",
                                        "--out", str(target)],
        "demo --exports": ["demo", "--exports", str(target)],
    }


COMMANDS = list(_commands(Path("d.csv"), Path("x")))


@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_folder_above_the_output_is_refused_and_not_created(
    data: Path, capsys: pytest.CaptureFixture[str], command: str,
) -> None:
    missing = data.parent / "nonexist" / "dir"
    argv = _commands(data, missing / "out.csv")[command]
    before = sorted(data.parent.iterdir())
    assert main(argv) == ExitCode.USAGE
    line = _one_error_line(capsys, argv[0])
    assert f"folder {missing} does not exist" in line and "create it" in line, line
    assert sorted(data.parent.iterdir()) == before  # no tree, no other output either


@pytest.mark.parametrize("command", ["generate --out", "score --out", "dashboard sample",
                                     "sink --exports", "replay --rejects-dir",
                                     "review import --rejects-dir"])
def test_a_file_where_the_outputs_folder_should_be_is_refused(
    data: Path, capsys: pytest.CaptureFixture[str], command: str,
) -> None:
    argv = _commands(data, data / "out")[command]  # data.csv/out: a folder inside a file
    assert main(argv) == ExitCode.USAGE
    assert f"{data} is not a folder" in _one_error_line(capsys, argv[0])
    assert data.is_file()


@pytest.mark.parametrize("command", ["generate --out", "score --out", "dashboard sample"])
def test_the_output_itself_is_still_created_in_a_folder_that_exists(
    data: Path, command: str,
) -> None:
    # one level: the file, or the exports folder the command was told to write
    target = data.parent / "new"
    assert main(_commands(data, target)[command]) == ExitCode.OK
    assert target.exists()


needs_proc = pytest.mark.skipif(not UNWRITABLE.is_dir(), reason="needs Linux /proc")


@needs_proc
@pytest.mark.parametrize(("command", "target"), [
    ("generate --out", UNWRITABLE / "x.csv"),
    ("generate --changes-out", UNWRITABLE / "x.csv"),
    ("score --out", UNWRITABLE / "xx"),
    ("score --out", UNWRITABLE),
    ("score --rejects-dir", UNWRITABLE / "xx"),
    ("replay --rejects-dir", UNWRITABLE / "xx"),
    ("review import --rejects-dir", UNWRITABLE / "xx"),
    ("sink --exports", UNWRITABLE / "xx"),
    ("dashboard sample", UNWRITABLE / "xx"),
    ("dashboard build --out", UNWRITABLE / "xx"),
    ("dashboard screenshots --out", UNWRITABLE / "xx"),
])
def test_a_place_where_no_file_can_be_created_is_one_line_and_exit_5(
    data: Path, capsys: pytest.CaptureFixture[str], command: str, target: Path,
) -> None:
    argv = _commands(data, target)[command]
    if "rejects" in command:  # a bad row, so that there is a report to write
        with data.open("a") as fh:
            fh.write("bad,row\n")
    assert main(argv) == ExitCode.OUTPUT_UNWRITABLE
    err = capsys.readouterr().err  # generate says what it generated first
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert "Traceback" not in err and len(errors) == 1, err
    assert errors[0].startswith(f"auditstream {argv[0]}: error: cannot write {target}")


def test_dashboard_report_into_a_folder_that_refuses_files_is_one_line_and_exit_5(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # An errno the disk-full / read-only table does not know (a /proc-like folder) was a
    # FileNotFoundError traceback; report.html is written beside exports that exist.
    import tempfile

    assert main(["dashboard", "sample", "--synthetic", "--rows", "50", str(tmp_path)]) == 0
    capsys.readouterr()

    def refused(prefix: str, suffix: str, dir: Path) -> tuple[int, str]:
        raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), os.path.join(dir, prefix))

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    assert main(["dashboard", "report", str(tmp_path)]) == ExitCode.OUTPUT_UNWRITABLE
    line = _one_error_line(capsys, "dashboard")
    assert f"cannot write {tmp_path / 'report.html'}: no such file or directory" in line


@pytest.mark.parametrize("command", ["score --out", "sink --exports", "dashboard sample",
                                     "generate --out"])
def test_an_output_that_is_a_link_to_nothing_is_a_usage_error_naming_the_link(
    data: Path, capsys: pytest.CaptureFixture[str], command: str,
) -> None:
    # A dangling symlink as --out / --exports: exit 5 "file exists" before (hostile probe,
    # 2026-12-05): a missing place to write is exit 2 by the README's table.
    link = data.parent / "dangling"
    link.symlink_to(data.parent / "nonexist" / "dir")
    argv = _commands(data, link)[command]
    assert main(argv) == ExitCode.USAGE
    line = _one_error_line(capsys, argv[0])
    assert f"{link} is a link to {data.parent / 'nonexist' / 'dir'}, which does not exist" \
        in line, line
    assert link.is_symlink() and not (data.parent / "nonexist").exists()
