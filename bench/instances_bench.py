"""What N detector processes in one consumer group commit together, against one.

Loads N transactions into a 4-partition topic once, then, in the same run on the same
broker and data, alternates (ABBA: `--instances 1,2` runs 1, 2, 2, 1) runs of N detector
processes started as a user starts them (`python -m auditstream detect --group G
--instance-id ID`, each its own id), each run with its own group and output topics, and a
plain consume->produce passthrough (`detector_bench.passthrough`) before each run. For each
run it reports:

- wall tx/s over the steady window: from the moment the last instance took its final
  partitions (its last "partition N restored|kept in memory" line: no rebalance after it)
  to the moment the group's committed input offsets reach the end (the offsets commit in
  the transaction of the rows, so every row is then committed in the scored topic);
- CPU us a record of all detector processes over that window, the broker's (`--broker-pid`)
  and the whole machine's busy cores (other work on the machine shows there);
- the ratio to the passthrough of the same round;
- from the spawn to the end, as a user sees it (start-up and the joins' rebalances in it).

Each run's scored topic is then read whole (read committed) and compared with the first
one-instance run: row by row by (source_partition, source_offset), the scored partition
and the bytes; a row missing, twice or different is reported (exit 1). `--join N` adds,
after the timed rounds, a run of N instances joining one after another, each once the
group has committed a further share of the stream, checked the same way.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 .venv/bin/python bench/instances_bench.py \
        --records 400000 --instances 1,2 [--join 2] [--broker-pid PID]

Uses the broker named by KAFKA_BOOTSTRAP_SERVERS, else starts a local one.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from confluent_kafka import KafkaException, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector_bench import PARTITIONS, broker, load, make_transactions, passthrough

from shared.kafka import make_consumer
from shared.settings import KafkaSettings
from tests.integration.topic_reader import read_all

ROOT = Path(__file__).resolve().parents[1]

#: A partition an instance took: its last such line is when its assignment was final.
TOOK = re.compile(rb"partition \d+ (?:restored|kept in memory)")
#: Seconds between two looks at the group's committed offsets, the logs and /proc.
POLL_S = 0.025
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def abba(counts: Sequence[int]) -> list[int]:
    """The runs' order: the counts, then the counts backwards (1,2 -> 1,2,2,1)."""
    return [*counts, *reversed(counts)]


