"""bench/soak_kinds.py: the chaos soak's event kinds of the eighteenth session (broker
paused, replay restarted on its file, detector renamed, exports read-only), drawn from seed
730 on only, and the dead letters the soak expects from the input topic."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import chaos_soak
import soak_kinds
from chaos_soak import EVENTS, NEW_EVENTS, Chaos, kinds_of

from tests.unit.soak_fakes import Svc


def plan(seed: int, kinds: dict[str, int], events: int = 12) -> list[str]:
    rng = random.Random(seed)
    rng.uniform(3.0, 8.0)  # the soak's first draw: the wait before the first event
    names = list(kinds)
    return [rng.choices(names, [kinds[k] for k in names])[0] for _ in range(events)]


@pytest.mark.parametrize("seed", [720, 725, soak_kinds.KINDS_FROM - 1])
def test_seeds_before_730_draw_the_plan_they_always_drew(seed: int) -> None:
    assert kinds_of(seed) == {**EVENTS, **NEW_EVENTS}
    assert plan(seed, kinds_of(seed)) == plan(seed, {**EVENTS, **NEW_EVENTS})


def test_seeds_from_730_draw_the_eighteenth_sessions_kinds_too() -> None:
    assert kinds_of(730) == {**EVENTS, **NEW_EVENTS, **soak_kinds.KINDS}
    drawn = {k for s in range(730, 750) for k in plan(s, kinds_of(s))}
    assert set(soak_kinds.KINDS) <= drawn


def test_every_copy_after_an_ids_first_on_the_input_is_one_dead_letter() -> None:
    ids = Counter({"a": 1, "b": 2, "c": 3})  # b sent again by a replay, c copied too
    assert soak_kinds.expected_dead(ids) == Counter({"b": 1, "c": 2})
    assert soak_kinds.expected_dead(Counter({"a": 1})).total() == 0


def chaos_with(tmp_path: Path, **kw: Any) -> Chaos:
    sink: Any = Svc("sink", ("sink", "--exports", str(tmp_path))).start()
    (tmp_path / ".sink.lock").write_text(f"{sink.proc.pid} sink\n")  # it holds the folder
    chaos = Chaos({}, tmp_path, sink, **kw)
    chaos.idle = lambda seconds: None  # type: ignore[method-assign]
    return chaos


class Fixed(random.Random):
    """Draws `low` below 0.5 (the kill), `high` else; picks the first."""

    def __init__(self, draw: float) -> None:
        super().__init__(0)
        self.draw = draw

    def random(self) -> float:
        return self.draw

    def uniform(self, a: float, b: float) -> float:
        return a

    def choice(self, seq: Any) -> Any:
        return seq[0]


@pytest.mark.parametrize(("draw", "code", "bad"), [
    (0.1, None, []),  # killed -9
    (0.9, 130, []),  # SIGTERM: flushed, exit 130
    (0.9, 0, []),  # SIGTERM as it ended: exit 0
    (0.9, 1, ["replay-1.log: SIGTERM exit 1 (130 expected)"]),
])
def test_the_replay_is_stopped_mid_file_and_run_again_on_it(
        draw: float, code: int | None, bad: list[str], tmp_path: Path) -> None:
    feed = Svc("replay", ("auditstream", "replay", "payments.csv"), log_dir=tmp_path).start()
    feed.log_path.write_text("sending\n")
    if code is not None:
        def term(timeout: float = 60) -> int:
            assert feed.proc is not None
            feed.proc.code = code
            return code
        feed.terminate = term  # type: ignore[method-assign]
    chaos = chaos_with(tmp_path, feed=feed)
    soak_kinds.restart_replay(chaos, Fixed(draw))
    assert feed.starts == 2 and feed.alive() and chaos.replays == 1
    assert feed.args == ("auditstream", "replay", "payments.csv")  # the same file
    assert chaos.bad_exits == bad
    assert chaos.events[-1]["how"] == ("kill" if draw < 0.5 else "term")


@pytest.mark.parametrize(("log", "bad"), [
    ("sent 13,646 of 13,646 row(s) in 54.58 s (250 rows/s)\nrejected 0 row(s)\n", []),
    ("sent 13,645 of 13,646 row(s) in 54.58 s (250 rows/s)\n",
     ["replay-1.log: SIGTERM exit -15 (130 expected)"]),
    ("sending\n", ["replay-1.log: SIGTERM exit -15 (130 expected)"]),
])
def test_a_replay_killed_by_sigterm_after_its_whole_file_is_no_bad_exit(
        log: str, bad: list[str], tmp_path: Path) -> None:
    """Seed 851: the SIGTERM met the replay exiting, its summary of every row written."""
    feed = Svc("replay", log_dir=tmp_path).start()
    feed.log_path.write_text(log)

    def term(timeout: float = 60) -> int:
        assert feed.proc is not None
        feed.proc.code = -15
        return -15
    feed.terminate = term  # type: ignore[method-assign]
    chaos = chaos_with(tmp_path, feed=feed)
    soak_kinds.restart_replay(chaos, Fixed(0.9))
    assert chaos.bad_exits == bad and feed.starts == 2


def test_a_replay_that_has_ended_is_not_run_again(tmp_path: Path) -> None:
    feed = Svc("replay").start()
    assert feed.proc is not None
    feed.proc.code = 0
    chaos = chaos_with(tmp_path, feed=feed)
    soak_kinds.restart_replay(chaos, Fixed(0.1))
    assert feed.starts == 1 and chaos.replays == 0 and "skipped" in chaos.events[-1]


def test_a_renamed_detector_starts_under_a_new_instance_id(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chaos_soak, "detector",
                        lambda name, env, logs: Svc(f"detector-{name}", log_dir=logs))
    chaos = chaos_with(tmp_path)
    first: Any = chaos.start_detector()
    soak_kinds.rename_detector(chaos, Fixed(0.0))
    assert not first.alive() and first.proc is not None and first.proc.code == -9
    assert list(chaos.detectors) == ["d2"] and chaos.detectors["d2"].alive()
    assert chaos.events[-1] == {**chaos.events[-1], "name": "d1", "new": "d2"}


@pytest.mark.parametrize(("code", "bad", "starts"), [
    (5, [], 2),  # exit 5, restarted once writable
    (None, [], 1),  # wrote nothing meanwhile: runs on
    (1, ["sink-1.log: read-only exit 1 (5 expected)"], 2),
])
def test_read_only_exports_want_exit_5_and_a_restart_once_writable(
        code: int | None, bad: list[str], starts: int, tmp_path: Path) -> None:
    chaos = chaos_with(tmp_path)
    calls: list[tuple[str, ...]] = []
    held: list[bool] = []

    def run(argv: list[str]) -> int:
        calls.append(tuple(argv))
        if argv[:2] == ["mount", "-o"]:
            assert chaos.sink.proc is not None
            chaos.sink.proc.code = code  # type: ignore[attr-defined]
        return 0

    def idle(seconds: float) -> None:
        held.append(chaos.sink_held)
    chaos.idle = idle  # type: ignore[method-assign]
    soak_kinds.read_only_exports(chaos, Fixed(0.0), run)
    folder = str(tmp_path)
    assert calls == [("mount", "--bind", folder, folder),
                     ("mount", "-o", "remount,bind,ro", folder), ("umount", "-l", folder)]
    assert held and all(held) and not chaos.sink_held
    assert chaos.bad_exits == bad and chaos.sink.starts == starts
    assert chaos.events[-1]["sink_exit"] == code


def test_a_refused_read_only_remount_still_removes_the_bind(tmp_path: Path) -> None:
    chaos = chaos_with(tmp_path)
    calls: list[str] = []

    def run(argv: list[str]) -> int:
        calls.append(argv[0] + " " + argv[1])
        return 32 if argv[1] == "-o" else 0
    soak_kinds.read_only_exports(chaos, Fixed(0.0), run)
    assert calls == ["mount --bind", "mount -o", "umount -l"]
    assert "skipped" in chaos.events[-1] and not chaos.sink_held and chaos.sink.starts == 1


def state(pid: int, stopped: bool) -> str:
    """`pid`'s state letter once it is (or is not) `T`, stopped: a signal takes effect
    when the process is next scheduled, which on a loaded machine is not at once."""
    deadline = time.monotonic() + 30
    while True:
        now = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        if (now == "T") is stopped or time.monotonic() > deadline:
            return now
        time.sleep(0.01)


def test_the_broker_is_stopped_while_the_pipeline_runs_and_continued(tmp_path: Path) -> None:
    broker = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / "broker.pid").write_text(f"{broker.pid}\n")
        chaos = chaos_with(tmp_path, broker_home=tmp_path)
        seen: list[str] = []
        chaos.idle = lambda seconds: seen.append(  # type: ignore[method-assign]
            state(broker.pid, True))
        soak_kinds.pause_broker(chaos, Fixed(0.0))
        # continued: any state but stopped (a process paging in reads D, CI of ee3cd6cb)
        assert seen == ["T"] and state(broker.pid, False) != "T"
        assert [e["event"] for e in chaos.events] == ["pause_broker", "resume_broker"]
        assert chaos.events[0]["seconds"] == soak_kinds.BROKER_PAUSE_S[0]
    finally:
        broker.kill()
        broker.wait()


def test_no_broker_home_no_pause(tmp_path: Path) -> None:
    chaos = chaos_with(tmp_path)
    soak_kinds.pause_broker(chaos, Fixed(0.0))
    assert "skipped" in chaos.events[-1]


def test_the_folder_is_made_read_only_only_once_the_sink_holds_it(tmp_path: Path) -> None:
    """Seed 730 (2026-12-07, load 37): the event came 35 s into the run, the sink still
    starting, its exports folder not made yet: `mount --bind` refused, the event skipped.
    It now waits, as `second_sink` does, for the sink's PID in the folder's lock."""
    folder = tmp_path / "exports"
    chaos = chaos_with(tmp_path)
    chaos.sink.args = ("sink", "--exports", str(folder))
    waits: list[float] = []

    def idle(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:  # the sink made its folder and took the lock
            folder.mkdir()
            assert chaos.sink.proc is not None
            (folder / ".sink.lock").write_text(f"{chaos.sink.proc.pid} sink\n")
    chaos.idle = idle  # type: ignore[method-assign]

    def run(argv: list[str]) -> int:
        if argv[0] == "mount" and not folder.is_dir():
            return 32  # mount: special device ... does not exist
        if argv[:2] == ["mount", "-o"]:
            assert chaos.sink.proc is not None
            chaos.sink.proc.code = 5  # type: ignore[attr-defined]
        return 0
    soak_kinds.read_only_exports(chaos, Fixed(0.0), run)
    assert "skipped" not in chaos.events[-1] and chaos.events[-1]["sink_exit"] == 5
    assert len(waits) >= 3 and chaos.sink.starts == 2


def test_the_soaks_broker_start_waits_past_the_default_start_timeout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seeds 732-734 (2026-12-07, load 36-38, three soaks and seven helpers): after a
    `restart_broker` the broker's start took over `BROKER_START_TIMEOUT`'s 90 s; `broker
    start` gave up and stopped it (exit 2), and every later seed of that broker found none.
    The soak's restart now gives the start 300 s, and its command longer."""
    seen: list[tuple[dict[str, str], float]] = []

    def run(argv: list[str], env: dict[str, str], timeout: float, **_: Any) -> Any:
        seen.append((env, timeout))
        return subprocess.CompletedProcess(argv, 0, "", "")
    monkeypatch.setattr(subprocess, "run", run)
    control = chaos_soak.broker_control(tmp_path)
    assert control is not None
    control("start")
    env, timeout = seen[0]
    assert float(env["BROKER_START_TIMEOUT"]) >= 300 and timeout > 300


