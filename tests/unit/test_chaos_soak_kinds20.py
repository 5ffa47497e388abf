"""bench/soak_kinds20.py: poison on the soak's input (seeds 800 on), each message
dead-lettered once in the class the detector's decoder gives it; the seeds before draw
the plans they always drew."""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import chaos_soak
import soak_kinds
import soak_kinds20
from chaos_soak import EVENTS, NEW_EVENTS, Chaos, kinds_of

from detector.dlq import (
    EMPTY_MESSAGE,
    INVALID_JSON,
    MESSAGE_TOO_LARGE,
    SCHEMA_ERROR,
    decode_transaction,
)
from shared.codec import encode
from shared.message_size import MAX_MESSAGE_BYTES
from shared.schemas import Transaction
from tests.unit.soak_fakes import Svc
from tests.unit.test_chaos_soak_kinds18 import plan

TX = Transaction(transaction_id="t-1", customer_id="c-9", timestamp=datetime(2025, 1, 2, 3, 4),
                 amount=12.5, country="DE", channel="web", device="d1",
                 merchant_category="grocery")


@pytest.mark.parametrize("seed", [730, 777, soak_kinds20.KINDS_FROM - 1])
def test_seeds_before_800_draw_the_plan_they_always_drew(seed: int) -> None:
    before = {**EVENTS, **NEW_EVENTS, **soak_kinds.KINDS}
    assert kinds_of(seed) == before
    assert plan(seed, kinds_of(seed)) == plan(seed, before)


def test_seeds_from_800_draw_poison_too() -> None:
    assert kinds_of(soak_kinds20.KINDS_FROM) == {
        **EVENTS, **NEW_EVENTS, **soak_kinds.KINDS, "poison": 2}
    assert kinds_of(soak_kinds20.SCORED_FROM - 1) == kinds_of(soak_kinds20.KINDS_FROM)
    drawn = [k for s in range(800, 810) for k in plan(s, kinds_of(s))]
    assert "poison" in drawn


def test_seeds_from_820_draw_poison_on_the_scored_topic_too() -> None:
    assert kinds_of(soak_kinds20.SCORED_FROM) == {
        **EVENTS, **NEW_EVENTS, **soak_kinds.KINDS, "poison": 2, "poison_scored": 2}
    drawn = [k for s in range(820, 830) for k in plan(s, kinds_of(s))]
    assert "poison_scored" in drawn


@pytest.mark.parametrize(("shape", "cls"), [
    ("empty", EMPTY_MESSAGE), ("cut_short", INVALID_JSON), ("amount_no_number", SCHEMA_ERROR),
    ("too_large", MESSAGE_TOO_LARGE), ("not_utf8", INVALID_JSON),
    ("not_an_object", SCHEMA_ERROR)])
def test_every_shape_is_poison_of_its_class(shape: str, cls: str) -> None:
    value = soak_kinds20.SHAPES[shape](encode(TX))
    assert soak_kinds20.error_class(value) == cls


@pytest.mark.parametrize("shape", sorted(soak_kinds20.SCORED_SHAPES))
def test_the_sink_refuses_every_shape_sent_to_it(shape: str) -> None:
    assert soak_kinds20.sink_refuses(soak_kinds20.SCORED_SHAPES[shape](encode(TX)))


def test_a_whole_transaction_is_not_sent_to_the_sink_as_poison() -> None:
    """Left out as seeds 820-827 ran; the sink refuses it since `is_flag` is required."""
    assert set(soak_kinds20.SHAPES) - set(soak_kinds20.SCORED_SHAPES) == {"too_large"}
    assert soak_kinds20.sink_refuses(soak_kinds20.SHAPES["too_large"](encode(TX)))
    assert soak_kinds20.sink_refuses(encode(TX))


def test_the_shapes_that_keep_the_id_keep_the_real_ones() -> None:
    msg = encode(TX)
    assert json.loads(soak_kinds20.SHAPES["amount_no_number"](msg)) == {
        **json.loads(msg), "amount": "a lot"}
    assert json.loads(soak_kinds20.SHAPES["not_an_object"](msg)) == ["t-1"]
    assert soak_kinds20.SHAPES["not_utf8"](msg)[1:] == msg[1:]


