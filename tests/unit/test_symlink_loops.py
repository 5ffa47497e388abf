"""A symbolic link loop (`ln -s a a`, or `a -> b -> a`: a link made in the wrong folder)
given as a command's input or output (hostile probe, 2026-12-06, eleventh session): each was
a traceback and exit 70 (`Path.resolve`'s RuntimeError "Symlink loop", `os.lstat`'s ELOOP)
or named a link "to loop, which does not exist"; each is now one line and exit 2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from auditstream.broker.process import free_port
from auditstream.cli import main
from shared.errors import ExitCode

ROW = "1,c1,2025-01-01 00:00:00,1.0,CH,app,pc,fuel,10.0.0.1\n"
HEADER = ("transaction_id,customer_id,timestamp,amount,country,channel,device,"
          "merchant_category,ip\n")


@pytest.fixture(params=["one link", "two links"])
def loop(request: pytest.FixtureRequest, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Path:
    """A link loop in a working folder that also holds a good CSV, `in.csv`."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("KAFKA_STARTUP_WAIT_S", "1")
    (tmp_path / "in.csv").write_text(HEADER + ROW)
    if request.param == "one link":
        os.symlink("loop", tmp_path / "loop")
    else:
        os.symlink("other", tmp_path / "loop")
        os.symlink("loop", tmp_path / "other")
    return Path("loop")


def _one_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("argv", [
    ["score", "{loop}", "--out", "out"],
    ["score", "{loop}/in.csv", "--out", "out"],
    ["replay", "{loop}"],
    ["review", "import", "{loop}", "--dry-run", "--no-check"],
])
def test_a_link_loop_given_as_input_is_exit_2_cannot_read(
    loop: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
) -> None:
    # RuntimeError: Symlink loop from '.../loop' (shared.outputs.same_file), exit 70
    assert main([a.format(loop=loop) for a in argv]) == ExitCode.USAGE
    line = _one_error(capsys)
    assert f"cannot read {loop}" in line, line
    assert not Path("out").exists()


@pytest.mark.parametrize("argv", [
    ["dashboard", "build", "--out", "{loop}", "--no-pbix"],
    ["score", "in.csv", "--out", "{loop}"],
    ["generate", "--customers", "30", "--days", "2", "--out", "{loop}"],
    ["dashboard", "sample", "{loop}"],
    ["replay", "in.csv", "--rejects-dir", "{loop}"],
])
def test_a_link_loop_given_as_output_is_exit_2_named_a_loop(
    loop: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
) -> None:
    # dashboard build: OSError [Errno 40] Too many levels of symbolic links, exit 70; the
    # others: "loop is a link to loop, which does not exist; create it first"
    assert main([a.format(loop=loop) for a in argv]) == ExitCode.USAGE
    line = _one_error(capsys)
    assert f"{loop} is a symbolic link loop" in line, line
    assert os.path.islink(loop) and os.readlink(loop) in ("loop", "other")  # left as it was


def test_a_link_to_nothing_is_still_named_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.csv").write_text(HEADER + ROW)
    os.symlink("nowhere", tmp_path / "dangling")
    assert main(["score", "in.csv", "--out", "dangling"]) == ExitCode.USAGE
    assert "dangling is a link to nowhere, which does not exist" in _one_error(capsys)
