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
    """A link loop in a working folder that also holds a good CSV, `in.csv`, and a review
    file, `outcomes.csv`."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("KAFKA_STARTUP_WAIT_S", "1")
    (tmp_path / "in.csv").write_text(HEADER + ROW)
    (tmp_path / "outcomes.csv").write_text("transaction_id,outcome\n1,confirmed\n")
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


#: An input is "cannot read LOOP" (as any unreadable input); an output, or a folder read
#: from, names the loop.
CANNOT_READ = "cannot read {loop}"
IS_A_LOOP = "{loop} is a symbolic link loop"


@pytest.mark.parametrize(("argv", "says"), [
    # inputs: RuntimeError: Symlink loop from '.../loop' (shared.outputs.same_file), exit 70
    (["score", "{loop}", "--out", "out"], CANNOT_READ),
    (["score", "{loop}/in.csv", "--out", "out"], CANNOT_READ),
    (["replay", "{loop}"], CANNOT_READ),
    (["review", "import", "{loop}", "--dry-run", "--no-check"], CANNOT_READ),
    # outputs: dashboard build: OSError [Errno 40] Too many levels of symbolic links, exit 70;
    # the others: "loop is a link to loop, which does not exist; create it first"
    (["dashboard", "build", "--out", "{loop}", "--no-pbix"], IS_A_LOOP),
    (["score", "in.csv", "--out", "{loop}"], IS_A_LOOP),
    (["generate", "--customers", "30", "--days", "2", "--out", "{loop}"], IS_A_LOOP),
    (["dashboard", "sample", "{loop}"], IS_A_LOOP),
    (["replay", "in.csv", "--rejects-dir", "{loop}"], IS_A_LOOP),
    # a folder read from: "loop/cases.csv is a symbolic link, not a regular file"
    (["review", "serve", "--exports", "{loop}", "--port", "0"], IS_A_LOOP),
    (["review", "import", "outcomes.csv", "--dry-run", "--exports", "{loop}"], IS_A_LOOP),
])
def test_a_link_loop_given_to_a_command_is_exit_2_in_one_line(
    loop: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str,
) -> None:
    assert main([a.format(loop=loop) for a in argv]) == ExitCode.USAGE
    line = _one_error(capsys)
    assert says.format(loop=loop) in line, line
    assert not Path("out").exists()
    assert os.path.islink(loop) and os.readlink(loop) in ("loop", "other")  # left as it was


def test_a_link_to_nothing_is_still_named_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.csv").write_text(HEADER + ROW)
    os.symlink("nowhere", tmp_path / "dangling")
    assert main(["score", "in.csv", "--out", "dangling"]) == ExitCode.USAGE
    assert "dangling is a link to nowhere, which does not exist" in _one_error(capsys)
