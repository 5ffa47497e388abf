"""`auditstream demo`: the whole pipeline on a generated stream, end to end, in one command.

It starts what it needs (the local broker unless KAFKA_BOOTSTRAP_SERVERS is set), creates a
fresh set of topics for this run, starts `python -m detector` and `python -m sink` as child
processes, publishes a seeded generated stream, waits until the sink has written every
transaction, prints a summary and stops what it started. Services are separate processes,
exactly as they run in production; this module only orchestrates them.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition
from tqdm import tqdm

from auditstream.broker import BrokerSettings, LocalBroker
from auditstream.review.demo import (
    add_review_args,
    check_review_args,
    print_assurance,
    review_loop,
)
from auditstream.review.publish import reviews_topic_spec
from auditstream.review.simulate import read_rows as _rows
from dashboard.report import REPORT_NAME
from producer.cli import DEMO_ENTRY, DEMO_ENV
from producer.generator import GeneratorConfig
from shared.entry import folder_name, number, partition_count
from shared.errors import AuditstreamError, ExitCode, UsageError
from shared.exports_folder import CASES_FILE
from shared.kafka import TopicSpec, ensure_topics, make_consumer
from shared.names import shown
from shared.outputs import as_output_error, check_folder_of
from shared.seeds import seed_arg
from shared.settings import MAX_WAIT_S, KafkaSettings, TopicSettings
from sink import state as sink_state
from sink.days import SCORED_DIR, day_files, open_day
from sink.folder import refuse_foreign
from sink.settings import ExportSettings
from sink.tables import mode_stats, recommend


@dataclass
class DemoTopics:
    transactions: str
    scored: str
    dlq: str
    reviews: str
    #: The detector's state, the run's own too: the default one, shared with earlier runs
    #: and `detect`s on the broker, refused `--partitions` other than theirs (exit 2).
    snapshots: str

    @classmethod
    def for_run(cls, run_id: str) -> DemoTopics:
        return cls(f"demo-{run_id}.transactions", f"demo-{run_id}.scored", f"demo-{run_id}.dlq",
                   f"demo-{run_id}.reviews", f"demo-{run_id}.detector-snapshots")

    def env(self) -> dict[str, str]:
        return {
            "AUDITSTREAM_TRANSACTIONS_TOPIC": self.transactions,
            "AUDITSTREAM_SCORED_TOPIC": self.scored,
            "AUDITSTREAM_DLQ_TOPIC": self.dlq,
            "AUDITSTREAM_REVIEWS_TOPIC": self.reviews,
            "DETECTOR_SNAPSHOT_TOPIC": self.snapshots,
        }


#: A count of one or more (customers, days).
_count = number(int, 1)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole pipeline on a generated stream and write exports/",
        description="Start the local broker (unless KAFKA_BOOTSTRAP_SERVERS is set), a detector "
        "and a sink, publish a seeded generated stream, wait until every transaction is in "
        "the exports, print a summary, and stop what was started.",
    )
    p.add_argument("--customers", type=_count, default=1000, help="default 1000 (~200,000 tx)")
    p.add_argument("--days", type=_count, default=90, help="days of activity (default 90)")
    p.add_argument("--seed", type=seed_arg, default=42, help="0 to 2^32 - 1 (default 42)")
    p.add_argument("--partitions", type=partition_count, default=4,
                   help="of the run's topics (default 4)")
    p.add_argument("--exports", type=folder_name, default=Path("exports"), metavar="DIR",
                   help="the exports folder (default exports)")
    # at most a day, as every wait setting (`MAX_WAIT_S`): 1e309 never gave up
    p.add_argument("--timeout", type=number(float, 0, strict=True, most=MAX_WAIT_S),
                   default=1800.0, help="give up when the sink makes no progress for this "
                   "long (s; default 1800, at most 86400)")
    add_review_args(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    check_review_args(args)
    check_folder_of(args.exports)  # before anything starts: the sink would refuse it late
    refuse_foreign(args.exports)  # as would a folder of the user's own files (--reset too)
    try:  # so is a size `generate` refuses: it was refused after the broker, sink, detector
        GeneratorConfig(seed=args.seed, customers=args.customers, days=args.days)
    except ValueError as exc:
        raise UsageError(f"{exc}; nothing started (--customers, --days)") from None
    return Demo(args).run()


def run_id() -> str:
    """A run's id: its start (UTC, to the second: the runs sort by it) and 6 random hex
    digits, so its topics, groups and log folder are its own: the time alone was one id for
    two demos started in the same second on one cluster, or for a demo after the host's
    clock was stepped back onto an earlier run's second (its topics still hold that run's)."""
    return f"{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"


#: A sink's or detector's exit codes the demo ends with too: the README's table gives
#: `demo` these two for the same causes (no broker; output that cannot be written).
PASSED_ON = frozenset({ExitCode.KAFKA_UNREACHABLE, ExitCode.OUTPUT_UNWRITABLE})


class Demo:
    """One demo run; every process it starts is stopped again, whatever happens."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.run_id = run_id()
        self.topics = DemoTopics.for_run(self.run_id)
        self.exports: Path = args.exports.resolve()
        self.logs = Path("run") / f"demo-{self.run_id}"
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.broker: Any = None

    def run(self) -> int:
        started = time.monotonic()
        try:  # the logs' folder first: one that cannot be made is exit 5 before anything starts
            self.logs.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise as_output_error(OSError(exc.errno, exc.strerror, str(self.logs))) from exc
        try:
            bootstrap = self._kafka()
            self._topics(bootstrap)
            env = self._env(bootstrap)
            self._start("sink", [sys.executable, "-m", "sink", "--reset",
                                 "--exports", str(self.exports)], env)
            self._start("detector", [sys.executable, "-m", "detector"], env)
            sent = self._publish(env)
            self._wait_for_sink(sent)
            if self.args.review:
                review_loop(self.args, self.exports, bootstrap, self.topics.reviews, sent,
                            self._check_children)
            self._stop_children()
            _summary(self.exports, sent, time.monotonic() - started, self.logs)
            if self.args.review:
                print_assurance(self.exports)
            return 0
        finally:
            self._stop_children()
            gc.collect()  # release idle admin clients before their broker goes away
            if self.broker is not None:
                self.broker.stop()
                print("local broker stopped")
            with contextlib.suppress(OSError):  # a run that started nothing leaves no folder
                self.logs.rmdir()

    def _kafka(self) -> str:
        if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
            bootstrap = KafkaSettings().bootstrap_servers
            print(f"using the Kafka cluster at {bootstrap} (KAFKA_BOOTSTRAP_SERVERS)")
            return bootstrap
        broker = LocalBroker(BrokerSettings())
        if broker.status().running:
            print(f"using the local broker already running at {broker.bootstrap}")
            return broker.bootstrap
        print("starting the local Apache Kafka broker (first run fetches its jars once)...")
        broker.start()
        self.broker = broker
        print(f"Apache Kafka {broker.reported_version()} ready at {broker.bootstrap}")
        return broker.bootstrap

    def _topics(self, bootstrap: str) -> None:
        p = self.args.partitions
        ensure_topics(KafkaSettings(bootstrap_servers=bootstrap), [
            TopicSpec(self.topics.transactions, p),
            TopicSpec(self.topics.scored, p),
            # As many partitions as the input, as the detector creates it (docs/architecture.md).
            TopicSpec(self.topics.dlq, p),
            reviews_topic_spec(TopicSettings(reviews_topic=self.topics.reviews)),
        ])
        print(f"topics: {self.topics.transactions}, {self.topics.scored}, {self.topics.dlq}, "
              f"{self.topics.reviews}")

    def _env(self, bootstrap: str) -> dict[str, str]:
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, **self.topics.env()}
        env["AUDITSTREAM_PARTITIONS"] = str(self.args.partitions)
        env["DETECTOR_GROUP_ID"] = f"demo-{self.run_id}-detector"
        env["SINK_GROUP_ID"] = f"demo-{self.run_id}-sink"
        env["SINK_EXPORTS_DIR"] = str(self.exports)
        return env

    def _start(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{name}.log").open("wb")
        self.children[name] = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL)
        print(f"{name} started (pid {self.children[name].pid}, "
              f"log {shown(self.logs / (name + '.log'))})")

    def _publish(self, env: dict[str, str]) -> int:
        a = self.args
        print(f"generating and publishing (seed {a.seed}, {a.customers} customers, "
              f"{a.days} days)...")
        # Its stderr (what it generated and sent, the warnings) to its log, as the services'.
        log = self.logs / "generate.log"
        with log.open("w") as said:
            proc = subprocess.run(
                [sys.executable, "-m", "auditstream", "generate", "--publish", "--seed",
                 str(a.seed), "--customers", str(a.customers), "--days", str(a.days)],
                env={**env, DEMO_ENV: "1"}, stdout=subprocess.PIPE, stderr=said,
                stdin=subprocess.DEVNULL, text=True, check=False,
            )
        stderr = log.read_text(errors="replace")
        sys.stdout.write(proc.stdout)
        # A type the stream was too small to place as often as its rate asks: the data is
        # whole and labelled, the user told once (`--review` does not say it again).
        for line in stderr.splitlines():
            if line.startswith(f"{DEMO_ENTRY[0]}: warning: "):
                print(line, file=sys.stderr)
        if proc.returncode != 0:
            raise AuditstreamError(f"publishing failed (exit {proc.returncode}):\n{stderr}")
        return _topic_size(env["KAFKA_BOOTSTRAP_SERVERS"], self.topics.transactions)

    def _wait_for_sink(self, expected: int) -> None:
        counter = _DayFilesCounter(self.exports)
        last_change, last_rows, t0 = time.monotonic(), -1, time.monotonic()
        # tqdm draws only on a terminal; a log gets the one line below when the sink is done.
        with tqdm(total=expected, desc="sink", unit=" rows", file=sys.stdout, disable=None,
                  dynamic_ncols=True) as bar:
            while True:
                self._check_children()
                rows = counter.rows()
                if rows != last_rows:
                    last_change, last_rows = time.monotonic(), rows
                    bar.update(rows - bar.n)
                if rows >= expected:
                    break
                if time.monotonic() - last_change > self.args.timeout:
                    raise AuditstreamError(
                        f"the sink made no progress for {self.args.timeout:.0f} s "
                        f"({rows} of {expected} rows); see {shown(self.logs)}")
                time.sleep(0.5)
        took = time.monotonic() - t0
        print(f"sink: {rows:,}/{expected:,} rows in {took:.0f} s "
              f"({rows / max(took, 1e-9):,.0f} rows/s)")

    def _check_children(self) -> None:
        """A child that ended: one line naming it and its log, the demo's exit its code
        when that is one of a service's documented failures (a full disk is 5, as the
        README's table gives `demo`; it was 2), else 2."""
        for name, child in self.children.items():
            if child.poll() is not None:
                code, log = child.returncode, self.logs / (name + ".log")
                try:
                    empty = log.stat().st_size == 0
                except OSError:
                    empty = True
                where = (f"its log {shown(log)} is empty" + (
                    " (on a full disk its error line had nowhere to go)"
                    if code == ExitCode.OUTPUT_UNWRITABLE else "")) if empty else (
                    f"see {shown(log)}")
                error = AuditstreamError(f"{name} exited with code {code}; {where}")
                if code in PASSED_ON:
                    error.exit_code = ExitCode(code)
                raise error

    def _stop_children(self) -> None:
        for name, child in list(self.children.items()):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
            print(f"{name} stopped (exit {child.returncode})")
            del self.children[name]


