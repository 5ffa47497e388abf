"""The rollup params a `.sink-state.json` restores (case_days, top_cases, watermark_customers,
case_gap_s, sample_per_band), hand-edited or damaged, are held to the bounds `ExportSettings`
declares for them (probe of 2026-12-06): a `case_days` of 1e12 was an OverflowError
traceback once cases aged (`timedelta(days=...)`), 0, -1, true or 10**9 a run on values
the settings refuse. Now the one-line "unreadable ...; move the folder aside"."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from annotated_types import Ge, Gt, Le
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from auditstream.broker.process import free_port
from sink.__main__ import main
from sink.settings import ExportSettings
from sink.state import STATE_FILE, Checkpoint, SinkStateError, load
from sink.writer import SinkWriter
from tests.unit.test_sink_hostile_probe import _hostile
from tests.unit.test_state_file_damage import JSON, SAVED

PARAMS = list(SAVED["rollup"]["params"])
#: Where the case book and the audit sample keep their copy of a param.
COPIES = {"top_cases": ("case_book", "top"), "case_gap_s": ("case_book", "gap_s"),
          "case_days": ("case_book", "days"), "sample_per_band": ("audit_sample", "per_band")}
#: The watermarks' copies of `watermark_customers` (their saved `quorum`).
QUORUMS = ["case_book/clock", "first_mark", "row_marks"]
UNREADABLE = r"\.sink-state\.json is unreadable \(.*\); move the folder aside"


def _edited(state: dict[str, Any], name: str, value: Any, copy: bool = True) -> dict[str, Any]:
    """`state` with the param `name` set to `value` (and its copy, as a careful editor would)."""
    rollup = dict(state["rollup"])
    rollup["params"] = {**rollup["params"], name: value}
    if copy and name in COPIES:
        part, key = COPIES[name]
        rollup[part] = {**rollup[part], key: value}
    return {**state, "rollup": rollup}


def _load(state: dict[str, Any]) -> Checkpoint | None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / STATE_FILE).write_text(json.dumps(state), "utf-8")
        return load(Path(tmp))


def _edges(name: str) -> tuple[list[Any], list[Any]]:
    """The values at each bound `ExportSettings` declares for `name` and one unit either
    side: (accepted, refused)."""
    spec = ExportSettings.model_fields[name]
    unit = 1 if spec.annotation is int else 1e-9
    ok: list[Any] = []
    bad: list[Any] = []
    for bound in spec.metadata:
        if isinstance(bound, Ge):
            edge: Any = bound.ge
            ok, bad = [*ok, edge, edge + unit], [*bad, edge - unit]
        elif isinstance(bound, Gt):
            edge = bound.gt
            ok, bad = [*ok, edge + unit], [*bad, edge, edge - unit]
        elif isinstance(bound, Le):
            edge = bound.le
            ok, bad = [*ok, edge, edge - unit], [*bad, edge + unit]
    assert ok and bad, f"{name} has no bounds to test"
    return ok, bad


EDGES = [(n, v, True) for n in PARAMS for v in _edges(n)[0]] + [
    (n, v, False) for n in PARAMS for v in _edges(n)[1]]


@pytest.mark.parametrize(("name", "value", "accepted"), EDGES)
def test_a_param_is_restored_only_within_the_settings_bounds(name: str, value: Any,
                                                            accepted: bool) -> None:
    state = _edited(SAVED, name, value)
    if not accepted:
        with pytest.raises(SinkStateError, match=UNREADABLE):
            _load(state)
        return
    cp = _load(state)
    assert cp is not None
    assert getattr(cp.rollup.params, name) == value
    if name in COPIES:
        part, key = COPIES[name]
        assert getattr(cp.rollup.cases if part == "case_book" else cp.rollup.sample,
                       key) == value


@pytest.mark.parametrize("name", PARAMS)
@pytest.mark.parametrize("value", [1e12, -1, True, False, "7", None, [7], 10**30])
def test_a_param_of_another_kind_or_far_out_is_a_state_error(name: str, value: Any) -> None:
    with pytest.raises(SinkStateError, match=UNREADABLE) as caught:
        _load(_edited(SAVED, name, value))
    assert "\n" not in str(caught.value)


def test_case_days_of_1e12_says_which_value_and_the_bound() -> None:
    with pytest.raises(SinkStateError) as caught:
        _load(_edited(SAVED, "case_days", 1e12))
    assert "(case_days 1000000000000.0: Input should be less than or equal to 3660)" in str(
        caught.value)


@pytest.mark.parametrize("name", list(COPIES))
def test_a_copy_unlike_its_param_is_a_state_error(name: str) -> None:
    """The case book and the audit sample are made of the params: a copy edited alone (the
    book's `days` of 1e12 is what the cases age by) is damage, even within the bounds."""
    part, key = COPIES[name]
    for value in (1e12, SAVED["rollup"]["params"][name] + 1):
        state = {**SAVED, "rollup": {**SAVED["rollup"],
                                     part: {**SAVED["rollup"][part], key: value}}}
        with pytest.raises(SinkStateError, match=rf"\({part} {key} .* is not the params'"):
            _load(state)


@pytest.mark.parametrize("where", QUORUMS)
def test_a_watermark_quorum_past_the_settings_bounds_is_a_state_error(where: str) -> None:
    """Days close and cases age by these: a `quorum` of 10**9 there closed none, silently.
    Within the bounds it may differ from the params' (a checkpoint of an older release)."""
    ok, bad = _edges("watermark_customers")
    for value in [*ok, *bad, 10**9]:
        state = json.loads(json.dumps(SAVED))
        part = state["rollup"]
        for key in where.split("/"):
            part = part[key]
        part["quorum"] = value
        if value in ok:
            cp, saved = _load(state), _load(SAVED)
            assert cp is not None and saved is not None
            assert cp.rollup.params == saved.rollup.params
            continue
        # below 1 the watermark's own check says so first
        said = rf"\({where} quorum: watermark_customers {value}: " if value > 1 else UNREADABLE
        with pytest.raises(SinkStateError, match=said):
            _load(state)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PARAMS), JSON | st.integers() | st.floats(allow_nan=False))
