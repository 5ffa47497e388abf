"""The local broker's own files in BROKER_HOME written only as regular files at their
names. Hostile probe of 2026-12-06: `broker.pid`, `ports`, `server.properties` and
`log4j2.properties` were written with `write_text` and `broker.log` opened with `open("ab")`,
so a symbolic link at the name (there before the start, or swapped in after the checks that
read `broker.pid` and `ports`) was written through, over a user's file, and a FIFO there
blocked `broker start` for ever. Now a file is replaced atomically (a link at the name is
replaced, what it points at untouched), the log is opened by `open_append`, and a FIFO or
folder there is one line, exit 2: before the JVM starts, or, at `broker.pid`, with the
process just launched stopped again (not left running with no PID file to stop it by).

No JVM: the start runs with a Python process in the JVM's place (`_launching`)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from auditstream.broker import BrokerSettings, LocalBroker
from auditstream.broker import process as proc_mod
from auditstream.broker.process import free_port
from shared.errors import BrokerError, ExitCode
from tests.fifo_guard import within

SAYS = {"fifo": "is a FIFO or device, not a regular file",
        "folder": "is a folder, not a regular file"}
_REAL_POPEN = subprocess.Popen


def _plant(path: Path, kind: str, users: Path) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        path.symlink_to(users)


@pytest.fixture
def users(tmp_path: Path) -> Path:
    """A user's file a link in BROKER_HOME points at: never to be written."""
    notes = tmp_path / "users-notes.txt"
    notes.write_text("my notes\n")
    return notes


def _launching(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str,
               on_launch: Callable[[], None] = lambda: None) -> LocalBroker:
    """A broker whose start launches `python -c script` in the JVM's place (storage
    formatted already), calling `on_launch` as it launches."""
    broker = LocalBroker(BrokerSettings(home=tmp_path / "home", cache_dir=tmp_path / "c",
                                        port=free_port(), controller_port=free_port()))
    (broker.data_dir).mkdir(parents=True)
    (broker.data_dir / "meta.properties").write_text("formatted\n")
    monkeypatch.setattr(proc_mod, "require_tool", lambda *_: sys.executable)
    monkeypatch.setattr(proc_mod, "ensure_libs", lambda *_: tmp_path / "libs")
    monkeypatch.setattr(LocalBroker, "_wait_ready", lambda self, proc: None)

    def popen(cmd: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        assert "kafka.Kafka" in cmd
        on_launch()
        return _REAL_POPEN([sys.executable, "-c", script], **kw)

    monkeypatch.setattr(subprocess, "Popen", popen)
    return broker


def _reap(broker: LocalBroker) -> None:
    if broker._proc is not None:
        broker._proc.kill()
        broker._proc.wait(10)


@pytest.mark.parametrize("kind", ["link", "fifo", "folder"])
@pytest.mark.parametrize("which", ["log_file", "config_file", "log4j_file"])
def test_a_start_never_writes_through_or_into_what_is_at_its_files_names(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, users: Path,
        which: str, kind: str) -> None:
    broker = _launching(tmp_path, monkeypatch, "print('this run')")
    path: Path = getattr(broker, which)
    _plant(path, kind, users)
    try:
        if kind == "link" and which != "log_file":  # replaced: the start goes on
            within(8, path, broker.start, writes=True)
            assert path.is_file() and not path.is_symlink()
            return
        with pytest.raises(BrokerError) as caught:
            within(8, path, broker.start, writes=True)
        message = str(caught.value)
        says = SAYS.get(kind, "is a symbolic link, not a regular file")
        assert message.startswith(f"{path} {says}: the broker's own files in "
                                  f"{broker.settings.home} are regular files"), message
        assert "\n" not in message and caught.value.exit_code == ExitCode.USAGE
        assert broker._proc is None, "launched all the same"
    finally:
        _reap(broker)
        assert users.read_text() == "my notes\n"


def test_a_launch_appends_its_output_to_the_log_and_records_its_pid(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broker = _launching(tmp_path, monkeypatch, "print('this run')")
    broker.log_file.write_bytes(b"earlier run\n")
    broker.start()
    assert broker._proc is not None
    broker._proc.wait(10)
    assert broker.log_file.read_bytes() == b"earlier run\nthis run\n"
    assert broker.pid_file.read_text() == f"{broker._proc.pid}\n"
    assert broker.launched


@pytest.mark.parametrize("kind", ["link", "fifo", "folder"])
def test_a_pid_file_swapped_in_at_the_launch_is_replaced_or_stops_the_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, users: Path, kind: str) -> None:
    """Swapped in after the start read `broker.pid` (which refuses it) and before it wrote it."""
    holder: list[LocalBroker] = []
    broker = _launching(tmp_path, monkeypatch, "import time; time.sleep(60)",
                        lambda: _plant(holder[0].pid_file, kind, users))
    holder.append(broker)
    try:
        if kind == "link":
            within(8, broker.pid_file, broker.start, writes=True)
            assert broker._proc is not None
            assert broker.pid_file.read_text() == f"{broker._proc.pid}\n"
            assert not broker.pid_file.is_symlink()
            return
        with pytest.raises(BrokerError) as caught:
            within(8, broker.pid_file, broker.start, writes=True)
        assert str(caught.value).startswith(f"{broker.pid_file} {SAYS[kind]}: ")
        assert broker._proc is not None
        assert broker._proc.poll() is not None, "left running with no PID file"
    finally:
        _reap(broker)
        assert users.read_text() == "my notes\n"


@pytest.mark.parametrize("kind", ["link", "fifo", "folder"])
def test_a_ports_file_swapped_in_at_the_format_is_replaced_or_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, users: Path, kind: str) -> None:
    """Swapped in after `_check_ports` read `ports` (which refuses it) and before the format
    that writes it."""
    broker = LocalBroker(BrokerSettings(home=tmp_path / "home", cache_dir=tmp_path / "c",
                                        port=free_port(), controller_port=free_port()))
    broker.settings.home.mkdir(parents=True)
    s = broker.settings

    def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        if "format" in cmd:
            _plant(broker.ports_file, kind, users)
        return subprocess.CompletedProcess(cmd, 0, "0123456789abcdefghijkl\n", "")

    monkeypatch.setattr(subprocess, "run", run)
    if kind == "link":
        within(8, broker.ports_file, lambda: broker._format_once("java", tmp_path), writes=True)
        assert broker.ports_file.read_text() == f"{s.port},{s.controller_port}\n"
        assert not broker.ports_file.is_symlink()
    else:
        with pytest.raises(BrokerError) as caught:
            within(8, broker.ports_file, lambda: broker._format_once("java", tmp_path), writes=True)
        assert str(caught.value).startswith(f"{broker.ports_file} {SAYS[kind]}: ")
    assert users.read_text() == "my notes\n"
