"""Helpers of the whole-pipeline tests: CSV in, replay, detector, sink, exports compared.

Every stage runs as the real command (`auditstream generate`, `python -m auditstream replay`,
`python -m detector`, `python -m sink`, `auditstream score`) in a child process, against the
session's broker, on topics and groups no other test uses.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from shared.kafka import DeliveryTracker, WatchedProducer, make_watched_producer, unstranded
from shared.settings import KafkaSettings
from tests.integration.detector_harness import ROOT, Topics, read_all
from tests.scored_days import read_scored

PY = sys.executable
#: The packages every child process runs, copied once per test (see `freeze_sources`).
PACKAGES = ("auditstream", "shared", "producer", "detector", "sink", "dashboard")
#: The rollups that must not depend on the order rows arrive in.
ROLLUP_FILES = ("thresholds.csv", "metrics_by_type.csv", "confusion_matrix.csv")
SINK_STATE = ".sink-state.json"
#: Small model knobs so a few thousand rows already fit and refit the Isolation Forest on
#: every partition (a pipeline test then covers model versions, not only the rules).
PIPELINE_CORE_ENV = {
    "DETECTOR_CORE__FIRST_FIT_AFTER": "300",
    "DETECTOR_CORE__REFIT_EVERY": "400",
    "DETECTOR_CORE__REFIT_DELAY": "100",
    "DETECTOR_CORE__N_TREES": "20",
}


def freeze_sources(dest: Path) -> Path:
    """Copy the project's packages as they are now into `dest` and return it.

    Every child process of one test runs from this copy, so a file edited in the working
    tree during the run (other engineers share it) cannot give a detector restarted later,
    and the offline reference started earlier, two different versions of the core.
    """
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, dest / pkg,
                        ignore=shutil.ignore_patterns("__pycache__", "sample_exports"))
    # The tests' own entry points too (the detector with a fault hook, the poison corpus).
    shutil.copytree(ROOT / "tests", dest / "tests",
                    ignore=shutil.ignore_patterns("__pycache__", "data", "browser", "unit"))
    return dest


def base_env(kafka: KafkaSettings, topics: Topics, core: dict[str, str],
             src: Path) -> dict[str, str]:
    """Environment every stage of one pipeline shares: code, broker, topics, groups, core."""
    return {**os.environ, "PYTHONPATH": str(src),
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, **topics.env(), **core,
            "SINK_GROUP_ID": f"{topics.base}-sink"}


def run_cli(args: Sequence[str], env: dict[str, str], timeout: float = 120.0) -> str:
    """Run `python -m auditstream ARGS` (from the frozen sources) to the end; fail if it fails."""
    done = subprocess.run([PY, "-m", "auditstream", *args], cwd=env["PYTHONPATH"], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"auditstream {' '.join(args)}: {done.stderr[-3000:]}"
    return done.stderr + done.stdout


def generate_csv(path: Path, env: dict[str, str], *, seed: int, customers: int,
                 days: int) -> int:
    """`auditstream generate --out PATH` (realistic recipe); return its row count."""
    run_cli(["generate", "--seed", str(seed), "--customers", str(customers), "--days",
             str(days), "--out", str(path)], env)
    with path.open("rb") as fh:
        return sum(1 for _ in fh) - 1


@dataclass
class Service:
    """One service (`python -m MODULE ARGS`) as a child process, a log file per start."""

    name: str
    args: tuple[str, ...]
    env: dict[str, str]
    log_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    #: When the current process was started (wall clock, `time.time()`).
    started_at: float = 0.0

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}-{self.starts}.log"

    def start(self) -> Service:
        self.starts += 1
        self.started_at = time.time()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen([PY, "-m", *self.args], cwd=self.env["PYTHONPATH"],
                                         env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def silent_for(self) -> float:
        """Seconds since this start's log last grew."""
        return time.time() - self.log_path.stat().st_mtime

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM and wait; a process still there after `timeout` is killed (code -9)."""
        assert self.proc is not None
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.wait(10)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def wait_for(self, text: str, timeout: float) -> None:
        """Block until this start's log contains `text` (fail if the process dies first)."""
        deadline = time.monotonic() + timeout
        while text not in self.log_path.read_text(errors="replace"):
            assert self.alive(), self.logs()[-3000:]
            assert time.monotonic() < deadline, f"{self.name}: no {text!r} within {timeout}s"
            time.sleep(0.05)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")
                         for p in sorted(self.log_dir.glob(f"{self.name}-*.log")))


def detector(instance: str, env: dict[str, str], log_dir: Path) -> Service:
    """`python -m detector` as instance `instance` (its own transactional id and member)."""
    return Service(f"detector-{instance}", ("detector",), {
        **env, "DETECTOR_INSTANCE_ID": instance, "DETECTOR_LOG_INTERVAL_S": "2",
        "DETECTOR_SESSION_TIMEOUT_MS": "6000"}, log_dir)


