"""bench/soak_kinds22.py: a stopped sink's day file deleted or cut, and the stopped
detectors' group offsets reset to the earliest (seeds 860 on); the seeds before draw the
plans they always drew."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import chaos_soak
import soak_kinds
import soak_kinds20
import soak_kinds21
import soak_kinds22
from chaos_soak import EVENTS, NEW_EVENTS, Chaos, kinds_of

from tests.unit.soak_fakes import Svc
from tests.unit.test_chaos_soak_kinds18 import plan
from tests.unit.test_chaos_soak_kinds20 import Draw

DAY = "scored/transactions_scored_2025-01-02.csv"


@pytest.mark.parametrize("seed", [840, 859])
def test_seeds_before_860_draw_the_plan_they_always_drew(seed: int) -> None:
    before = {**EVENTS, **NEW_EVENTS, **soak_kinds.KINDS, **soak_kinds20.KINDS,
              **soak_kinds20.SCORED_KINDS, **soak_kinds21.KINDS}
    assert kinds_of(seed) == before
    assert plan(seed, kinds_of(seed)) == plan(seed, before)


def test_seeds_from_860_draw_the_new_kinds_too() -> None:
    assert set(kinds_of(860)) - set(kinds_of(859)) == {"damage_day_file", "reset_offsets"}
    drawn = {k for s in range(860, 870) for k in plan(s, kinds_of(s))}
    assert {"damage_day_file", "reset_offsets"} <= drawn


def test_only_day_files_with_committed_bytes_are_damaged() -> None:
    state = {"lengths": {DAY: 120, "scored/transactions_scored_2025-01-03.csv": 0,
                         "sink_rejected.jsonl": 40, "reviews_log.csv": 30}}
    assert soak_kinds22.committed_days(state) == {DAY: 120}
    assert soak_kinds22.committed_days({}) == {}


@pytest.mark.parametrize("seed", range(40))
def test_a_damage_leaves_fewer_bytes_than_the_checkpoint_vouches_for(
        seed: int, tmp_path: Path) -> None:
    path = tmp_path / "day.csv"
    path.write_bytes(b"x" * 10)
    done = soak_kinds22.damage(path, 10, random.Random(seed))
    if done == "deleted":
        assert not path.exists()
    else:
        size = path.stat().st_size
        assert 0 <= size <= 9 and done == f"cut to {size} of 10 bytes"


@pytest.mark.parametrize(("code", "log", "ok"), [
    (2, "sink: error: a has 3 bytes ...; restore it, or start again with --reset\n", True),
    (2, "sink: error: something else\n", False),
    (0, "restore it, or start again with --reset", False),
    (70, "restore it, or start again with --reset", False),
    (2, "Traceback (most recent call last):\nrestore it, or start again with --reset", False),
    (None, "restore it, or start again with --reset", False),
])
def test_a_refusal_is_exit_2_with_its_words_and_no_traceback(
        code: int | None, log: str, ok: bool) -> None:
    why = soak_kinds22.refused(code, log, soak_kinds22.RESTORE_OR_RESET)
    assert (why is None) == ok
    if code is None:
        assert why == "it ran on"


class Scripted(Svc):
    """A service whose starts exit with `codes[i]` (None: runs) and log `logs[i]`."""

    def __init__(self, name: str, args: tuple[str, ...], log_dir: Path,
                 codes: list[int | None], logs: list[str]) -> None:
        super().__init__(name, args, {}, log_dir)
        self.codes, self.logs = codes, logs
        self.argv: list[tuple[str, ...]] = []

    def start(self) -> Svc:
        super().start()
        assert self.proc is not None
        self.proc.code = self.codes[self.starts - 1]
        self.log_path.write_text(self.logs[self.starts - 1])
        self.argv.append(self.args)
        return self


def sink_chaos(tmp_path: Path, codes: list[int | None], logs: list[str]) -> Chaos:
    folder = tmp_path / "exports"
    (folder / "scored").mkdir(parents=True)
    (folder / DAY).write_bytes(b"header\nrow1\nrow2\n")
    (folder / soak_kinds22.STATE_FILE).write_text(json.dumps({"lengths": {DAY: 12}}))
    sink = Scripted("sink", ("sink", "--exports", str(folder)), tmp_path, codes, logs)
    chaos = Chaos({}, tmp_path, sink.start())  # type: ignore[arg-type]
    chaos.idle = lambda seconds: None  # type: ignore[method-assign]
    return chaos


REFUSAL = f"sink: error: x has 0 bytes ...: {soak_kinds22.RESTORE_OR_RESET}\n"


@pytest.mark.parametrize(("draw", "how", "remedy"), [(0.49, "kill", "restore"),
                                                      (0.5, "term", "reset")])
def test_a_damaged_day_file_is_refused_then_restored_or_reset(
        draw: float, how: str, remedy: str, tmp_path: Path) -> None:
    chaos = sink_chaos(tmp_path, [None, 2, None], ["", REFUSAL, ""])
    before = (tmp_path / "exports" / DAY).read_bytes()
    soak_kinds22.damage_day_file(chaos, Draw(draw))
    event = chaos.events[-1]
    assert (event["how"], event["remedy"], event["sink_exit"]) == (how, remedy, 2)
    assert chaos.bad_exits == [] and not chaos.sink_held
    sink: Any = chaos.sink
    assert sink.starts == 3 and sink.alive()
    args = ("sink", "--exports", str(tmp_path / "exports"))
    assert sink.argv == [args, args, (*args, "--reset") if remedy == "reset" else args]
    assert sink.args == args  # a later restart resumes, never resets again
    path = tmp_path / "exports" / DAY
    if remedy == "restore":
        assert path.read_bytes() == before
    else:  # the reset's to rebuild
        assert not path.exists() or len(path.read_bytes()) < 12


@pytest.mark.parametrize(("code", "log"), [(None, ""), (0, ""), (70, "Traceback ...\n"),
                                           (2, "sink: error: another refusal\n")])
def test_a_sink_that_does_not_refuse_a_damaged_day_file_is_reported(
        code: int | None, log: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(soak_kinds22, "REFUSAL_WAIT_S", 0.0)  # one that runs on: not waited
    chaos = sink_chaos(tmp_path, [None, code, None], ["", log, ""])
    soak_kinds22.damage_day_file(chaos, Draw(0.2))
    [bad] = chaos.bad_exits
    assert bad.startswith(f"sink-2.log: {DAY} ")
    assert chaos.sink.alive()


def test_no_day_file_checkpointed_yet_no_damage(tmp_path: Path) -> None:
    chaos = sink_chaos(tmp_path, [None, None], ["", ""])
    (tmp_path / "exports" / soak_kinds22.STATE_FILE).write_text('{"lengths": {}}')
    soak_kinds22.damage_day_file(chaos, Draw(0.2))
    assert "skipped" in chaos.events[-1] and chaos.sink.alive() and chaos.sink.starts == 2


class FakeGroup:
    def __init__(self, checkpointed: bool = True, busy: int = 0) -> None:
        self.offsets = {0: 500, 1: 700}
        self.altered: list[dict[int, int]] = []
        self.busy = busy  # refusals left: members still in the group
        self.is_checkpointed = checkpointed

    def alter(self, to: dict[int, int]) -> None:
        if self.busy:
            self.busy -= 1
            raise RuntimeError("GROUP_NOT_EMPTY")
        self.altered.append(to)
        self.offsets = dict(to)

    def group(self) -> soak_kinds22.GroupOffsets:
        return soak_kinds22.GroupOffsets(lambda: dict(self.offsets), lambda: {0: 0, 1: 0},
                                         self.alter, lambda: self.is_checkpointed)


def detector_chaos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   codes: list[int | None], logs: list[str]) -> Chaos:
    def detector(name: str, env: dict[str, str], logs_dir: Path) -> Svc:
        return Scripted(f"detector-{name}", ("detector",), logs_dir, codes, logs)
    monkeypatch.setattr(chaos_soak, "detector", detector)
    chaos = Chaos({}, tmp_path, Svc("sink").start())  # type: ignore[arg-type]
    chaos.idle = lambda seconds: None  # type: ignore[method-assign]
    return chaos


OFFSETS_REFUSAL = ("detector: error: partition 0: committed offset 0 is behind the checkpoint "
                   "at offset 400 (input log [0, 900)): the group's offsets were reset (or "
                   "the topic recreated), ... Refusing to guess ...\n")


def test_offsets_reset_are_refused_then_set_back_and_the_detectors_started(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chaos = detector_chaos(tmp_path, monkeypatch, [None, 2, None], ["", OFFSETS_REFUSAL, ""])
    d1: Any = chaos.start_detector()
    fake = FakeGroup(busy=2)
    chaos.group_offsets = fake.group()
    soak_kinds22.reset_offsets(chaos, random.Random(1))
    assert fake.altered == [{0: 0, 1: 0}, {0: 500, 1: 700}]
    assert chaos.bad_exits == [] and chaos.events[-1]["detector_exit"] == 2
    assert chaos.detectors == {"d1": d1} and d1.starts == 3 and d1.alive()


@pytest.mark.parametrize(("code", "log"), [(None, ""), (0, ""),
                                           (2, "detector: error: fenced\n")])
def test_a_detector_that_does_not_refuse_reset_offsets_is_reported(
        code: int | None, log: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(soak_kinds22, "REFUSAL_WAIT_S", 0.0)
    chaos = detector_chaos(tmp_path, monkeypatch, [None, code, None], ["", log, ""])
    chaos.start_detector()
    fake = FakeGroup()
    chaos.group_offsets = fake.group()
    soak_kinds22.reset_offsets(chaos, random.Random(1))
    [bad] = chaos.bad_exits
    assert bad.startswith("detector-d1-2.log: offsets reset to {0: 0, 1: 0}: ")
    assert fake.offsets == {0: 500, 1: 700} and chaos.detectors["d1"].alive()


def test_no_reset_before_every_partition_has_a_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(soak_kinds22, "CHECKPOINT_WAIT_S", 0.0)
    chaos = detector_chaos(tmp_path, monkeypatch, [None], [""])
    chaos.start_detector()
    fake = FakeGroup(checkpointed=False)
    chaos.group_offsets = fake.group()
    soak_kinds22.reset_offsets(chaos, random.Random(1))
    assert "skipped" in chaos.events[-1] and fake.altered == []
    assert chaos.detectors["d1"].starts == 1 and chaos.detectors["d1"].alive()
