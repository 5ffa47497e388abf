"""Rights (ACLs) refused to a service, against a real broker that enforces them.

One broker for the module (`authz_broker`: Kafka's `StandardAuthorizer`); the services sign
in over SASL_PLAINTEXT as a user granted every right they need but one, as a user would set
them up. A right missing at the start, or taken back while a service runs, ends the service
with exit 2 and one line naming the right (operation, topic or group) and the `KAFKA_`
settings, within seconds, nothing sent or committed without it; once granted, a restart goes
on exactly where it stopped. The sink's consumer group only serves lag monitoring: its right
missing is one warning, and the exports are whole.

Before (2026-12-06, helper session 15): a topic's Write refused to the detector was a loop
of aborts and producer replacements for 10-20 s, then "failed fatally 6 times in a row" (no
right named), or, the state topic's, aborts for ever; the input's Read or the group's Read
refused, a detector that ran for ever, idle, "lag 0" (a warning every 2 s for the group); the
sink refused its topics' Read ran for ever, silent; the replay refused Write sent every row
to fail, then exit 3 ("Kafka accepted the work but did not finish it").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from confluent_kafka.admin._acl import AclOperation
from confluent_kafka.admin._resource import ResourceType

from shared.codec import encode
from shared.errors import ExitCode
from shared.kafka import TopicSpec, ensure_topics, make_producer
from tests.integration.authz_broker import Acl, AuthzBroker
from tests.integration.detector_harness import ROOT, Topics
from tests.integration.pipeline_harness import generate_csv
from tests.integration.topic_reader import read_all
from tests.unit.test_rollup_pandas import random_scored

pytestmark = pytest.mark.integration

PARTITIONS = 2
READ, WRITE = AclOperation.READ, AclOperation.WRITE
TOPIC, GROUP = ResourceType.TOPIC, ResourceType.GROUP
#: How soon a missing right must end a service once it has said anything: its first log
#: line comes with its first Kafka request (loading the detector's core before it takes
#: 20 s on this shared 2-core machine at load 6-10).
SOON_S = 10.0
#: How long a service that does not end is left to run before the test gives up on it.
RUN_S = 40.0


@dataclass(frozen=True)
class Case:
    """One test's names: its topics, groups and transactional id."""

    topics: Topics

    @property
    def reviews(self) -> str:
        return f"{self.topics.base}-reviews"

    @property
    def detector_group(self) -> str:
        return f"{self.topics.base}-detector"

    @property
    def sink_group(self) -> str:
        return f"{self.topics.base}-sink"

    def name(self, what: str) -> str:
        """A resource's name by its role in `RIGHTS`."""
        return {"input": self.topics.input, "scored": self.topics.scored,
                "dlq": self.topics.dlq, "state": self.topics.snapshots,
                "reviews": self.reviews, "detector group": self.detector_group,
                "sink group": self.sink_group}[what]

    def rights(self) -> list[Acl]:
        """Every right the three services need (Create, for the topics they create)."""
        t = self.topics
        rights: list[Acl] = [(TOPIC, n, op) for n in (t.input, t.scored, t.dlq, t.snapshots,
                                                        self.reviews)
                               for op in (AclOperation.CREATE, READ, WRITE)]
        rights += [(GROUP, g, READ) for g in (self.detector_group, self.sink_group)]
        rights.append((ResourceType.TRANSACTIONAL_ID, f"{self.detector_group}-a", WRITE))
        return rights

    def right(self, what: str, op: AclOperation) -> Acl:
        return (GROUP if what.endswith("group") else TOPIC, self.name(what), op)

    def env(self, broker: AuthzBroker, tmp: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
        return env | self.topics.env() | broker.env() | {
            "PYTHONPATH": str(ROOT), "AUDITSTREAM_REVIEWS_TOPIC": self.reviews,
            "SINK_GROUP_ID": self.sink_group, "DETECTOR_INSTANCE_ID": "a",
            "DETECTOR_STATE_DIR": str(tmp / "state"), "DETECTOR_SNAPSHOT_EVERY": "50",
            "DETECTOR_SESSION_TIMEOUT_MS": "6000", "DETECTOR_LOG_INTERVAL_S": "2",
            # long waits: a missing right must end the service, not a wait
            "DETECTOR_STARTUP_WAIT_S": "60", "SINK_STARTUP_WAIT_S": "60"}


@dataclass
class Ended:
    """A command run until it ended (code None: still running after `RUN_S`, then killed)."""

    code: int | None
    took: float
    stderr: str
    at: float = field(default_factory=time.time)
    #: Whether `spoke` counts from its first log line (a run from its start), not `took`
    #: (from a right taken back while it ran).
    from_start: bool = True

    @property
    def spoke(self) -> float:
        """Seconds from its first timestamped log line (or `took` ago) to its end."""
        for line in self.stderr.splitlines() if self.from_start else []:
            try:
                first = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            except ValueError:
                continue
            return self.at - first.timestamp()
        return self.took

    @property
    def errors(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if ": error: " in line]


def _generated(folder: Path, seed: int) -> tuple[Path, int]:
    path = folder / f"payments-{seed}.csv"
    rows = generate_csv(path, {**os.environ, "PYTHONPATH": str(ROOT)}, seed=seed, customers=20,
                        days=6)
    return path, rows


@pytest.fixture(scope="module")
def csv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    return _generated(tmp_path_factory.mktemp("rights-stream"), 15)


@pytest.fixture(scope="module")
def more(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """More transactions (some ids are `csv`'s: duplicates, dead letters)."""
    return _generated(tmp_path_factory.mktemp("rights-more"), 16)


@pytest.fixture
def case(authz_broker: AuthzBroker, topic_name: str) -> Iterator[Case]:
    yield Case(Topics(topic_name, PARTITIONS))
    authz_broker.revoke_all()


def _feed(broker: AuthzBroker, case: Case, csv: Path, tmp: Path) -> None:
    """The input, replayed by the super user, and one record no schema accepts (a dead
    letter for the detector to write)."""
    env = case.env(broker, tmp) | {"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
                                   "KAFKA_BOOTSTRAP_SERVERS": broker.local.bootstrap}
    for name in [k for k in env if k.startswith("KAFKA_SASL")]:
        del env[name]
    done = subprocess.run([sys.executable, "-m", "auditstream", "replay", str(csv)], env=env,
                          cwd=tmp, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    producer = make_producer(broker.admin_view)
    producer.produce(case.topics.input, b"not a transaction", b"bad", partition=0)
    assert producer.flush(30) == 0


def _scored_rows(broker: AuthzBroker, case: Case, count: int) -> None:
    """`count` scored rows in the scored topic (the super user's), as a detector commits."""
    ensure_topics(broker.admin_view, [TopicSpec(case.topics.scored, PARTITIONS)])
    producer = make_producer(broker.admin_view, **{"transactional.id": f"{case.topics.base}-f"})
    producer.init_transactions(30)
    producer.begin_transaction()
    for tx in random_scored(count, seed=15):
        producer.produce(case.topics.scored, key=tx.customer_id, value=encode(tx))
    producer.commit_transaction(30)


def _command(service: str, csv: Path, tmp: Path) -> list[str]:
    return {"detect": [sys.executable, "-m", "detector"],
            "sink": [sys.executable, "-m", "sink", "--exports", str(tmp / "exports"),
                     "--until-idle", "2"],
            "replay": [sys.executable, "-m", "auditstream", "replay", str(csv)],
            "review import": [sys.executable, "-m", "auditstream", "review", "import",
                              str(tmp / "reviews.csv")]}[service]


def _reviews_file(tmp: Path) -> None:
    """One case's outcome for `review import` (its ids not checked: no exports given)."""
    (tmp / "reviews.csv").write_text("rank,case_id,outcome,reviewer,reviewed_at,note\n"
                                     "1,case-a,confirmed,ana,2025-03-01T10:00:00Z,\n")


def _run(command: list[str], env: dict[str, str], cwd: Path, seconds: float = RUN_S) -> Ended:
    (cwd / "exports").mkdir(exist_ok=True)
    started = time.monotonic()
    proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        _out, err = proc.communicate(timeout=seconds)
        return Ended(proc.returncode, time.monotonic() - started, err)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
        return Ended(None, time.monotonic() - started, err)


def _ended(proc: subprocess.Popen[str], since: float) -> Ended:
    """`proc` waited for `RUN_S` at most (then killed: code None)."""
    try:
        _out, err = proc.communicate(timeout=RUN_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
        return Ended(None, time.monotonic() - since, err, from_start=False)
    return Ended(proc.returncode, time.monotonic() - since, err, from_start=False)


def _assert_named(ended: Ended, service: str, right: Acl) -> None:
    kind, name, op = right
    words = (f"{op.name.capitalize()} on {kind.name.lower()} {name}", "KAFKA_SASL_USERNAME",
             "KAFKA_SECURITY_PROTOCOL")
    shown = (f"exit {ended.code} in {ended.took:.1f} s ({ended.spoke:.1f} s after its first "
             f"line): {ended.errors or ended.stderr[-3000:]}")
    print(f"\n{service} without {op.name} on {name}: {shown}")
    assert ended.code == ExitCode.USAGE, shown
    assert ended.spoke < SOON_S, (ended.spoke, shown)
    assert "Traceback" not in ended.stderr, shown
    assert len(ended.errors) == 1, shown
    assert all(w in ended.errors[0] for w in words), (words, ended.errors)


@pytest.mark.parametrize(("service", "what", "op"), [
    ("detect", "input", READ), ("detect", "scored", WRITE), ("detect", "dlq", WRITE),
    ("detect", "state", WRITE), ("detect", "state", READ), ("detect", "detector group", READ),
    ("sink", "scored", READ), ("sink", "reviews", READ), ("replay", "input", WRITE),
    ("review import", "reviews", WRITE)])
def test_a_right_missing_at_the_start_ends_the_service_in_one_line_naming_it(
    service: str, what: str, op: AclOperation, authz_broker: AuthzBroker, case: Case,
    csv: tuple[Path, int], tmp_path: Path,
) -> None:
    missing = case.right(what, op)
    authz_broker.grant(r for r in case.rights() if r != missing)
    if service == "detect":
        _feed(authz_broker, case, csv[0], tmp_path)
    if service == "sink":
        _scored_rows(authz_broker, case, 50)
    if service == "review import":
        _reviews_file(tmp_path)
    ended = _run(_command(service, csv[0], tmp_path), case.env(authz_broker, tmp_path),
                 tmp_path)
    _assert_named(ended, service, missing)
    if service == "replay":  # nothing sent: a run once granted sends each row once
        ensure_topics(authz_broker.admin_view, [TopicSpec(case.topics.input, PARTITIONS)])
        assert read_all(authz_broker.admin_view, case.topics.input, PARTITIONS, 0,
                        timeout=5) == []
    if service == "review import":  # nothing sent
        assert read_all(authz_broker.admin_view, case.reviews, 1, 0, timeout=5) == []


@pytest.mark.parametrize(("what", "op"), [("scored", WRITE), ("detector group", READ)])
def test_a_right_taken_back_from_a_running_detector_ends_it_and_a_restart_once_granted_loses_and_doubles_nothing(  # noqa: E501
    what: str, op: AclOperation, authz_broker: AuthzBroker, case: Case, csv: tuple[Path, int],
    more: tuple[Path, int], tmp_path: Path,
) -> None:
    path, rows = csv
    missing = case.right(what, op)
    authz_broker.grant(case.rights())
    env = case.env(authz_broker, tmp_path)
    _feed(authz_broker, case, path, tmp_path)
    proc = subprocess.Popen(_command("detect", path, tmp_path), env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        first = read_all(authz_broker.admin_view, case.topics.scored, PARTITIONS, rows,
                         timeout=90, settle=0.5)
        assert len(first) == rows
        authz_broker.revoke([missing])
        _feed(authz_broker, case, more[0], tmp_path)  # more transactions to score
        ended = _ended(proc, time.monotonic())  # from when there is something to write
    finally:
        proc.kill()
    _assert_named(ended, "detect", missing)
    authz_broker.grant([missing])
    again = subprocess.Popen(_command("detect", path, tmp_path), env=env, cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        total = rows + more[1] + 2  # both feeds and their bad records
        scored = read_all(authz_broker.admin_view, case.topics.scored, PARTITIONS, rows,
                          timeout=90, settle=0)
        dead = read_all(authz_broker.admin_view, case.topics.dlq, PARTITIONS, 2, timeout=30,
                        settle=0)
        while len(scored) + len(dead) < total and time.monotonic() < deadline:
            scored = read_all(authz_broker.admin_view, case.topics.scored, PARTITIONS, 0,
                              timeout=1, settle=0.5)
            dead = read_all(authz_broker.admin_view, case.topics.dlq, PARTITIONS, 0,
                            timeout=1, settle=0.5)
        # read again for 2 s: a surplus (a record handled twice) would show
        scored = read_all(authz_broker.admin_view, case.topics.scored, PARTITIONS, 0,
                          timeout=5, settle=2.0)
        dead = read_all(authz_broker.admin_view, case.topics.dlq, PARTITIONS, 0, timeout=5,
                        settle=2.0)
    finally:
        again.terminate()
        assert again.wait(60) == 0
    # every input record once: scored, or a dead letter (a bad record; a transaction id of
    # the second feed the first had in that partition: generated ids repeat across seeds)
    assert len(scored) + len(dead) == total, (len(scored), len(dead), total)
    assert len(scored) >= rows
    sources = [(row["source_partition"], row["source_offset"])
               for row in (json.loads(m.value() or b"{}") for m in scored)]
    assert len(set(sources)) == len(sources)  # no input record scored twice


@pytest.mark.parametrize("described", [False, True])
def test_a_sink_refused_its_group_warns_once_and_exports_every_row(
    authz_broker: AuthzBroker, case: Case, csv: tuple[Path, int], tmp_path: Path,
    described: bool,
) -> None:
    """The group holds no progress of the sink's (its checkpoint does): lag monitoring.
    Refused even Describe, its coordinator's lookup says so (the consumer's error); granted
    Describe without Read, the lookup succeeds and a commit's result says so."""
    missing = case.right("sink group", READ)
    authz_broker.grant([r for r in case.rights() if r != missing]
                       + ([case.right("sink group", AclOperation.DESCRIBE)] if described else []))
    _scored_rows(authz_broker, case, 300)
    ended = _run(_command("sink", csv[0], tmp_path), case.env(authz_broker, tmp_path),
                 tmp_path, seconds=90)
    assert ended.code == 0, ended.stderr[-3000:]
    warned = [line for line in ended.stderr.splitlines() if f"Read on group {case.sink_group}"
              in line]
    assert len(warned) == 1 and "WARNING" in warned[0], ended.stderr[-3000:]
    assert "KAFKA_SASL_USERNAME" in warned[0]
    assert json.loads((tmp_path / "exports" / "run.json").read_text())["rows"] == 300


def _rows_exported(folder: Path) -> int:
    try:
        return int(json.loads((folder / "run.json").read_text())["rows"])
    except (FileNotFoundError, ValueError, KeyError):
        return 0


def test_read_taken_back_from_a_running_sink_ends_it_and_a_restart_once_granted_exports_each_row_once(  # noqa: E501
    authz_broker: AuthzBroker, case: Case, csv: tuple[Path, int], tmp_path: Path,
) -> None:
    missing = case.right("scored", READ)
    authz_broker.grant(case.rights())
    env = case.env(authz_broker, tmp_path)
    _scored_rows(authz_broker, case, 50)
    exports = tmp_path / "exports"
    exports.mkdir()
    command = [sys.executable, "-m", "sink", "--exports", str(exports)]
    proc = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while _rows_exported(exports) < 50 and proc.poll() is None:
            assert time.monotonic() < deadline, "the sink's first 50 rows"
            time.sleep(0.25)
        authz_broker.revoke([missing])
        taken = time.monotonic()
        _scored_rows(authz_broker, case, 50)
        ended = _ended(proc, taken)
    finally:
        proc.kill()
    _assert_named(ended, "sink", missing)
    authz_broker.grant([missing])
    again = _run([*command, "--until-idle", "2"], env, tmp_path, seconds=90)
    assert again.code == 0, again.stderr[-3000:]
    assert _rows_exported(exports) == 100


def _input_write_taken_back(authz_broker: AuthzBroker, case: Case, command: list[str],
                            tmp_path: Path, service: str) -> Ended:
    """`command` run with every right, its Write on the input topic taken back once 20 of
    its rows are there; how it ended, asserted to name that right."""
    missing = case.right("input", WRITE)
    authz_broker.grant(case.rights())
    ensure_topics(authz_broker.admin_view, [TopicSpec(case.topics.input, PARTITIONS)])
    proc = subprocess.Popen(command, env=case.env(authz_broker, tmp_path), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        read_all(authz_broker.admin_view, case.topics.input, PARTITIONS, 20, timeout=60,
                 settle=0)
        authz_broker.revoke([missing])
        ended = _ended(proc, time.monotonic())
    finally:
        proc.kill()
    _assert_named(ended, service, missing)
    return ended


def test_write_taken_back_from_a_running_replay_stops_it_in_one_line_after_its_summary(
    authz_broker: AuthzBroker, case: Case, csv: tuple[Path, int], tmp_path: Path,
) -> None:
    path, rows = csv
    command = [*_command("replay", path, tmp_path), "--rate", "40"]  # about 5 s
    ended = _input_write_taken_back(authz_broker, case, command, tmp_path, "replay")
    sent = read_all(authz_broker.admin_view, case.topics.input, PARTITIONS, 20, timeout=5)
    assert 20 <= len(sent) < rows
    assert f"{len(sent):,} of {rows:,} row(s) were delivered" in ended.errors[0]


#: `auditstream generate` with every message handed to Kafka 25 ms after the last (it has no
#: `--rate`: its rows go out in a second), so that a right can be taken back while it sends.
_SLOWED = """import runpy, sys, time
import shared.kafka
fast = shared.kafka.WatchedProducer.produce
def produce(self, *args, **kwargs):
    time.sleep(0.025)
    return fast(self, *args, **kwargs)
shared.kafka.WatchedProducer.produce = produce
sys.argv[0] = "auditstream"
runpy.run_module("auditstream", run_name="__main__")
"""


def test_write_taken_back_from_a_running_generate_stops_it_in_one_line_naming_it(
    authz_broker: AuthzBroker, case: Case, tmp_path: Path,
) -> None:
    # as the replay's (above): the same line, after its summary (before: exit 3, the
    # summary's UNDELIVERED line alone, no right named)
    command = [sys.executable, "-c", _SLOWED, "generate", "--publish", "--customers", "20",
               "--days", "6", "--seed", "15"]
    ended = _input_write_taken_back(authz_broker, case, command, tmp_path, "generate")
    sent = read_all(authz_broker.admin_view, case.topics.input, PARTITIONS, 20, timeout=5)
    rows = int(ended.stderr.split("generated ", 1)[1].split(" ", 1)[0].replace(",", ""))
    assert 20 <= len(sent) < rows
    assert f"{len(sent):,} of {rows:,} row(s) were delivered" in ended.errors[0]
