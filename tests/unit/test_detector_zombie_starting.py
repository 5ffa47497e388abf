"""A process stopped while it started (SIGSTOP, a frozen VM: in its imports or the core's
load, before its producer existed) while its supervisor started a newer process with its
instance id. Woken, it must leave the id to that process (exit 2) before its own
init_transactions fences it. Found by bench/chaos_soak.py (seed 700, 2026-12-07): detector
d1 paused 74 s a second or so into its start, replaced meanwhile; woken, it started as if
new, its producer fenced the replacement's, and both ran on to the end (the replacement
would have exited 2, fenced, at its next transaction: the process the supervisor gave up
on kept the id)."""

from __future__ import annotations

import builtins
import io
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from detector import app, metrics
from detector.app import DetectorError
from detector.kafka_io import MEMBERS_TIMEOUT_S, member_client_id
from detector.metrics import Watchdog, not_runnable_since_start
from shared.errors import ExitCode
from tests.unit.detector_fakes import FakeCluster, cluster_with, fake_detector

SESSION_MS = 10_000
#: A session and the members' timeout: a member of a process killed before this one
#: started has expired once it is this old.
WINDOW = SESSION_MS / 1000 + MEMBERS_TIMEOUT_S
NEWER = "member-of-the-newer-process"


def start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, born: tuple[float, float] | None,
          others: list[str] | None, paused: bool = False) -> tuple[FakeCluster, list[int]]:
    """Start a fake detector born `born` (age, stopped s); its group lists a member of each
    client id in `others` (`"me"`: its own client id; None: the cluster does not answer).
    `paused`: its watchdog sees a pause from the start-up on. The group's descriptions
    asked are counted (each could abort the process: librdkafka #4605)."""
    cluster = cluster_with(5)
    asked: list[int] = []
    monkeypatch.setattr(Watchdog, "paused_within",
                        lambda self, seconds, since=None: paused)

    def members(s: Any, *a: Any, **k: Any) -> list[tuple[str, str]] | None:
        asked.append(1)
        if others is None:
            return None
        return [(member_client_id(s) if c == "me" else c, f"{NEWER}-{i}")
                for i, c in enumerate(others)]

    fake_detector(monkeypatch, cluster, born=born, members=members, state_dir=tmp_path,
                  session_timeout_ms=SESSION_MS)
    return cluster, asked


@pytest.mark.parametrize("stopped", [WINDOW, WINDOW + 60])
def test_stopped_while_starting_and_replaced_leaves_the_id_before_fencing_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, stopped: float
) -> None:
    made: list[int] = []
    real = FakeCluster.producer

    def producer(self: FakeCluster) -> Any:
        made.append(1)
        return real(self)

    monkeypatch.setattr(FakeCluster, "producer", producer)
    with pytest.raises(DetectorError, match="leaves the id to it") as info:
        start(monkeypatch, tmp_path, (stopped + 1, stopped), ["auditstream-other", "me"])
    assert info.value.exit_code == ExitCode.USAGE  # 2: not restarted (systemd)
    assert "was stopped while it started" in str(info.value)
    assert made == []  # no init_transactions: the newer process is not fenced


@pytest.mark.parametrize("under", [0.01, 0.001])
def test_stopped_just_under_a_session_and_the_members_timeout_asks_no_group(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, under: float
) -> None:
    """A member with its id may still be a process killed just before this one started
    (a restart after kill -9): not asked, the start goes on and fences that one."""
    cluster, asked = start(monkeypatch, tmp_path, (WINDOW + 1, WINDOW - under), ["me"])
    assert (asked, cluster.producers) == ([], 1)


@pytest.mark.parametrize("others", [[], ["auditstream-other"], None])
def test_stopped_with_no_member_of_its_id_starts_as_usual(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, others: list[str] | None
) -> None:
    cluster, asked = start(monkeypatch, tmp_path, (WINDOW + 60, WINDOW + 50), others)
    assert (asked, cluster.producers) == ([1], 1)


