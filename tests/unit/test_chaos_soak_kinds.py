"""bench/chaos_soak.py's event kinds added in the seventeenth session (second sink, disk
full, broker restart): drawn from seed 720 on only, so every earlier seed reproduces the
plan it ran; and how the soak judges the sink's exits in the two sink events."""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaException

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import chaos_soak
from chaos_soak import EVENTS, NEW_EVENTS, NEW_KINDS_FROM, Chaos, kinds_of

from tests.unit.soak_fakes import Svc


def second_of(code: int) -> Any:
    """A stand-in of `Service` whose processes exit `code` at once."""
    def make(name: str, args: tuple[str, ...], env: Any, log_dir: Path) -> Svc:
        return Svc(name, args, env, log_dir, exit_at_start=code)
    return make


def plan(seed: int, kinds: dict[str, int], events: int = 12) -> list[str]:
    rng = random.Random(seed)
    rng.uniform(3.0, 8.0)  # the soak's first draw: the wait before the first event
    names = list(kinds)
    return [rng.choices(names, [kinds[k] for k in names])[0] for _ in range(events)]


@pytest.mark.parametrize("seed", [1, 502, 709, NEW_KINDS_FROM - 1])
def test_seeds_before_the_new_kinds_draw_the_plan_they_always_drew(seed: int) -> None:
    old = {"kill_detector": 3, "term_detector": 2, "start_detector": 2, "kill_sink": 3,
           "pause_detector": 2, "replace_paused": 1, "pause_sink": 1, "duplicates": 1}
    assert kinds_of(seed) == old
    assert plan(seed, kinds_of(seed)) == plan(seed, old)


@pytest.mark.parametrize("seed", [NEW_KINDS_FROM, NEW_KINDS_FROM + 1])
def test_seeds_from_720_draw_the_new_kinds_too(seed: int) -> None:
    assert kinds_of(seed) == {**EVENTS, **NEW_EVENTS}
    drawn = {k for s in range(seed, seed + 20) for k in plan(s, kinds_of(s))}
    assert set(NEW_EVENTS) <= drawn


def chaos_with(sink: Svc, tmp_path: Path) -> Chaos:
    chaos = Chaos({}, tmp_path, sink)  # type: ignore[arg-type]
    chaos.idle = lambda seconds: None  # type: ignore[method-assign]
    return chaos


@pytest.mark.parametrize(("code", "bad"), [(6, []), (0, ["sink2-1.log: second sink exit 0 (6 "
                                                          "expected)"]),
                                           (1, ["sink2-1.log: second sink exit 1 (6 "
                                                "expected)"])])
