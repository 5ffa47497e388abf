"""A line of `sink_rejected.jsonl` takes at most twice its message's bytes, plus where it
was and why (hostile probe, 2026-12-06, thirteenth): a message of control characters, each
written as a 6-byte `\\u0001`, made a line six times its size, and a batch holds every line
until it is written (10,000 messages a batch). Such a value is kept as `value_base64`, as a
value that is not UTF-8 always was; every other value is written as before, byte for byte."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.schemas import CONTROL_CHARACTERS
from sink.batch import format_batch, rejection
from sink.rollup import RollupParams

#: `sink.batch.MAX_TEXT_BYTES_PER_BYTE`
TWICE = 2
REASON = "json: Invalid JSON: expected value at line 1 column 1"
#: `{"partition": 0, "offset": 7, "error": "<REASON>", "value_base64": ""}` and the line end
OVERHEAD = 200


def _old_rejection(partition: int, offset: int, value: bytes | None, reason: str) -> bytes:
    """The line as it was written before (the oracle for values kept as text)."""
    entry: dict[str, object] = {"partition": partition, "offset": offset, "error": reason}
    if value is not None:
        try:
            entry["value"] = value.decode("utf-8")
        except UnicodeDecodeError:
            entry["value_base64"] = base64.b64encode(value).decode("ascii")
    text = json.dumps(entry, ensure_ascii=False)
    return CONTROL_CHARACTERS.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode() + b"\n"


def _kept(line: bytes) -> tuple[dict[str, Any], bytes | None]:
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    entry = json.loads(line)
    if "value_base64" in entry:
        return entry, base64.b64decode(entry["value_base64"], validate=True)
    return entry, entry["value"].encode() if "value" in entry else None


@pytest.mark.parametrize("char", ["\x01", "\x00", "\x1f", "\x7f", "\x85", "\u2028", "\u202e"])
def test_a_message_of_control_characters_makes_a_line_at_most_twice_its_size(
        char: str) -> None:
    value = char.encode() * (100_000 // len(char.encode()))
    line = rejection(0, 7, value, REASON)
    assert len(line) <= TWICE * len(value) + OVERHEAD, len(line) / len(value)
    entry, kept = _kept(line)
    assert kept == value
    assert (entry["partition"], entry["offset"], entry["error"]) == (0, 7, REASON)


@pytest.mark.parametrize(("tail", "as_text"), [(b"xxx", False), (b"xxxx", True),
                                                (b"xxxxx", True)])
def test_text_twice_the_bytes_is_kept_as_text_one_byte_more_in_base64(
        tail: bytes, as_text: bool) -> None:
    """`"` x 100 (2 bytes each), one `\\x01` (6), then the tail: its text is 2 bytes a byte
    of the value with 4 `x`, one over with 3."""
    value = b'"' * 100 + b"\x01" + tail
    line = rejection(1, 2, value, REASON)
    entry, kept = _kept(line)
    assert kept == value
    assert ("value" in entry) == as_text
    if as_text:
        assert line == _old_rejection(1, 2, value, REASON)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.binary(max_size=64),
                 st.text(max_size=64).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_every_value_is_kept_whole_and_text_as_before(value: bytes | None) -> None:
    line = rejection(3, 4, value, "why\u2028not")
    entry, kept = _kept(line)
    assert kept == value
    assert entry["error"] == "why\u2028not"
    if value is not None:
        assert len(line) <= TWICE * len(value) + OVERHEAD
    if value is None or "value" in entry or "value_base64" in json.loads(
            _old_rejection(3, 4, value, "")):
        assert line == _old_rejection(3, 4, value, "why\u2028not")


def test_a_batch_of_control_character_messages_holds_lines_twice_their_size() -> None:
    values = [bytes([c]) * 50_000 for c in range(1, 32)]
    result = format_batch([(0, i, v) for i, v in enumerate(values)], RollupParams())
    assert [_kept(line)[1] for line in result.rejected] == values
    total = sum(map(len, values))
    assert sum(map(len, result.rejected)) <= TWICE * total + \
        OVERHEAD * len(values)
