"""`broker stop` and `status` never take a PID file's number for the broker unless its
process is ours: our `kafka.Kafka` running our `server.properties`.

Before: a PID file reading `0` or `-1` (hand-edited, a bad copy, a disk fault) passed the
liveness check (`kill(0, 0)` and `kill(-1, 0)` succeed: they mean the caller's process
group and every process it may signal), had no `/proc/<pid>/cmdline`, and an unreadable
command line counted as ours, so `broker stop` sent SIGTERM, then SIGKILL, to the caller's
process group (`0`; `make broker-stop` killed itself) or to every process of the user
(`-1`); a number past pid_t ended in an OverflowError traceback (exit 70).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditstream.broker import BrokerSettings, LocalBroker

_REAL_KILL = os.kill


@pytest.fixture
def signals(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every signal the code sends (not delivered: only the liveness probe, signal 0, is)."""
    sent: list[tuple[int, int]] = []

    def kill(pid: int, sig: int) -> None:
        if sig == 0:
            _REAL_KILL(pid, 0)
        else:
            sent.append((pid, sig))

    monkeypatch.setattr(os, "kill", kill)
    return sent


@pytest.fixture
def stranger() -> Iterator[int]:
    """A live process that is not the broker (what a PID file's number may be after a reboot)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield proc.pid
    finally:
        _REAL_KILL(proc.pid, signal.SIGKILL)  # os.kill may still be the recording stand-in
        proc.wait()


def _broker(tmp_path: Path, pid_text: str) -> LocalBroker:
    broker = LocalBroker(BrokerSettings(home=tmp_path / "home", cache_dir=tmp_path / "cache",
                                        port=39401, controller_port=39402))
    broker.settings.home.mkdir(parents=True)
    broker.pid_file.write_text(pid_text)
    return broker


@pytest.mark.parametrize("text", ["0", "-1", "-2", "1", "2147483648", "99999999999", "",
                                  "garbage", "12 34", "0x10", "²"])
def test_a_pid_file_that_names_no_single_process_of_ours_is_never_signalled(
    tmp_path: Path, signals: list[tuple[int, int]], text: str
) -> None:
    broker = _broker(tmp_path, text)
    status = broker.status(probe_timeout=0.1)
    assert not status.running and status.pid is None
    assert broker.stop(timeout=0.2) is False
    broker.kill()
    assert signals == []
    assert not broker.pid_file.exists()


@pytest.mark.parametrize(("text", "pid"), [("2", 2), ("2147483647", 2147483647),
                                           (" 4242 \n", 4242)])
def test_the_pid_range_is_pid_t_above_init(tmp_path: Path, text: str, pid: int) -> None:
    assert _broker(tmp_path, text)._pid() == pid


def test_a_live_process_that_is_not_the_broker_is_named_as_such_and_left_alone(
    tmp_path: Path, signals: list[tuple[int, int]], stranger: int
) -> None:
    broker = _broker(tmp_path, f"{stranger}\n")
    status = broker.status(probe_timeout=0.1)
    assert not status.running
    assert status.detail == f"stale PID file (process {stranger} is not this broker)"
    assert broker.stop(timeout=0.2) is False
    assert signals == []


def test_a_process_whose_command_line_cannot_be_read_is_not_taken_for_ours(
    tmp_path: Path, signals: list[tuple[int, int]], stranger: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """/proc mounted with hidepid, or no /proc at all: what cannot be identified is not ours."""
    read_bytes = Path.read_bytes

    def hidden(path: Path) -> bytes:
        if str(path).startswith("/proc/"):
            raise PermissionError(13, "Permission denied", str(path))
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", hidden)
    broker = _broker(tmp_path, str(stranger))
    assert not broker.status(probe_timeout=0.1).running
    assert broker.stop(timeout=0.2) is False
    assert signals == []


def test_sigkill_after_the_wait_goes_only_to_a_process_still_ours(
    tmp_path: Path, signals: list[tuple[int, int]], stranger: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The broker ignored SIGTERM for the whole wait, then exited just before the SIGKILL
    and its PID went to another process: the SIGKILL must not follow."""
    broker = _broker(tmp_path, str(stranger))
    owned = iter([True])  # ours when SIGTERM goes, not any more afterwards
    monkeypatch.setattr(LocalBroker, "_owned", lambda self, pid: next(owned, False))
    assert broker.stop(timeout=0.2) is True
    assert signals == [(stranger, signal.SIGTERM)]
