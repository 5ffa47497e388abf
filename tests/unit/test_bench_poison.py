"""bench/poison_bench.py measures what it says: each poison shape is a message of exactly the
size asked, refused by the schema (so by the detector and the sink alike), at the size the
bench uses (one under the detector's bound) and at a small one."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import poison_bench as bench

from detector.dlq import DecodeFailure, decode_transaction
from shared.codec import decode
from shared.errors import SchemaError
from shared.message_size import MAX_MESSAGE_BYTES
from shared.schemas import ScoredTransaction


@pytest.mark.parametrize("size", [MAX_MESSAGE_BYTES - 1, 16_384])
@pytest.mark.parametrize("shape", list(bench.SHAPES))
def test_each_shape_is_a_message_of_the_size_asked_that_the_schema_refuses(
        shape: str, size: int) -> None:
    value = bench.SHAPES[shape](size)
    assert len(value) == size
    with pytest.raises(DecodeFailure):
        decode_transaction(value)
    with pytest.raises(SchemaError):
        decode(value, ScoredTransaction)


def test_all_takes_the_mixed_shapes_in_turn() -> None:
    values = bench.messages("all", 9, 4_096)
    assert values[:7] == [bench.SHAPES[n](4_096) for n in bench.MIXED]
    assert values[7:] == values[:2]
    assert "amount_digits" not in bench.MIXED
