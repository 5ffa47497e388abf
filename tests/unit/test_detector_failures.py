"""A failure never commits a partial transaction; repeated failures trip the circuit (exit 7)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from detector.app import DetectorError
from detector.circuit import Failure, FailureCircuit
from shared import retry
from shared.errors import ExitCode, KafkaUnreachableError, PoisonPillError
from tests.unit.detector_fakes import (
    CountingFactory,
    FakeCluster,
    Produced,
    cluster_with,
    drained,
    fake_detector,
    scored_offsets,
)


def run_clean(monkeypatch: pytest.MonkeyPatch, cluster: FakeCluster, tmp: Path,
              **kw: Any) -> None:
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp, **kw)
    detector.run(until=drained(cluster))


class FailOnce:
    """Fails the produce of one scored row, once (a transient bug)."""

    def __init__(self, offset_key: bytes, exc: BaseException) -> None:
        self.key, self.exc, self.fired = offset_key, exc, False

    def __call__(self, rec: Produced) -> None:
        if rec.topic == "transactions.scored" and not self.fired and \
                b'"transaction_id":"17"' in (rec.value or b""):
            self.fired = True
            raise self.exc


def test_an_exception_inside_a_batch_aborts_and_the_retry_scores_each_row_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cluster = cluster_with()
    cluster.on_produce = FailOnce(b"17", RuntimeError("produce blew up"))
    run_clean(monkeypatch, cluster, tmp_path)  # aborted, rewound and retried in place
    assert scored_offsets(cluster) == [(p, i) for p in range(2) for i in range(30)]
    assert cluster.aborts >= 1


def test_an_interrupt_mid_batch_aborts_at_shutdown_instead_of_committing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cluster = cluster_with()
    cluster.on_produce = FailOnce(b"17", KeyboardInterrupt())
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        detector.run(until=drained(cluster))
    committed = scored_offsets(cluster)
    # whatever was committed carries its offsets: committed rows == rows before the offsets
    assert committed == sorted((p, i) for p, n in cluster.committed_offsets.items()
                               for i in range(n))
    run_clean(monkeypatch, cluster, tmp_path)
    assert scored_offsets(cluster) == [(p, i) for p in range(2) for i in range(30)]


def test_a_group_consumer_left_with_no_broker_is_replaced_and_each_row_scored_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """librdkafka #5301 (docs/reliability.md): a consumer with no broker left never fetches
    again. Seen stranded with a transaction open, the detector aborts it, gives up the
    partitions, and a new consumer restores them from the committed offsets."""
    cluster = cluster_with()
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path,
                             commit_interval_ms=50_000)
    first = detector._consumer
    first.stranded_after = 2  # two batches in the open transaction
    done = drained(cluster)
    late: dict[str, tuple[set[int], set[int]]] = {}

    def late_callback_of_the_old_consumer(d: Any) -> bool:
        # Its close goes on in the background: a callback it makes then is ignored.
        if d._consumer is not first and d.processor.parts and not late:
            owned = set(d.processor.parts)
            first.callbacks["on_lost"](first, [TopicPartition("transactions", 0)])
            late["owned"] = (owned, set(d.processor.parts))
        return bool(done(d))

    detector.run(until=late_callback_of_the_old_consumer)
    assert detector._consumer is not first and first.closed
    assert late["owned"] == ({0, 1}, {0, 1})
    assert cluster.aborts == 1
    assert scored_offsets(cluster) == [(p, i) for p in range(2) for i in range(30)]


def test_a_transactional_producer_left_with_no_broker_is_replaced_its_transaction_aborted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """librdkafka #5301 for the detector's own producer: each commit and abort would only time
    out (10 s each, tried again) before it was replaced. Seen stranded with a transaction
    open, it is replaced at once (the new one's init_transactions ends the old one's
    transaction), the partitions rewound, and every row is scored once."""
    cluster = cluster_with()
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path,
                             commit_interval_ms=50_000)
    first = detector._txn.producer
    first.stranded_after = 3  # a transaction open with rows in it by then
    detector.run(until=drained(cluster))
    assert detector._txn.producer is not first and cluster.producers == 2
    assert first.pending and cluster.aborts == 0  # never asked to abort: it cannot reach one
    assert detector.processor.output._producer is detector._txn.producer
    assert scored_offsets(cluster) == [(p, i) for p in range(2) for i in range(30)]


def test_a_stranded_producer_with_no_transaction_open_is_replaced_without_a_rewind(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cluster = cluster_with()
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path)
    detector.run(until=drained(cluster))  # every row committed: nothing open
    detector._consumer = cluster.consumer()  # the first closed at its shutdown
    first = detector._txn.producer
    first.stranded_after = first.polls + 1
    rewinds: list[int] = []
    monkeypatch.setattr(detector, "_rewind", lambda: rewinds.append(1))
    turns = {"n": 0}

    def two_turns(_: Any) -> bool:
        turns["n"] += 1
        return turns["n"] >= 2

    detector.run(until=two_turns)
    assert detector._txn.producer is not first and rewinds == []
    assert scored_offsets(cluster) == [(p, i) for p in range(2) for i in range(30)]


def test_a_failure_in_a_rebalance_callback_aborts_the_open_transaction(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cluster = cluster_with()
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path,
                             commit_interval_ms=50_000)
    turns = {"n": 0}

    def revoke_after_a_batch(_: Any) -> bool:
        turns["n"] += 1
        if turns["n"] == 2:  # a transaction is open with two batches in it
            detector._failure = RuntimeError("callback failed")
            detector._txn.ok = False
            return True
        return False

    detector.run(until=revoke_after_a_batch)
    assert cluster.committed_topics == [] and cluster.aborts == 1


def test_the_same_offset_failing_n_times_stops_with_exit_code_7(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cluster = cluster_with(partitions=1)
    calls: list[tuple[str, int, int]] = []

    def bug(step: str, p: int, off: int) -> None:
        calls.append((step, p, off))
        if step == "encode" and off == 12:
            raise ZeroDivisionError("a bug at 12")

    detector = fake_detector(monkeypatch, cluster, hook=bug, state_dir=tmp_path,
                             poison_pill_failures=3)
    with pytest.raises(PoisonPillError, match="partition 0 offset 12 failed 3 times") as err:
        detector.run(until=drained(cluster))
    assert err.value.exit_code == ExitCode.POISON_PILL and int(ExitCode.POISON_PILL) == 7
    assert sum(1 for c in calls if c == ("encode", 0, 12)) == 3
    assert all(n <= 12 for n in cluster.committed_offsets.values())
    # the count survives the process: the next run trips at its first failure
    again = fake_detector(monkeypatch, cluster, hook=bug, state_dir=tmp_path,
                          poison_pill_failures=3)
    with pytest.raises(PoisonPillError, match="failed 4 times"):
        again.run(until=drained(cluster))


def test_circuit_counts_only_consecutive_failures_at_one_offset(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    circuit = FailureCircuit(path, limit=3)
    assert circuit.failed(0, 5, ValueError("x")).count == 1
    assert FailureCircuit(path, 3).failed(0, 5, ValueError("x")).count == 2  # persisted
    assert circuit.failed(1, 5, ValueError("x")).count == 1  # another offset starts over
    circuit.failed(1, 5, ValueError("x"))
    circuit.progress({1: 5})  # not past it yet
    assert circuit.last is not None and circuit.last.count == 2
    circuit.progress({1: 6})
    assert circuit.last is None and not path.exists()
    assert FailureCircuit(path, 3).failed(1, 5, ValueError("x")).count == 1


def test_a_transaction_s_failures_are_cleared_by_any_commit_not_only_one_past_them(
    tmp_path: Path
) -> None:
    # Seen in CI: a commit fault, then a send_offsets fault on the retry, were both counted at
    # partition 1's committed offset, while commits of the other partitions went on; one more
    # before partition 1 committed (or across a restart, which resumes there) made exit 7.
    circuit = FailureCircuit(tmp_path / "f.json", limit=2)
    assert circuit.failed(1, 936, ValueError("commit"), record=False).count == 1
    circuit.progress({0: 7314, 1: 936})  # a commit succeeded, partition 1 not moved
    assert circuit.last is None and not circuit.path.exists()
    assert circuit.failed(1, 936, ValueError("send_offsets"), record=False).count == 1
    # A record's failure at that same offset is not the transaction's, nor the reverse.
    assert circuit.failed(1, 936, ValueError("x")).count == 1
    assert circuit.failed(1, 936, ValueError("y"), record=False).count == 1
    circuit.progress({1: 936})
    assert circuit.last is None


def test_a_transaction_s_failures_add_up_while_no_commit_succeeds(tmp_path: Path) -> None:
    circuit = FailureCircuit(tmp_path / "f.json", limit=3)
    assert circuit.failed(0, 5, ValueError("a"), record=False).count == 1
    # the next try's transaction starts elsewhere (partition 0 had nothing new): in a row
    assert FailureCircuit(circuit.path, 3).failed(1, 8, ValueError("b"), record=False).count == 2
    with pytest.raises(PoisonPillError, match=r"the commit \(partition 0 from offset 5\) "
                                              "failed 3 times in a row: ValueError: c"):
        FailureCircuit(circuit.path, 3).failed(0, 5, ValueError("c"), record=False)


def test_a_record_s_failure_is_cleared_only_by_a_commit_past_it(tmp_path: Path) -> None:
    circuit = FailureCircuit(tmp_path / "f.json", limit=3)
    circuit.failed(0, 5, ValueError("x"))
    for committed in ({1: 100}, {0: 5}):  # another partition moved; partition 0 not past 5
        circuit.progress(committed)
        assert circuit.last is not None and circuit.last.count == 1
    circuit.progress({0: 6})
    assert circuit.last is None


@pytest.mark.parametrize(("text", "record"), [
    ('{"partition": 0, "offset": 5, "count": 2, "error": "e"}', True),  # before 2026-12-05
    ('{"partition": 0, "offset": 5, "count": 2, "error": "e", "record": false}', False),
])
def test_a_kept_count_is_read_with_its_kind(tmp_path: Path, text: str, record: bool) -> None:
    path = tmp_path / "f.json"
    path.write_text(text)
    assert FailureCircuit(path, 9).failed(0, 5, ValueError("e"), record).count == 3
    assert FailureCircuit(path, 9).failed(0, 5, ValueError("e"), not record).count == 1


def test_a_kept_count_of_an_unknown_kind_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text('{"partition": 0, "offset": 5, "count": 2, "error": "e", "record": 1}')
    assert FailureCircuit(path, 9).last is None


def test_a_commit_failing_every_time_still_stops_with_exit_code_7(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cluster = cluster_with(partitions=2)
    tries: list[tuple[int, int]] = []

    def broken_commit(step: str, p: int, off: int) -> None:
        if step == "commit":
            tries.append((p, off))
            raise ZeroDivisionError("a bug in the commit path")

    detector = fake_detector(monkeypatch, cluster, hook=broken_commit, state_dir=tmp_path,
                             poison_pill_failures=3)
    with pytest.raises(PoisonPillError, match=r"the commit \(partition 0 from offset 0\) "
                                              "failed 3 times in a row") as err:
        detector.run(until=drained(cluster))
    assert err.value.exit_code == ExitCode.POISON_PILL
    assert len(tries) == 3 and cluster.commits == 0


def restore_failing_at(monkeypatch: pytest.MonkeyPatch, detector: Any, call: int) -> None:
    """The detector's `call`-th partition restore (from 0) raises a bug; the others pass."""
    restore = detector._restorer.restore
    calls = iter(range(1_000))

    def restoring(p: int, committed: int | None, reread: Any = None) -> Any:
        if next(calls) == call:
            raise RuntimeError("a bug in the restore")
        return restore(p, committed, reread)

    monkeypatch.setattr(detector._restorer, "restore", restoring)


