"""`replay` and `review import` given a name that is no regular file (probe of 2026-12-05,
after the leftovers): `replay fifo` waited for ever for a writer and `replay /dev/zero`
read for ever (its order check opened the file before the header check refused it);
`review import /dev/zero` said "no such file". Each is now one line, exit 2, at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditstream.cli import main
from shared.errors import ExitCode

ROOT = Path(__file__).resolve().parents[2]


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("kind", ["a FIFO without a writer", "/dev/zero"])
def test_replay_of_a_name_that_is_no_regular_file_is_refused_at_once(
        tmp_path: Path, kind: str) -> None:
    given = _fifo(tmp_path) if kind.startswith("a FIFO") else Path("/dev/zero")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
           "KAFKA_STARTUP_WAIT_S": "1"}
    try:
        done = subprocess.run([sys.executable, "-m", "auditstream", "replay", str(given)],
                              env=env, capture_output=True, text=True, timeout=60,
                              cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"replay of {kind} still running after 60 s")
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"auditstream replay: error: cannot read {given}: not a regular file"]


@pytest.mark.parametrize("kind", ["a FIFO without a writer", "/dev/zero"])
def test_review_import_names_a_device_or_pipe_as_such(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    given = _fifo(tmp_path) if kind.startswith("a FIFO") else Path("/dev/zero")
    assert main(["review", "import", str(given), "--no-check", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"auditstream review: error: cannot read {given}: not a regular file "
                   "(a device, pipe or socket)"]
