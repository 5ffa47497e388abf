"""Which errors a starting / restarting local KRaft broker answers (docs/reliability.md).

    PYTHONPATH=. .venv/bin/python bench/broker_restart_probe.py [--restarts 2]

Starts its own broker on free ports in a temporary folder (never the shared one): down for
3 s, started fresh, up 5 s, then stopped and started again `--restarts` times (data kept),
8 s up after each. Meanwhile an admin client lists topics and creates a new topic every
0.2 s, and a transactional producer is made and `init_transactions(5)` called every 0.5 s.
Prints each (phase, call, answer) with its count: what `detector/outage.py` classifies.
"""

from __future__ import annotations

import argparse
import collections
import logging
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditstream.broker import LocalBroker

QUIET = logging.getLogger("probe.librdkafka")


def answer(exc: KafkaException) -> str:
    err = exc.args[0]
    if not isinstance(err, KafkaError):
        return repr(err)
    return f"{err.name()} (retriable={err.retriable()} fatal={err.fatal()}) {err.str()[:90]}"


class Probe:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.phase = "down"
        self.seen: collections.Counter[tuple[str, str, str]] = collections.Counter()
        self.stopping = False

    def note(self, call: str, what: str) -> None:
        self.seen[(self.phase, call, what)] += 1

    def admin_loop(self) -> None:
        conf: dict[str, Any] = {"bootstrap.servers": self.bootstrap, "logger": QUIET}
        admin = AdminClient(conf)
        while not self.stopping:
            try:
                admin.list_topics(timeout=2)
                self.note("list_topics", "ok")
            except KafkaException as exc:
                self.note("list_topics", answer(exc))
            new = NewTopic(f"probe-{uuid.uuid4().hex[:8]}", num_partitions=4,
                           replication_factor=1)
            for fut in admin.create_topics([new], operation_timeout=5,
                                           request_timeout=5).values():
                try:
                    fut.result(timeout=10)
                    self.note("create_topics", "ok")
                except KafkaException as exc:
                    self.note("create_topics", answer(exc))
                except Exception as exc:
                    self.note("create_topics", type(exc).__name__)
            time.sleep(0.2)

    def txn_loop(self) -> None:
        while not self.stopping:
            conf: dict[str, Any] = {"bootstrap.servers": self.bootstrap, "logger": QUIET,
                                    "transactional.id": "probe"}
            producer = Producer(conf)
            try:
                producer.init_transactions(5)
                self.note("init_transactions", "ok")
            except KafkaException as exc:
                self.note("init_transactions", answer(exc))
            time.sleep(0.5)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--restarts", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="probe-") as home:
        broker = LocalBroker.on_free_ports(Path(home))
        probe = Probe(broker.bootstrap)
        for loop in (probe.admin_loop, probe.txn_loop):
            threading.Thread(target=loop, daemon=True).start()
        try:
            time.sleep(3)
            probe.phase = "fresh start"
            began = time.monotonic()
            broker.start()
            print(f"fresh start: answering after {time.monotonic() - began:.1f} s", flush=True)
            probe.phase = "up"
            time.sleep(5)
            for i in range(args.restarts):
                probe.phase = f"restart {i + 1}"
                broker.stop()
                began = time.monotonic()
                broker.start()
                print(f"restart {i + 1}: answering after {time.monotonic() - began:.1f} s",
                      flush=True)
                probe.phase = f"after restart {i + 1}"
                time.sleep(8)
        finally:
            probe.stopping = True
            time.sleep(3)
            broker.stop()
    for (phase, call, what), n in sorted(probe.seen.items()):
        print(f"{n:4d}  {phase:16s} {call:18s} {what}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