def _one_fault_then_a_failing_rewind(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                     step: str, offset: int) -> Failure | None:
    """One transient fault at (`step`, `offset`) of partition 0, then the rewind's restore
    fails (a bug), ending the process: what the circuit kept."""
    cluster = cluster_with(partitions=1)
    faults = iter([True])

    def once(at: str, p: int, off: int) -> None:
        if (at, off) == (step, offset) and next(faults, False):
            raise ValueError("a transient fault")

    detector = fake_detector(monkeypatch, cluster, hook=once, state_dir=tmp_path,
                             poison_pill_failures=2)
    restore_failing_at(monkeypatch, detector, 1)  # the assignment's passes, the rewind's not
    with pytest.raises(RuntimeError, match="a bug in the restore"):
        detector.run(until=drained(cluster))
    return FailureCircuit(detector._circuit.path, 2).last


def test_a_rewind_failing_after_a_record_s_failure_is_not_counted_at_that_record(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The record's position was left set: the rewind's own failure, ending the process, was
    # counted at it a second time, so one transient fault and one restart made exit 7.
    last = _one_fault_then_a_failing_rewind(monkeypatch, tmp_path, "encode", 12)
    assert last is not None and (last.partition, last.offset, last.count) == (0, 12, 1)


def test_circuit_trips_at_the_limit_not_before(tmp_path: Path) -> None:
    circuit = FailureCircuit(tmp_path / "f.json", limit=2)
    circuit.failed(0, 1, ValueError("x"))
    with pytest.raises(PoisonPillError, match="partition 0 offset 1 failed 2 times"):
        circuit.failed(0, 1, ValueError("x"))


def test_unwritable_state_dir_only_warns(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    circuit = FailureCircuit(blocker / "sub" / "f.json", limit=3)
    assert circuit.failed(0, 1, ValueError("x")).count == 1
    assert circuit.failed(0, 1, ValueError("x")).count == 2  # counted in memory


@pytest.mark.skipif(not Path("/proc/1").is_dir(), reason="needs Linux /proc")
def test_a_state_dir_that_refuses_files_only_warns(caplog: pytest.LogCaptureFixture) -> None:
    # /proc/1 refuses files whatever the rights (ENOENT as root: an OutputError), not only
    # a file standing where the folder should be.
    circuit = FailureCircuit(Path("/proc/1/f.json"), limit=3)
    assert circuit.failed(0, 1, ValueError("x")).count == 1
    assert circuit.failed(0, 1, ValueError("x")).count == 2  # counted in memory
    assert "could not keep the failure count in /proc/1/f.json" in caplog.text


@pytest.mark.parametrize(("exc", "code"), [
    (PoisonPillError("partition 0 offset 12 failed 3 times"), 7),
    (KafkaUnreachableError("no broker answered"), 4),
    (DetectorError("fenced"), 2),
])
def test_python_m_detector_exits_with_the_error_s_code(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], exc: Exception,
    code: int
) -> None:
    import detector.__main__ as main

    def boom(*_: Any) -> int:
        raise exc

    monkeypatch.setattr("detector.app.run_service", boom)  # main imports it when called
    assert main.main([]) == code
    err = capfd.readouterr().err
    assert "Traceback" not in err and str(exc) in err


def test_detect_without_a_broker_exits_4_with_a_few_lines_and_no_traceback(
    tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    # The detector's own start-up wait (default 180 s, as long as a rewind's), not
    # KAFKA_STARTUP_WAIT_S: a broker restart on a loaded machine outlasts its 30 s.
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "KAFKA_STARTUP_WAIT_S": "1",
           "DETECTOR_STARTUP_WAIT_S": "4", "DETECTOR_STATE_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "detector"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == ExitCode.KAFKA_UNREACHABLE and int(ExitCode.KAFKA_UNREACHABLE) == 4
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) <= 5, lines
    assert "Traceback" not in done.stderr
    assert "no Kafka broker answered at 127.0.0.1:1 within 4 s" in done.stderr


class BrokerDownFor:
    """`committed()` raises librdkafka's transient errors `n` times (a broker restarting)."""

    def __init__(self, n: int) -> None:
        self.left = n

    def __call__(self, original: Any) -> Any:
        def committed(tps: Any, timeout: float = 0) -> Any:
            if self.left > 0:
                self.left -= 1
                raise KafkaException(KafkaError(KafkaError._TRANSPORT, "broker down"))
            return original(tps, timeout)
        return committed


class FailingRewinds:
    """A consumer's `committed()` whose first call (the assignment's restore) works and whose
    later ones (the rewinds after the abort) are `fail(original, tps, timeout)`."""

    def __init__(self, original: Any, fail: Callable[[Any, Any, float], Any]) -> None:
        self.original, self.fail, self.calls = original, fail, 0

    def __call__(self, tps: Any, timeout: float = 0) -> Any:
        self.calls += 1
        if self.calls > 1:
            return self.fail(self.original, tps, timeout)
        return self.original(tps, timeout)


def rewinds_failing(monkeypatch: pytest.MonkeyPatch, tmp: Path,
                    fail: Callable[[Any, Any, float], Any], retry_s: float | None = None
                    ) -> tuple[Any, FakeCluster, FailingRewinds]:
    """A detector on `cluster_with()` whose produce of row 17 fails once (an abort, then a
    rewind) and whose rewinds' `committed()` calls `fail`, retried without a pause for
    `retry_s` (None: the default)."""
    import detector.ownership as ownership

    monkeypatch.setattr(retry, "PAUSE_S", 0.0)
    if retry_s is not None:
        monkeypatch.setattr(ownership, "REWIND_RETRY_S", retry_s)
    cluster = cluster_with()
    cluster.on_produce = FailOnce(b"17", RuntimeError("produce blew up"))
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp)
    committed = FailingRewinds(detector._consumer.committed, fail)
    detector._consumer.committed = committed
    return detector, cluster, committed


