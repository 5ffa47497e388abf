"""Kafka's murmur2 partitioner, so offline scoring can emulate a keyed topic exactly.

Producers here set librdkafka's `partitioner=murmur2_random`, which for keyed messages is
the Java client's default: `(murmur2(key) & 0x7fffffff) % partitions`.
"""

from __future__ import annotations

from functools import lru_cache

#: Kafka's partition count is an int32: more is refused wherever a count is given (librdkafka's
#: topic creation raised OverflowError past it, a traceback after the wait for the broker).
MAX_PARTITIONS = 2**31 - 1
#: A topic's replication factor is an int16 in Kafka's CreateTopics request.
MAX_REPLICATION_FACTOR = 2**15 - 1

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (seed 0x9747b28c), as an unsigned 32-bit value."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    end = length - (length % 4)
    for i in range(0, end, 4):
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    rest = length % 4
    if rest == 3:
        h ^= data[end + 2] << 16
    if rest >= 2:
        h ^= data[end + 1] << 8
    if rest >= 1:
        h ^= data[end]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


@lru_cache(maxsize=1 << 16)
def partition_for(key: str, partitions: int) -> int:
    """The partition a message keyed by `key` lands on in a topic of `partitions`."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
