"""Helpers of the detector's broker tests: input streams, detector subprocesses, readers."""

from __future__ import annotations

import faulthandler
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Message

from detector.core.config import CoreConfig
from detector.offline import score_transactions
from shared.codec import decode, encode
from shared.kafka import DeliveryTracker, TopicSpec, ensure_topics, make_producer
from shared.schemas import ScoredTransaction, Transaction, TransactionView
from shared.settings import KafkaSettings
from tests.integration.topic_reader import read_all as read_all

ROOT = Path(__file__).resolve().parents[2]
COUNTRIES = ("CH", "CH", "CH", "FR", "DE", "IT", "US")
CATEGORIES = ("grocery", "electronics", "travel", "fuel", "restaurants", "fashion")

#: Small model knobs so a short stream already fits and refits its Isolation Forest (each
#: model fitted in the background and in effect 300 rows after its fit point, so restarts
#: and checkpoints also fall between a fit and its takeover).
CORE_ENV = {
    "DETECTOR_CORE__FIRST_FIT_AFTER": "500",
    "DETECTOR_CORE__REFIT_EVERY": "1000",
    "DETECTOR_CORE__REFIT_DELAY": "300",
    "DETECTOR_CORE__N_TREES": "20",
}
#: The same knobs for offline scoring, the reference the streamed rows must equal.
CORE = CoreConfig(**{k.removeprefix("DETECTOR_CORE__").lower(): int(v)
                     for k, v in CORE_ENV.items()})


def make_transactions(n: int, customers: int = 300, seed: int = 7) -> list[Transaction]:
    """A deterministic stream in timestamp order with a sprinkle of odd amounts and places."""
    rng = random.Random(seed)
    start = datetime(2025, 1, 1)
    txs = []
    t = 0.0
    for i in range(n):
        t += rng.expovariate(1 / 40)
        odd = rng.random() < 0.01
        txs.append(Transaction(
            transaction_id=str(i + 1), customer_id=f"c{rng.randrange(customers)}",
            timestamp=start + timedelta(seconds=int(t)),
            amount=round(rng.gauss(120, 40) * (20 if odd else 1), 2) or 1.0,
            country="CN" if odd and rng.random() < 0.5 else rng.choice(COUNTRIES),
            channel=rng.choice(("web", "app", "atm")), device=rng.choice(("pc", "mobile")),
            merchant_category=rng.choice(CATEGORIES), ip=f"10.0.{i % 250}.{i % 7}",
            is_anomaly=odd, anomaly_type="odd" if odd else "normal",
        ))
    return txs


@dataclass
class Topics:
    """One test's topics (unique names), created with `partitions` partitions."""

    base: str
    partitions: int

    @property
    def input(self) -> str:
        return f"{self.base}-tx"

    @property
    def scored(self) -> str:
        return f"{self.base}-scored"

    @property
    def dlq(self) -> str:
        return f"{self.base}-dlq"

    @property
    def snapshots(self) -> str:
        return f"{self.base}-snap"

    @property
    def reviews(self) -> str:
        """The sink's reviews topic, the run's own too: left to its default, every run's sink
        read the broker's shared `transactions.reviews` (the soak's seed 742 with a plan took
        a probe's review, and its assurance differed from `score`'s)."""
        return f"{self.base}-reviews"

    def create(self, kafka: KafkaSettings) -> Topics:
        ensure_topics(kafka, [TopicSpec(n, self.partitions) for n in
                              (self.input, self.scored, self.dlq)])
        return self

    def env(self) -> dict[str, str]:
        return {
            "AUDITSTREAM_TRANSACTIONS_TOPIC": self.input,
            "AUDITSTREAM_SCORED_TOPIC": self.scored,
            "AUDITSTREAM_DLQ_TOPIC": self.dlq,
            "AUDITSTREAM_PARTITIONS": str(self.partitions),
            "DETECTOR_SNAPSHOT_TOPIC": self.snapshots,
            "AUDITSTREAM_REVIEWS_TOPIC": self.reviews,
            "DETECTOR_GROUP_ID": f"{self.base}-detector",
        }