def test_a_broker_outage_while_rewinding_after_an_abort_is_waited_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    outage = BrokerDownFor(3)
    detector, cluster, _ = rewinds_failing(
        monkeypatch, tmp_path, lambda original, tps, timeout: outage(original)(tps, timeout))
    detector.run(until=drained(cluster))
    assert outage.left == 0
    assert scored_offsets(cluster) == [(p, i) for p in range(2) for i in range(30)]


def test_a_rewind_that_cannot_reach_the_broker_in_time_ends_with_exit_4(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def down(original: Any, tps: Any, timeout: float) -> Any:  # on every try
        return BrokerDownFor(1)(original)(tps, timeout)

    detector, cluster, _ = rewinds_failing(monkeypatch, tmp_path, down, retry_s=0.0)
    # Exit 4 (no broker answered), no longer 2 (usage/config): a supervisor restarts it.
    with pytest.raises(KafkaUnreachableError) as info:
        detector.run(until=drained(cluster))
    assert info.value.exit_code == ExitCode.KAFKA_UNREACHABLE
    assert "broker down" in str(info.value)
    assert "rewinding after the abort: the Kafka cluster could not be reached" in str(info.value)


@pytest.mark.parametrize(("code", "retried"), [
    # Not an outage (a topic gone), still failing at the deadline: retried, then exit 2.
    (KafkaError.UNKNOWN_TOPIC_OR_PART, True),
    # A configuration error: waiting cannot help, exit 2 at the first failure.
    (KafkaError.GROUP_AUTHORIZATION_FAILED, False),
])
def test_a_rewind_failing_for_another_reason_is_still_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, code: int, retried: bool
) -> None:
    def refused(original: Any, tps: Any, timeout: float) -> Any:
        raise KafkaException(KafkaError(code, "refused"))

    detector, cluster, committed = rewinds_failing(monkeypatch, tmp_path, refused, retry_s=0.05)
    with pytest.raises(DetectorError) as info:
        detector.run(until=drained(cluster))
    assert info.value.exit_code == ExitCode.USAGE and "refused" in str(info.value)
    # The assignment's restore, then the rewind's tries.
    assert committed.calls > 2 if retried else committed.calls == 2


