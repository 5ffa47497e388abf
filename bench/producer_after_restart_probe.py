"""Does the replay's producer deliver again after a broker restart, and does flush() return?
(docs/reliability.md, "Clients left without a broker after a broker restart").

    PYTHONPATH=. nice -n 10 .venv/bin/python bench/producer_after_restart_probe.py [--restarts 20]

Starts its own broker on free ports in a temporary folder (never the shared one) and one
producer made exactly as `auditstream replay` makes it (`shared.kafka.make_producer` with
`producer.app.publish_overrides`: idempotent, acks=all, delivery reports on failure only),
kept across every restart. Per restart, in turn, what the producer does while the broker is
down (`MODES`): nothing after a flushed burst (`idle`), poll() every 0.2 s (`idle-poll`),
produce 200/s with a poll(0) per message, as a paced replay (`busy`), the same without any
poll (`busy-nopoll`), or 4.5/s with a poll(0) per message and no call between, as the fault
suite's poison feeder (`trickle`); and the pause between stop and start, short (0.5-2 s,
as the fault suite) or long (15-25 s). Once the broker answers again, a
burst of 200 and flush() in 1 s steps: the time to the first delivery and to an empty
queue. A "STUCK" line: the queue not empty within 120 s while a new producer of the same
settings delivers a message (then the old producer is replaced). librdkafka's log
(`debug=eos,msg,topic,broker`) of each producer and the broker's log stay in the folder.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditstream.broker import LocalBroker
from producer.app import publish_overrides
from producer.settings import ProducerSettings
from shared.kafka import DeliveryTracker, make_producer
from shared.settings import KafkaSettings
from tests.integration.pipeline_harness import FEEDER_DEBUG, file_logger

TOPIC, PARTITIONS = "transactions", 4
MODES = ("idle", "idle-poll", "busy", "busy-nopoll", "trickle")
#: messages per second of each producing mode, and whether it polls after each
RATES = {"busy": (200.0, True), "busy-nopoll": (200.0, False), "trickle": (4.5, True)}
BURST, GIVE_UP_S = 200, 120.0
VALUE = b'{"amount": "12.50", "country": "CH", "channel": "online"}' * 3


class Activity(threading.Thread):
    """What the producer does between bursts: `quiet` (no call), `poll`, or a mode of
    `RATES`."""

    def __init__(self, producer: Producer) -> None:
        super().__init__(daemon=True)
        self.producer, self.mode, self.sent = producer, "quiet", 0

    def run(self) -> None:
        while True:
            if self.mode == "poll":
                self.producer.poll(0.2)
            elif self.mode in RATES:
                rate, polls = RATES[self.mode]
                try:
                    self.producer.produce(TOPIC, VALUE, f"c{self.sent % 997}".encode())
                    self.sent += 1
                except BufferError:
                    pass
                if polls:
                    self.producer.poll(0)
                time.sleep(1 / rate)
            else:
                time.sleep(0.05)


def burst(producer: Producer, n: int = BURST) -> None:
    for i in range(n):
        producer.produce(TOPIC, VALUE, f"c{i % 997}".encode())
    producer.poll(0)


def drained(producer: Producer, seconds: float) -> tuple[float | None, float | None, int]:
    """flush() in 1 s steps until the queue is empty or `seconds` pass: (first delivery,
    empty queue; None when not within `seconds`) and the messages still queued."""
    start, before = time.monotonic(), len(producer)
    first: float | None = None
    left = before
    while time.monotonic() - start < seconds:
        left = producer.flush(1.0)
        if first is None and left < before:
            first = time.monotonic() - start
        if left == 0:
            return first, time.monotonic() - start, 0
    return first, None, left


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--restarts", type=int, default=20)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="producer-probe-"))
    broker = LocalBroker.on_free_ports(home / "broker")
    broker.start()
    try:
        kafka = KafkaSettings(bootstrap_servers=broker.bootstrap)
        settings = ProducerSettings(kafka=kafka)
        admin_conf: dict[str, Any] = {"bootstrap.servers": broker.bootstrap,
                                      "logger": file_logger(home / "admin.log")}
        admin = AdminClient(admin_conf)
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result()
        tracker, generation = DeliveryTracker(), 1

        def new_producer(name: str, reports: DeliveryTracker) -> Producer:
            return make_producer(kafka, **publish_overrides(settings, reports),
                                 logger=file_logger(home / f"{name}.log"), debug=FEEDER_DEBUG)

        producer = new_producer("producer-1", tracker)
        activity = Activity(producer)
        activity.start()
        stuck = 0
        for i in range(args.restarts):
            mode, long_pause = MODES[i % len(MODES)], (i // len(MODES)) % 2 == 1
            burst(producer)
            producer.flush(30)
            activity.mode = "poll" if mode == "idle-poll" else mode if mode in RATES else "quiet"
            time.sleep(2)
            broker.stop()
            down = time.monotonic()
            time.sleep(random.uniform(15, 25) if long_pause else random.uniform(0.5, 2.0))
            broker.start()
            outage = time.monotonic() - down
            activity.mode = "quiet"
            burst(producer)
            queued = len(producer)
            first, empty, left = drained(producer, GIVE_UP_S)
            fresh_tracker = DeliveryTracker()
            fresh = new_producer(f"fresh-{i + 1}", fresh_tracker)
            fresh_began = time.monotonic()
            burst(fresh, 1)
            fresh_left = fresh.flush(30)
            fresh_s = time.monotonic() - fresh_began
            verdict = (f"flushed after {empty:.1f} s (first delivery {first or 0:.1f} s)"
                       if empty is not None else
                       f"STUCK: {left} of {queued} still queued after {GIVE_UP_S:.0f} s")
            print(f"restart {i + 1} [{mode}, {'long' if long_pause else 'short'} pause]: "
                  f"broker down {outage:.1f} s; {queued} queued; {verdict}; failed so far "
                  f"{tracker.failed}; a new producer "
                  f"{'delivered' if not fresh_left else 'did NOT deliver'} in {fresh_s:.1f} s",
                  flush=True)
            if empty is None:
                stuck += 1
                generation += 1
                activity.producer = producer = new_producer(f"producer-{generation}", tracker)
        print(f"{stuck} of {args.restarts} restarts left the producer stuck; "
              f"{tracker.failed} deliveries failed ({tracker.errors[:3]}); "
              f"{activity.sent} produced during outages; logs in {home}")
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
