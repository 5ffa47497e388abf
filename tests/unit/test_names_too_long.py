"""A file or folder name longer than the file system takes (hostile probe, 2026-12-06,
fourteenth): 255 bytes a name on Linux's file systems, which 86 characters of Cyrillic or
Japanese already pass, or a path past 4,096 bytes; given as an input, an output, or made
from one (an input of 250 bytes has a rejects report `<name>.rejects.csv` of 262). Every
command stopped with a traceback and exit 70, "a bug" (`OSError: [Errno 36] File name too
long`); it is the name given: one line naming it, exit 2."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from auditstream.cli import main
from shared.csv_io import write_transactions_csv
from shared.entry import run_guarded
from shared.errors import ExitCode
from tests.unit.test_core_engine import stream

LONG = "a" * 256  # one byte past NAME_MAX
CYRILLIC = "д" * 128  # 128 characters, 256 bytes in UTF-8


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    write_transactions_csv(stream(n=60, customers=3, seed=1), path)
    return path


@pytest.mark.parametrize("args", [
    lambda t, s: ["score", str(s), "--out", str(t / LONG)],
    lambda t, s: ["score", str(s), "--out", str(t / CYRILLIC)],
    lambda t, s: ["score", str(t / (LONG + ".csv")), "--out", str(t / "o")],
    lambda t, s: ["generate", "--customers", "2", "--days", "1", "--out", str(t / LONG)],
    lambda t, s: ["replay", str(t / (CYRILLIC + ".csv"))],
    lambda t, s: ["dashboard", "report", str(t / LONG)],
    lambda t, s: ["dashboard", "sample", str(t / LONG)],
], ids=["score-out", "score-out-cyrillic", "score-input", "generate-out", "replay-input",
        "dashboard-report", "dashboard-sample"])
def test_a_name_past_the_file_systems_limit_is_one_line_and_exit_2(
        tmp_path: Path, source: Path, capsys: pytest.CaptureFixture[str], args: object
) -> None:
    argv = args(tmp_path, source)  # type: ignore[operator]
    assert main(argv) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    [line] = [x for x in err.splitlines() if "WARNING" not in x]
    assert "is too long for the file system" in line, line


def test_the_boundary_name_of_255_bytes_is_a_name_like_any(tmp_path: Path, source: Path
                                                          ) -> None:
    assert main(["score", str(source), "--out", str(tmp_path / ("a" * 255))]) == 0


def test_a_name_too_long_anywhere_is_said_by_the_guard(capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    def deep() -> int:
        raise OSError(errno.ENAMETOOLONG, "File name too long", "/x/" + LONG)

    assert run_guarded("auditstream x", deep) == ExitCode.USAGE
    assert capsys.readouterr().err == (
        f"auditstream x: error: cannot use /x/{LONG}: the name is too long for the file "
        "system (at most 255 bytes a file or folder name, 4,096 a path); choose a shorter "
        "one\n")
