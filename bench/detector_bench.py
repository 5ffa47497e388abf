"""Sustained throughput of one detector process with exactly-once on 4 partitions.

Pre-loads N transactions into a 4-partition topic, then measures in the same run:
1. a plain consume->produce passthrough (same batches, idempotent producer, no transactions);
2. the detector's Kafka shell with exactly-once but an identity engine (decode, encode,
   transactions, snapshots): what the shell itself costs;
3. the full detector with default settings: its row loop in the compiled kernel (the
   default core, docs/kernel.md; its numba cache loaded before the clock starts);
4. with `--compiled`, the full detector on the core's own loop as mypyc builds it
   (`AUDITSTREAM_CORE=compiled`; the default before 2026-12-04).
Rates are sustained figures: from the first consumed batch to the last record.

    .venv/bin/python bench/detector_bench.py [--records 100000] [--customers 2000] [--compiled]

Uses the broker named by KAFKA_BOOTSTRAP_SERVERS, else starts a local one. Several detector
processes of one group against one: `bench/instances_bench.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.app import Detector
from detector.checkpoints import Ledger
from detector.core.config import CoreConfig
from detector.core.stateparts import Changes
from detector.core.verdict import Verdict
from detector.loop import BatchProcessor
from detector.partition import CoreEngineFactory, Engine, EngineFactory, PartitionState, Record
from detector.settings import DetectorSettings
from shared.codec import encode
from shared.kafka import TopicSpec, ensure_topics, make_consumer, make_producer
from shared.schemas import Transaction, TransactionView
from shared.settings import KafkaSettings, TopicSettings
from tests.cores import core_switch

PARTITIONS = 4
COUNTRIES = ("CH", "CH", "CH", "FR", "DE", "IT", "US")


def make_transactions(n: int, customers: int = 2_000, seed: int = 1) -> list[Transaction]:
    rng = random.Random(seed)
    start, t = datetime(2025, 1, 1), 0.0
    out = []
    for i in range(n):
        t += rng.expovariate(1 / 30)
        out.append(Transaction(
            transaction_id=str(i + 1), customer_id=f"c{rng.randrange(customers)}",
            timestamp=start + timedelta(seconds=int(t)), amount=round(rng.gauss(120, 40), 2),
            country=rng.choice(COUNTRIES), channel=rng.choice(("web", "app", "atm")),
            device=rng.choice(("pc", "mobile")), ip="10.0.0.1",
            merchant_category=rng.choice(("grocery", "travel", "fuel", "electronics")),
        ))
    return out


@contextlib.contextmanager
def broker() -> Iterator[KafkaSettings]:
    """The cluster of KAFKA_BOOTSTRAP_SERVERS, or a local broker for the run."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield KafkaSettings()
        return
    from auditstream.broker import LocalBroker

    with tempfile.TemporaryDirectory() as home:
        local = LocalBroker.on_free_ports(Path(home))
        local.start()
        try:
            yield KafkaSettings(bootstrap_servers=local.bootstrap)
        finally:
            local.stop()


def load(kafka: KafkaSettings, topic: str, txs: Sequence[Transaction]) -> None:
    ensure_topics(kafka, [TopicSpec(topic, PARTITIONS)])
    producer = make_producer(kafka)
    for tx in txs:
        while True:
            try:
                producer.produce(topic, key=tx.customer_id.encode(), value=encode(tx))
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(120) == 0


Rate = tuple[float, float]  # (records per wall second, records per CPU second of the process)


def passthrough(kafka: KafkaSettings, src: str, n: int, batch: int) -> Rate:
    """Plain consume->produce of the raw bytes; sustained records/s."""
    dst = f"{src}-copy"
    ensure_topics(kafka, [TopicSpec(dst, PARTITIONS)])
    consumer = make_consumer(kafka, f"bench-pt-{uuid.uuid4().hex[:8]}")
    producer = make_producer(kafka)
    consumer.subscribe([src])
    seen, first = 0, 0.0
    first_batch = 0
    while seen < n:
        msgs = consumer.consume(num_messages=batch, timeout=0.05)
        if msgs and not first:
            first, first_batch, cpu = time.perf_counter(), len(msgs), time.process_time()
        for m in msgs:
            if m.error() is None:
                try:
                    producer.produce(dst, key=m.key(), value=m.value())
                except BufferError:
                    producer.poll(0.05)
                    producer.produce(dst, key=m.key(), value=m.value())
                seen += 1
        producer.poll(0)
    producer.flush(60)
    elapsed, cpu = time.perf_counter() - first, time.process_time() - cpu
    consumer.close()
    return (n - first_batch) / elapsed, (n - first_batch) / cpu


class IdentityEngine:
    """Scores nothing (an empty verdict per row): isolates the cost of the Kafka shell."""

    def verdicts(self, txs: Sequence[TransactionView]) -> list[Any]:
        return [Verdict() for _ in txs]

    def snapshot(self) -> bytes:
        return b""


class IdentityFactory:
    def new(self, partition: int) -> Engine:
        return IdentityEngine()

    def restore(self, data: bytes) -> Engine:
        return IdentityEngine()


#: The cores measured: the default, then the core's own loop with `--compiled`.
CORES = {"kernel": "compiled kernel (default)", "compiled": "core's own loop (mypyc)"}


