"""The offline partitioner must agree with Kafka's murmur2 partitioner."""

from __future__ import annotations

import pytest

from shared.partitioning import murmur2, partition_for


def _signed(x: int) -> int:
    return x - (1 << 32) if x >= 1 << 31 else x


@pytest.mark.parametrize(
    ("key", "expected"),
    [  # Apache Kafka's own test vectors (UtilsTest.testMurmur2)
        ("21", -973932308),
        ("foobar", -790332482),
        ("a-little-bit-long-string", -985981536),
        ("a-little-bit-longer-string", -1486304829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        ("abc", 479470107),
    ],
)
def test_murmur2_matches_kafka_test_vectors(key: str, expected: int) -> None:
    assert _signed(murmur2(key.encode())) == expected


def test_partition_is_stable_and_in_range() -> None:
    parts = [partition_for(str(c), 4) for c in range(1000)]
    assert parts == [partition_for(str(c), 4) for c in range(1000)]
    assert set(parts) == {0, 1, 2, 3}