def test_no_param_is_restored_that_the_settings_refuse(name: str, value: Any) -> None:
    try:
        cp = _load(_edited(SAVED, name, value))
    except SinkStateError:
        return
    assert cp is not None
    restored = getattr(cp.rollup.params, name)
    try:  # the settings, as a user would give them (lax: "7" is 7 there)
        accepted = getattr(ExportSettings(**{name: value}), name)
    except ValidationError:
        pytest.fail(f"{name} {value!r} restored, though the settings refuse it")
    assert restored == accepted and type(restored) is not bool


def test_python_m_sink_refuses_an_edited_case_days_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m sink --exports DIR` over a folder with rows of ten customers (the cases'
    clock runs) whose case_days was edited to 1e12: one line, exit 2, before any Kafka
    consumer (the broker steps are skipped here; nothing answers at the address)."""
    monkeypatch.setenv("EXPORTS_SAMPLE_KEY", "a-test-key-of-our-own")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("SINK_STARTUP_WAIT_S", "1")
    monkeypatch.setattr("sink.app._start_kafka", lambda settings, specs: [None, None])
    folder = tmp_path / "exports"
    w = SinkWriter(folder, "transactions.scored", ExportSettings())
    w.add([(0, i, _hostile(i, customer_id=f"c{i}")) for i in range(10)])
    w.checkpoint()
    w.close()
    saved = json.loads((folder / STATE_FILE).read_text("utf-8"))
    (folder / STATE_FILE).write_text(json.dumps(_edited(saved, "case_days", 1e12)), "utf-8")
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    code = main(["--exports", str(folder), "--once"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert "Traceback" not in err and len(errors) == 1, err
    assert errors[0].startswith("python -m sink: error: ") and errors[0].endswith(
        ".sink-state.json is unreadable (case_days 1000000000000.0: Input should be less "
        "than or equal to 3660); move the folder aside"), err
    assert code == 2
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert after[STATE_FILE] == before[STATE_FILE]  # the checkpoint as it was: nothing lost
    assert os.path.isdir(folder / "scored")
