"""Does a consumer that stops polling find its coordinator again after a broker restart?
(docs/reliability.md, "Clients left without a broker after a broker restart").

    PYTHONPATH=. .venv/bin/python bench/committed_after_restart_probe.py [--restarts 10]

Starts its own broker on free ports in a temporary folder (never the shared one). A
detector-like loop consumes the input topic in a group, produces each batch to an output
topic in a transaction with its offsets (send_offsets) and commits or aborts. Then, per
restart: the loop stops polling, the broker is stopped and started again (data kept), a new
transactional producer runs init_transactions, and `committed()` is tried (5 s a try, as the
detector's rewind does) without polling, for at most 150 s. Prints one line per restart; a
"STUCK" line is the stall. librdkafka's log of the consumer (`debug=cgrp,broker`) and the
broker's own log stay in the printed folder.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditstream.broker import LocalBroker
from tests.integration.pipeline_harness import file_logger

TRY_S, GIVE_UP_S = 5.0, 150.0


class Loop:
    """Consume, produce, send_offsets, commit (or abort) while `polling` is set."""

    def __init__(self, conf: dict[str, Any], home: Path) -> None:
        self.conf, self.home = conf, home
        self.polling = threading.Event()
        self.consumer = Consumer({**conf, "group.id": "probe", "enable.auto.commit": False,
                                  "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                                  "logger": file_logger(home / "consumer.log"),
                                  "debug": "cgrp,broker"})
        self.consumer.subscribe(["in"])
        self.producer = self.new_producer()

    def new_producer(self) -> Producer:
        producer = Producer({**self.conf, "transactional.id": "probe",
                             "logger": file_logger(self.home / "producer.log")})
        producer.init_transactions(30)
        return producer

    def run(self) -> None:
        while True:
            self.polling.wait()
            try:
                self.batch(self.consumer.consume(200, 0.5))
            except KafkaException:
                self.polling.clear()  # the broker went away: the restart takes over

    def batch(self, msgs: list[Message]) -> None:
        msgs = [m for m in msgs if m.error() is None]
        if not msgs:
            return
        self.producer.begin_transaction()
        for m in msgs:
            self.producer.produce("out", key=m.key(), value=m.value())
        ends = {m.partition() or 0: (m.offset() or 0) + 1 for m in msgs}
        self.producer.send_offsets_to_transaction(
            [TopicPartition("in", p, o) for p, o in ends.items()],
            self.consumer.consumer_group_metadata(), 10)
        if random.random() < 0.3:
            self.producer.abort_transaction(10)
        else:
            self.producer.commit_transaction(10)


def committed_within(consumer: Consumer, seconds: float) -> tuple[bool, int]:
    """Try `committed()` until it answers or `seconds` pass: (answered, tries)."""
    start, tries = time.monotonic(), 0
    while time.monotonic() - start < seconds:
        tries += 1
        try:
            consumer.committed([TopicPartition("in", p) for p in range(4)], timeout=TRY_S)
            return True, tries
        except KafkaException:
            time.sleep(1)
    return False, tries


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--restarts", type=int, default=10)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="committed-probe-"))
    broker = LocalBroker.on_free_ports(home / "broker")
    broker.start()
    try:
        conf: dict[str, Any] = {"bootstrap.servers": broker.bootstrap}
        admin_conf: dict[str, Any] = {**conf, "logger": file_logger(home / "admin.log")}
        admin = AdminClient(admin_conf)
        for future in admin.create_topics([NewTopic(t, 4, 1) for t in ("in", "out")]).values():
            future.result()
        seed = Producer({**conf, "logger": file_logger(home / "seed.log")})
        for i in range(50_000):
            seed.produce("in", key=str(i % 997).encode(), value=b"x" * 100)
            if i % 500 == 0:
                seed.poll(0)
        seed.flush(60)
        loop = Loop(conf, home)
        threading.Thread(target=loop.run, daemon=True).start()
        stuck = 0
        for i in range(args.restarts):
            loop.polling.set()
            time.sleep(random.uniform(3, 6))
            loop.polling.clear()
            broker.stop()
            time.sleep(random.uniform(0.5, 2.0))
            began = time.monotonic()
            broker.start()
            up = time.monotonic() - began
            with contextlib.suppress(KafkaException):  # what the old producer can still end
                loop.producer.abort_transaction(10)
            loop.producer = loop.new_producer()
            waited = time.monotonic()
            answered, tries = committed_within(loop.consumer, GIVE_UP_S)
            stuck += not answered
            print(f"restart {i + 1}: broker answering after {up:.1f} s; committed() "
                  f"{'answered' if answered else 'STUCK'} after "
                  f"{time.monotonic() - waited:.1f} s ({tries} tries)", flush=True)
        print(f"{stuck} of {args.restarts} restarts left committed() stuck; logs in {home}")
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