class _LineCounter:
    """Counts data rows of a growing CSV by reading only the bytes added since last time.

    Ours, not a library's: no CSV library counts an appended-to file incrementally.
    """

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.newlines = path, 0, 0

    def rows(self) -> int:
        """Data rows now; a file swapped for a FIFO or link since it was listed is the
        sink's own one-line refusal (`open_day`: a plain `open` waited on a FIFO for ever)."""
        try:
            fd = open_day(self.path)
        except FileNotFoundError:  # not yet, or removed by the sink's --reset
            return 0
        with open(fd, "rb") as f:
            size = os.fstat(fd).st_size
            if size < self.offset:  # the sink cut a torn tail: count again
                self.offset = self.newlines = 0
            f.seek(self.offset)
            chunk = f.read(size - self.offset)
        self.offset += len(chunk)
        self.newlines += chunk.count(b"\n")
        return max(self.newlines - 1, 0)


class _DayFilesCounter:
    """Data rows in the day files (`scored/*.csv`), each counted incrementally."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.counters: dict[Path, _LineCounter] = {}

    def rows(self) -> int:
        for path in day_files(self.folder):
            self.counters.setdefault(path, _LineCounter(path))
        return sum(counter.rows() for counter in self.counters.values())


def _topic_size(bootstrap: str, topic: str) -> int:
    """Messages in `topic`: the sum of its partitions' watermark spans."""
    # Security options still come from KAFKA_* (only the address is the demo's own).
    consumer = make_consumer(KafkaSettings(bootstrap_servers=bootstrap), "auditstream-demo-probe")
    try:
        meta = consumer.list_topics(topic, timeout=10)
        total = 0
        for p in meta.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()


