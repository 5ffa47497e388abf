"""Replay throughput: a 500,000-row historic CSV into a local broker as fast as possible.

    .venv/bin/python bench/replay_bench.py [--rows 500000] [--partitions 4]

Starts a throwaway local Apache Kafka broker on free loopback ports in a temp dir (as the
test fixture does) unless KAFKA_BOOTSTRAP_SERVERS names a cluster. Prints parsing alone,
then `auditstream replay` end to end for a time-ordered file (streamed: parsing overlaps
sending) and for the same rows shuffled (parsed and sorted before sending).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from auditstream.broker import LocalBroker
from producer.reference_recipe import ReferenceConfig, generate_reference
from producer.replay import load, run_replay
from producer.settings import ProducerSettings
from shared.csv_io import write_transactions_csv
from shared.settings import KafkaSettings, TopicSettings


def _replay(kafka: KafkaSettings, path: Path, partitions: int, label: str) -> None:
    settings = ProducerSettings(
        kafka=kafka,
        topics=TopicSettings(transactions_topic=f"bench-{uuid.uuid4().hex[:8]}",
                             partitions=partitions),
    )
    t, cpu = time.perf_counter(), time.process_time()
    summary = run_replay([path], settings)
    total_s, cpu_s = time.perf_counter() - t, time.process_time() - cpu
    report = summary.report
    assert report is not None
    print(f"END TO END replay, {label}: {report.delivered:,} delivered, "
          f"{report.undelivered} undelivered, {summary.rejected} rejected in {total_s:.2f} s "
          f"= {report.delivered / total_s:,.0f} rows/s (replay process CPU {cpu_s:.2f} s, "
          f"load average now {os.getloadavg()[0]:.1f})")


def _bench(kafka: KafkaSettings, rows: int, partitions: int, work: Path) -> None:
    ordered, shuffled = work / "history.csv", work / "shuffled.csv"
    t = time.perf_counter()
    txs = generate_reference(ReferenceConfig(transactions=rows, burst_customers=0))
    write_transactions_csv(txs, ordered)
    random.Random(1).shuffle(txs)
    write_transactions_csv(txs, shuffled)
    del txs
    print(f"input: {rows:,} rows, {ordered.stat().st_size / 1e6:.1f} MB "
          f"(made in {time.perf_counter() - t:.1f} s)")

    t, cpu = time.perf_counter(), time.process_time()
    loaded = load([shuffled])
    parse_s, cpu_s = time.perf_counter() - t, time.process_time() - cpu
    print(f"parse+validate+encode+sort only (no Kafka): {parse_s:.2f} s = "
          f"{rows / parse_s:,.0f} rows/s (CPU {cpu_s:.2f} s = {rows / cpu_s:,.0f} rows/CPU-s)")
    del loaded
    _replay(kafka, ordered, partitions, "time-ordered file (streamed)")
    _replay(kafka, shuffled, partitions, "shuffled file (parsed and sorted first)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    print(f"replay_bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="replay-bench-") as tmp:
        work = Path(tmp)
        if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
            kafka = KafkaSettings()
            print(f"broker: {kafka.bootstrap_servers} (KAFKA_BOOTSTRAP_SERVERS)")
            _bench(kafka, args.rows, args.partitions, work)
            return
        broker = LocalBroker.on_free_ports(work / "kafka")
        broker.start()
        try:
            print(f"broker: local Apache Kafka {broker.reported_version()} at {broker.bootstrap}")
            _bench(KafkaSettings(bootstrap_servers=broker.bootstrap), args.rows,
                   args.partitions, work)
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
