"""A message on the input topic longer than any transaction is refused unread (hostile probe,
2026-12-06, twelfth): the schema's errors cost up to ~330 times a message's size, so a 1 MB
message of 150,000 attributes grew the detector by ~330 MB and took a second to refuse."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from detector.dlq import (
    MESSAGE_TOO_LARGE,
    DecodeFailure,
    decode_record,
    decode_transaction,
)
from detector.loop import BatchProcessor, replay
from detector.partition import PartitionState
from shared.message_size import MAX_MESSAGE_BYTES
from shared.schemas import (
    MAX_ANOMALY_TYPE_CHARS,
    MAX_ATTRIBUTE_KEY_CHARS,
    MAX_ATTRIBUTE_VALUE_CHARS,
    MAX_ATTRIBUTES,
    MAX_COUNTRY_CHARS,
    MAX_ID_CHARS,
    MAX_IP_CHARS,
    MAX_LABEL_CHARS,
)
from tests.unit.detector_fakes import CountingEngine, FakeMessage, RecordingOutput

#: A character JSON writes as the longest escape there is, a surrogate pair (12 bytes).
WIDE = "\U0001f600"


def _longest() -> bytes:
    """The longest transaction: every text at its bound, every character a 12-byte escape."""
    fields = {
        "schema_version": 1, "transaction_id": WIDE * MAX_ID_CHARS,
        "customer_id": WIDE * MAX_ID_CHARS, "timestamp": "2025-03-09T12:00:00.123456+00:00",
        "amount": -999999999999.99, "country": WIDE * MAX_COUNTRY_CHARS,
        "channel": WIDE * MAX_LABEL_CHARS, "device": WIDE * MAX_LABEL_CHARS,
        "merchant_category": WIDE * MAX_LABEL_CHARS, "ip": WIDE * MAX_IP_CHARS,
        "is_anomaly": False, "anomaly_type": WIDE * MAX_ANOMALY_TYPE_CHARS,
        "attributes": {f"{i:02}" + WIDE * (MAX_ATTRIBUTE_KEY_CHARS - 2):
                       WIDE * MAX_ATTRIBUTE_VALUE_CHARS for i in range(MAX_ATTRIBUTES)},
    }
    return json.dumps(fields, ensure_ascii=True, separators=(",", ":")).encode()


def _padded(size: int) -> bytes:
    """A valid transaction of exactly `size` bytes (spaces before its closing brace)."""
    body = _longest()
    return body[:-1] + b" " * (size - len(body)) + b"}"


def _attributes_bomb(size: int) -> bytes:
    """About `size` bytes of attributes whose values are lists: an error each."""
    per = 12  # '"00002a":[],'
    return b'{"attributes":{' + b",".join(
        b'"%06x":[]' % i for i in range(size // per - 1)) + b"}}"


def test_the_longest_transaction_is_read_well_within_the_bound() -> None:
    body = _longest()
    assert 2 * len(body) > MAX_MESSAGE_BYTES > len(body)
    assert decode_transaction(body).customer_id == WIDE * MAX_ID_CHARS
    assert decode_record(body).transaction_id == WIDE * MAX_ID_CHARS


@pytest.mark.parametrize("size", [MAX_MESSAGE_BYTES - 1, MAX_MESSAGE_BYTES])
def test_a_transaction_up_to_the_bound_is_read(size: int) -> None:
    value = _padded(size)
    assert len(value) == size
    assert decode_record(value).customer_id == WIDE * MAX_ID_CHARS


@pytest.mark.parametrize("value", [_padded(MAX_MESSAGE_BYTES + 1),
                                   _attributes_bomb(MAX_MESSAGE_BYTES + 64)])
def test_a_message_past_the_bound_is_refused_unread_naming_its_size(value: bytes) -> None:
    for read in (decode_record, decode_transaction):
        with pytest.raises(DecodeFailure) as info:
            read(value)
        assert info.value.error_class == MESSAGE_TOO_LARGE
        assert info.value.message == (
            f"the message is {len(value):,} bytes, over the {MAX_MESSAGE_BYTES:,} a "
            "transaction can take (every field at its bound); not read")


def test_a_dead_letter_keeps_a_refused_large_message_with_its_reason() -> None:
    out = RecordingOutput()
    proc = BatchProcessor(out, 1000)
    proc.parts[0] = PartitionState(CountingEngine(), 0)
    bomb = _attributes_bomb(1_000_000)
    proc.process([FakeMessage(0, 0, bomb)])
    (record, headers), = out.dead_letters
    assert record.value() == bomb
    assert dict(headers)["error.class"] == MESSAGE_TOO_LARGE.encode()
    assert dict(headers)["error.message"].startswith(
        f"the message is {len(bomb):,} bytes, over the 262,144 ".encode())
    assert 999_000 < len(bomb) <= 1_000_000
    assert proc.parts[0].next_offset == 1


_PROBE = """
import sys
from detector.dlq import DecodeFailure, decode_record
def kib(field):
    return int(next(l for l in open("/proc/self/status") if l.startswith(field)).split()[1])
value = sys.stdin.buffer.read()
open("/proc/self/clear_refs", "w").write("5")  # the peak (VmHWM) reset to the memory in use
before = kib("VmRSS:")
try:
    decode_record(value)
    said = "read"
except DecodeFailure as exc:
    said = exc.error_class
print(kib("VmHWM:") - before)
print(said)
"""


def test_a_megabyte_of_attributes_is_refused_without_the_schemas_memory() -> None:
    """The old reader grew by ~330 MiB here (the schema's 100,000 errors)."""
    done = subprocess.run([sys.executable, "-c", _PROBE], input=_attributes_bomb(1_000_000),
                          capture_output=True, check=True, timeout=120)
    growth, said = done.stdout.decode().splitlines()
    assert int(growth) < 16 * 1024, (growth, said)  # KiB
    assert said == MESSAGE_TOO_LARGE


@pytest.mark.parametrize(("size", "scored"), [(MAX_MESSAGE_BYTES, 1),
                                              (MAX_MESSAGE_BYTES + 1, 0)])
def test_the_detectors_loop_refuses_a_valid_transaction_past_the_bound(
        size: int, scored: int) -> None:
    """Found by the chaos soak (seed 803, 2026-12-07): the loop asked the fast decoder
    first, which has no bound, so a real transaction padded to 262,145 bytes was scored,
    and the transaction itself, arriving later, dead-lettered as its duplicate."""
    out = RecordingOutput()
    proc = BatchProcessor(out, 1000)
    proc.parts[0] = PartitionState(CountingEngine(), 0)
    proc.process([FakeMessage(0, 0, _padded(size))])
    assert len(out.scored_rows) == scored
    assert [dict(h)["error.class"] for _, h in out.dead_letters] == (
        [] if scored else [MESSAGE_TOO_LARGE.encode()])
    assert proc.parts[0].next_offset == 1


@pytest.mark.parametrize(("size", "kept"), [(MAX_MESSAGE_BYTES, 1),
                                            (MAX_MESSAGE_BYTES + 1, 0)])
def test_a_restore_replays_past_a_valid_transaction_past_the_bound(
        size: int, kept: int) -> None:
    """A restore's replay reads the input as the live loop did: the refused message is
    no row of the state."""
    state = PartitionState(CountingEngine(), 0)
    assert replay(state, [FakeMessage(0, 0, _padded(size))], 1) == kept
    assert state.next_offset == 1
