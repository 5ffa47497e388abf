"""A scored message longer than any valid one is rejected unread (2026-12-06, thirteenth):
the schema's errors cost up to ~285 times a message's size (a 1,000,000-byte message of
83,000 problems: +285 MiB and 0.9 s), and the sink read a message of any size the broker
delivered. The bound is derived from the declarations (`shared.message_size`); the longest
valid scored message, every field at its bound, is read as before."""

from __future__ import annotations

import base64
import json
import tracemalloc
from typing import Any

import pytest

import sink.batch
from shared.message_size import (
    MAX_MESSAGE_BYTES,
    MAX_SCORED_MESSAGE_BYTES,
    MAX_VERDICT_BYTES,
)
from shared.schemas import MAX_VERDICT_ITEMS, MAX_VERDICT_TEXT_CHARS
from sink.batch import format_batch
from sink.rollup import RollupParams
from tests.unit.test_detector_message_size import WIDE, _attributes_bomb, _longest


def _longest_scored() -> bytes:
    """The longest transaction and its verdict, every text and list at its bound, every
    character a 12-byte escape."""
    text = WIDE * MAX_VERDICT_TEXT_CHARS
    named = [f"{i:02}" + WIDE * (MAX_VERDICT_TEXT_CHARS - 2) for i in range(MAX_VERDICT_ITEMS)]
    verdict = {
        "score": 0.12345678901234568, "model_score": 0.9876543210987654, "is_ml_flag": True,
        "rule_flags": dict.fromkeys(named, False), "is_rule_flag": False, "is_flag": True,
        "reasons_top3": [text] * MAX_VERDICT_ITEMS, "triggered_rules": named,
        "model_version": text, "source_partition": 2**31 - 1, "source_offset": 2**63 - 1,
    }
    body = json.dumps(verdict, ensure_ascii=True, separators=(",", ":")).encode()
    return _longest()[:-1] + b"," + body[1:]


LONGEST = _longest_scored()


def _padded(size: int) -> bytes:
    """The longest valid scored message with spaces before its closing brace: `size` bytes."""
    return LONGEST[:-1] + b" " * (size - len(LONGEST)) + b"}"


def _batch(*values: bytes) -> sink.batch.BatchResult:
    return format_batch([(0, i, v) for i, v in enumerate(values)], RollupParams())


def _line(line: bytes) -> dict[str, Any]:
    kept: dict[str, Any] = json.loads(line)
    return kept


def _reason(size: int) -> str:
    return (f"the message is {size:,} bytes, over the {MAX_SCORED_MESSAGE_BYTES:,} a scored "
            "transaction can take (every field at its bound, room for a newer detector's "
            "fields); not read")


def test_the_longest_valid_scored_message_is_read_within_the_bound() -> None:
    assert len(LONGEST) < MAX_SCORED_MESSAGE_BYTES
    # the bound is the longest message and the room for a newer detector's fields, no more
    assert MAX_SCORED_MESSAGE_BYTES - len(LONGEST) < 2 * MAX_MESSAGE_BYTES
    assert len(LONGEST) > MAX_VERDICT_BYTES
    done = _batch(LONGEST)
    assert (done.rows, done.rejected) == (1, [])


@pytest.mark.parametrize("size", [MAX_SCORED_MESSAGE_BYTES - 1, MAX_SCORED_MESSAGE_BYTES])
def test_a_scored_message_up_to_the_bound_is_read(size: int) -> None:
    value = _padded(size)
    assert len(value) == size
    done = _batch(value)
    assert (done.rows, done.rejected) == (1, [])


@pytest.mark.parametrize("value", [_padded(MAX_SCORED_MESSAGE_BYTES + 1),
                                   b"\xff" * (MAX_SCORED_MESSAGE_BYTES + 1),
                                   _attributes_bomb(MAX_SCORED_MESSAGE_BYTES + 64)])
def test_a_scored_message_past_the_bound_is_rejected_unread_and_kept(
        value: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[int] = []

    def refuse(v: bytes, *_: object) -> None:
        read.append(len(v))
        raise AssertionError("a message over the bound was read")

    monkeypatch.setattr(sink.batch, "decode_scored", refuse)
    monkeypatch.setattr(sink.batch, "decode", refuse)
    done = _batch(value)
    assert read == []
    assert done.rows == 0
    (line,) = done.rejected
    assert _line(line) == {"partition": 0, "offset": 0, "error": _reason(len(value)),
                           "value_base64": base64.b64encode(value).decode()}
    assert len(line) < 4 * len(value) // 3 + 400  # base64, never the text first


def test_the_bound_leaves_a_batch_going_on_past_a_rejected_message() -> None:
    over = _padded(MAX_SCORED_MESSAGE_BYTES + 1)
    done = _batch(LONGEST, over, LONGEST)
    assert done.rows == 2
    assert [_line(x)["offset"] for x in done.rejected] == [1]
    assert done.partitions == [0, 0]


def test_a_message_of_problems_past_the_bound_costs_no_more_than_its_line() -> None:
    """The old reader built the schema's ~237,000 problems here (427 MB traced, 150x)."""
    bomb = _attributes_bomb(MAX_SCORED_MESSAGE_BYTES + 64)
    tracemalloc.start()
    try:
        done = _batch(bomb)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the line and, for an instant, the base64 it is joined from (1.33x each); the old
    # reader's traced peak here was 150x
    assert peak < 3 * len(bomb), peak
    assert _line(done.rejected[0])["error"] == _reason(len(bomb))
