"""The sink's consumer wiring: assignment at the checkpoint's offsets, lag and group commits.

Partitions are assigned by hand at the offsets recorded in the exports folder's checkpoint;
a checkpointed offset that retention already deleted stops the sink (rows would be missing).
Committing offsets to the consumer group is only for lag monitoring.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from shared.errors import KafkaWiringError

log = logging.getLogger(__name__)

#: How long assigning waits out a cluster that does not answer (a broker restarting), and
#: its pause per try.
ASSIGN_RETRY_S = 60.0
ASSIGN_RETRY_PAUSE_S = 1.0


def consumer_overrides() -> dict[str, object]:
    return {
        # Reports each partition's end, so `--once` knows when the topic is drained.
        "enable.partition.eof": True,
        # A checkpointed offset that retention already deleted must stop the sink: rows
        # would be missing. Never jump silently to the earliest or latest offset.
        "auto.offset.reset": "error",
    }


def assign_from_checkpoint(consumer: Consumer, topic: str, offsets: dict[int, int],
                           also: dict[str, dict[int, int]] | None = None) -> set[int]:
    """Assign every partition of `topic` at its checkpointed offset (or its beginning), and
    of each topic in `also` (the reviews topic) likewise; return `topic`'s partitions.

    A metadata or watermark error (a broker restarting: unknown partition, no leader, time
    out) is retried for `ASSIGN_RETRY_S`; a fatal one, or one still there then, is raised."""
    deadline = time.monotonic() + ASSIGN_RETRY_S
    while True:
        try:
            return _assign(consumer, {topic: offsets, **(also or {})})[topic]
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if (isinstance(err, KafkaError) and err.fatal()) or time.monotonic() >= deadline:
                raise
            log.warning("assigning %s: %s; retrying", topic, err)
            time.sleep(ASSIGN_RETRY_PAUSE_S)


def _assign(consumer: Consumer, topics: dict[str, dict[int, int]]) -> dict[str, set[int]]:
    assignment: list[TopicPartition] = []
    out = {}
    for topic, offsets in topics.items():
        parts = _partitions(consumer, topic)
        assignment += _positions(consumer, topic, parts, offsets)
        out[topic] = set(parts)
    consumer.assign(assignment)
    log.info("assigned %s", {f"{tp.topic}[{tp.partition}]": tp.offset for tp in assignment})
    return out


def _partitions(consumer: Consumer, topic: str) -> list[int]:
    meta = consumer.list_topics(topic, timeout=10)
    found = meta.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise KafkaException(found.error if found is not None and found.error is not None
                             else KafkaError(KafkaError._UNKNOWN_TOPIC, f"{topic}: no metadata"))
    return sorted(found.partitions)


def _positions(consumer: Consumer, topic: str, parts: list[int], offsets: dict[int, int]
               ) -> list[TopicPartition]:
    assignment = []
    for p in parts:
        if p in offsets:
            low, _high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
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


def commit(consumer: Consumer, topic: str, offsets: dict[int, int]) -> None:
    if offsets:
        tps = [TopicPartition(topic, p, o) for p, o in offsets.items()]
        try:
            consumer.commit(offsets=tps, asynchronous=True)
        except KafkaException as exc:  # lag monitoring only: the checkpoint holds the progress
            log.warning("%s: offsets not committed to the group: %s", topic,
                        exc.args[0] if exc.args else exc)