class OutageClock:
    """`ownership`'s clock, advanced by the waits themselves: a `committed()` that cannot
    reach the coordinator blocks for its whole timeout, as librdkafka's does."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(("outage_s", "waited_out"), [(75.0, True), (185.0, False)])
def test_a_rewind_waits_out_a_broker_restart_of_a_loaded_machine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, outage_s: float, waited_out: bool
) -> None:
    # Measured in the fault suite at load 12-14: the broker restart took 42-58 s, and the
    # group coordinator answered committed() 16 s after the broker was up; the rewind gave
    # up after 60 s and the detector exited 2 (seed 20261124, 16:38). 75 s must be waited
    # out; an outage beyond REWIND_RETRY_S (180 s) still ends the process, with exit 4.
    from confluent_kafka import KafkaError, KafkaException

    import detector.ownership as ownership

    clock = OutageClock()
    monkeypatch.setattr(ownership, "time", clock)
    cluster = cluster_with()
    cluster.on_produce = FailOnce(b"17", RuntimeError("produce blew up"))
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path)
    consumer = detector._consumer
    original, down_until = consumer.committed, None

    def committed(tps: Any, timeout: float = 0) -> Any:
        nonlocal down_until
        if down_until is None and cluster.aborts:  # the broker goes at the abort
            down_until = clock.now + outage_s
        if down_until is not None and clock.now < down_until:
            clock.sleep(timeout)
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT,
                                            "Failed to get committed offsets: Local: Timed out"))
        return original(tps, timeout)

    consumer.committed = committed
    detector._offset_reader = lambda: ReaderOf(committed)  # a new client: down as well
    if waited_out:
        detector.run(until=drained(cluster))
        assert scored_offsets(cluster) == [(p, i) for p in range(2) for i in range(30)]
    else:
        with pytest.raises(KafkaUnreachableError) as info:
            detector.run(until=drained(cluster))
        assert info.value.exit_code == ExitCode.KAFKA_UNREACHABLE
    assert down_until is not None


class ReaderOf:
    """A new client of the group whose `committed()` is `committed`."""

    def __init__(self, committed: Callable[..., Any]) -> None:
        self.committed, self.closed = committed, False

    def close(self) -> None:
        self.closed = True


def test_a_consumer_left_without_its_broker_after_a_restart_reads_offsets_anew(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The fault suite's stall (CI, 2026-12-01): after a broker restart the detector's own
    # consumer timed out on committed() every try for 3 minutes (librdkafka 2.16 had lost
    # its only broker and finds it again only when polled), while new clients of the group
    # were answered at once. The rewind now asks a new client when its consumer times out.
    import detector.ownership as ownership

    clock = OutageClock()
    monkeypatch.setattr(ownership, "time", clock)
    monkeypatch.setattr(retry, "PAUSE_S", 0.0)
    cluster = cluster_with()
    cluster.on_produce = FailOnce(b"17", RuntimeError("produce blew up"))
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path)
    original = detector._consumer.committed

    def stuck(tps: Any, timeout: float = 0) -> Any:
        if cluster.aborts:  # from the abort on, never again
            clock.sleep(timeout)
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT,
                                            "Failed to get committed offsets: Local: Timed out"))
        return original(tps, timeout)

    readers: list[ReaderOf] = []

    def reader() -> ReaderOf:
        readers.append(ReaderOf(original))
        return readers[-1]

    detector._consumer.committed = stuck
    detector._offset_reader = reader
    start = clock.now
    detector.run(until=drained(cluster))
    assert scored_offsets(cluster) == [(p, i) for p in range(2) for i in range(30)]
    assert cluster.aborts >= 1 and readers and all(r.closed for r in readers)
    assert clock.now - start <= 2 * ownership.REWIND_TRY_S  # one try, not the 180 s wait


def test_an_error_other_than_a_timeout_is_not_asked_of_a_new_client(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def refused(original: Any, tps: Any, timeout: float) -> Any:
        raise KafkaException(KafkaError(KafkaError._TRANSPORT, "broker down"))

    detector, cluster, _ = rewinds_failing(monkeypatch, tmp_path, refused, retry_s=0.0)
    readers: list[object] = []
    detector._offset_reader = lambda: readers.append(1)
    with pytest.raises(KafkaUnreachableError):
        detector.run(until=drained(cluster))
    assert readers == []


class SilentConsumer:
    """A restore's reader that gets nothing at all: the broker went away mid-read."""

    def __init__(self, clock: OutageClock) -> None:
        self.clock = clock

    def get_watermark_offsets(self, tp: Any, timeout: float = 0) -> tuple[int, int]:
        return 0, 100

    def assign(self, tps: Any) -> None:
        pass

    def unassign(self) -> None:
        pass

    def consume(self, num_messages: int = 1, timeout: float = 0) -> list[Any]:
        self.clock.sleep(timeout)
        return []


