"""What the broker itself answers when the fault suite fails: whether a stall was the
broker's (no leader, no coordinator, pending transactional offsets) or the stuck clients'.

Each question is asked by a fresh client, so that its answer does not depend on the state of
the suite's long-lived ones: partitions without a leader; the detectors' committed offsets
read twice, as the detector reads them (read_committed: waits while a transaction's offsets
are pending, UNSTABLE_OFFSET_COMMIT) and without that wait; and one message produced by a
new idempotent producer to the input topic (a poison message, dead-lettered if it is ever
read: the run has failed by then).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import TopicPartition

from shared.kafka import make_admin, make_consumer, make_producer
from shared.settings import KafkaSettings

#: The longest each question waits.
ASK_S = 10.0


def _timed(what: str, ask: Callable[[], str]) -> str:
    start = time.monotonic()
    try:
        answer = ask()
    except Exception as exc:  # any answer is the report
        answer = f"failed: {exc}"
    return f"{what}: {answer} ({time.monotonic() - start:.1f} s)"


def broker_check(kafka: KafkaSettings, input_topic: str, partitions: int,
                 group: str) -> list[str]:
    """One line per question (see the module doc)."""

    def leaderless() -> str:
        md = make_admin(kafka, quiet=True).list_topics(timeout=ASK_S)
        missing = sorted(f"{t}[{p}]" for t, tm in md.topics.items()
                         for p, pm in tm.partitions.items() if pm.leader < 0)
        return f"{len(missing)} {missing[:10]}"

    def committed(isolation: str) -> Callable[[], str]:
        def ask() -> str:
            consumer = make_consumer(kafka, group, **{"isolation.level": isolation})
            try:
                tps = [TopicPartition(input_topic, p) for p in range(partitions)]
                got = consumer.committed(tps, timeout=ASK_S)
                return str({tp.partition: tp.offset for tp in got})
            finally:
                consumer.close()
        return ask

    def produce() -> str:
        producer = make_producer(kafka, log_level=2)
        producer.produce(input_topic, key=b"broker-check", value=b"not json")
        left = producer.flush(ASK_S)
        return "delivered" if left == 0 else f"{left} undelivered"

    return [_timed("partitions without a leader", leaderless),
            _timed(f"{group} committed (read_committed)", committed("read_committed")),
            _timed(f"{group} committed (read_uncommitted)", committed("read_uncommitted")),
            _timed(f"a new idempotent producer to {input_topic}", produce)]
