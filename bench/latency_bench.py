"""End-to-end latency: produce to `transactions` -> scored row visible (read_committed).

Runs `python -m detector` (exactly-once, default detection core) on a 4-partition topic,
produces at a steady rate from a background thread, and reads the scored topic with
isolation.level=read_committed, timing each transaction from its produce() call to its
arrival. The first `--warmup` seconds (group join, first model fit) are left out.

A broker just started answers slowly for its first minute or so (its JVM compiles its code
as it goes: the longest commits of such runs took 280-490 ms, 45-135 ms once it was warm),
which a broker in service does not. So `--rounds` (default 2) runs the whole measurement
that many times on the same broker, each round with new topics and a new detector, and
reports each: round 1 is the broker just started, the later ones a warm broker.

    .venv/bin/python bench/latency_bench.py [--rate 5000] [--seconds 30] [--data generated]
                                            [--rounds 2] [--trace] [--timeline]
                                            [--broker-pid PID]

Every part of the run shares the machine's cores, so each round also prints the cores each
used over its window (/proc): the detector (and its main thread), this bench (and its
feeder thread), the broker (`--broker-pid`), the rest of the machine. The bench keeps its
own cost low (rows encoded before the round, the feeder paced by 1 ms slices, the reader
cutting each row's id without parsing the row): at 50,000 tx/s it took 11-15 us a row,
0.6-0.7 of a core, before 2026-12-06.

`--data uniform` (the default, as every figure before 2026-12-01 17:30): detector_bench's
rows, each with a country, channel, device and category drawn uniformly, so that nearly
every row breaks its customer's habits (the core's costly case: 130 us a row against 75 on
realistic rows). `--data generated`: the project's generator (default mix, seed 3, 1,000
customers), in time order: mostly habitual rows, as a real stream is.

Uses the broker named by KAFKA_BOOTSTRAP_SERVERS, else starts a local one.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from detector_bench import PARTITIONS, broker, make_transactions

from shared.codec import encode_fast
from shared.kafka import TopicSpec, consume_ready, ensure_topics, make_consumer, make_producer
from shared.schemas import Transaction
from shared.settings import KafkaSettings

ROOT = Path(__file__).resolve().parents[1]


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def rows(data: str, n: int) -> list[Transaction]:
    """The first `n` rows of the `--data` kind."""
    if data == "uniform":
        return make_transactions(n, seed=3)
    from producer.generator import GeneratorConfig, generate

    days = 90
    while days * 2_000 < n:  # ~2,200 rows a day at 1,000 customers: the days of the try that
        days *= 2            # would succeed (the same rows as doubling from 90), generated once
    while True:
        txs = sorted(generate(GeneratorConfig(seed=3, customers=1000, days=days)),
                     key=lambda t: t.timestamp)
        if len(txs) >= n:
            return txs[:n]
        days *= 2


_TX_ID = b'"transaction_id":"'


def transaction_id(value: bytes) -> str:
    """A scored row's transaction_id, cut from its JSON without parsing the whole row (2.2 us
    a row, a tenth of a core at 50,000 tx/s on the cores the detector shares; the bench's own
    ids hold no character JSON escapes)."""
    start = value.index(_TX_ID) + len(_TX_ID)
    return value[start:value.index(b'"', start)].decode()


def stage_table(trace: Path, arrivals: list[tuple[int, int, float, float]]) -> list[str]:
    """Each row's latency split by the detector's trace (bench/trace_detector.py): queue
    (produce() -> the consume() that returned it), batch (-> the start of the commit that
    covers it), commit, read (commit end -> the reader has it)."""
    turns: dict[int, list[tuple[int, int, float]]] = {}  # partition -> (first, last, got)
    commits: list[tuple[float, float]] = []
    snapshots: list[float] = []
    for line in trace.read_bytes().splitlines():
        event = orjson.loads(line)
        if "turn" in event:
            for p, (first, last) in event["parts"].items():
                turns.setdefault(int(p), []).append((first, last, event["turn"][1]))
        elif "commit" in event and event["ok"]:
            commits.append((event["commit"][0], event["commit"][1]))
        elif "snapshot" in event:
            snapshots.append(event["snapshot"][1] - event["snapshot"][0])
    starts = [c[0] for c in commits]
    firsts = {p: [t[0] for t in ts] for p, ts in turns.items()}
    split: list[tuple[float, float, float, float, float]] = []
    for p, off, sent_at, arrived in arrivals:
        i = bisect.bisect_right(firsts.get(p, []), off) - 1
        if i < 0 or turns[p][i][1] < off:
            continue
        got = turns[p][i][2]
        k = bisect.bisect_left(starts, got)
        if k == len(commits):
            continue
        start, end = commits[k]
        split.append((arrived - sent_at, got - sent_at, start - got, end - start, arrived - end))
    if not split:
        return ["  trace: no row matched"]
    split.sort()
    tail = split[int(0.99 * len(split)):]
    names = ("queue", "batch", "commit", "read")
    out = [f"  stages of {len(split):,} rows (ms): " + ", ".join(
        f"{name} p50 {1000 * percentile(sorted(r[i + 1] for r in split), 0.5):.0f} "
        f"p99 {1000 * percentile(sorted(r[i + 1] for r in split), 0.99):.0f}"
        for i, name in enumerate(names))]
    out.append("  the slowest 1 % on average (ms): " + ", ".join(
        f"{name} {1000 * sum(r[i + 1] for r in tail) / len(tail):.0f}"
        for i, name in enumerate(names)))
    durations = sorted(1000 * (e - s) for s, e in commits)
    gaps = sorted(1000 * (b[1] - a[1]) for a, b in itertools.pairwise(commits))
    out.append(f"  {len(commits)} commits: duration p50 {percentile(durations, 0.5):.0f} "
               f"max {durations[-1]:.0f} ms; commit to commit p50 "
               f"{percentile(gaps, 0.5) if gaps else 0:.0f} max {gaps[-1] if gaps else 0:.0f} "
               f"ms; {len(snapshots)} checkpoints, max "
               f"{1000 * max(snapshots, default=0):.0f} ms")
    return out


def _cpu(stat: Path) -> float:
    """CPU seconds (user + system) of a /proc `stat` file; 0 once it is gone."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> float:
    """CPU seconds every core of the machine spent busy since boot (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # not idle, iowait


class CpuShares:
    """Cores used over a round's window by each part of the run on the shared machine: the
    bench's feeder thread and the rest of its process (the reader, librdkafka's threads), the
    detector's main thread and the rest of it, the broker (`--broker-pid`), everything else."""

    def __init__(self, detector_pid: int, broker_pid: int | None) -> None:
        task = Path(f"/proc/{detector_pid}/task/{detector_pid}/stat")
        self.stats = {"detector main thread": task,
                      "detector, all": Path(f"/proc/{detector_pid}/stat"),
                      "bench, all": Path("/proc/self/stat")}
        if broker_pid:
            self.stats["broker"] = Path(f"/proc/{broker_pid}/stat")
        self.start: dict[str, float] = {}
        self.end: dict[str, float] = {}
        self.t = [0.0, 0.0]
        self.feeder_cpu: float | None = None

    def feeder(self) -> None:
        """Called by the feeder thread as it starts (its CPU is its own: `feeder_done`)."""
        self.start["bench feeder thread"] = time.thread_time()

    def feeder_done(self) -> None:
        self.feeder_cpu = time.thread_time()

    def _read(self) -> dict[str, float]:
        out = {**{k: _cpu(v) for k, v in self.stats.items()}, "machine": _machine_busy()}
        if self.feeder_cpu is not None:
            out["bench feeder thread"] = self.feeder_cpu
        return out

    def mark(self) -> None:
        self.start.update(self._read())
        self.t[0] = time.monotonic()

    def mark_end(self) -> None:
        self.end = self._read()
        self.t[1] = time.monotonic()

    def line(self) -> str:
        wall = self.t[1] - self.t[0]
        used = {k: (self.end[k] - self.start.get(k, self.end[k])) / wall for k in self.end}
        ours = used["detector, all"] + used["bench, all"] + used.get("broker", 0.0)
        parts = [f"detector {used['detector, all']:.2f} (main thread "
                 f"{used['detector main thread']:.2f})",
                 f"bench {used['bench, all']:.2f} (feeder thread "
                 f"{used.get('bench feeder thread', 0.0):.2f})"]
        if "broker" in used:
            parts.append(f"broker {used['broker']:.2f}")
        parts.append(f"the rest of the machine {max(0.0, used['machine'] - ours):.2f}")
        return f"  cores used over {wall:.1f} s: " + ", ".join(parts)