def sink(env: dict[str, str], exports: Path, log_dir: Path, *args: str) -> Service:
    """`python -m sink --exports EXPORTS ARGS`."""
    return Service("sink", ("sink", "--exports", str(exports), *args), env, log_dir)


def replay(path: Path, env: dict[str, str], log_dir: Path, rate: float | None = None
           ) -> Service:
    """`python -m auditstream replay PATH [--rate R]`."""
    pace = ("--rate", str(rate)) if rate is not None else ()
    return Service("replay", ("auditstream", "replay", str(path), *pace), env, log_dir)


def committed_rows(folder: Path) -> int:
    """Rows the sink's checkpoint vouches for (0 before its first checkpoint)."""
    try:
        counts = json.loads((folder / SINK_STATE).read_text())["rollup"]["counts"]
    except (FileNotFoundError, ValueError, KeyError):
        return 0
    return int(np.asarray(counts).sum())


def wait_until(done: Callable[[], bool], timeout: float, what: str,
               check: Callable[[], None] = lambda: None, every: float = 0.25) -> float:
    """Poll `done` (calling `check` between polls, e.g. liveness); return seconds waited."""
    start = time.monotonic()
    while not done():
        check()
        assert time.monotonic() - start < timeout, f"{what}: not within {timeout:.0f} s"
        time.sleep(every)
    return time.monotonic() - start


def stream_and_score(source: Path, env: dict[str, str], kafka: KafkaSettings,
                     topics: Topics, n: int, tmp_path: Path) -> tuple[Path, Path]:
    """`source` replayed through one detector (stopped by SIGTERM, exit 0) once its `n`
    rows are on the scored topic, then `export_and_score`: both folders."""
    feed = replay(source, env, tmp_path).start()
    det = detector("a", env, tmp_path).start()
    assert feed.wait(60) == 0, feed.logs()[-3000:]
    try:
        published = read_all(kafka, topics.scored, topics.partitions, n, timeout=90,
                             settle=1.0)
    finally:
        code = det.terminate()
    assert code == 0, det.logs()[-3000:]
    assert len(published) == n, f"{len(published)} scored messages for {n} transactions"
    return export_and_score(source, env, topics.partitions, tmp_path)


def export_and_score(source: Path, env: dict[str, str], partitions: int,
                     tmp_path: Path) -> tuple[Path, Path]:
    """The scored topic exported by a sink until idle into `tmp_path/streamed`, and
    `auditstream score --partitions` of `source` into `tmp_path/offline`: both folders."""
    streamed_dir, offline_dir = tmp_path / "streamed", tmp_path / "offline"
    exporter = sink(env, streamed_dir, tmp_path, "--until-idle", "1").start()
    assert exporter.wait(90) == 0, exporter.logs()[-3000:]
    run_cli(["score", str(source), "--partitions", str(partitions), "--out",
             str(offline_dir)], env)
    return streamed_dir, offline_dir


def read_scored_csv(folder: Path) -> pd.DataFrame:
    """Every scored row of an exports folder (its day files) as text cells (exact
    comparison, no float parsing)."""
    return read_scored(folder)


@dataclass(frozen=True)
class RowDiff:
    """How streamed scored rows differ from reference ones."""

    rows: int
    expected: int
    lost: list[str]
    duplicated: list[str]
    changed: list[str]
    unexpected: list[str]
    columns_differing: dict[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.changed or self.unexpected)


def diff_rows(streamed: pd.DataFrame, reference: pd.DataFrame,
              ignore: Sequence[str] = ()) -> RowDiff:
    """Lost, duplicated, changed and unexpected rows, keyed by transaction_id.

    A duplicate counts once per surplus copy; a changed row is one whose first copy differs
    from the reference in any column but those in `ignore`.
    """
    assert list(streamed.columns) == list(reference.columns), (streamed.columns,
                                                               reference.columns)
    ids = streamed["transaction_id"]
    duplicated = ids[ids.duplicated()].tolist()
    first = streamed.drop_duplicates("transaction_id").set_index("transaction_id")
    ref = reference.set_index("transaction_id")
    assert ref.index.is_unique
    lost = sorted(set(ref.index) - set(first.index))
    unexpected = sorted(set(first.index) - set(ref.index))
    common = ref.index.intersection(first.index)
    cols = [c for c in ref.columns if c not in ignore]
    unequal = first.loc[common, cols] != ref.loc[common, cols]
    changed = common[unequal.any(axis=1).to_numpy()].tolist()
    per_column = {c: int(n) for c, n in unequal.sum().items() if n}
    return RowDiff(len(streamed), len(reference), lost, duplicated, changed, unexpected,
                   per_column)


