"""Ctrl-C or SIGTERM while `auditstream` starts (its first one to three seconds import every
command's modules: pandas, scikit-learn) printed a KeyboardInterrupt traceback, or ended by
the signal (143); now one line and the command's own code as README's "Exit codes" gives
it: 130, or 0 for the services `detect` and `sink` (found probing, 2026-12-03)."""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time

import pytest

from auditstream import cli
from shared.errors import ExitCode
from shared.startup import loading


def test_ctrl_c_while_the_commands_are_imported_is_one_line_and_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    def interrupted(command: str | None = None) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["score", "x.csv", "--out", "o"]) == ExitCode.INTERRUPTED
    assert capsys.readouterr().err.strip().splitlines() == ["auditstream: interrupted"]


def test_a_start_not_interrupted_still_runs_the_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0 and "auditstream" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "code", "line"), [
    (["score", "x.csv", "--out", "o"], 130, "auditstream: interrupted"),
    (["-v", "generate", "--out", "x.csv"], 130, "auditstream: interrupted"),
    (["detect"], 0, "auditstream detect: stopped before it started"),
    (["-v", "sink"], 0, "auditstream sink: stopped before it started"),
])
def test_sigterm_while_the_commands_are_imported_is_the_commands_own_stop(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    argv: list[str], code: int, line: str,
) -> None:
    def terminated(command: str | None = None) -> argparse.ArgumentParser:
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill PID` while pandas is imported
        return argparse.ArgumentParser()  # held until the modules are loaded, then a stop

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(cli, "build_parser", terminated)
    assert cli.main(argv) == code
    assert capsys.readouterr().err.strip().splitlines() == [line]
    assert signal.getsignal(signal.SIGTERM) is before  # the command's own handling after


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_while_loading_is_held_until_the_loading_ends(signum: int) -> None:
    """Raised inside an extension's start (pydantic-core's), a KeyboardInterrupt made a
    Rust panic (exit 1) or was swallowed and the command ran on (a hostile probe): the
    loading finishes, then it stops; the handlers are the command's own again."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    loaded = []
    with pytest.raises(KeyboardInterrupt), loading():
        os.kill(os.getpid(), signum)
        time.sleep(0.05)  # Python runs a handler between two instructions: it has by now
        loaded.append("after the signal")  # not interrupted here
    assert loaded == ["after the signal"]
    assert {s: signal.getsignal(s) for s in handlers} == handlers


def test_a_stop_while_loading_is_held_with_another_thread_running() -> None:
    """A thread started by an import (a pool, a client) takes a signal sent to the process
    as readily as the main thread: blocking the signal in the main thread was not enough."""
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, daemon=True)
    worker.start()
    loaded = []
    try:
        with pytest.raises(KeyboardInterrupt), loading():
            for _ in range(20):
                os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            loaded.append("after the signals")
    finally:
        stop.set()
    assert loaded == ["after the signals"]


def test_loading_without_a_stop_changes_nothing() -> None:
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with loading():
        pass
    assert {s: signal.getsignal(s) for s in handlers} == handlers


def test_a_failure_while_loading_is_raised_even_when_a_stop_came() -> None:
    with pytest.raises(ZeroDivisionError), loading():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        raise ZeroDivisionError