#: The feeder sleeps only when it is this far ahead of its schedule (a sleep a row, 20 us
#: apart at 50,000 tx/s, was a system call and a GIL hand-over a row); each row's send time is
#: still taken as it is produced.
PACE_S = 0.001


def feed(kafka: KafkaSettings, topic: str, messages: list[tuple[str, bytes, bytes]],
         rate: float, sent: dict[str, float], cpu: CpuShares | None = None) -> None:
    """Produce `messages` (transaction id, key, value) at `rate` a second; note each one's
    send time in `sent`."""
    if cpu is not None:
        cpu.feeder()
    # 1 ms, not the producer's default 5: its batching delay counts in every figure (as it
    # always has: the figures since 2026-12-01 compare)
    producer = make_producer(kafka, **{"linger.ms": 1})
    produce, poll, clock = producer.produce, producer.poll, time.monotonic
    start = clock()
    for i, (tx_id, key, value) in enumerate(messages):
        now = clock()
        ahead = start + i / rate - now
        if ahead > PACE_S:
            time.sleep(ahead)
            now = clock()
        sent[tx_id] = now
        produce(topic, key=key, value=value)
        if not i % 100:
            poll(0)
    producer.flush(60)
    if cpu is not None:
        cpu.feeder_done()


def encoded(txs: list[Transaction]) -> list[tuple[str, bytes, bytes]]:
    """(transaction id, key, value) of each row, encoded before the round: the bytes of the
    project's producer (`encode_fast`, equal to `encode`'s), whose cost is not the detector's
    latency."""
    return [(tx.transaction_id, tx.customer_id.encode(), encode_fast(tx)) for tx in txs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5_000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--show-log", action="store_true", help="print the detector's log lines")
    parser.add_argument("--log", type=Path, help="keep the detector's log in this file")
    parser.add_argument("--timeline", action="store_true",
                        help="also p50 / p99 / max per 5 s of send time (where a pause was)")
    parser.add_argument("--data", choices=("uniform", "generated"), default="uniform",
                        help="uniformly drawn rows (the default) or the generator's mix")
    parser.add_argument("--trace", action="store_true",
                        help="run the detector under bench/trace_detector.py and split each "
                        "row's latency into its stages (queue, batch, commit, read)")
    parser.add_argument("--dump", type=Path, help="with --trace: keep the trace and the "
                        "measured rows (partition, offset, sent, arrived) of round N as "
                        "DUMP-N.trace and DUMP-N.arrivals")
    parser.add_argument("--rounds", type=int, default=2,
                        help="runs on the same broker, each with new topics and a new "
                        "detector, reported one by one (default 2: a broker just started "
                        "answers slowly while its JVM warms up, which a long-running one "
                        "does not)")
    parser.add_argument("--broker-pid", type=int,
                        help="also count this process's CPU (the broker's) in the cores line")
    args = parser.parse_args()
    messages = encoded(rows(args.data, int(args.rate * args.seconds)))
    with broker() as kafka:
        fresh = not os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        for n in range(1, args.rounds + 1):
            state = ("broker just started" if fresh and n == 1 else
                     f"the same broker, {n - 1} run(s) after its start" if fresh else
                     "the cluster of KAFKA_BOOTSTRAP_SERVERS")
            print(f"round {n} of {args.rounds} ({state})")
            one_round(kafka, args, messages, n)


def one_round(kafka: KafkaSettings, args: argparse.Namespace,
              messages: list[tuple[str, bytes, bytes]],
              n: int) -> None:
    """Round `n`: run a detector on new topics of `kafka`, feed `messages` at `args.rate`, print
    the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        base = f"lat-{uuid.uuid4().hex[:8]}"
        names = {"AUDITSTREAM_TRANSACTIONS_TOPIC": f"{base}-tx",
                 "AUDITSTREAM_SCORED_TOPIC": f"{base}-scored",
                 "AUDITSTREAM_DLQ_TOPIC": f"{base}-dlq"}
        ensure_topics(kafka, [TopicSpec(n, PARTITIONS) for n in names.values()])
        log_path = args.log or Path(tmp) / "detector.log"
        env = {**os.environ, **names, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
               "DETECTOR_GROUP_ID": f"{base}-group", "DETECTOR_INSTANCE_ID": "latency",
               "DETECTOR_SNAPSHOT_TOPIC": f"{base}-snap"}
        trace_path = Path(tmp) / "trace.jsonl"
        command = [sys.executable, "-m", "detector"]
        if args.trace:
            env["LATENCY_TRACE"] = str(trace_path)
            command = [sys.executable, str(ROOT / "bench" / "trace_detector.py")]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                    stderr=subprocess.STDOUT)
        try:
            while "restored" not in log_path.read_text(errors="replace"):
                if proc.poll() is not None:
                    raise SystemExit(log_path.read_text())
                time.sleep(0.1)
            # Short fetch waits: the reader must not add its own delay to the figures.
            reader = make_consumer(kafka, f"{base}-reader", **{"fetch.wait.max.ms": 10})
            # From the start of the run's new topic: assigned at its end, the reader could miss
            # rows committed before its position was looked up (a run saw 59,352 of 60,000,
            # every row sent after the warm-up among them).
            reader.assign([TopicPartition(names["AUDITSTREAM_SCORED_TOPIC"], p, OFFSET_BEGINNING)
                           for p in range(PARTITIONS)])
            sent: dict[str, float] = {}
            cpu = CpuShares(proc.pid, args.broker_pid)
            feeder = threading.Thread(target=feed, args=(
                kafka, names["AUDITSTREAM_TRANSACTIONS_TOPIC"], messages, args.rate, sent, cpu))
            cpu.mark()
            t0 = time.monotonic()
            feeder.start()
            latencies: list[float] = []
            by_send: list[tuple[float, float]] = []  # (sent after t0, latency)
            # (partition, offset, sent, arrived) of each measured row, for --trace
            arrivals: list[tuple[int, int, float, float]] = []
            expected = int(args.rate * args.seconds)
            seen = 0
            deadline = t0 + args.seconds + 60
            while seen < expected and time.monotonic() < deadline:
                for msg in consume_ready(reader, 5_000, 0.05):
                    now = time.monotonic()
                    if msg.error() is not None:
                        continue
                    seen += 1
                    value = msg.value() or b""
                    at = sent[transaction_id(value)]
                    by_send.append((at - t0, now - at))
                    if at - t0 >= args.warmup:
                        latencies.append(now - at)
                        if args.trace:
                            row = orjson.loads(value)
                            arrivals.append((row["source_partition"], row["source_offset"],
                                             at, now))
            cpu.mark_end()
            feeder.join()
            reader.close()
        finally:
            proc.terminate()
            proc.wait(30)
            stages = stage_table(trace_path, arrivals) if args.trace else []
            if args.trace and args.dump:
                dump = args.dump.with_name(f"{args.dump.name}-{n}")
                dump.with_suffix(".trace").write_bytes(trace_path.read_bytes())
                dump.with_suffix(".arrivals").write_bytes(orjson.dumps(arrivals))
            if args.show_log:
                for line in log_path.read_text(errors="replace").splitlines():
                    if " detector: rate " in line:
                        print("   ", line.split(" detector: ")[1][:110])
    latencies.sort()
    ms = [1000 * v for v in latencies]
    print(f"latency_bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}, python {platform.python_version()}, "
          f"{args.rate:,.0f} tx/s for {args.seconds:.0f} s, 4 partitions, exactly-once, "
          f"{args.data} rows")
    print(f"  rows received {seen:,} of {expected:,}; measured {len(ms):,} after "
          f"{args.warmup:.0f} s warm-up")
    if ms:
        print(f"  produce -> committed scored row: p50 {percentile(ms, 0.50):.0f} ms, "
              f"p95 {percentile(ms, 0.95):.0f} ms, p99 {percentile(ms, 0.99):.0f} ms, "
              f"max {ms[-1]:.0f} ms")
    print(cpu.line())
    for line in stages:
        print(line)
    if args.timeline:
        for start in range(0, int(args.seconds), 5):
            window = sorted(1000 * lat for at, lat in by_send if start <= at < start + 5)
            if window:
                print(f"    sent {start:>3}-{start + 5:<3} s: p50 {percentile(window, 0.5):.0f}, "
                      f"p99 {percentile(window, 0.99):.0f}, max {window[-1]:.0f} ms")


if __name__ == "__main__":
    main()