def produce(kafka: KafkaSettings, topic: str,
            items: Iterable[tuple[bytes | None, bytes | None]], rate: float | None = None) -> int:
    """Produce (key, value) pairs in order, optionally paced at `rate` per second."""
    producer = make_producer(kafka)
    tracker = DeliveryTracker()
    start = time.monotonic()
    n = 0
    for n, (key, value) in enumerate(items, 1):
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=tracker)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        if rate is not None and n % 100 == 0:
            ahead = start + n / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    assert producer.flush(60) == 0
    assert tracker.failed == 0, tracker.errors
    return n


def keyed(txs: Sequence[Transaction]) -> list[tuple[bytes | None, bytes | None]]:
    return [(t.customer_id.encode(), encode(t)) for t in txs]


def produce_in_background(kafka: KafkaSettings, topic: str, txs: list[Transaction],
                          rate: float) -> threading.Thread:
    """`produce` of `txs` (keyed) at `rate` a second in a thread of its own (started)."""
    thread = threading.Thread(target=produce, args=(kafka, topic, keyed(txs), rate),
                              daemon=True)
    thread.start()
    return thread


@dataclass
class DetectorProcess:
    """`python -m detector` as a child process with its own log file."""

    kafka: KafkaSettings
    topics: Topics
    instance: str
    log_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    #: Run with `RandomFaults` seeded with this (and the start number) as its fault hook.
    faults_seed: int | None = None
    #: Run with a core that raises on these transaction ids (`PoisonFactory`).
    poison_ids: tuple[str, ...] = ()
    #: Run with a hook that always raises at this (step, partition, offset): a bug.
    bug_at: tuple[str, int, int] | None = None
    #: Run with `RewindGate` (the nth commit fails; its rewind waits on the FIFO).
    rewind_gate: tuple[int, Path] | None = None
    #: Run with `Hold` at these points (`HOLD_POINTS`), each until a byte is written into
    #: its FIFO.
    hold: dict[str, Path] = field(default_factory=dict)

    def start(self) -> DetectorProcess:
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
               "DETECTOR_INSTANCE_ID": self.instance, "DETECTOR_LOG_INTERVAL_S": "2",
               "DETECTOR_SESSION_TIMEOUT_MS": "6000",
               "DETECTOR_STATE_DIR": str(self.log_dir / f"state-{self.instance}"),
               **CORE_ENV, **self.topics.env(), **self.extra_env}
        self.starts += 1
        module = "detector"
        if (self.faults_seed is not None or self.poison_ids or self.bug_at or self.rewind_gate
                or self.hold):
            module = "tests.integration.detector_harness"
        if self.hold:
            env[HOLD_ENV] = ",".join(f"{point}:{fifo}" for point, fifo in self.hold.items())
        if self.bug_at is not None:
            env[BUG_ENV] = ":".join(map(str, self.bug_at))
        if self.rewind_gate is not None:
            env[REWIND_GATE_ENV] = f"{self.rewind_gate[0]}:{self.rewind_gate[1]}"
        if self.faults_seed is not None:
            env[FAULTS_ENV] = f"{self.faults_seed}:{self.starts}"
        if self.poison_ids:
            env[POISON_ENV] = ",".join(self.poison_ids)
        log = (self.log_dir / f"detector-{self.instance}-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", module], cwd=ROOT, env=env,
                                     stdout=log, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        """Block until the current run's log contains `text` (fail if the process dies)."""
        path = self.log_dir / f"detector-{self.instance}-{self.starts}.log"
        deadline = time.monotonic() + timeout
        while text not in path.read_text(errors="replace"):
            assert self.alive(), self.logs()
            assert time.monotonic() < deadline, f"no {text!r} within {timeout}s"
            time.sleep(0.05)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")
                         for p in sorted(self.log_dir.glob(f"detector-{self.instance}-*.log")))


def scored_rows(msgs: Sequence[Message]) -> list[ScoredTransaction]:
    return [decode(m.value() or b"", ScoredTransaction) for m in msgs]