@pytest.mark.parametrize(("age", "leaves"), [(WINDOW - 0.1, False), (WINDOW, True)])
def test_a_pause_the_watchdog_sees_in_the_kafka_steps_counts_once_old_enough(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, age: float, leaves: bool
) -> None:
    """Paused after the imports (waiting for the broker, creating the topics): the watchdog
    runs by then; the process must still be a session and the members' timeout old."""
    if leaves:
        with pytest.raises(DetectorError, match="leaves the id to it"):
            start(monkeypatch, tmp_path, (age, 0.0), ["me"], paused=True)
    else:
        cluster, asked = start(monkeypatch, tmp_path, (age, 0.0), ["me"], paused=True)
        assert (asked, cluster.producers) == ([], 1)


@pytest.mark.parametrize("born", [None, (WINDOW + 60, 0.0)])
def test_a_process_never_stopped_or_of_unknown_birth_asks_no_group(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, born: tuple[float, float] | None
) -> None:
    cluster, asked = start(monkeypatch, tmp_path, born, ["me"], paused=born is None)
    assert (asked, cluster.producers) == ([], 1)



@pytest.mark.parametrize(("born_at", "age", "leaves"), [
    # the watchdog saw a pause (woken at 30 s on its clock); asked at 31 s
    (30.0, WINDOW - 1, True),  # the pause since its Kafka steps began, a window old by now
    (30.0, WINDOW - 1.01, False),  # 0.01 s short of the window
    (29.0, WINDOW - 2, True),
    (30.01, WINDOW + 60, False),  # the pause was before its Kafka steps: not this start's
])
def test_a_pause_counts_from_the_start_of_the_kafka_steps_on_the_watchdogs_clock(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, born_at: float, age: float,
    leaves: bool
) -> None:
    """The real watchdog's judgement (not a stand-in's): a pause it saw at or after the
    Kafka steps began (`born_at`), once the process's age then plus the time since is a
    session and the members' timeout."""
    detector = fake_detector(monkeypatch, cluster_with(5), state_dir=tmp_path,
                             session_timeout_ms=SESSION_MS)
    now = [0.0]
    detector._watchdog = Watchdog(4.0, lambda: now[0], run=False, cpu=lambda: 0.0,
                                  waited=lambda: None)
    for t in [1.0, 2.0, 30.0, 31.0]:  # stopped from 2 to 30 s
        now[0] = t
        detector._watchdog.check()
    assert detector._watchdog.paused_at == 30.0
    asked: list[Any] = []

    def members(s: Any, *a: Any, **k: Any) -> list[tuple[str, str]]:
        asked.append(s)
        return [(member_client_id(s), NEWER)]

    monkeypatch.setattr(app, "group_members", members)
    detector._born, detector._born_at = (age, 0.0), born_at
    if leaves:
        with pytest.raises(DetectorError, match="leaves the id to it"):
            detector._leave_if_replaced_starting()
        assert asked == [detector.settings]  # its own settings' group
    else:
        detector._leave_if_replaced_starting()
        assert asked == []


