"""bench/soak_kinds21.py: poison on the detectors' state topic and a detector restarted with
another valid setting (seeds 840 on); the seeds before draw the plans they always drew."""

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
from chaos_soak import EVENTS, NEW_EVENTS, Chaos, kinds_of

from tests.unit.soak_fakes import Svc
from tests.unit.test_chaos_soak_kinds18 import plan
from tests.unit.test_chaos_soak_kinds20 import Draw

PREFIX = "g/t/0"
HEAD: soak_kinds21.Headers = [("ck", b"2"), ("ep", b"e1")]
MANIFEST = {"layout": 1, "epoch": "e1", "checkpoint": 2, "next_offset": 40, "customers": 1,
            "parts": {"meta": {"checkpoint": 2, "chunks": 1, "size": 4,
                               "sha256": "a" * 64}}}
RECORDS: list[soak_kinds21.Record] = [
    (b"g/t/0/c/c1", b"ASC\x03{\"seq\": 1}", HEAD),
    (b"g/t/0/p/meta/0", b"ASP\x03meta", HEAD),
    (b"g/t/0/m", json.dumps(MANIFEST).encode(), HEAD),
    (b"other/t/0/m", b"{}", HEAD),
]


@pytest.mark.parametrize("seed", [820, 839])
def test_seeds_before_840_draw_the_plan_they_always_drew(seed: int) -> None:
    before = {**EVENTS, **NEW_EVENTS, **soak_kinds.KINDS, **soak_kinds20.KINDS,
              **soak_kinds20.SCORED_KINDS}
    assert kinds_of(seed) == before
    assert plan(seed, kinds_of(seed)) == plan(seed, before)


def test_seeds_from_840_draw_the_new_kinds_too() -> None:
    assert set(kinds_of(840)) - set(kinds_of(839)) == {"poison_state",
                                                        "reconfigure_detector"}
    drawn = {k for s in range(840, 850) for k in plan(s, kinds_of(s))}
    assert {"poison_state", "reconfigure_detector"} <= drawn


@pytest.mark.parametrize(("shape", "key", "value", "ck"), [
    ("manifest_cut", b"g/t/0/m", json.dumps(MANIFEST).encode()[:len(json.dumps(MANIFEST)) // 2],
     b"2"),
    ("manifest_not_object", b"g/t/0/m", b"[1]", b"2"),
    ("manifest_without_parts", b"g/t/0/m",
     json.dumps({k: v for k, v in MANIFEST.items() if k != "parts"}).encode(), b"2"),
    ("customer_cut", b"g/t/0/c/c1", b"ASC\x03{\"s", b"2"),
    ("part_cut", b"g/t/0/p/meta/0", b"ASP\x03", b"2"),
    ("header_not_number", b"g/t/0/c/c1", b"ASC\x03{\"seq\": 1}", b"x"),
])
def test_each_shape_rewrites_the_latest_record_of_its_key(
        shape: str, key: bytes, value: bytes, ck: bytes) -> None:
    assert soak_kinds21.SHAPES[shape](RECORDS, PREFIX) == (key, value,
                                                           [("ck", ck), ("ep", b"e1")])


def test_the_previous_layouts_key_gets_a_value_that_is_no_json() -> None:
    assert soak_kinds21.SHAPES["legacy_not_json"](RECORDS, PREFIX) == (b"g/t/0", b"{", [])


class FakeState:
    def __init__(self, records: dict[int, list[soak_kinds21.Record]]) -> None:
        self.records = records
        self.written: list[tuple[int, list[soak_kinds21.Record]]] = []

    def writer(self) -> soak_kinds21.StateWriter:
        return soak_kinds21.StateWriter(2, lambda p: self.records.get(p, []),
                                        lambda p, rs: self.written.append((p, rs)),
                                        lambda p: f"g/t/{p}")


def test_a_burst_poisons_every_state_partition_that_holds_a_record() -> None:
    fake = FakeState({0: RECORDS})
    shapes = fake.writer().burst(random.Random(5))
    assert shapes[1] is None and shapes[0] in soak_kinds21.SHAPES
    [(p, [record])] = fake.written
    assert p == 0 and record == soak_kinds21.SHAPES[shapes[0]](RECORDS, PREFIX)


def chaos_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               envs: list[dict[str, str]]) -> Chaos:
    def detector(name: str, env: dict[str, str], logs: Path) -> Svc:
        envs.append(env)
        return Svc(f"detector-{name}", ("detector",), env, logs)
    monkeypatch.setattr(chaos_soak, "detector", detector)
    monkeypatch.setattr(chaos_soak, "Service", Svc)
    chaos = Chaos({"AUDITSTREAM_CORE": "kernel"}, tmp_path,
                  Svc("sink").start())  # type: ignore[arg-type]
    chaos.idle = lambda seconds: None  # type: ignore[method-assign]
    return chaos