def headers(msg: Message) -> dict[str, str]:
    """A message's headers as text."""
    raw = msg.headers() or []
    assert isinstance(raw, list)
    return {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in raw}


def by_id(rows: Iterable[ScoredTransaction]) -> dict[str, ScoredTransaction]:
    out: dict[str, ScoredTransaction] = {}
    for r in rows:
        assert r.transaction_id not in out, f"transaction {r.transaction_id} published twice"
        out[r.transaction_id] = r
    return out


def offline_mismatches(rows: Iterable[ScoredTransaction], txs: Sequence[Transaction],
                       partitions: int, ignore: Sequence[str] = ()) -> list[str]:
    """The ids whose streamed row differs from offline scoring of `txs` in any field but
    those in `ignore`; fails unless both hold the same ids, each once."""
    streamed = by_id(rows)
    offline = by_id(score_transactions(txs, CORE, partitions=partitions))
    assert streamed.keys() == offline.keys()

    def content(row: ScoredTransaction) -> dict[str, Any]:
        return {k: v for k, v in row.model_dump().items() if k not in ignore}

    return [i for i in offline if content(streamed[i]) != content(offline[i])]


def assert_exactly_the_offline_result(kafka: KafkaSettings, topics: Topics,
                                      txs: list[Transaction],
                                      running: list[DetectorProcess]) -> None:
    """The scored topic holds one row a transaction of `txs`, each as offline scoring rates
    it (waits while one of `running` still works; fails if one of them ends)."""
    rows = scored_rows(read_all(kafka, topics.scored, topics.partitions, len(txs),
                                timeout=180, settle=2.0, running=running))
    mismatched = offline_mismatches(rows, txs, topics.partitions)
    assert mismatched == [], f"{len(mismatched)} rows differ, e.g. {mismatched[:5]}"


#: Small snapshot interval so restores exercise snapshot + replay, not only replay from 0.
#: Snapshots often enough that restores after kills at random moments use one even when a
#: loaded machine scores slowly (4,000 once left a run of six kills without any).
FAULT_ENV = {"DETECTOR_SNAPSHOT_EVERY": "1500"}


@contextmanager
def supervised(detector: DetectorProcess, every: float) -> Iterator[list[int]]:
    """A restart-on-failure supervisor, as in production, while the block runs: `detector`
    started again whenever it has ended (looked at every `every` s). Yields the exit codes
    of the runs it restarted after (the list grows)."""
    exits: list[int] = []
    done = threading.Event()

    def supervise() -> None:
        while not done.wait(every):
            if not detector.alive():
                assert detector.proc is not None
                exits.append(detector.proc.returncode)
                detector.start()

    watcher = threading.Thread(target=supervise, daemon=True)
    watcher.start()
    try:
        yield exits
    finally:
        done.set()
        watcher.join()



# --- fault injection: `python -m tests.integration.detector_harness` -------------------------

FAULTS_ENV = "TEST_DETECTOR_FAULTS"
POISON_ENV = "TEST_DETECTOR_POISON_IDS"
BUG_ENV = "TEST_DETECTOR_BUG_AT"
REWIND_GATE_ENV = "TEST_DETECTOR_REWIND_GATE"
HOLD_ENV = "TEST_DETECTOR_HOLD"
#: Calls between two faults of one step, drawn uniformly (record steps run once per record,
#: commit steps once per transaction). Never two in a row, so a retried record passes.
FAULT_GAPS = {
    "decode": (2_000, 12_000), "core": (10, 60), "encode": (2_000, 12_000),
    "produce": (2_000, 12_000), "send_offsets": (3, 25), "commit": (3, 25),
}


class InjectedFault(RuntimeError):
    """An exception the detector did not expect, raised on purpose by a test."""


class RandomFaults:
    """The detector's fault hook: raises `InjectedFault` at seeded random calls of each step."""

    def __init__(self, seed: str) -> None:
        self._rng = random.Random(seed)
        self._left = {step: self._rng.randint(*gap) for step, gap in FAULT_GAPS.items()}
        self._log = logging.getLogger("detector.faults")

    def __call__(self, step: str, partition: int, offset: int) -> None:
        self._left[step] -= 1
        if self._left[step] > 0:
            return
        self._left[step] = self._rng.randint(*FAULT_GAPS[step])
        self._log.warning("injected fault at %s (partition %d offset %d)", step, partition,
                          offset)
        raise InjectedFault(f"injected at {step}, partition {partition} offset {offset}")


