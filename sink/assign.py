"""The sink's consumer wiring: assignment at the checkpoint's offsets, lag and group commits.

Partitions are assigned by hand at the offsets recorded in the exports folder's checkpoint;
a checkpointed offset that retention already deleted stops the sink (rows would be missing).
Committing offsets to the consumer group is only for lag monitoring.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from shared.errors import KafkaWiringError
from shared.health import NO_BROKER_S
from shared.kafka import WatchedConsumer

log = logging.getLogger(__name__)

#: The longest one metadata or watermark request of the assignment.
TRY_S = 10.0


#: An async commit's result: (the error or None, the partitions with theirs).
OnCommit = Callable[[KafkaError | None, list[TopicPartition]], None]


def consumer_overrides(on_commit: OnCommit | None = None) -> dict[str, object]:
    overrides: dict[str, object] = {
        # Reports each partition's end, so `--once` knows when the topic is drained.
        "enable.partition.eof": True,
        # A checkpointed offset that retention already deleted must stop the sink: rows
        # would be missing. Never jump silently to the earliest or latest offset.
        "auto.offset.reset": "error",
    }
    if on_commit is not None:
        # `commit` is asynchronous: its result (a group refused among them) comes only here,
        # served by the next consume.
        overrides["on_commit"] = on_commit
    return overrides


def assign_from_checkpoint(consumer: Consumer, topic: str, offsets: dict[int, int],
                           also: dict[str, dict[int, int]] | None = None,
                           timeout: float = TRY_S) -> set[int]:
    """Assign every partition of `topic` at its checkpointed offset (or its beginning), and
    of each topic in `also` (the reviews topic) likewise; return `topic`'s partitions. Each
    request waits `timeout` at most (`TRY_S`); an error that `shared.kafka.worth_waiting`
    may pass; a retention gap is `KafkaWiringError`."""
    timeout = min(timeout, TRY_S)
    assignment: list[TopicPartition] = []
    found: dict[str, set[int]] = {}
    for name, known in {topic: offsets, **(also or {})}.items():
        parts = _partitions(consumer, name, timeout)
        assignment += _positions(consumer, name, parts, known, timeout)
        found[name] = set(parts)
    consumer.assign(assignment)
    log.info("assigned %s", {f"{tp.topic}[{tp.partition}]": tp.offset for tp in assignment})
    return found[topic]


def _partitions(consumer: Consumer, topic: str, timeout: float) -> list[int]:
    meta = consumer.list_topics(topic, timeout=timeout)
    found = meta.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise KafkaException(found.error if found is not None and found.error is not None
                             else KafkaError(KafkaError._UNKNOWN_TOPIC, f"{topic}: no metadata"))
    return sorted(found.partitions)


def _positions(consumer: Consumer, topic: str, parts: list[int], offsets: dict[int, int],
               timeout: float) -> list[TopicPartition]:
    assignment = []
    for p in parts:
        if p in offsets:
            low, _high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            if offsets[p] < low:
                raise KafkaWiringError(
                    f"{topic}[{p}]: the checkpoint says offset {offsets[p]} comes next but the "
                    f"broker only keeps offsets from {low} (retention); rows in between are "
                    "lost to this folder: re-run from the source, or --reset to start over"
                )
        assignment.append(TopicPartition(topic, p, offsets.get(p, OFFSET_BEGINNING)))
    return assignment


def lag(consumer: Consumer, topic: str, offsets: dict[int, int], parts: set[int]
         ) -> int | None:
    """Messages waiting in the topic: high watermark minus the consumer's position (cached
    watermarks, no broker round trip); None while a partition's watermark is unknown.

    The position, not the next row's offset: transaction markers and aborted messages take
    offsets that no row ever fills, and the position moves past them.
    """
    total = 0
    positions = consumer.position([TopicPartition(topic, p) for p in sorted(parts)])
    for tp in positions:
        _low, high = consumer.get_watermark_offsets(tp, cached=True)
        if high < 0:
            return None
        at = tp.offset if tp.offset >= 0 else offsets.get(tp.partition, 0)
        total += max(0, high - at)
    return total


def waiting(consumer: WatchedConsumer, topic: str, offsets: dict[int, int], parts: set[int]
            ) -> int | None:
    """`lag`, or None when the consumer has had no broker connection for `NO_BROKER_S`: its
    cached partition ends are stale then (status.csv said "0 behind" through an outage)."""
    if consumer.out_of_touch(NO_BROKER_S):
        return None
    return lag(consumer, topic, offsets, parts)


def commit(consumer: Consumer, topic: str, offsets: dict[int, int]) -> None:
    if offsets:
        tps = [TopicPartition(topic, p, o) for p, o in offsets.items()]
        try:
            consumer.commit(offsets=tps, asynchronous=True)
        except KafkaException as exc:  # lag monitoring only: the checkpoint holds the progress
            log.warning("%s: offsets not committed to the group: %s", topic,
                        exc.args[0] if exc.args else exc)