def test_too_large_is_one_byte_over_the_bound() -> None:
    value = soak_kinds20.SHAPES["too_large"](encode(TX))
    assert len(value) == MAX_MESSAGE_BYTES + 1
    at_bound = value[:-2] + b"}"  # one blank fewer: read, a valid transaction
    assert decode_transaction(at_bound) == TX


def test_a_valid_message_is_not_taken_for_poison() -> None:
    with pytest.raises(AssertionError, match="not poison"):
        soak_kinds20.error_class(encode(TX))


def chaos_with(tmp_path: Path, sent: list[list[tuple[bytes, bytes]]]) -> Chaos:
    chaos = Chaos({}, tmp_path, Svc("sink").start())  # type: ignore[arg-type]
    chaos.idle = lambda seconds: None  # type: ignore[method-assign]
    chaos.poisoner = soak_kinds20.Poisoner([TX], sent.append)
    return chaos


class Draw(random.Random):
    """`random()` gives `draw`, `uniform` its low end, `randint` its high one."""

    def __init__(self, draw: float) -> None:
        super().__init__(3)
        self.draw = draw

    def random(self) -> float:
        return self.draw

    def uniform(self, a: float, b: float) -> float:
        return a

    def randint(self, a: int, b: int) -> int:
        return b


@pytest.mark.parametrize(("draw", "killed"), [(0.49, "d1"), (0.5, None)])
def test_a_burst_is_sent_keyed_by_its_customer_and_a_detector_killed_half_the_time(
        draw: float, killed: str | None, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chaos_soak, "detector",
                        lambda name, env, logs: Svc(f"detector-{name}", log_dir=logs))
    sent: list[list[tuple[bytes, bytes]]] = []
    chaos = chaos_with(tmp_path, sent)
    first: Any = chaos.start_detector()
    soak_kinds20.poison(chaos, Draw(draw))
    assert chaos.poisoner is not None
    [items] = sent
    assert len(items) == soak_kinds20.BURST[1] and {k for k, _ in items} == {b"c-9"}
    assert chaos.poisoner.sent == Counter(v for _, v in items)
    assert all(chaos.poisoner.classes[v] == soak_kinds20.error_class(v) for _, v in items)
    assert chaos.events[-1]["killed"] == killed
    assert first.starts == (2 if killed else 1) and first.alive()


def test_no_poisoner_no_poison(tmp_path: Path) -> None:
    chaos = chaos_with(tmp_path, [])
    chaos.poisoner = None
    soak_kinds20.poison(chaos, Draw(0.0))
    assert "skipped" in chaos.events[-1]


def test_each_poison_dead_lettered_once_in_its_class_is_no_divergence() -> None:
    sent = Counter({b"": 2, b"{": 1})
    classes = {b"": EMPTY_MESSAGE, b"{": INVALID_JSON}
    report = soak_kinds20.check(sent, classes, [
        (b"", EMPTY_MESSAGE), (b"{", INVALID_JSON), (b"", EMPTY_MESSAGE)])
    assert report == {"sent": 3, "dead_lettered": 3, "missing": [], "surplus": [],
                      "wrong_class": []}
    assert soak_kinds20.diverged(report) == []


@pytest.mark.parametrize(("dead", "wrong"), [
    ([(b"", EMPTY_MESSAGE), (b"{", INVALID_JSON)], ["poison.missing"]),  # one empty lost
    ([(b"", EMPTY_MESSAGE)] * 3 + [(b"{", INVALID_JSON)], ["poison.surplus"]),
    ([(b"", EMPTY_MESSAGE)] * 2 + [(b"{", SCHEMA_ERROR)], ["poison.wrong_class"]),
])
def test_a_poison_lost_doubled_or_misnamed_is_a_divergence(
        dead: list[tuple[bytes, str]], wrong: list[str]) -> None:
    report = soak_kinds20.check(Counter({b"": 2, b"{": 1}),
                                {b"": EMPTY_MESSAGE, b"{": INVALID_JSON}, dead)
    assert soak_kinds20.diverged(report) == wrong