class BugAt:
    """A hook that fails every time at one (step, partition, offset): a deterministic bug."""

    def __init__(self, spec: str) -> None:
        step, partition, offset = spec.split(":")
        self.at = (step, int(partition), int(offset))

    def __call__(self, step: str, partition: int, offset: int) -> None:
        if (step, partition, offset) == self.at:
            raise ZeroDivisionError(f"a bug at {step} of partition {partition} offset {offset}")


class RewindGate:
    """A hook that fails the `nth` transaction's commit (the detector aborts and rewinds)
    and holds that rewind between its read of the committed offsets and the restore of the
    first partition (its checkpoint load) until a byte is written into the FIFO `fifo`:
    the test has another member take the partition and commit meanwhile. Logs
    `rewind gate: partition P at committed offset C` when it holds."""

    def __init__(self, spec: str) -> None:
        nth, self.fifo = spec.split(":", 1)
        self._left = int(nth)
        self._armed = False
        self._log = logging.getLogger("detector.faults")

    def __call__(self, step: str, partition: int, offset: int) -> None:
        if step != "commit" or self._left <= 0:
            return
        self._left -= 1
        if self._left == 0:
            self._armed = True
            self._log.warning("injected fault at commit (partition %d offset %d)", partition,
                              offset)
            raise InjectedFault(f"injected at commit, partition {partition} offset {offset}")

    def install(self) -> None:
        """Wrap `Restorer.restore`, which the rewind calls with the offset it read."""
        from detector.kafka_io import Restorer

        restore = Restorer.restore
        gate = self

        def held(restorer: Restorer, partition: int, committed: int | None,
                 *args: Any, **kwargs: Any) -> Any:
            if gate._armed:
                gate._armed = False
                gate._log.warning("rewind gate: partition %d at committed offset %s",
                                  partition, committed)
                with open(gate.fifo, "rb") as fifo:  # blocks until the test writes
                    fifo.read(1)
                gate._log.warning("rewind gate: released")
            return restore(restorer, partition, committed, *args, **kwargs)

        setattr(Restorer, "restore", held)  # noqa: B010 (its signature is wider for mypy)


def _held(fifo: str, point: str) -> None:
    """Log `hold: <point>`, block until the test writes a byte into `fifo`, log the release."""
    log = logging.getLogger("detector.faults")
    log.warning("hold: %s", point)
    with open(fifo, "rb") as f:  # blocks until the test writes
        f.read(1)
    log.warning("hold: %s released", point)


#: Where `Hold` holds the process, each once: `connect`, before the start-up's Kafka steps
#: (the broker, the topics, its producer), imports and core loaded (a test starts it early
#: and has it fence an older one at a moment of its choosing); `subscribe`, after the
#: start-up (its producer's init_transactions done, which fences an older one) before its
#: consumer joins the group; `begin`, before its first transaction; `commit`, inside its
#: third commit, before the commit call (a test stops it there: it wakes inside a
#: transaction step); `losing`, at the start of its first lost-partitions callback, before
#: it asks the group; `replaced-on-loss`, after the first new producer made inside that
#: callback, before its consumer rejoins.
HOLD_POINTS = ("connect", "subscribe", "begin", "commit", "losing", "replaced-on-loss")