def proc_cpu_s(stat: str) -> float:
    """User + system CPU seconds from a /proc/<pid>/stat line (the name may hold spaces
    and parentheses: the fields are counted after its last ')')."""
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_s(stat: str) -> float:
    """CPU seconds all cores spent not idle, from /proc/stat's first line."""
    values = [int(v) for v in stat.splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS


@dataclass(frozen=True)
class Sample:
    """One look: the time, records committed by the group, and CPU seconds so far of the
    detectors (together), the broker and the whole machine."""

    t: float
    committed: int
    detectors_cpu: float
    broker_cpu: float
    machine_cpu: float


@dataclass(frozen=True)
class Window:
    records: int
    seconds: float
    detectors_cpu: float
    broker_cpu: float
    machine_cpu: float

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    def us_per_record(self, cpu: float) -> float:
        return cpu / self.records * 1e6

    def cores(self, cpu: float) -> float:
        return cpu / self.seconds


def window(samples: Sequence[Sample], start: float, total: int) -> Window | None:
    """The steady window: from the first sample at or after `start` to the first sample
    with every record committed; None when the records were all committed by then."""
    first = next((s for s in samples if s.t >= start), None)
    last = next((s for s in samples if s.committed >= total), None)
    if first is None or last is None or last.t <= first.t or first.committed >= total:
        return None
    return Window(total - first.committed, last.t - first.t,
                  last.detectors_cpu - first.detectors_cpu,
                  last.broker_cpu - first.broker_cpu, last.machine_cpu - first.machine_cpu)


def longest_stall(samples: Sequence[Sample], total: int) -> float:
    """The longest time the committed count stood still between its first move and the
    end (a rebalance's pause shows here; 0.0 before any move)."""
    moved: float | None = None
    longest, before = 0.0, None
    for s in samples:
        if before is not None and s.committed > before:
            if moved is not None:
                longest = max(longest, s.t - moved)
            moved = s.t
        before = s.committed
        if s.committed >= total:
            break
    return longest


class Source(msgspec.Struct):
    source_partition: int
    source_offset: int


_source = msgspec.json.Decoder(Source)

#: A scored row: (source_partition, source_offset) -> (scored partition, value bytes).
Rows = dict[tuple[int, int], tuple[int, bytes]]


@dataclass
class Parity:
    """A run's scored rows against the reference run's, by (source partition, offset)."""

    rows: int = 0
    missing: list[tuple[int, int]] = field(default_factory=list)
    extra: list[tuple[int, int]] = field(default_factory=list)
    twice: list[tuple[int, int]] = field(default_factory=list)
    different: list[tuple[int, int]] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not (self.missing or self.extra or self.twice or self.different)

    def __str__(self) -> str:
        if self.equal:
            return f"{self.rows:,} rows, equal"
        return (f"{self.rows:,} rows: {len(self.missing)} missing, {len(self.twice)} twice, "
                f"{len(self.extra)} not in the reference, {len(self.different)} different, "
                f"e.g. {(self.missing + self.twice + self.extra + self.different)[:3]}")


def index_rows(rows: Iterable[tuple[int, bytes]]) -> tuple[Rows, list[tuple[int, int]]]:
    """Scored (partition, value) pairs by their source (partition, offset), and the sources
    seen more than once (each kept at its first)."""
    out: Rows = {}
    twice: list[tuple[int, int]] = []
    for partition, value in rows:
        src = _source.decode(value)
        key = (src.source_partition, src.source_offset)
        if key in out:
            twice.append(key)
        else:
            out[key] = (partition, value)
    return out, twice


def compare(reference: Rows, rows: Iterable[tuple[int, bytes]]) -> Parity:
    got, twice = index_rows(rows)
    return Parity(
        rows=len(got) + len(twice),
        missing=sorted(reference.keys() - got.keys()),
        extra=sorted(got.keys() - reference.keys()),
        twice=twice,
        different=sorted(k for k in reference.keys() & got.keys() if reference[k] != got[k]))


def read_scored(kafka: KafkaSettings, topic: str, expected: int, settle: float = 1.0,
                timeout: float = 120.0) -> list[tuple[int, bytes]]:
    """Every committed (partition, value) of `topic`, waiting for `expected` and `settle`
    seconds more (a duplicate would show up then): the broker tests' reader."""
    return [(msg.partition() or 0, msg.value() or b"")
            for msg in read_all(kafka, topic, PARTITIONS, expected, timeout, settle)]


@dataclass
class Instance:
    """One `auditstream detect` process and its log."""

    proc: subprocess.Popen[bytes]
    log: Path
    took_at: float | None = None  # when a new partition line last appeared in its log
    _seen: int = 0

    def look(self, now: float) -> None:
        lines = len(TOOK.findall(self.log.read_bytes()))
        if lines > self._seen:
            self._seen, self.took_at = lines, now

    def cpu(self) -> float:
        try:
            return proc_cpu_s(Path(f"/proc/{self.proc.pid}/stat").read_text())
        except FileNotFoundError:
            return 0.0


@dataclass
class Run:
    """N detectors of one group on the source topic, started now or one by one."""

    kafka: KafkaSettings
    src: str
    total: int
    base: str
    workdir: Path
    broker_pid: int | None
    #: Each process its own session, as services are (its own scheduler autogroup: with
    #: `kernel.sched_autogroup_enabled`, processes of one session share one group's CPU).
    own_session: bool = True
    instances: list[Instance] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)

    @property
    def scored(self) -> str:
        return f"{self.base}-scored"

    def spawn(self, name: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT),
               "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
               "AUDITSTREAM_TRANSACTIONS_TOPIC": self.src,
               "AUDITSTREAM_SCORED_TOPIC": self.scored,
               "AUDITSTREAM_DLQ_TOPIC": f"{self.base}-dlq",
               "AUDITSTREAM_PARTITIONS": str(PARTITIONS),
               "DETECTOR_SNAPSHOT_TOPIC": f"{self.base}-snap",
               "DETECTOR_STATE_DIR": str(self.workdir / "state"),
               "DETECTOR_LOG_INTERVAL_S": "3600"}
        log = self.workdir / f"{self.base}-{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "auditstream", "detect", "--group",
                 f"{self.base}-group", "--instance-id", name],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=self.own_session)
        self.instances.append(Instance(proc, log))

    def _committed(self, consumer: object) -> int:
        tps = [TopicPartition(self.src, p) for p in range(PARTITIONS)]
        try:
            got = consumer.committed(tps, timeout=5)  # type: ignore[attr-defined]
        except KafkaException:
            return self.samples[-1].committed if self.samples else 0
        return sum(max(tp.offset, 0) for tp in got)

    def _broker_cpu(self) -> float:
        if self.broker_pid is None:
            return 0.0
        return proc_cpu_s(Path(f"/proc/{self.broker_pid}/stat").read_text())

    def watch(self, until_committed: int, timeout: float = 600.0) -> None:
        """Sample until the group has committed `until_committed` records."""
        consumer = make_consumer(self.kafka, f"{self.base}-group")  # asks, never joins
        deadline = time.monotonic() + timeout
        try:
            while True:
                now = time.monotonic()
                for inst in self.instances:
                    inst.look(now)
                    if inst.proc.poll() is not None:
                        raise SystemExit(f"{inst.log} exited {inst.proc.returncode}:\n"
                                         + inst.log.read_text(errors="replace")[-3000:])
                sample = Sample(now, self._committed(consumer),
                                sum(i.cpu() for i in self.instances), self._broker_cpu(),
                                machine_busy_s(Path("/proc/stat").read_text()))
                self.samples.append(sample)
                if sample.committed >= until_committed:
                    return
                if now > deadline:
                    raise SystemExit(f"{self.base}: {sample.committed:,} of "
                                     f"{until_committed:,} committed after {timeout:.0f} s")
                time.sleep(POLL_S)
        finally:
            consumer.close()

    def stop(self) -> list[int]:
        for inst in self.instances:
            inst.proc.send_signal(signal.SIGTERM)
        return [inst.proc.wait(60) for inst in self.instances]

    def steady(self) -> Window | None:
        if any(i.took_at is None for i in self.instances):
            return None
        return window(self.samples, max(i.took_at or 0.0 for i in self.instances), self.total)


