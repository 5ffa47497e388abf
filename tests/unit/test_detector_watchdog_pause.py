"""The watchdog tells a pause of the whole process (SIGSTOP, a frozen VM) from a blocked step.

Randomized soak, 2026-12-06 (seed 502's second run): a detector stopped inside
`send_offsets` woke to "send_offsets blocked for over 45 s" (exit 3): the pause counted.
"""

from __future__ import annotations

import inspect
import io
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

import detector.metrics as metrics
from detector.metrics import Watchdog, not_runnable_since_start, run_queue_wait

T = TypeVar("T")


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _checks(w: Watchdog, clock: _Clock, *times: float) -> list[str | None]:
    out = []
    for t in times:
        clock.now = t
        out.append(w.check())
    return out


def test_a_blocked_step_trips_over_the_bound_and_not_before() -> None:
    clock = _Clock()
    w = Watchdog(4.0, clock, run=False)
    assert w.interval == 1.0
    with w.guard("commit"):
        assert _checks(w, clock, 1, 2, 3, 3.75, 4.0) == [None] * 5
        assert _checks(w, clock, 4.25) == ["commit"]


def test_a_pause_restarts_the_open_steps_clock_and_a_hang_after_it_is_still_caught(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    w = Watchdog(4.0, clock, run=False)
    with caplog.at_level(logging.WARNING, "detector"), w.guard("send_offsets"):
        assert _checks(w, clock, 1, 2) == [None, None]
        # Stopped for 30 s: the next check runs at 33 instead of 3.
        assert _checks(w, clock, 33) == [None]
        assert [r.getMessage() for r in caplog.records] == [
            "the process was paused about 30 s (the watchdog ran that late); "
            "send_offsets gets its 4 s again"]
        assert [r.levelname for r in caplog.records] == ["WARNING"]
        # Still blocked after the pause: caught at the bound counted from the wake-up.
        assert _checks(w, clock, 34, 35, 36, 36.75, 37.0) == [None] * 5
        assert _checks(w, clock, 37.25) == ["send_offsets"]
    assert len(caplog.records) == 1


def test_a_check_late_by_the_interval_is_no_pause_and_just_over_it_is(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    w = Watchdog(4.0, clock, run=False)
    with caplog.at_level(logging.WARNING, "detector"), w.guard("commit"):
        # 2 -> 4: one interval late, a slow scheduler, not a pause: the clock runs on.
        assert _checks(w, clock, 1, 2, 4, 4.25) == [None, None, None, "commit"]
    assert caplog.records == []
    clock.now = 10.0
    w = Watchdog(4.0, clock, run=False)
    with caplog.at_level(logging.WARNING, "detector"), w.guard("commit"):
        # 12 -> 14.25: over one interval late, a pause: the clock restarts at 14.25.
        assert _checks(w, clock, 11, 12, 14.25, 15.25, 16.25, 17.25, 18.25) == [None] * 7
        assert _checks(w, clock, 18.5) == ["commit"]
    assert [r.getMessage() for r in caplog.records] == [
        "the process was paused about 1 s (the watchdog ran that late); "
        "commit gets its 4 s again"]


def test_a_pause_with_no_step_open_is_logged_and_arms_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    w = Watchdog(4.0, clock, run=False)
    with caplog.at_level(logging.WARNING, "detector"):
        assert _checks(w, clock, 1, 61, 62) == [None, None, None]
        with w.guard("produce"):
            assert _checks(w, clock, 63, 64, 65, 66) == [None] * 4
            assert _checks(w, clock, 66.25) == ["produce"]
    assert [r.getMessage() for r in caplog.records] == [
        "the process was paused about 59 s (the watchdog ran that late); no step was open"]


def test_a_step_that_ended_during_the_pause_is_not_armed_again() -> None:
    clock = _Clock()
    w = Watchdog(4.0, clock, run=False)
    with w.guard("commit"):
        clock.now = 1.0
        w.check()
        clock.now = 40.0  # stopped; on waking the step finishes before the watchdog runs
    assert _checks(w, clock, 40.5, 41.5, 42.5, 43.5, 44.5, 45.5) == [None] * 6


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP")
def test_a_process_stopped_inside_a_guarded_step_is_not_ended_by_the_watchdog() -> None:
    # Real time: limit 8 s; the step stopped for 10 s, then ended by the parent soon after the
    # wake-up (a line on its stdin: no timing of the child's own, which a loaded machine
    # stretches). Before: "commit blocked for over 8 s", exit 3, on waking.
    code = ("import logging, sys, time\nfrom detector.metrics import Watchdog\n"
            "logging.basicConfig(level=logging.WARNING)\nw = Watchdog(8.0)\n"
            "with w.guard('commit'):\n    print('in', flush=True)\n    sys.stdin.readline()\n"
            "print('out', flush=True)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline() == b"in\n"
        os.kill(child.pid, signal.SIGSTOP)
        time.sleep(10.0)
        os.kill(child.pid, signal.SIGCONT)
        time.sleep(0.5)
        out, err = child.communicate(b"end\n", timeout=30)
    finally:
        child.kill()
    assert (child.returncode, out) == (0, b"out\n"), err.decode()
    assert b"blocked for over" not in err
    assert err.count(b"the process was paused about") == 1
    assert b"commit gets its 8 s again" in err


def test_a_check_late_while_the_process_was_busy_is_no_pause(
        caplog: pytest.LogCaptureFixture) -> None:
    """A compiled call holding the GIL (the kernel over a large restore) keeps the watchdog
    waiting while the process's CPU time runs: no pause is logged, and a step past its bound
    trips as before (half the time busy is the boundary)."""
    clock, cpu = _Clock(), _Clock()
    w = Watchdog(4.0, clock, run=False, cpu=cpu)
    with caplog.at_level(logging.WARNING, "detector"):
        assert _checks(w, clock, 1) == [None]
        cpu.now = 15.0  # 1 -> 31: 30 s late, 15 s of it busy (half): no pause, nothing open
        assert _checks(w, clock, 31) == [None]
        with w.guard("commit"):
            cpu.now = 44.0  # 31 -> 61: 29 s busy of 30
            assert _checks(w, clock, 61) == ["commit"]
    assert caplog.records == []
    w = Watchdog(4.0, clock, run=False, cpu=cpu)  # clock at 61, cpu at 44
    with caplog.at_level(logging.WARNING, "detector"), w.guard("commit"):
        cpu.now = 44.0 + 14.99  # 61 -> 91: just under half busy: a pause
        assert _checks(w, clock, 91) == [None]
    assert [r.getMessage() for r in caplog.records] == [
        "the process was paused about 29 s (the watchdog ran that late); "
        "commit gets its 4 s again"]


def test_paused_within_says_whether_a_pause_was_seen_lately_and_checks_now() -> None:
    clock, cpu = _Clock(), _Clock()
    w = Watchdog(4.0, clock, run=False, cpu=cpu)
    assert _checks(w, clock, 1, 2) == [None, None]
    clock.now = 3.0
    assert not w.paused_within(10.0)  # on time: no pause
    clock.now = 20.0  # stopped 17 s: seen by the call itself, before the watchdog's thread
    assert w.paused_within(10.0)
    assert w.paused_at == 20.0
    assert _checks(w, clock, *range(21, 30)) == [None] * 9
    clock.now = 30.0
    assert w.paused_within(10.0)  # 10 s after the wake-up: at the bound
    clock.now = 30.5
    assert not w.paused_within(10.0)  # just past it (checked on time meanwhile)


def test_a_check_from_another_thread_while_the_pause_is_logged_sees_the_pause(
        caplog: pytest.LogCaptureFixture) -> None:
    """Both threads check on waking from a stop: the watchdog's after its sleep, the main one's
    in `paused_within` before it describes the group. The one asking while the other writes
    the pause's WARNING (the GIL released for the write) must see the pause, not half of it:
    before, `paused_at` was set and the step's clock restarted only after the log, so the
    asker got False (a zombie took for none: it fenced its newer instance) and a check then
    found the step blocked (exit 3)."""
    clock, cpu = _Clock(), _Clock()
    w = Watchdog(4.0, clock, run=False, cpu=cpu)
    seen: list[tuple[str | None, bool]] = []

    class _OtherThread(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            other = threading.Thread(
                target=lambda: seen.append((w.check(), w.paused_within(10.0))))
            other.start()
            other.join(10.0)  # bounded: a lock held while logging would block it

    handler = _OtherThread(logging.WARNING)
    logging.getLogger("detector").addHandler(handler)
    try:
        with caplog.at_level(logging.WARNING, "detector"), w.guard("commit"):
            assert _checks(w, clock, 1, 2) == [None, None]
            assert _checks(w, clock, 32) == [None]  # stopped 30 s
    finally:
        logging.getLogger("detector").removeHandler(handler)
    assert seen == [(None, True)]
    assert len(caplog.records) == 1


def test_checks_of_two_threads_interleaved_mix_no_readings(
        caplog: pytest.LogCaptureFixture) -> None:
    """A check from another thread between this one's clock update and its CPU update (a
    thread switch there: a free-threaded build, a trace function) took this one's CPU time:
    busy 30 s of 30 read as a pause of 29 (a false WARNING, `paused_at` set)."""
    clock, cpu = _Clock(), _Clock()
    w = Watchdog(4.0, clock, run=False, cpu=cpu)
    lines, start = inspect.getsourcelines(Watchdog.check)
    at = [start + i for i, text in enumerate(lines) if "self._cpu_checked = " in text]
    assert len(at) == 1, "the CPU reading's update is the interleaving point"
    others: list[threading.Thread] = []

    def trace(frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code is not Watchdog.check.__code__:
            return None
        if event == "line" and frame.f_lineno == at[0] and not others:
            others.append(threading.Thread(target=w.check))
            others[0].start()
            # The other check runs to its end here, unless a lock makes it wait for this
            # one: only a wait that long is bounded (either outcome is judged below).
            others[0].join(0.5)
        return trace

    assert _checks(w, clock, 1) == [None]
    clock.now, cpu.now = 31.0, 30.0  # busy all the 30 s (a compiled call held the GIL)
    previous = sys.gettrace()
    with caplog.at_level(logging.WARNING, "detector"):
        sys.settrace(trace)
        try:
            w.check()
        finally:
            sys.settrace(previous)
        others[0].join(10.0)
    assert not others[0].is_alive()
    assert caplog.records == []
    assert w.paused_at is None


def test_a_check_late_while_the_watchdog_waited_to_run_is_no_pause(
        caplog: pytest.LogCaptureFixture) -> None:
    """An overloaded machine keeps the watchdog's thread waiting on the run queue (a stopped
    one does not wait: measured, docs/reliability.md): waiting for half the lateness or more
    is no pause, and a step over its bound trips as before; just under half is a pause."""
    clock, cpu, waited = _Clock(), _Clock(), _Clock()
    w = Watchdog(4.0, clock, run=False, cpu=cpu, waited=waited)
    with caplog.at_level(logging.WARNING, "detector"):
        with w.guard("commit"):
            assert _checks(w, clock, 1, 2) == [None, None]
            waited.now = 14.5  # 2 -> 32: 29 s late, waiting to run 14.5 s of it (half)
            assert _checks(w, clock, 32) == ["commit"]
        with w.guard("commit"):
            waited.now += 14.51  # 32 -> 62: just over half
            assert _checks(w, clock, 62) == ["commit"]
        assert caplog.records == []
        assert w.paused_at is None
        with w.guard("commit"):
            waited.now += 14.49  # 62 -> 92: just under half: a pause, the clock restarts
            assert _checks(w, clock, 92, 93, 94, 95, 96, 96.25) == [None] * 5 + ["commit"]
    assert [r.getMessage() for r in caplog.records] == [
        "the process was paused about 29 s (the watchdog ran that late); "
        "commit gets its 4 s again"]
    assert w.paused_at == 92


def test_a_late_check_with_the_wait_unknown_is_judged_as_before() -> None:
    # Without /proc (not Linux) the reader says None: late and not busy is a pause.
    clock, cpu = _Clock(), _Clock()
    w = Watchdog(4.0, clock, run=False, cpu=cpu, waited=lambda: None)
    with w.guard("commit"):
        assert _checks(w, clock, 1, 31, 32, 33, 34, 35, 35.25) == [None] * 6 + ["commit"]
    assert w.paused_at == 31


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs Linux's /proc")
def test_the_run_queue_wait_is_read_for_the_watchdogs_own_thread() -> None:
    me = threading.get_native_id()
    first = run_queue_wait(me)
    assert first is not None and first >= 0
    second = run_queue_wait(me)
    assert second is not None and second >= first
    assert run_queue_wait(None) is None
    assert run_queue_wait(2**22 + 1) is None  # over pid_max's limit: no such thread
    w = Watchdog(45.0)  # by default its thread's own reading, not the caller's
    assert w.tid is not None and w.tid != me
    assert str(w.tid) in os.listdir("/proc/self/task")
    assert w._waited() is not None


def test_paused_within_also_says_whether_a_pause_was_seen_since_a_time() -> None:
    clock, cpu = _Clock(), _Clock()
    w = Watchdog(4.0, clock, run=False, cpu=cpu)
    assert _checks(w, clock, 1, 2) == [None, None]
    assert not w.paused_within(10.0, since=0.0)  # never paused
    clock.now = 20.0  # stopped 18 s: seen at 20
    assert _checks(w, clock, *range(20, 41)) == [None] * 21
    assert w.paused_at == 20.0
    assert not w.paused_within(10.0)  # 20 s after the wake-up
    assert w.paused_within(10.0, since=20.0)  # at the pause's mark: since then
    assert not w.paused_within(10.0, since=20.5)  # just after it
    assert w.paused_within(10.0, since=19.5)
    assert w.now() == 40.0


def test_the_last_pause_of_a_length_is_kept_apart_from_the_shorter_ones_since() -> None:
    # A pause's length is the time since the check before it (the stop is no longer): a
    # check late by a second on a loaded machine after a long stop must not hide the stop
    # from a question about long pauses (`Transactions._newest`, the both-paused broker
    # test woken together).
    clock, cpu = _Clock(), _Clock()
    w = Watchdog(4.0, clock, run=False, cpu=cpu)
    assert w.last_pause(0.0) is None  # never paused
    assert _checks(w, clock, 1, 2, 20, *range(21, 31), 33, 34) == [None] * 15
    assert w.paused_at == 33.0  # the latest pause, of any length (as before)
    assert w.last_pause(18.0) == 20.0  # stopped 2 -> 20: 18 s, at the bound
    assert w.last_pause(18.01) is None  # just past it
    assert w.last_pause(3.0) == 33.0  # 30 -> 33: late 2 s, a pause of 3
    assert w.last_pause(3.01) == 20.0
    assert w.last_pause(0.0) == 33.0
    clock.now = 54.0  # stopped 20 s: longer than both, the marks of both move to it
    assert w.last_pause(18.0) == 54.0
    assert w.last_pause(3.0) == 54.0
    assert w.last_pause(20.01) is None
    assert w.paused_at == 54.0


@pytest.mark.parametrize(("limit", "interval"),
                         [(2.0, 0.5), (3.96, 0.99), (4.0, 1.0), (4.04, 1.0), (45.0, 1.0)])
def test_the_watchdog_checks_four_times_a_bound_and_at_least_every_second(
        limit: float, interval: float) -> None:
    assert Watchdog(limit, run=False).interval == pytest.approx(interval)


def test_the_watchdogs_thread_is_a_named_daemon_and_without_one_there_is_no_id() -> None:
    # A daemon: its endless loop never keeps the process from exiting; named, for a dump.
    assert Watchdog(4.0, run=False).tid is None
    w = Watchdog(45.0)
    [thread] = [t for t in threading.enumerate() if t.native_id == w.tid]
    assert (thread.name, thread.daemon) == ("detector-watchdog", True)


@pytest.mark.parametrize(("waiting", "paused"), [(15.0, False), (14.99, True)])
def test_the_first_check_weighs_the_wait_since_the_watchdog_started(
        waiting: float, paused: bool) -> None:
    """The thread's wait before the watchdog started (read when it starts) is not counted:
    the first check, 30 s late, judges the wait since (half of 30 s: starvation)."""
    clock, cpu, waited = _Clock(), _Clock(), _Clock()
    waited.now = 100.0
    w = Watchdog(4.0, clock, run=False, cpu=cpu, waited=waited)
    with w.guard("commit"):
        waited.now = 100.0 + waiting
        assert _checks(w, clock, 31) == [None if paused else "commit"]
    assert w.paused_at == (31 if paused else None)


def test_a_wait_known_at_one_check_and_unknown_at_the_other_is_judged_as_unknown() -> None:
    # /proc read at one check and not at the next (or the other way): late and not busy
    # is a pause, as where the wait is never known.
    readings: list[float | None] = [0.0, 0.0, None, 29.0]
    clock, cpu = _Clock(), _Clock()
    w = Watchdog(4.0, clock, run=False, cpu=cpu, waited=lambda: readings.pop(0))
    assert _checks(w, clock, 1, 31) == [None, None]
    assert w.paused_at == 31  # known before, unknown now
    assert _checks(w, clock, 62) == [None]
    assert w.paused_at == 62  # unknown before, known now (29 s of 30: starved, if known)
    assert readings == []


@pytest.mark.parametrize(("schedstat", "wait"), [
    (b"7000000000 2500000000 42\n", 2.5), (b"1 0 1\n", 0.0),
    # a thread that ran 0 ns: the kernel keeps no such counts (no schedstats, no delay
    # accounting: every field 0), so its wait is unknown, not 0
    (b"0 0 0\n", None), (b"0 2500000000 42\n", None),
    (b"7000000000\n", None), (b"7000000000 x 42\n", None), (b"", None)])
def test_the_run_queue_wait_is_schedstats_second_field_in_seconds(
        monkeypatch: pytest.MonkeyPatch, schedstat: bytes, wait: float | None) -> None:
    opened: list[str] = []

    def fake_open(path: str, *args: Any) -> io.BytesIO:
        opened.append(path)
        return io.BytesIO(schedstat)

    monkeypatch.setattr(metrics, "open", fake_open, raising=False)
    assert run_queue_wait(1234) == wait
    assert opened == ["/proc/self/task/1234/schedstat"]


def test_the_time_not_runnable_since_start_counts_a_sleep_not_only_a_stop() -> None:
    # was `stopped_since_start`: /proc tells no stop from a sleep or a disk wait
    before = not_runnable_since_start()
    if before is None:
        pytest.skip("no /proc schedstats here")
    time.sleep(0.3)  # the measured thing itself: a blocked sleep of the calling thread
    after = not_runnable_since_start()
    assert after is not None
    assert after[0] - before[0] >= 0.3
    assert after[1] - before[1] >= 0.25  # less what it ran and waited to run meanwhile


class _Starved:
    """The watchdog's thread kept waiting on the run queue: its wait (the reading `waited`)
    is counted by the kernel only once it runs, as `run_queue_wait` reads it. It runs once
    the asker has read the clock (inside its question, before it reads the wait)."""

    def __init__(self, clock: _Clock, wait: float, asker: threading.Thread) -> None:
        self.clock, self.wait, self.asker = clock, wait, asker
        self.ran = False
        self.asked = threading.Event()
        self.w: Watchdog | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def time(self) -> float:
        if threading.current_thread() is self.asker:
            self.asked.set()
        return self.clock.now

    def waited(self) -> float:
        return self.wait if self.ran else 0.0

    def _run(self) -> None:
        assert self.w is not None
        self.asked.wait(10.0)
        self.ran = True  # its wait ends: it runs, and checks (its loop's check)
        getattr(self.w, "own_check", self.w.check)()


def asked_while_queued(wait: float, ask: Callable[[Watchdog], T]) -> tuple[T, Watchdog]:
    """`ask(watchdog)` (as `paused_within(10)`) on another thread 30 s after the
    watchdog's last check, while the watchdog's thread still waits to run; it then runs,
    having waited `wait` s of the 30 on the run queue (29: starved; about 0: just
    continued from a stop). Returns the answer and the watchdog."""
    clock, cpu = _Clock(), _Clock()
    answer: list[T] = []
    asker = threading.Thread(target=lambda: answer.append(ask(w)))
    starved = _Starved(clock, wait, asker)
    w = Watchdog(4.0, starved.time, run=False, cpu=cpu, waited=starved.waited)
    starved.w = w
    starved.thread.start()
    w.tid = starved.thread.native_id  # that thread is the watchdog's own
    clock.now = 2.0
    assert w.check() is None
    clock.now = 32.0
    asker.start()
    asker.join(10.0)
    starved.thread.join(10.0)
    assert not asker.is_alive() and not starved.thread.is_alive()
    return answer[0], w


def test_paused_within_asked_while_the_starved_watchdog_waits_to_run_is_no_pause() -> None:
    # Before: the asker's check read the thread's wait before the kernel counted it (it is
    # counted when the wait ends): 30 s late, no wait seen, "paused" (and a live detector
    # losing its partitions to a broker outage described the group: librdkafka #4605).
    answer, w = asked_while_queued(29.0, lambda w: w.paused_within(10.0))
    assert answer is False
    assert w.paused_at is None


def test_paused_within_asked_just_after_a_stop_waits_for_the_watchdogs_check() -> None:
    # Woken from a stop: the watchdog's thread runs at once, having waited about nothing.
    answer, w = asked_while_queued(0.01, lambda w: w.paused_within(10.0))
    assert answer is True
    assert w.paused_at == 32.0


class _Waits(threading.Condition):
    """The watchdog's condition, noting each wait for its own thread's check (its timeout)."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[float | None] = []

    def wait_for(self, predicate: Any, timeout: float | None = None) -> Any:
        self.timeouts.append(timeout)
        return super().wait_for(predicate, timeout)


@pytest.mark.parametrize(("at", "own", "waits"), [
    (4.0, False, False), (4.01, False, True),  # 2 s since the check at 2: on time; just over
    (30.0, True, False)])  # asked on the watchdog's own thread: it never waits for itself
def test_paused_within_waits_for_the_watchdogs_own_check_only_when_it_is_overdue(
        at: float, own: bool, waits: bool) -> None:
    """Overdue: its check would be over an interval late; none comes here, so after the
    interval's wait (1 s, real) it judges alone, as before: a pause (the safe side for a
    zombie)."""
    clock, cpu = _Clock(), _Clock()
    w = Watchdog(4.0, clock, run=False, cpu=cpu, waited=lambda: 0.0)  # interval 1 s
    cond = _Waits()
    w._own_checked = cond
    me = threading.get_native_id()
    w.tid = me if own else me + 1
    clock.now = 2.0
    assert w.check() is None
    clock.now = at
    assert w.paused_within(10.0) is (at > 4.0)
    assert cond.timeouts == ([1.0] if waits else [])