def test_a_restore_read_silent_for_its_timeout_is_retried_by_the_rewind_not_exit_2(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    # The read of a restore (the state topic, then the input's replay) that hears nothing for
    # READ_TIMEOUT_S (60 s) raised KafkaWiringError, exit 2 at once: a broker restart of
    # 42-58 s plus the coordinator's load outlasts it. It is now a retriable KafkaException,
    # waited out like any unreachable cluster by the rewind's retries (REWIND_RETRY_S).
    from confluent_kafka import KafkaError, KafkaException

    import detector.kafka_io as kafka_io
    from detector.settings import DetectorSettings

    clock = OutageClock()
    monkeypatch.setattr(kafka_io, "time", clock)
    consumer = SilentConsumer(clock)
    monkeypatch.setattr(kafka_io, "make_consumer", lambda *a, **k: consumer)
    restorer = kafka_io.Restorer(DetectorSettings(instance_id="t"), CountingFactory(), 1)
    start = clock.now
    with pytest.raises(KafkaException) as info:
        list(restorer._read("transactions", 0, 0, None))
    err = info.value.args[0]
    assert err.code() == KafkaError._TIMED_OUT and not err.fatal()
    assert "transactions[0]" in err.str()
    assert kafka_io.READ_TIMEOUT_S <= clock.now - start < kafka_io.READ_TIMEOUT_S + 1


def test_a_rewind_failing_after_a_core_failure_is_not_counted_at_that_batch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A core failure is isolated, not counted; the position it left was not used up, so the
    # rewind's own failure, ending the process, was counted at the batch's first record.
    assert _one_fault_then_a_failing_rewind(monkeypatch, tmp_path, "core", 7) is None


def test_a_restore_failing_is_not_counted_at_the_partition_restored_before_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The replay of partition 0 left its position in the restorer's context: partition 1's
    # restore failing at each start was counted at partition 0's offset 0, long committed,
    # and the third start exited 7 telling to skip that record.
    cluster = cluster_with(partitions=2)
    run_clean(monkeypatch, cluster, tmp_path)
    for _ in range(3):
        detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path,
                                 poison_pill_failures=3)
        restore = detector._restorer.restore

        def failing_on_1(p: int, committed: int | None, reread: Any = None,
                         restore: Any = restore) -> Any:
            if p == 1:
                raise RuntimeError("a bug in partition 1's restore")
            return restore(p, committed, reread)

        monkeypatch.setattr(detector._restorer, "restore", failing_on_1)
        with pytest.raises(RuntimeError, match="partition 1's restore"):
            detector.run(until=drained(cluster))
    last = FailureCircuit(detector._circuit.path, 3).last
    assert last is None or last.partition == 1, last