def test_poison_in_the_report_is_checked() -> None:
    report: dict[str, Any] = {
        "transactions": 0, "exit_codes": {}, "bad_exits": [], "unplanned": [], "zombies": [],
        "result": {k: [] for k in ("lost", "duplicated", "changed", "unexpected",
                                   "tables_differing", "tables_only_in_exports")}
        | {"run_json_differing": {}, "sink_rejected": 0,
           "scored_topic": {"messages": 0, "missing": [], "twice": [], "unknown": []},
           "dead_letters": {"missing": [], "surplus": [], "messages": 0, "expected": 0,
                            "classes": {}},
           "poison": {"missing": ["{"], "surplus": [], "wrong_class": []}}}
    assert chaos_soak.diverged(report) == ["poison.missing"]
    del report["result"]["poison"]
    assert chaos_soak.diverged(report) == []


def test_a_detector_snapshots_as_the_chaos_says(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    envs: list[dict[str, str]] = []

    def detector(name: str, env: dict[str, str], logs: Path) -> Svc:
        envs.append(env)
        return Svc(f"detector-{name}", log_dir=logs)
    monkeypatch.setattr(chaos_soak, "detector", detector)
    chaos = chaos_with(tmp_path, [])
    chaos.start_detector()
    chaos.detector_env["DETECTOR_SNAPSHOT_EVERY"] = str(soak_kinds20.SNAPSHOT_EVERY)
    chaos.start_detector()
    assert [e["DETECTOR_SNAPSHOT_EVERY"] for e in envs] == ["4000", "1000"]
    assert chaos_soak.DETECTOR_ENV == {"DETECTOR_SNAPSHOT_EVERY": "4000"}  # not changed


@pytest.mark.parametrize(("draw", "killed"), [(0.49, True), (0.5, False)])
def test_a_burst_to_the_scored_topic_and_the_sink_killed_half_the_time(
        draw: float, killed: bool, tmp_path: Path) -> None:
    to_input: list[list[tuple[bytes, bytes]]] = []
    to_scored: list[list[tuple[bytes, bytes]]] = []
    chaos = chaos_with(tmp_path, to_input)
    assert chaos.poisoner is not None
    chaos.poisoner.send_scored = to_scored.append
    soak_kinds20.poison_scored(chaos, Draw(draw))
    [items] = to_scored
    assert to_input == [] and chaos.poisoner.sent.total() == 0
    assert chaos.poisoner.scored == Counter(v for _, v in items)
    assert len(items) == soak_kinds20.BURST[1] and {k for k, _ in items} == {b"c-9"}
    assert chaos.sink.starts == (2 if killed else 1) and chaos.sink.alive()
    assert chaos.events[-1]["sink_killed"] is killed


def test_the_sink_held_down_is_not_killed(tmp_path: Path) -> None:
    chaos = chaos_with(tmp_path, [])
    assert chaos.poisoner is not None
    chaos.poisoner.send_scored = lambda items: None
    chaos.sink_held = True
    soak_kinds20.poison_scored(chaos, Draw(0.0))
    assert chaos.sink.starts == 1 and chaos.events[-1]["sink_killed"] is False


def test_without_a_scored_sender_no_scored_poison(tmp_path: Path) -> None:
    chaos = chaos_with(tmp_path, [])
    soak_kinds20.poison_scored(chaos, Draw(0.0))
    assert "skipped" in chaos.events[-1]


def test_the_rejected_lines_values_read_back_as_sent() -> None:
    text = "".join(json.dumps(row) + "\n" for row in (
        {"partition": 0, "offset": 3, "error": "e", "value": "{\"a\u2028"},
        {"partition": 1, "offset": 4, "error": "e", "value_base64": "/3s="},
        {"partition": 2, "offset": 5, "error": "empty message (tombstone)"}))
    assert soak_kinds20.rejected_values(text) == [
        '{"a\u2028'.encode(), b"\xff{", b""]


@pytest.mark.parametrize(("lines", "wrong"), [
    ([b"", b"{", b""], []),
    ([b"", b"{"], ["poison_scored.missing"]),
    ([b"", b"{", b"{", b""], ["poison_scored.surplus"]),
])
def test_each_poison_sent_to_the_sink_rejected_once(
        lines: list[bytes], wrong: list[str]) -> None:
    report = soak_kinds20.check_rejected(Counter({b"": 2, b"{": 1}), lines)
    assert soak_kinds20.diverged(report, "poison_scored") == wrong
