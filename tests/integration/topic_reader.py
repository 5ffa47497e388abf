"""Reading a whole topic back in broker tests: one reader for every test that needs it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from confluent_kafka import OFFSET_BEGINNING, Message, TopicPartition

from shared.kafka import make_consumer
from shared.settings import KafkaSettings


class Watched(Protocol):
    """A child process whose death should end the wait early."""

    def alive(self) -> bool: ...

    def logs(self) -> str: ...


def read_all(kafka: KafkaSettings, topic: str, partitions: int, expected: int,
             timeout: float = 120.0, settle: float = 1.0,
             running: Sequence[Watched] = ()) -> list[Message]:
    """Every committed message of `topic` (read_committed); waits for `expected`, then
    `settle` seconds more to catch any surplus (a duplicate would show up as one).
    Fails early when a process in `running` dies.

    `timeout` counts from the last message read (from the call before the first): a wait
    for an end, not a length of time. A loaded machine scores slowly but on; a total of 90 s
    once returned 613 of 1,014 rows still arriving (load 30-40, 2026-12-07)."""
    consumer = make_consumer(kafka, "unused-reader")
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    out: list[Message] = []
    deadline = time.monotonic() + timeout
    settle_until: float | None = None
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(num_messages=10_000, timeout=0.2)
            for msg in batch:
                assert msg.error() is None, msg.error()
                out.append(msg)
            if batch and len(out) < expected:
                deadline = time.monotonic() + timeout
            for proc in running:
                assert proc.alive(), proc.logs()[-5000:]
            if len(out) >= expected:
                settle_until = settle_until or time.monotonic() + settle
                if time.monotonic() >= settle_until:
                    break
    finally:
        consumer.close()
    return out


def headers_of(msg: Message) -> dict[str, str]:
    """A message's headers as text (UTF-8 values; the last one of a repeated name wins)."""
    raw = msg.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return {str(k): v.decode(errors="replace") if isinstance(v, bytes) else str(v)
            for k, v in pairs}
