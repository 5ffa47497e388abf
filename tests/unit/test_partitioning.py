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


# librdkafka's own vectors (src/rdmurmur2.c, its unit test), the murmur2 of the producers
# here (`partitioner=murmur2_random`): every length of tail (0 to 3 bytes after the last
# full block), the empty key, and keys one byte shorter each from the front.
LIBRDKAFKA = {
    "kafka": 0xD067CF64,
    "giberish123456789": 0x8F552B0C,
    "1234": 0x9FC97B14,
    "234": 0xE7C009CA,
    "34": 0x873930DA,
    "4": 0x5A4B5CA1,
    "PreAmbleWillBeRemoved,ThePrePartThatIs": 0x78424F1C,
    "reAmbleWillBeRemoved,ThePrePartThatIs": 0x4A62B377,
    "eAmbleWillBeRemoved,ThePrePartThatIs": 0xE0E4E09E,
    "AmbleWillBeRemoved,ThePrePartThatIs": 0x62B8B43F,
    "": 0x106E08D9,
}


@pytest.mark.parametrize(("key", "expected"), sorted(LIBRDKAFKA.items()))
def test_murmur2_matches_librdkafkas_vectors_for_every_tail_length(key: str,
                                                                   expected: int) -> None:
    assert murmur2(key.encode()) == expected


# Java's `Utils.murmur2` of digit strings of 1 to 9 bytes (kafkajs's Java-compatible
# partitioner's vectors, printed by the Java client's code), as signed ints.
JAVA = {
    "0": 971027396, "1": -1993445489, "128": -326012175, "2187": -1508407203,
    "16384": -325739742, "78125": -1654490814, "279936": 1462227128,
    "823543": -2014198330, "2097152": 607668903, "4782969": -1182699775,
    "10000000": -1830336757, "19487171": -1603849305, "35831808": -857013643,
    "62748517": -1167431028, "105413504": -381294639, "170859375": -1658323481,
}


@pytest.mark.parametrize(("key", "expected"), sorted(JAVA.items()))
def test_murmur2_matches_the_java_clients_for_keys_of_one_to_nine_bytes(key: str,
                                                                        expected: int) -> None:
    assert _signed(murmur2(key.encode())) == expected


@pytest.mark.parametrize("partitions", [1, 2, 3, 7, 64, 1000, 2**31 - 1])
def test_partition_is_the_positive_hash_modulo_the_count_as_kafka_computes_it(
        partitions: int) -> None:
    # Kafka: `toPositive(murmur2(key)) % partitions`, toPositive = `& 0x7fffffff`: a
    # negative hash loses its sign bit, not its sign (abs would give another partition).
    for key, signed in {**JAVA, "21": -973932308, "abc": 479470107}.items():
        assert partition_for(key, partitions) == (signed & 0x7FFFFFFF) % partitions


def test_a_customer_id_is_hashed_as_its_utf8_bytes() -> None:
    # The producer passes the id as a str, which the client sends as its UTF-8 bytes: a
    # non-ASCII id lands where the hash of those bytes, 0x80 and over, sends it.
    for key in ("é", "Zoë", "客户-1", "\U0001f600x"):
        data = key.encode("utf-8")
        assert any(b >= 0x80 for b in data)
        assert partition_for(key, 2**31 - 1) == (murmur2(data) & 0x7FFFFFFF) % (2**31 - 1)