def test_the_exit_line_names_the_id_the_stop_and_the_group(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(DetectorError) as info:
        start(monkeypatch, tmp_path, (WINDOW + 60, 74.4), ["me"])
    s = info.value.args[0]
    assert s == (
        "detector auditstream-detector-t was stopped while it started (about 74 s before its "
        "Kafka steps), and another instance with the same id is in group "
        "auditstream-detector (started meanwhile?); it ends before its producer fences that "
        "one, and leaves the id to it")

# `not_runnable_since_start`: the process's age and its stopped time, from /proc.
TICKS = 250  # os.sysconf("SC_CLK_TCK") on the test's fake host (Linux's is 100)
#: /proc/self/stat of a process whose name holds ") " (as a process may name itself): its
#: start time, field 22, is counted from the last ")"; 30,000 ticks = 120 s after boot.
STAT = b"4242 (a) b (c)) S " + b" ".join(str(n).encode() for n in range(4, 22)) + b" 30000 7 8\n"


def _proc(monkeypatch: pytest.MonkeyPatch, schedstat: bytes | None,
          stat: bytes | None = STAT, boot: float = 300.0) -> list[str]:
    """/proc (a file None: missing), the boot clock (`boot` s) and the clock ticks as a test
    says; the files read are listed (any other path is the real one's: a watchdog thread
    an earlier test left may read its own schedstat meanwhile)."""
    opened: list[str] = []
    given = {"/proc/self/stat": stat, "/proc/self/task/777/schedstat": schedstat}

    def fake_open(path: str, *args: Any) -> Any:
        if path not in given:
            return builtins.open(path, *args)
        opened.append(path)
        data = given[path]
        if data is None:
            raise FileNotFoundError(path)
        return io.BytesIO(data)

    real_clock, real_sysconf = time.clock_gettime, os.sysconf

    def clock(which: int) -> float:  # a host's suspend counts: the stream went on
        return boot if which == time.CLOCK_BOOTTIME else real_clock(which)

    def sysconf(name: str | int) -> int:
        return TICKS if name == "SC_CLK_TCK" else real_sysconf(name)

    monkeypatch.setattr(metrics, "open", fake_open, raising=False)
    monkeypatch.setattr(threading, "get_native_id", lambda: 777)
    monkeypatch.setattr(time, "clock_gettime", clock)
    monkeypatch.setattr(os, "sysconf", sysconf)
    return opened


@pytest.mark.parametrize(("schedstat", "stopped"), [
    # 180 s old (300 - 120); ran 30 s and waited 10 s on the run queue: 140 s neither
    (b"30000000000 10000000000 99\n", 140.0),
    (b"1 0 1\n", 180.0 - 1e-9),  # ran 1 ns: counts are kept
    (b"170000000000 10000000000 99\n", 0.0),  # ran and waited its whole age: never stopped
    (b"170000000000 10000000001 99\n", 0.0),  # 1 ns over its age (rounding): 0, not less
])
def test_a_process_stopped_time_is_its_age_less_its_time_run_and_waiting(
        monkeypatch: pytest.MonkeyPatch, schedstat: bytes, stopped: float) -> None:
    opened = _proc(monkeypatch, schedstat)
    found = not_runnable_since_start()
    assert found is not None
    assert found[0] == pytest.approx(180.0)
    assert found[1] == pytest.approx(stopped, abs=1e-9)
    assert opened == ["/proc/self/stat", "/proc/self/task/777/schedstat"]


@pytest.mark.parametrize(("stat", "schedstat"), [
    (STAT, b"0 0 0\n"),  # a kernel without schedstats: every count 0
    (STAT, b"0 10000000000 0\n"),
    (STAT, b"-1 10000000000 0\n"),
    (STAT, b"30000000000\n"),  # one field
    (STAT, b"30000000000 x 1\n"),
    (STAT, b""),
    (b"4242 (a) S 1 2 3\n", b"30000000000 10000000000 99\n"),  # no field 22
    (b"4242 (a) S " + b"x " * 20 + b"\n", b"30000000000 10000000000 99\n"),
    (None, b"30000000000 10000000000 99\n"),  # no /proc/self/stat
    (STAT, None),  # no schedstat
])
def test_a_stopped_time_not_known_is_none(
        monkeypatch: pytest.MonkeyPatch, stat: bytes | None, schedstat: bytes | None) -> None:
    _proc(monkeypatch, schedstat, stat)
    assert not_runnable_since_start() is None


def test_this_process_stopped_time_is_known_and_within_its_age() -> None:
    """The real /proc (Linux with schedstats, as CI): read as bytes, a pytest process is
    some time old and was not stopped for longer than it lived."""
    found = not_runnable_since_start()
    assert found is not None
    age, stopped = found
    assert 0.0 < age < 7 * 24 * 3600
    assert 0.0 <= stopped < age