def test_a_kafka_error_producing_a_row_is_retried_not_counted_at_the_record(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # docs/detector.md: a repeated Kafka error that aborts the transaction is retried with
    # a warning each time, not counted. One raised by produce() (librdkafka's _STATE once a
    # delivery failed and the transaction must abort) was counted at the row being produced:
    # exit 7 after 3, its advice to skip a good record.
    cluster = cluster_with(partitions=1)
    left = {"n": 5}

    def refused(rec: Produced) -> None:
        if left["n"] and b'"transaction_id":"17"' in (rec.value or b""):
            left["n"] -= 1
            raise KafkaException(KafkaError(KafkaError._STATE,
                                            "Operation not valid in state AbortableError"))

    cluster.on_produce = refused
    run_clean(monkeypatch, cluster, tmp_path, poison_pill_failures=3)
    assert left["n"] == 0
    assert scored_offsets(cluster) == [(0, i) for i in range(30)]


def test_a_stranded_producer_s_transaction_leaves_nothing_pending_for_the_circuit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The stranded producer's transaction was discarded without its partitions forgotten:
    # the rewind's own failure right after was counted as a failure of "the commit".
    cluster = cluster_with()
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path,
                             commit_interval_ms=50_000)
    detector._txn.producer.stranded_after = 3  # a transaction open with rows in it by then
    restore_failing_at(monkeypatch, detector, 2)  # the assignment's 2 pass, the rewind's not
    with pytest.raises(RuntimeError, match="a bug in the restore"):
        detector.run(until=drained(cluster))
    assert cluster.producers == 2 and cluster.commits == 0
    assert FailureCircuit(detector._circuit.path, 3).last is None


