"""The local broker's own files in BROKER_HOME (`broker.pid`, `ports`, `broker.log`) read
only as regular files at their names (`shared.outputs.open_text`). Hostile probe of
2026-12-06: a FIFO at `broker.pid` hung `broker status` and `broker stop` for ever (and a
FIFO at `ports` a `broker start`), a folder there was a traceback (exit 70), a link was read
through. Now one line naming it, exit 2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from auditstream.broker import BrokerSettings, LocalBroker
from auditstream.broker.process import free_port
from auditstream.cli import main
from shared.errors import AuditstreamError, ExitCode
from tests.fifo_guard import within

SAYS = {"fifo": "is a FIFO or device, not a regular file",
        "folder": "is a folder, not a regular file",
        "link": "is a symbolic link, not a regular file"}


def _plant(path: Path, kind: str, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        elsewhere = path.parent.parent / f"elsewhere-{path.name}"
        elsewhere.write_text(text)
        path.symlink_to(elsewhere)


@pytest.mark.parametrize("kind", ["fifo", "folder", "link"])
@pytest.mark.parametrize("action", ["status", "stop"])
def test_a_pid_file_that_is_no_regular_file_is_one_line_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        kind: str, action: str) -> None:
    home = tmp_path / "home"
    pid = home / "broker.pid"
    _plant(pid, kind, f"{os.getpid()}\n")
    monkeypatch.setenv("BROKER_HOME", str(home))
    monkeypatch.setenv("BROKER_PORT", str(free_port()))
    monkeypatch.setenv("BROKER_CONTROLLER_PORT", str(free_port()))
    code = within(8, pid, lambda: main(["broker", action]))
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"auditstream broker: error: {pid} {SAYS[kind]}" in err, err


@pytest.mark.parametrize("kind", ["fifo", "folder", "link"])
def test_a_ports_file_that_is_no_regular_file_is_refused_before_a_start(
        tmp_path: Path, kind: str) -> None:
    s = BrokerSettings(home=tmp_path / "home", cache_dir=tmp_path / "cache",
                       port=free_port(), controller_port=free_port())
    broker = LocalBroker(s)
    _plant(broker.ports_file, kind, f"{s.port},{s.controller_port}\n")
    with pytest.raises(AuditstreamError) as caught:
        within(8, broker.ports_file, broker._check_ports)
    assert str(caught.value).startswith(f"{broker.ports_file} {SAYS[kind]}")


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_the_log_tail_of_a_log_that_is_no_regular_file_says_so(
        tmp_path: Path, kind: str) -> None:
    """Shown in start's errors: a FIFO there hung the error itself."""
    broker = LocalBroker(BrokerSettings(home=tmp_path / "home", cache_dir=tmp_path / "c",
                                        port=free_port(), controller_port=free_port()))
    _plant(broker.log_file, kind, "")
    tail = within(8, broker.log_file, broker.log_tail)
    assert tail.startswith(f"(no log to show: {broker.log_file} {SAYS[kind]}")
