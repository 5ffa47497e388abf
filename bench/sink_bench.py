"""Sink throughput: rows/s appended to the day files (scored/) from a filled topic.

    .venv/bin/python bench/sink_bench.py [--rows 300000] [--partitions 4]
    .venv/bin/python bench/sink_bench.py --files-only --rows 100000   # no broker: (2) only

Uses the cluster in KAFKA_BOOTSTRAP_SERVERS, else starts the project's local broker. Fills
a fresh topic with canonical ScoredTransaction messages, then times (1) the whole sink
(`sink.app.run(once=True)`: connect, assign, consume, validate, format, append, checkpoint,
rollups) and (2) the file side alone (`SinkWriter.add`, no Kafka) on the same messages.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditstream.broker import LocalBroker
from shared.columns import RULE_NAMES
from shared.kafka import TopicSpec, ensure_topics, make_producer
from shared.schemas import ScoredTransaction
from shared.settings import KafkaSettings, TopicSettings
from sink.app import run
from sink.days import day_files
from sink.settings import ExportSettings, SinkSettings
from sink.writer import SinkWriter


def messages(n: int, seed: int = 1) -> list[tuple[str, bytes]]:
    """`n` (key, JSON) pairs as the detector publishes them."""
    rng = random.Random(seed)
    base = ScoredTransaction(
        transaction_id="0", customer_id="0", timestamp=datetime(2025, 1, 1), amount=1.0,
        country="CH", channel="app", device="pc", merchant_category="grocery",
        ip="192.168.1.20", model_version="if-000001", is_flag=False,
    ).model_dump(mode="json")
    t0 = datetime(2025, 1, 1)
    out = []
    for i in range(n):
        flags = {name: rng.random() < 0.01 for name in RULE_NAMES}
        fired = [k for k, v in flags.items() if v]
        score = rng.random()
        anomalous = rng.random() < 0.02
        row = dict(base, transaction_id=str(i), customer_id=str(rng.randrange(5_000)),
                   timestamp=(t0 + timedelta(seconds=13 * i)).isoformat(),
                   amount=round(rng.lognormvariate(4.5, 0.6), 2),
                   merchant_category=rng.choice(("grocery", "electronics", "travel")),
                   is_anomaly=anomalous, anomaly_type="HIGH_AMOUNT" if anomalous else "normal",
                   score=score, is_ml_flag=score > 0.9, rule_flags=flags,
                   is_rule_flag=bool(fired), is_flag=score > 0.9 or bool(fired),
                   triggered_rules=fired, reasons_top3=[f"{r} fired" for r in fired])
        out.append((row["customer_id"], orjson.dumps(row)))
    return out


def fill(kafka: KafkaSettings, topic: str, partitions: int, msgs: list[tuple[str, bytes]]
         ) -> None:
    ensure_topics(kafka, [TopicSpec(topic, partitions)])
    producer = make_producer(kafka)
    for key, value in msgs:
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(60) == 0


def files_side(msgs: list[tuple[str, bytes]], out: Path, rows: int) -> None:
    """(2): `SinkWriter.add` over 10,000-message batches, then a checkpoint, no Kafka."""
    writer = SinkWriter(out / "files", "bench-scored", ExportSettings())
    records = [(0, i, value) for i, (_key, value) in enumerate(msgs)]
    started, cpu0 = time.perf_counter(), time.process_time()
    for i in range(0, len(records), 10_000):
        writer.add(records[i : i + 10_000])
    writer.checkpoint()
    files_s, files_cpu = time.perf_counter() - started, time.process_time() - cpu0
    writer.close()
    size_mb = sum(p.stat().st_size for p in day_files(out / "files")) / 1e6
    print(f"file side only, in-process (validate+format+append+counts, {size_mb:.0f} MB): "
          f"{files_s:.2f} s = {rows / files_s:,.0f} rows/s; "
          f"CPU {files_cpu / rows * 1e6:.1f} us/row")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2],
                    help="SINK_DECODE_WORKERS values to time (0: in-process)")
    ap.add_argument("--files-only", action="store_true",
                    help="time only the file side (no broker), e.g. to compare two trees")
    args = ap.parse_args()
    if args.files_only:
        print(f"sink_bench --files-only  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  python "
              f"{platform.python_version()}  load={os.getloadavg()[0]:.1f}  rows={args.rows:,}")
        files_side(messages(args.rows), Path(tempfile.mkdtemp(prefix="sink-bench-")), args.rows)
        return 0
    local = None
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        kafka = KafkaSettings()
    else:
        home = Path(tempfile.mkdtemp(prefix="sink-bench-kafka-"))
        local = LocalBroker.on_free_ports(home)
        local.start()
        kafka = KafkaSettings(bootstrap_servers=local.bootstrap)
    try:
        topic = f"bench-scored-{uuid.uuid4().hex[:8]}"
        msgs = messages(args.rows)
        fill(kafka, topic, args.partitions, msgs)
        out = Path(tempfile.mkdtemp(prefix="sink-bench-"))
        print(f"sink_bench  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  python "
              f"{platform.python_version()}  cpus={os.cpu_count()}  load={os.getloadavg()[0]:.1f}")
        print(f"rows={args.rows:,}  partitions={args.partitions}")
        for workers in args.workers:
            settings = SinkSettings(kafka=kafka, exports_dir=out / f"stream-{workers}",
                                    topics=TopicSettings(scored_topic=topic,
                                                         partitions=args.partitions),
                                    group_id=f"{topic}-sink", decode_workers=workers)
            cpu0 = time.process_time()
            result = run(settings, once=True)
            sink_cpu = time.process_time() - cpu0  # this process only (not workers)
            assert result.rows == args.rows, result
            print(f"[workers={workers}] whole sink: {result.seconds:.2f} s = "
                  f"{args.rows / result.seconds:,.0f} rows/s; consume/append loop "
                  f"{result.loop_seconds:.2f} s = {args.rows / result.loop_seconds:,.0f} rows/s; "
                  f"main-process CPU {sink_cpu / args.rows * 1e6:.1f} us/row")

        files_side(msgs, out, args.rows)
    finally:
        if local is not None:
            local.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