def test_the_circuit_tripping_at_the_shutdown_s_commit_is_exit_7_even_if_the_abort_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The circuit logged "Exiting with code 7"; the abort that followed in a `finally`,
    # refused, replaced its PoisonPillError with a DetectorError: exit 2, restarted.
    cluster = cluster_with(partitions=1)
    stopping = {"now": False}

    def broken_commit(step: str, p: int, off: int) -> None:
        if step == "commit" and stopping["now"]:
            raise ZeroDivisionError("a bug in the commit path")

    def refused(step: str) -> None:
        if step == "abort":
            raise KafkaException(KafkaError(KafkaError.INVALID_TXN_STATE, "refused"))

    detector = fake_detector(monkeypatch, cluster, hook=broken_commit, state_dir=tmp_path,
                             poison_pill_failures=1, commit_interval_ms=50_000)

    def stop_with_a_transaction_open(_: Any) -> bool:
        stopping["now"] = True
        cluster.on_txn = refused
        return True

    with pytest.raises(PoisonPillError) as err:
        detector.run(until=stop_with_a_transaction_open)
    assert err.value.exit_code == ExitCode.POISON_PILL


def test_a_checkpoint_failing_every_time_blames_the_transaction_not_a_record(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A state checkpoint written in the batch's transaction is no record's: failing again
    and again, it trips the circuit as the transaction's failure (its partition's committed
    offset), never naming the batch's last record as poison to skip (it named offset 13)."""
    cluster = cluster_with(partitions=1)

    def state_write_bug(rec: Produced) -> None:
        if rec.topic == "transactions.detector-snapshots":
            raise ValueError("a bug writing the state")

    cluster.on_produce = state_write_bug
    # Batches of 7: [0, 6] commits, [7, 13] is due a checkpoint (14 records since 0).
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path, snapshot_every=10,
                             poison_pill_failures=3)
    with pytest.raises(PoisonPillError, match=r"the commit \(partition 0 from offset 7\) "
                                              "failed 3 times in a row") as err:
        detector.run(until=drained(cluster))
    assert "a bug writing the state" in str(err.value)
    assert cluster.committed_offsets == {0: 7}
    last = FailureCircuit(detector._circuit.path, 3).last
    assert last is not None and (last.partition, last.offset, last.record) == (0, 7, False)