def rollups_equal(a: Path, b: Path) -> dict[str, bool]:
    """Whether each order-independent rollup file is byte-identical in folders `a` and `b`."""
    return {name: (a / name).read_bytes() == (b / name).read_bytes() for name in ROLLUP_FILES}


#: How long a feeder's final flush may take: long enough to ride through a broker restart.
FLUSH_S = 180.0
#: librdkafka's debug contexts a feeder logs (when it has a log): the idempotent producer's
#: state and producer id, each message set sent or retried, partition leaders, and which
#: brokers it knows (a broker restart can leave it none: docs/reliability.md). A few
#: hundred messages give a log of about a MB; what it waited for when a flush ran out.
FEEDER_DEBUG = "eos,msg,topic,broker"


def file_logger(path: Path) -> logging.Logger:
    """A logger of its own writing to `path` (librdkafka's lines of one client)."""
    logger = logging.getLogger(f"feeder.{path}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(handler)
    return logger


class Feeder(threading.Thread):
    """Produces (key, value) pairs at `rate`/s in a thread; keeps any failure to re-raise.

    With `log`, librdkafka's lines (`FEEDER_DEBUG`) go to that file, and a flush that runs
    out names it with its last lines. `stop` ends the feeding and the flush early."""

    def __init__(self, kafka: KafkaSettings, topic: str,
                 items: Sequence[tuple[bytes, bytes | None]], rate: float,
                 log: Path | None = None) -> None:
        super().__init__(daemon=True)
        self.kafka, self.topic, self.items, self.rate = kafka, topic, items, rate
        self.log = log
        self.error: BaseException | None = None
        self.delivered = 0
        #: Messages handed to the producer, and those still in its queue at the end.
        self.produced = 0
        self.undelivered = 0
        #: Producers replaced because librdkafka left them with no broker.
        self.renewals = 0
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        try:
            # Quiet without a log: a broker restart would otherwise fill the test output
            # with connect errors.
            extra: dict[str, object] = {"log_level": 2}
            if self.log is not None:
                extra = {"logger": file_logger(self.log), "debug": FEEDER_DEBUG}
            tracker = DeliveryTracker()
            producer = make_watched_producer(self.kafka, **extra)
            start = time.monotonic()
            for n, (key, value) in enumerate(self.items, 1):
                if self._halt.is_set():
                    break
                producer.produce(self.topic, key=key, value=value, on_delivery=tracker)
                self.produced = n
                producer.poll(0)
                producer = self._checked(producer, tracker, extra)
                ahead = start + n / self.rate - time.monotonic()
                if ahead > 0:
                    self._halt.wait(ahead)
            self.undelivered = self._flush(producer, tracker, extra, FLUSH_S)
            assert self.undelivered == 0, self.stuck()
            assert tracker.failed == 0, tracker.errors
            self.delivered = tracker.delivered
        except BaseException as exc:
            self.error = exc

    def _checked(self, producer: WatchedProducer, tracker: DeliveryTracker,
                 extra: dict[str, object]) -> WatchedProducer:
        """`producer`, or a new one with its messages if librdkafka left it no broker, as
        the replay's producer does (librdkafka #5301, docs/reliability.md)."""
        checked = unstranded(producer, tracker,
                             lambda: make_watched_producer(self.kafka, **extra))
        self.renewals += checked is not producer
        return checked

    def _flush(self, producer: WatchedProducer, tracker: DeliveryTracker,
               extra: dict[str, object], seconds: float) -> int:
        """Flush for at most `seconds` (less if stopped); the messages not yet delivered.

        Counted by their delivery reports: the producer's queue length (`len`, `flush`'s
        return) counts librdkafka's protocol requests too, so 3 messages read "4 of 3"."""
        deadline = time.monotonic() + seconds

        def left() -> int:
            return self.produced - tracker.delivered - tracker.failed

        while left() and not self._halt.is_set() and time.monotonic() < deadline:
            producer = self._checked(producer, tracker, extra)
            producer.flush(min(1.0, max(deadline - time.monotonic(), 0.0)))
        return left()

    def stuck(self) -> str:
        """Why the flush ran out: the count and, with a log, librdkafka's last lines."""
        what = (f"{self.undelivered} of {self.produced} messages to {self.topic} still "
                f"undelivered after {FLUSH_S:.0f} s" + (" (stopped)" if self._halt.is_set()
                                                       else ""))
        if self.log is None:
            return what
        lines = self.log.read_text(errors="replace").splitlines()[-20:]
        return "\n".join([f"{what}; librdkafka's last lines ({self.log}):", *lines])

    def result(self, timeout: float) -> int:
        self.join(timeout)
        assert not self.is_alive(), "feeder still running"
        if self.error is not None:
            raise self.error
        return self.delivered