@pytest.mark.parametrize(("draw", "killed"), [(0.74, "d1"), (0.75, None)])
def test_state_poison_and_a_detector_killed_three_times_in_four(
        draw: float, killed: str | None, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    chaos = chaos_with(tmp_path, monkeypatch, [])
    first: Any = chaos.start_detector()
    fake = FakeState({0: RECORDS, 1: RECORDS})
    chaos.state_writer = fake.writer()
    soak_kinds21.poison_state(chaos, Draw(draw))
    assert [p for p, _ in fake.written] == [0, 1]
    assert chaos.events[-1]["killed"] == killed
    assert first.starts == (2 if killed else 1) and first.alive()


def test_no_state_writer_no_state_poison(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    chaos = chaos_with(tmp_path, monkeypatch, [])
    soak_kinds21.poison_state(chaos, Draw(0.0))
    assert "skipped" in chaos.events[-1]


@pytest.mark.parametrize(("draw", "how"), [(0.49, "kill"), (0.5, "term")])
def test_a_detector_restarted_with_another_value_keeps_it(
        draw: float, how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    envs: list[dict[str, str]] = []
    chaos = chaos_with(tmp_path, monkeypatch, envs)
    first: Any = chaos.start_detector()
    soak_kinds21.reconfigure_detector(chaos, Draw(draw))
    event = chaos.events[-1]
    assert event["how"] == how and event["code"] == (-9 if how == "kill" else 0)
    assert first.proc.code == event["code"]
    new: Any = chaos.detectors["d1"]
    assert new is not first and new.starts == 2 and new.alive()
    setting, now = event["setting"], event["now"]
    assert now in soak_kinds21.SETTINGS[setting] and now != event["was"]
    assert event["was"] == envs[0].get(setting, soak_kinds21.DEFAULTS.get(setting))
    assert new.env == {**envs[0], setting: now}
    new.kill()
    chaos.start_detector("d1")  # a later restart keeps the new value
    assert chaos.detectors["d1"] is new and new.env[setting] == now and new.starts == 3


def test_no_live_detector_no_reconfiguration(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    chaos = chaos_with(tmp_path, monkeypatch, [])
    soak_kinds21.reconfigure_detector(chaos, Draw(0.0))
    assert "skipped" in chaos.events[-1]


@pytest.mark.parametrize(("setting", "value"), [
    (k, v) for k, vs in soak_kinds21.SETTINGS.items() if k.startswith("DETECTOR_") for v in vs])
def test_every_value_drawn_is_a_valid_setting(setting: str, value: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from detector.settings import DetectorSettings
    monkeypatch.setenv(setting, value)
    read = DetectorSettings()
    name = setting.removeprefix("DETECTOR_").lower()
    got = getattr(read.core, name.split("__")[1]) if "__" in name else getattr(read, name)
    assert str(got) == value or float(got) == float(value)


def test_every_core_drawn_is_one_of_the_switch() -> None:
    from detector.core import compiled
    assert compiled.SWITCH == "AUDITSTREAM_CORE"
    assert set(soak_kinds21.SETTINGS["AUDITSTREAM_CORE"]) == {"kernel", "compiled", "python"}


def test_state_poison_waits_for_a_first_checkpoint(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    chaos = chaos_with(tmp_path, monkeypatch, [])
    fake = FakeState({})
    waits: list[float] = []

    def idle(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            fake.records[1] = RECORDS  # the first checkpoint, after three waits
    chaos.idle = idle  # type: ignore[method-assign]
    chaos.state_writer = fake.writer()
    soak_kinds21.poison_state(chaos, Draw(0.9))
    assert waits == [2.0] * 3 and [p for p, _ in fake.written] == [1]


@pytest.mark.parametrize("earlier", ["manifest_not_object", "manifest_cut",
                                     "manifest_without_parts"])
def test_a_manifest_shape_rewrites_the_detectors_manifest_not_an_earlier_poison(
        earlier: str) -> None:
    """Seed 846's first run: a burst after one that left `[1]` as the latest manifest."""
    records = [*RECORDS, soak_kinds21.SHAPES[earlier](RECORDS, PREFIX)]
    for shape in ("manifest_cut", "manifest_not_object", "manifest_without_parts"):
        assert soak_kinds21.SHAPES[shape](records, PREFIX) == soak_kinds21.SHAPES[shape](
            RECORDS, PREFIX)
