"""A damaged `.sink-state.json` (bytes that are not UTF-8, JSON of another shape) is the
sink's one-line `SinkStateError` ("move the folder aside", exit 2), never a traceback."""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sink.settings import ExportSettings
from sink.state import STATE_FILE, Checkpoint, SinkStateError, load
from sink.writer import SinkWriter

TOPIC = "transactions.scored"
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


def _saved_state() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        SinkWriter(Path(tmp), TOPIC, ExportSettings()).close()
        data: dict[str, Any] = json.loads((Path(tmp) / STATE_FILE).read_text())
    return data


SAVED = _saved_state()


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in `value` (the keys and indexes that lead there)."""
    inner = (value.items() if isinstance(value, dict) else enumerate(value)
             if isinstance(value, list) else ())
    return [at, *(p for k, v in inner for p in _paths(v, (*at, k)))]


def _replaced(value: Any, at: tuple[Any, ...], new: Any) -> Any:
    if not at:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[at[0]] = _replaced(value[at[0]], at[1:], new)
    return copy


def _load(raw: bytes) -> Checkpoint | None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / STATE_FILE).write_bytes(raw)
        return load(Path(tmp))


def test_the_saved_state_loads() -> None:
    assert _load(json.dumps(SAVED).encode()) is not None  # the base the others damage


@pytest.mark.parametrize("raw", [b"\xff" + json.dumps(SAVED).encode(),
                                 json.dumps(SAVED).encode().replace(b"{", b"{\x81", 1)])
def test_bytes_that_are_not_utf8_are_a_state_error(raw: bytes) -> None:
    with pytest.raises(SinkStateError, match=r"\.sink-state\.json is unreadable .*"
                       r"move the folder aside"):
        _load(raw)


@pytest.mark.parametrize("doc", ["[1]", "1", '"x"', "null", "true"])
def test_json_that_is_no_object_is_a_state_error(doc: str) -> None:
    with pytest.raises(SinkStateError, match=r"\.sink-state\.json is unreadable"):
        _load(doc.encode())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_paths(SAVED)), JSON)
def test_any_value_replaced_loads_or_is_a_state_error(at: tuple[Any, ...], new: Any) -> None:
    with contextlib.suppress(SinkStateError):  # anything else fails the test
        _load(json.dumps(_replaced(SAVED, at, new)).encode())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_load_or_are_a_state_error(raw: bytes) -> None:
    with contextlib.suppress(SinkStateError):  # anything else fails the test
        _load(raw)