def autogroup() -> str:
    """Whether the scheduler groups processes by session (`kernel.sched_autogroup_enabled`)."""
    try:
        return {"1": "on", "0": "off"}.get(
            Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip(), "?")
    except OSError:
        return "?"


def load_avg() -> float:
    return os.getloadavg()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=400_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--instances", default="1,2",
                        help="instance counts of the timed runs, each run in ABBA order")
    parser.add_argument("--join", type=int, default=0,
                        help="then a run of this many instances joining one by one")
    parser.add_argument("--broker-pid", type=int, help="count this broker process's CPU")
    parser.add_argument("--same-session", action="store_true",
                        help="start the detectors in the bench's session (one scheduler "
                             "autogroup for all of them) instead of one session each")
    args = parser.parse_args()
    counts = [int(c) for c in args.instances.split(",")]
    order = abba(counts)
    results: list[tuple[int, float, float, Window | None, float, float, Parity | None]] = []
    reference: Rows | None = None
    bad = 0
    print(f"instances_bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
          f"load {load_avg():.1f}, {args.records:,} records, {args.customers:,} customers, "
          f"{PARTITIONS} partitions, runs {order}, "
          f"{'one session' if args.same_session else 'a session each'}, autogroup "
          f"{autogroup()}", flush=True)
    with broker() as kafka, tempfile.TemporaryDirectory() as tmp:
        src = f"bench-{uuid.uuid4().hex[:8]}"
        load(kafka, src, make_transactions(args.records, args.customers))
        plan = [(n, False) for n in order] + ([(args.join, True)] if args.join else [])
        for i, (n, joining) in enumerate(plan):
            load_before = load_avg()
            plain = passthrough(kafka, src, args.records, 5_000)[0]
            run = Run(kafka, src, args.records, f"{src}-r{i}-n{n}", Path(tmp),
                      args.broker_pid, own_session=not args.same_session)
            spawned = time.monotonic()
            try:
                for k in range(n):
                    run.spawn(f"i{k}")
                    if joining and k < n - 1:  # the next joins once this share is committed
                        run.watch(args.records * (k + 1) // (n + 1))
                run.watch(args.records)
            except BaseException:  # a run that failed leaves no detector behind
                for inst in run.instances:
                    inst.proc.kill()
                raise
            whole = run.samples[-1].t - spawned
            codes = run.stop()
            if any(codes):
                bad += 1
                print(f"  run {i}: exit codes {codes}", flush=True)
            rows = read_scored(kafka, run.scored, args.records)
            if reference is None and n == 1 and not joining:
                reference, twice = index_rows(rows)
                parity: Parity | None = None
                if twice or len(reference) != args.records:
                    print(f"  reference run: {len(reference):,} rows, {len(twice)} twice")
                    bad += 1
            else:
                assert reference is not None, "the first run must be of one instance"
                parity = compare(reference, rows)
                bad += not parity.equal
            if i == 0:
                core = re.search(rb"; detection core (.*)\)\s*$",
                                 run.instances[0].log.read_bytes(), re.MULTILINE)
                print(f"  detection core: {core.group(1).decode() if core else '?'}")
            steady = run.steady()
            results.append((n, plain, args.records / whole, steady, load_before, load_avg(),
                            parity))
            show(i, n, joining, plain, args.records / whole, steady, load_before, parity,
                 [len(TOOK.findall(inst.log.read_bytes())) for inst in run.instances],
                 longest_stall(run.samples, args.records))
    print("  medians of the timed runs (steady window):")
    for n in counts:
        mine = [r for r in results[:len(order)] if r[0] == n and r[3] is not None]
        if not mine:
            continue
        rates = [r[3].rate for r in mine if r[3] is not None]
        ratios = [r[3].rate / r[1] for r in mine if r[3] is not None]
        us = [r[3].us_per_record(r[3].detectors_cpu) for r in mine if r[3] is not None]
        print(f"    {n} instance(s): {statistics.median(rates):>9,.0f} tx/s, "
              f"ratio {statistics.median(ratios):.2f}, "
              f"{statistics.median(us):.1f} CPU us a record (detectors)")
    return 1 if bad else 0


def show(i: int, n: int, joining: bool, plain: float, whole: float, steady: Window | None,
         load_before: float, parity: Parity | None, taken: list[int], stall: float) -> None:
    what = f"{n} joining" if joining else f"{n} at once"
    head = (f"  run {i}: {what:<10} load {load_before:4.1f}  passthrough {plain:>9,.0f} tx/s"
            f"  spawn->end {whole:>8,.0f} tx/s")
    if steady is None:
        print(f"{head}  steady window: none (all committed before the last join)")
    else:
        print(f"{head}  steady {steady.rate:>8,.0f} tx/s ({steady.records:,} in "
              f"{steady.seconds:.2f} s) ratio {steady.rate / plain:.2f}; CPU us a record: "
              f"detectors {steady.us_per_record(steady.detectors_cpu):.1f}, broker "
              f"{steady.us_per_record(steady.broker_cpu):.1f}; cores busy: detectors "
              f"{steady.cores(steady.detectors_cpu):.2f}, broker "
              f"{steady.cores(steady.broker_cpu):.2f}, machine "
              f"{steady.cores(steady.machine_cpu):.2f}")
    print(f"      rows: {'reference' if parity is None else parity}; partitions taken "
          f"by each instance (a rebalance takes them again): {taken}; longest stall of "
          f"the committed offsets: {stall:.2f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