def detector_rate(kafka: KafkaSettings, src: str, n: int, batch: int, identity: bool,
                  name: str = "det") -> Rate:
    base = f"{src}-{'id-' if identity else ''}{name}"  # a run's own group and topics
    settings = DetectorSettings(
        kafka=kafka, batch_size=batch, instance_id="bench", group_id=f"{base}-group",
        snapshot_topic=f"{base}-snap", metrics_port=None, log_interval_s=86_400.0,
        topics=TopicSettings(transactions_topic=src, scored_topic=f"{base}-scored",
                             dlq_topic=f"{base}-dlq", partitions=PARTITIONS),
    )
    detector = Detector(settings, IdentityFactory() if identity else None)
    marks: dict[str, float] = {}

    def done(d: Detector) -> bool:
        total = d.metrics.total_records
        if total and "first" not in marks:
            marks["first"], marks["first_n"] = time.perf_counter(), total
            marks["cpu"] = time.process_time()
        return total >= n

    detector.run(until=done)  # returns after the final commit
    elapsed, cpu = time.perf_counter() - marks["first"], time.process_time() - marks["cpu"]
    return (n - marks["first_n"]) / elapsed, (n - marks["first_n"]) / cpu


class NullOutput:
    """An output that drops every row (the benches time the loop, not a producer). Its
    checkpoints move the ledger on as a written one does (`encode_checkpoint`), so only
    the first is full: with the ledger left at 0, every checkpoint wrote every customer."""

    def scored(self, key: bytes, value: bytes) -> None:
        pass

    def dead(self, record: Record, headers: list[tuple[str, bytes]]) -> None:
        pass

    def checkpoint(self, partition: int, next_offset: int, changes: Changes,
                   ledger: Ledger) -> None:
        ledger.number += 1


@dataclass
class Message:
    """A consumed message without Kafka."""

    _offset: int
    _value: bytes

    def topic(self) -> str | None:
        return "t"

    def partition(self) -> int | None:
        return 0

    def offset(self) -> int | None:
        return self._offset

    def key(self) -> bytes | None:
        return None

    def value(self) -> bytes | None:
        return self._value


def cpu_per_record(txs: Sequence[Transaction], batch: int,
                   cores: Sequence[str] = ("kernel",)) -> dict[str, float]:
    """CPU microseconds per record of the batch loop without Kafka (an identity engine and
    each core's), and of each core's engine alone."""
    msgs = [Message(i, encode(t)) for i, t in enumerate(txs)]
    out: dict[str, float] = {}
    for name in ("identity", *cores):
        with core_switch(name) if name != "identity" else contextlib.nullcontext():
            factory: EngineFactory = (IdentityFactory() if name == "identity"
                                      else CoreEngineFactory(CoreConfig()))
            proc = BatchProcessor(NullOutput(), snapshot_every=20_000)
            proc.parts[0] = PartitionState(factory.new(0), 0)
            start = time.process_time()
            for lo in range(0, len(msgs), batch):
                proc.process(msgs[lo : lo + batch])
            out[f"loop, {name} engine"] = (time.process_time() - start) / len(msgs) * 1e6
    for name in cores:
        with core_switch(name):
            engine = CoreEngineFactory(CoreConfig()).new(0)
            start = time.process_time()
            for lo in range(0, len(txs), batch):
                engine.verdicts(txs[lo : lo + batch])
            out[f"{name} engine alone"] = (time.process_time() - start) / len(txs) * 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=DetectorSettings().batch_size)
    parser.add_argument("--customers", type=int, default=2_000,
                        help="distinct customers in the stream: each checkpoint writes the "
                             "customers touched since the last, so more cost more a record")
    parser.add_argument("--compiled", action="store_true",
                        help="also the detector on the core's own loop "
                             "(AUDITSTREAM_CORE=compiled)")
    parser.add_argument("--kernel", action="store_true",
                        help="accepted for older commands: the kernel is always measured")
    args = parser.parse_args()
    cores = ("kernel", "compiled") if args.compiled else ("kernel",)
    runs: list[tuple[str, Rate]] = []
    with broker() as kafka:
        src = f"bench-{uuid.uuid4().hex[:8]}"
        load(kafka, src, make_transactions(args.records, args.customers))
        plain = passthrough(kafka, src, args.records, args.batch)
        runs.append(("detector shell, exactly-once, no scoring",
                     detector_rate(kafka, src, args.records, args.batch, identity=True)))
        for core in cores:
            with core_switch(core):
                CoreEngineFactory(CoreConfig()).new(0).verdicts(make_transactions(50))
                runs.append((f"detector, exactly-once, {CORES[core]}",
                             detector_rate(kafka, src, args.records, args.batch, False, core)))
    breakdown = cpu_per_record(make_transactions(min(args.records, 50_000), args.customers),
                               args.batch, cores)
    print(f"detector_bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}, python {platform.python_version()}, "
          f"{args.records:,} records, {args.customers:,} customers, 4 partitions, "
          f"batch {args.batch}")
    print("  (wall-clock tx/s; tx per CPU-second of the process; ratio to the passthrough)")
    for name, (wall, per_cpu) in (("plain passthrough (no transactions)", plain), *runs):
        print(f"  {name:<42} {wall:>9,.0f} tx/s {per_cpu:>9,.0f} tx/cpu-s "
              f"ratio {wall / plain[0]:.2f} (cpu {per_cpu / plain[1]:.2f})")
    print("  without Kafka, one partition (CPU us per record):")
    for name, us in breakdown.items():
        print(f"    {name:<40} {us:6.1f} us")


if __name__ == "__main__":
    main()
