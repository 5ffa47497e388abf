"""A rewind racing the partition's new owner, against a real broker: detector A aborts a
transaction (its fifth commit fails, an injected fault) and rewinds; it reads the committed
offset C, and before it loads the partition's checkpoint (held there by `RewindGate` until
the test writes into a FIFO) B, another member of the group, takes the partition over
(A polls no more, so it is out after its 10 s max.poll.interval) and commits a checkpoint
past C. Released, A finds a checkpoint ahead of C: it must read the offset again and go on,
not refuse it as a recreated topic (exit 2, "Refusing to guess"); both run on, and the
scored topic equals `score` row for row. Found by bench/chaos_soak.py (seed 17);
`tests/unit/test_detector_rewind_race.py` covers the decision with fakes."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

from shared.kafka import make_consumer
from shared.settings import KafkaSettings
from tests.integration.detector_harness import (
    DetectorProcess,
    Topics,
    assert_exactly_the_offline_result,
    make_transactions,
    produce_in_background,
)

#: slow: in the serial group, so the waits are not timed on a machine shared with other runs
pytestmark = [pytest.mark.integration, pytest.mark.slow]

SNAPSHOT_EVERY = 200
RACE_ENV = {
    # B's first checkpoint is at most this many records past the offset it took over at.
    "DETECTOR_SNAPSHOT_EVERY": str(SNAPSHOT_EVERY),
    # At least 12 transactions however far A falls behind the feeder: with the default 5,000
    # (the whole stream) A, slow in its first batch on a loaded machine (12.7 s, past its
    # max.poll.interval: aborted and rewound), then caught up in one batch and made 2
    # commits in all, never the failing fifth (flake17, 2026-12-07, load 20 on 2 cores).
    "DETECTOR_BATCH_SIZE": "400",
    # The least allowed: A, held in its rewind, is out of the group 10 s after its last poll.
    "DETECTOR_MAX_POLL_INTERVAL_MS": "10000",
}
#: A's commit that fails: a few committed before it, so the offset A reads is one of them.
FAILING_COMMIT = 5


def committed_offset(kafka: KafkaSettings, topics: Topics, partition: int) -> int:
    """The detectors' group's committed offset of an input partition (-1: none)."""
    reader = make_consumer(kafka, topics.env()["DETECTOR_GROUP_ID"])
    try:
        tp = reader.committed([TopicPartition(topics.input, partition)], timeout=10)[0]
        return int(tp.offset)
    finally:
        reader.close()


def release(fifo: Path) -> None:
    """Let the held rewind go on (fails at once if nobody holds on the FIFO)."""
    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, b"x")
    finally:
        os.close(fd)


def test_a_rewind_racing_the_partitions_new_owner_reads_the_offset_again(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    txs = make_transactions(5_000, customers=300, seed=17)
    topics = Topics(topic_name, 1).create(kafka)
    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    feeder = produce_in_background(kafka, topics.input, txs, rate=250)
    a = DetectorProcess(kafka, topics, "a", tmp_path / "a", RACE_ENV,
                        rewind_gate=(FAILING_COMMIT, fifo)).start()
    b = DetectorProcess(kafka, topics, "b", tmp_path / "b", RACE_ENV)
    try:
        a.wait_for("rewind gate: partition 0 at committed offset", timeout=90)
        held = re.search(r"rewind gate: partition 0 at committed offset (\S+)", a.logs())
        assert held is not None and held.group(1).isdigit(), a.logs()[-3000:]
        read = int(held.group(1))
        b.start().wait_for("restored", timeout=90)  # A is out of the group: B owns it
        deadline = time.monotonic() + 60
        while committed_offset(kafka, topics, 0) < read + SNAPSHOT_EVERY:
            # Then B has committed a checkpoint past `read` with it (it took over at `read`).
            assert b.alive(), b.logs()[-3000:]
            assert time.monotonic() < deadline, f"B committed no {SNAPSHOT_EVERY} rows"
            time.sleep(0.2)
        assert a.alive(), a.logs()[-3000:]
        release(fifo)
        a.wait_for("rewind gate: released", timeout=30)
        deadline = time.monotonic() + 60
        # The rewind's restore (A's second) done; on the code before, A exited 2 here.
        while a.logs().count("partition 0 restored") < 2:
            assert a.alive(), f"A ended:\n{a.logs()[-3000:]}"
            assert time.monotonic() < deadline, "A's rewind did not finish within 60 s"
            time.sleep(0.2)
        assert "Refusing to guess" not in a.logs()
        feeder.join(90)
        assert not feeder.is_alive()
        assert_exactly_the_offline_result(kafka, topics, txs, [a, b])
        assert a.terminate() == 0, a.logs()[-3000:]
        assert b.terminate() == 0, b.logs()[-3000:]
    finally:
        for proc in (a, b):
            if proc.alive():
                proc.kill()
