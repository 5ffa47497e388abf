"""A BROKER_HOME (or BROKER_CACHE_DIR) that cannot be a folder: one line and a documented
exit code for every action, never a traceback. Before: `broker start` ended in
NotADirectoryError (a file in the path, or BROKER_HOME itself a file) or FileNotFoundError
(under /proc) tracebacks, exit 70, and so did `broker stop` for a path through a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditstream.broker.process import free_port
from auditstream.cli import main


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A broker home and a cache that holds the jars (nothing fetched); the path of a file."""
    monkeypatch.setenv("BROKER_HOME", str(tmp_path / "home"))
    cache = tmp_path / "cache"
    (cache / "kafka-9.9.9" / "libs").mkdir(parents=True)
    (cache / "kafka-9.9.9" / "libs" / ".complete").write_text("9.9.9\n")  # nothing fetched
    monkeypatch.setenv("BROKER_CACHE_DIR", str(cache))
    monkeypatch.setenv("BROKER_KAFKA_VERSION", "9.9.9")
    monkeypatch.setenv("BROKER_PORT", str(free_port()))
    monkeypatch.setenv("BROKER_CONTROLLER_PORT", str(free_port()))
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n")
    return a_file


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize(("variable", "action"), [("BROKER_HOME", "start"),
                                                  ("BROKER_CACHE_DIR", "fetch")])
@pytest.mark.parametrize("under", [False, True])
def test_a_file_where_a_broker_folder_goes_is_exit_2_naming_it(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    variable: str, action: str, under: bool,
) -> None:
    folder = env / "below" if under else env
    monkeypatch.setenv(variable, str(folder))
    assert main(["broker", action]) == 2
    line = _one_line(capsys)
    assert line.startswith(f"auditstream broker: error: {variable}={folder}: {env} is a "
                           "file, not a folder"), line


def test_a_home_where_no_folder_can_be_made_is_exit_5(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BROKER_HOME", "/proc/auditstream-broker")
    assert main(["broker", "start"]) == 5
    assert _one_line(capsys).startswith(
        "auditstream broker: error: cannot write /proc/auditstream-broker: ")


@pytest.mark.parametrize(("action", "code", "out"), [("stop", 0, "broker was not running"),
                                                    ("status", 4, "stopped: not running")])
def test_stop_and_status_with_a_home_through_a_file_say_not_running(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    action: str, code: int, out: str,
) -> None:
    monkeypatch.setenv("BROKER_HOME", str(env / "broker"))
    assert main(["broker", action]) == code
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == out
    assert captured.err == ""
