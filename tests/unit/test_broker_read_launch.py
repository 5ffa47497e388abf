"""The local broker's reads of its own files and its launch, as the mutation round of the
changes `ea1c55a..467e97d` found them untested (docs/mutation.md): a log that is not UTF-8,
a PID file of stray bytes, the version the log names, the JVM's stdin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from auditstream.broker import BrokerSettings, LocalBroker
from auditstream.broker.process import free_port
from shared.errors import BrokerError


def _broker(tmp_path: Path) -> LocalBroker:
    broker = LocalBroker(BrokerSettings(home=tmp_path / "home", cache_dir=tmp_path / "c",
                                        port=free_port(), controller_port=free_port()))
    broker.log_file.parent.mkdir(parents=True, exist_ok=True)
    return broker


def test_a_log_not_utf8_is_shown_and_its_version_read_with_replacement_characters(
        tmp_path: Path) -> None:
    """The JVM's log may hold a line in the platform's encoding (a Latin-1 path): `broker
    status` and a failed start show its tail, not a UnicodeDecodeError."""
    broker = _broker(tmp_path)
    broker.log_file.write_bytes(b"[x] Kafka version: 3.8.1 (Commit:abc)\n"
                                b"[y] kafka version: lower\n"
                                b"[z] dir /d\xe9p\xf4t\nlast\n")
    assert broker.log_tail(2) == "[z] dir /d\ufffdp\ufffdt\nlast"
    assert broker.reported_version() == "3.8.1"


def test_a_pid_file_of_stray_bytes_names_no_process(tmp_path: Path) -> None:
    broker = _broker(tmp_path)
    broker.pid_file.write_bytes(b"\xff\xfe12\n")
    assert broker._pid() is None
    broker.pid_file.write_bytes(b"4242\n")
    assert broker._pid() == 4242


def test_the_broker_is_launched_without_the_terminal_s_stdin(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Started from a shell, the JVM must not hold (or read) the user's terminal."""
    broker = _broker(tmp_path)
    seen: dict[str, Any] = {}
    real = subprocess.Popen

    def popen(cmd: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        seen.update(kw)
        return real(cmd, **kw)

    monkeypatch.setattr(subprocess, "Popen", popen)
    proc = broker._launch([sys.executable, "-c", "print('up')"])
    assert proc.wait(10) == 0
    assert (seen["stdin"], seen["stderr"], seen["start_new_session"]) == (
        subprocess.DEVNULL, subprocess.STDOUT, True)
    assert broker.pid_file.read_text() == f"{proc.pid}\n"
    assert "up" in broker.log_file.read_text()


@pytest.mark.parametrize("lines", [1, 30, 99, 100, 101])
def test_the_log_tail_is_the_last_lines_of_the_log(tmp_path: Path, lines: int) -> None:
    """What a failed start and `broker status` show: the log's last `lines` lines (all of
    a log as long or shorter), however long the log."""
    broker = _broker(tmp_path)
    broker.log_file.write_text("".join(f"line {i}\n" for i in range(100)), encoding="utf-8")
    assert broker.log_tail(lines) == "\n".join(
        f"line {i}" for i in range(max(0, 100 - lines), 100))


def test_broker_data_formatted_for_other_ports_is_refused_naming_both(tmp_path: Path) -> None:
    """The data folder remembers the ports it was formatted for: another pair is refused
    with both pairs and the two ways out."""
    broker = _broker(tmp_path)
    s = broker.settings
    broker.ports_file.parent.mkdir(parents=True, exist_ok=True)
    broker.ports_file.write_text("1,2\n", encoding="utf-8")
    with pytest.raises(BrokerError) as refused:
        broker._check_ports()
    assert str(refused.value) == (
        f"the broker data in {broker.data_dir} was formatted for ports 1,2, not "
        f"{s.port},{s.controller_port}. Use those ports or remove {s.home} to start afresh.")
    broker.ports_file.write_text(f"{s.port},{s.controller_port}\n", encoding="utf-8")
    broker._check_ports()  # the same ports: no refusal