def test_the_replay_waits_out_a_broker_restart_at_its_start() -> None:
    """Seed 734 (2026-12-07, load 32): the replay, started late, met a broker stopped 43 s
    into the run (down 19 s, then 150 s to start) and gave up after KAFKA_STARTUP_WAIT_S's
    30 s, exit 4 as documented: 'run failed'. Its final flush already outlasts an outage
    (seed 728); its start now waits as long."""
    env = chaos_soak.replay_env({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    assert float(env["KAFKA_STARTUP_WAIT_S"]) >= chaos_soak.BROKER_START_S + 30
    assert float(env["PRODUCER_FLUSH_TIMEOUT_S"]) == chaos_soak.REPLAY_FLUSH_S
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:1"


def test_a_silent_detector_that_keeps_using_cpu_is_not_hung(tmp_path: Path) -> None:
    """Seed 738 (2026-12-07, load 38): d4, given partition 3 at offset 0, logged nothing for
    over 90 s inside its first batch (the mypyc core, model fits; d3 beside it logged batch
    times of 48 and 20 s), and the soak killed it as hung. A detector logs between batches
    only: it is hung when its log and its CPU time both stood still for `HANG_S`."""
    chaos = chaos_with(tmp_path)
    det: Any = Svc("detector-d4").start()
    chaos.detectors["d4"] = det
    cpu = [10.0]
    chaos.cpu_of = lambda svc: cpu[0]  # type: ignore[method-assign]
    restarted: list[str | None] = []
    chaos.start_detector = restarted.append  # type: ignore[method-assign, assignment]
    chaos.check()  # logging: its CPU time seen
    det.silent = chaos_soak.HANG_S + 30
    cpu[0] = 40.0
    chaos.check()  # silent, but its CPU time moved: working
    assert chaos.unplanned == [] and restarted == []
    chaos.cpu_moved[det.log_path.name] -= chaos_soak.HANG_S + 1
    chaos.check()  # still 40.0 s of CPU, log silent: hung
    assert chaos.unplanned == [f"{det.log_path.name} hung at {chaos.at()} s"]
    assert restarted == ["d4"]


class _Idle:
    """A chaos whose supervision passes no time (the drain's `chaos.idle`)."""

    def __init__(self) -> None:
        self.turns = 0

    def idle(self, seconds: float) -> None:
        self.turns += 1


def test_the_drain_waits_for_the_input_consumed_not_only_for_the_rows() -> None:
    """Seed 771 (helper session 19): the last second copies (30, partitions 2 and 3) were
    still unread when the exports had every row, the detector restoring those partitions;
    the soak stopped it (exit 0, `lag 30`, `0 dead letters`) and reported 168 of 198 dead
    letters, a divergence of its own. The drain now also waits until the detectors' group
    has committed the input to its end (lag 0), asked once the rows are all there."""
    rows, lags = iter([100, 120, 120, 120, 120]), iter([None, 30, 30, 0])
    asked: list[int] = []

    def lag() -> int | None:
        asked.append(1)
        return next(lags)

    chaos = _Idle()
    chaos_soak.drain(chaos, 120, lambda: next(rows), lag)  # type: ignore[arg-type]
    assert len(asked) == 4 and chaos.turns == 4  # not before 120 rows; until lag 0


def test_a_drain_whose_input_lag_stands_still_is_reported_stalled() -> None:
    ticks = iter(range(0, 10_000, 100))
    with pytest.raises(AssertionError, match="drain stalled at 120 of 120 rows, input lag 30"):
        chaos_soak.drain(_Idle(), 120, lambda: 120, lambda: 30,  # type: ignore[arg-type]
                         clock=lambda: float(next(ticks)))