def _summary(exports: Path, sent: int, seconds: float, logs: Path) -> None:
    """What the sink counted (its checkpoint, read through the sink's own code)."""
    cp = sink_state.load(exports)
    rows = cp.rollup.rows if cp else 0
    print("\n=== auditstream demo: summary ===")
    print(f"transactions published: {sent:,}; rows in {SCORED_DIR}/: {rows:,}; wall time "
          f"{seconds:.0f} s ({sent / max(seconds, 1e-9):,.0f} tx/s end to end)")
    if cp is not None:
        flagged = sum(cp.rollup.detector_flag)
        if sent:
            print(f"flagged by the detector: {flagged:,} ({100 * flagged / sent:.2f}% of rows)")
        settings = ExportSettings()
        stats = mode_stats(cp.rollup, settings)
        rec = recommend(stats, settings)
        if rec is not None:
            s = stats[rec.mode][rec.index]
            print(f"recommended threshold: {rec.threshold} (precision {s.precision or 0:.1%}, "
                  f"recall {s.recall or 0:.1%}, workload {s.workload_pct or 0:.2f}%)")
        cases = _rows(exports / CASES_FILE)
        if cases:
            print("top cases:")
        for row in cases[:5]:
            print(f"  #{row.get('rank')} {row.get('case_id')} customer {row.get('customer_id')}: "
                  f"{row.get('transactions')} tx, {row.get('total_amount')}, score "
                  f"{row.get('score')}: {row.get('reasons_top3')}")
    print(f"exports: {shown(exports)}")
    report = exports / REPORT_NAME
    if report.exists():
        print(f"report:  {shown(report)}  (open it in a browser)")
    pbix = Path(__file__).resolve().parents[1] / "dashboard_anomalies.pbix"
    if pbix.exists():
        print(f"Power BI: {shown(pbix)}  (set ExportsFolder to {shown(f'{exports}{os.sep}')} "
          "and refresh)")
    print(f"logs:    {shown(logs)}")