def test_a_second_sink_must_exit_6(code: int, bad: list[str], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    first = Svc("sink", ("sink", "--exports", str(tmp_path))).start()
    assert first.proc is not None
    (tmp_path / ".sink.lock").write_text(f"{first.proc.pid} sink\n")
    monkeypatch.setattr(chaos_soak, "Service", second_of(code))
    chaos = chaos_with(first, tmp_path)
    chaos_soak.second_sink(chaos)
    assert chaos.bad_exits == bad
    assert first.alive() and chaos.events[-1]["code"] == code


def test_a_second_sink_waits_for_the_first_to_hold_the_lock(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Started while a restarted first sink has not locked the folder yet, the second would
    take it and the first would exit 6: the event waits for the first's PID in the lock."""
    first = Svc("sink", ("sink", "--exports", str(tmp_path))).start()
    assert first.proc is not None
    lock = tmp_path / ".sink.lock"
    lock.write_text("1 sink\n")  # the first sink's previous, killed, process
    waits = []

    def idle(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            lock.write_text(f"{first.proc.pid} sink\n")  # type: ignore[union-attr]

    monkeypatch.setattr(chaos_soak, "Service", second_of(6))
    chaos = chaos_with(first, tmp_path)
    chaos.idle = idle  # type: ignore[method-assign]
    chaos_soak.second_sink(chaos)
    assert len(waits) == 3 and chaos.bad_exits == [] and chaos.events[-1]["code"] == 6


@pytest.mark.parametrize(("code", "bad", "starts"), [
    (5, [], 2),  # exit 5, restarted once the space is freed
    (None, [], 1),  # wrote nothing while the disk was full: runs on
    (1, ["sink-1.log: disk full exit 1 (5 expected)"], 2),  # a traceback's exit
])
def test_disk_full_wants_exit_5_and_restarts_the_sink_after_freeing_the_space(
        code: int | None, bad: list[str], starts: int, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    sink = Svc("sink").start()
    chaos = chaos_with(sink, tmp_path)
    chaos.disk = tmp_path
    monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) == tmp_path)
    seen: list[tuple[bool, bool]] = []

    def fill(path: Path) -> int:
        path.write_bytes(b"x")
        assert sink.proc is not None
        sink.proc.code = code  # the sink's next write
        return 1

    def idle(seconds: float) -> None:
        seen.append((chaos.sink_held, (tmp_path / "ballast").exists()))

    monkeypatch.setattr(chaos_soak, "fill", fill)
    chaos.idle = idle  # type: ignore[method-assign]
    chaos_soak.disk_full(chaos, 5.0)
    assert chaos.bad_exits == bad and sink.starts == starts
    assert seen and all(s == (True, True) for s in seen)  # held and full while it waited
    assert not chaos.sink_held and not (tmp_path / "ballast").exists()
    assert chaos.events[-1]["sink_exit"] == code


def test_disk_full_never_fills_a_folder_that_is_not_a_mount_of_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chaos = chaos_with(Svc("sink").start(), tmp_path)
    chaos.disk = tmp_path
    monkeypatch.setattr(chaos_soak, "fill", lambda p: pytest.fail("filled a shared disk"))
    chaos_soak.disk_full(chaos, 5.0)
    assert "skipped" in chaos.events[-1]


def status(folder: Path, heartbeat: str) -> Path:
    path = folder / "status.csv"
    path.write_text(f"data_as_of,heartbeat_at,rows\n2025-01-30T20:39:19,{heartbeat},13715\n")
    return path


def test_the_end_waits_for_the_current_sink_to_turn_its_loop(tmp_path: Path) -> None:
    """Seed 716 (2026-12-07): the sink killed -9 23 s after reading every row (its
    partitions at their end for under SINK_IDLE_PARTITION_S, 30 s, so its event watermark
    held back), its restart SIGTERMed 3 s later in its imports: run.json's event_watermark
    2025-01-30T20:39:19 against score's 21:59:31, reported as a divergence. The stop now
    waits for the restarted sink's first heartbeat (its loop), whose stop settles it."""
    path = status(tmp_path, "2026-12-07T03:01:32")  # the killed sink's
    os.utime(path, (1000.0, 1000.0))
    assert not chaos_soak.sink_turned(tmp_path, 1001.0)  # older than this start
    assert chaos_soak.sink_turned(tmp_path, 1000.0)  # at its start: this start's
    status(tmp_path, "")  # mark_starting: the heartbeat emptied until the loop turns
    os.utime(path, (1002.0, 1002.0))
    assert not chaos_soak.sink_turned(tmp_path, 1001.0)
    status(tmp_path, "2026-12-07T03:01:40")
    os.utime(path, (1003.0, 1003.0))
    assert chaos_soak.sink_turned(tmp_path, 1001.0)
    assert not chaos_soak.sink_turned(tmp_path / "none", 0.0)  # no status.csv yet


def test_copies_are_taken_from_what_the_input_topic_holds_not_from_the_pace() -> None:
    """Seed 726 (2026-12-07): the replay, started late and slowed on a machine at load 23,
    was far behind its pace of 250 rows/s; copies of rows it had not yet sent (ids 1383,
    1886, ... at partition 0's offset 54, the replay at id 140) landed before their
    originals, which were dead-lettered in their place: the same rows scored at other
    places in their partitions, 11,720 model scores changed. What was replayed is now the
    topic's messages less the copies asked for."""
    kafka: Any = None
    assert chaos_soak.replayed(kafka, "tx", 0, lambda k, t: 140) == 140
    assert chaos_soak.replayed(kafka, "tx", 135, lambda k, t: 275) == 140
    assert chaos_soak.replayed(kafka, "tx", 135, lambda k, t: 100) == 0  # copies in flight

    def down(k: Any, t: str) -> int:
        raise KafkaException("broker down")
    assert chaos_soak.replayed(kafka, "tx", 0, down) == 0  # none sent rather than a guess


@pytest.mark.parametrize(("since_wake", "hung"), [(0.0, False), (89.5, False), (90.5, True)])
def test_a_woken_detectors_silence_counts_from_its_wake_up(since_wake: float, hung: bool,
                                                           tmp_path: Path) -> None:
    """Seed 727 (2026-12-07): d1, paused 69 s, was woken 43 s late (the soak waited for the
    broker's start) and, its log silent 112 s, taken for hung and killed at once."""
    chaos = chaos_with(Svc("sink").start(), tmp_path)
    det = Svc("detector-d1").start()
    det.silent = 112.0
    chaos.detectors["d1"] = det  # type: ignore[assignment]
    chaos.paused.append(("d1", det, time.monotonic()))  # type: ignore[arg-type]
    chaos.check()  # wakes it
    assert not chaos.paused and chaos.unplanned == []
    chaos.woken[det.log_path.name] -= since_wake
    restarted: list[str | None] = []
    chaos.start_detector = restarted.append  # type: ignore[method-assign, assignment]
    chaos.check()
    assert (chaos.unplanned == [f"{det.log_path.name} hung at {chaos.at()} s"]) is hung
    assert restarted == (["d1"] if hung else [])


@pytest.mark.parametrize(("logged", "bad"), [
    (b"", []),  # killed by SIGTERM before its entry point: nothing could hold it
    (b"python -m detector: loading\n", ["detector-d1-1.log: SIGTERM exit -15"]),
])
def test_death_by_sigterm_is_a_bad_exit_only_once_the_detector_logged(
        logged: bytes, bad: list[str], tmp_path: Path) -> None:
    """Seed 723: d1, SIGTERMed 9 s into its start on a machine at load 23 (niced), died by
    the signal (-15) with nothing logged: still in the interpreter's start-up."""
    chaos = chaos_with(Svc("sink").start(), tmp_path)
    for name in ("d1", "d2"):
        det = Svc(f"detector-{name}", log_dir=tmp_path).start()
        chaos.detectors[name] = det  # type: ignore[assignment]
    d1 = chaos.detectors["d1"]
    d1.log_path.write_bytes(logged)

    def killed(timeout: float = 60) -> int:
        assert d1.proc is not None
        d1.proc.code = -15  # type: ignore[attr-defined]
        return -15
    d1.terminate = killed  # type: ignore[method-assign]

    class First(random.Random):
        def choice(self, seq: Any) -> Any:
            return seq[0]
    chaos_soak.act("term_detector", chaos, First(), lambda n: 0)
    assert chaos.bad_exits == bad