class Hold:
    """Holds the detector at points of `HOLD_POINTS` (`point:fifo,...`), each until a byte is
    written into its FIFO (no sleep decides an order: the test acts while it is held)."""

    def __init__(self, spec: str) -> None:
        self.fifos = dict(part.split(":", 1) for part in spec.split(","))
        assert set(self.fifos) <= set(HOLD_POINTS), spec
        self._done: set[str] = set()

    def at(self, point: str) -> None:
        """Hold here the first time, if asked to."""
        if point in self.fifos and point not in self._done:
            self._done.add(point)
            _held(self.fifos[point], point)

    def install(self) -> None:
        from detector.app import Detector
        from detector.txn import Transactions

        hold = self
        start_up, subscribe = Detector._start_up, Detector._subscribe
        begin, commit = Transactions.begin, Transactions.commit
        lost, replace = Detector._on_lost, Transactions.replace_producer
        commits, in_lost = [0], [False]

        def held_start_up(detector: Detector) -> tuple[int, Transactions]:
            hold.at("connect")
            return start_up(detector)

        def held_subscribe(detector: Detector) -> None:
            hold.at("subscribe")
            subscribe(detector)

        def held_begin(txn: Transactions) -> None:
            if not txn.open:
                hold.at("begin")
            begin(txn)

        def held_commit(txn: Transactions, *args: Any, **kwargs: Any) -> None:
            commits[0] += 1
            if commits[0] == 3:
                hold.at("commit")
            commit(txn, *args, **kwargs)

        def held_lost(detector: Detector, *args: Any) -> None:
            hold.at("losing")
            in_lost[0] = True
            try:
                lost(detector, *args)
            finally:
                in_lost[0] = False

        def held_replace(txn: Transactions) -> None:
            replace(txn)
            if in_lost[0]:
                hold.at("replaced-on-loss")

        for cls, name, fn in [(Detector, "_start_up", held_start_up),
                              (Detector, "_subscribe", held_subscribe),
                              (Transactions, "begin", held_begin),
                              (Transactions, "commit", held_commit),
                              (Detector, "_on_lost", held_lost),
                              (Transactions, "replace_producer", held_replace)]:
            setattr(cls, name, fn)


class PoisonEngine:
    """The real core, except that it raises on some transaction ids (a core bug that only
    some records trigger), after updating its state with the batch's earlier rows."""

    def __init__(self, engine: Any, ids: frozenset[str]) -> None:
        self.engine, self.ids = engine, ids

    def verdicts(self, txs: Sequence[TransactionView]) -> list[Any]:
        for i, tx in enumerate(txs):
            if tx.transaction_id in self.ids:
                self.engine.verdicts(txs[:i])  # half of the batch already applied
                raise ValueError(f"the core cannot score transaction {tx.transaction_id}")
        return list(self.engine.verdicts(txs))

    def snapshot(self) -> bytes:
        return bytes(self.engine.snapshot())

    def checkpoint(self, full: bool = False) -> Any:
        return self.engine.checkpoint(full)


class PoisonFactory:
    def __init__(self, ids: frozenset[str]) -> None:
        from detector.partition import CoreEngineFactory
        from detector.settings import DetectorSettings

        self.ids, self.core = ids, CoreEngineFactory(DetectorSettings().core)

    def new(self, partition: int) -> PoisonEngine:
        return PoisonEngine(self.core.new(partition), self.ids)

    def restore(self, data: bytes) -> PoisonEngine:
        return PoisonEngine(self.core.restore(data), self.ids)

    def resume(self, parts: dict[str, bytes], customers: list[tuple[str, bytes]]
               ) -> PoisonEngine:
        return PoisonEngine(self.core.resume(parts, customers), self.ids)


def main() -> int:
    """`python -m detector` with the seams set from the environment."""
    from detector.app import run_service
    from detector.settings import DetectorSettings
    from shared.errors import AuditstreamError

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # as `python -m detector`
    faults = os.environ.get(FAULTS_ENV)
    poison = os.environ.get(POISON_ENV)
    bug = os.environ.get(BUG_ENV)
    gate = os.environ.get(REWIND_GATE_ENV)
    held = os.environ.get(HOLD_ENV)
    if held:
        Hold(held).install()
    hook: Any = RandomFaults(faults) if faults else BugAt(bug) if bug else None
    if gate:
        hook = RewindGate(gate)
        hook.install()
    try:
        return run_service(DetectorSettings(), hook,
                           PoisonFactory(frozenset(poison.split(","))) if poison else None)
    except AuditstreamError as exc:
        print(f"python -m detector: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)


if __name__ == "__main__":
    sys.exit(main())
