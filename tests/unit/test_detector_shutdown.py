"""How a stopped detector ends: the exit code says whether its last transaction could end.

Fenced (or any fatal client error) at the shutdown commit: the clients still close, then
exit 2. A commit that aborted at shutdown (a transient Kafka error, an unexpected exception):
the transaction rolls back whole and the exit stays 0 (the next owner re-reads its rows;
nothing lost nor doubled). A SIGTERM during a rewind that waits out a broker outage stops
at once instead of waiting out the outage.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from shared import retry
from shared.entry import run_guarded
from shared.errors import ExitCode
from tests.unit.detector_fakes import (
    FakeCluster,
    cluster_with,
    drained,
    every_row_once,
    fake_detector,
)
from tests.unit.test_detector_txn_errors import fails_at, fatal


def stop_with_a_transaction_open(d: Any) -> bool:
    """An `until` that asks the detector to stop (as SIGTERM does) once a batch is open."""
    if d._txn.open:
        d.stop()
    return False


def stopping_detector(monkeypatch: pytest.MonkeyPatch, cluster: FakeCluster, tmp: Path,
                      **kw: Any) -> tuple[Any, Any]:
    """A detector that does not commit before its stop (a long commit interval)."""
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp, commit_interval_ms=50_000,
                             **kw)
    return detector, lambda: detector.run(until=stop_with_a_transaction_open)


def restart_drains(monkeypatch: pytest.MonkeyPatch, cluster: FakeCluster, tmp: Path) -> None:
    cluster.on_txn = None
    fake_detector(monkeypatch, cluster, state_dir=tmp).run(until=drained(cluster))


@pytest.mark.parametrize("code", [KafkaError._FENCED, KafkaError.PRODUCER_FENCED])
def test_being_fenced_at_the_shutdown_commit_closes_the_clients_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    code: int,
) -> None:
    cluster = cluster_with()
    cluster.on_txn = fails_at("commit", fatal(code, "fenced by a newer instance"))
    detector, run = stopping_detector(monkeypatch, cluster, tmp_path)
    before = cluster.producers
    assert run_guarded("python -m detector", run) == ExitCode.USAGE
    assert "fenced" in capsys.readouterr().err
    assert not detector._consumer.assigned  # closed (the finally block ran)
    assert detector._failure is None  # the close's revoke did not try the dead producer again
    assert cluster.commits == 0 and cluster.rows("transactions.scored") == []
    assert cluster.producers == before  # never fence the instance that fenced us
    restart_drains(monkeypatch, cluster, tmp_path)
    assert every_row_once(cluster)


@pytest.mark.parametrize("error", [
    KafkaError(KafkaError._TIMED_OUT, "coordinator went away", txn_requires_abort=True),
    KafkaError(KafkaError.INVALID_TXN_STATE, "producer state lost", fatal=True),
], ids=["abortable", "producer-failed"])
def test_an_aborted_commit_at_shutdown_rolls_back_whole_and_exits_0(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, error: KafkaError
) -> None:
    cluster = cluster_with()
    cluster.on_txn = fails_at("commit", KafkaException(error))
    detector, run = stopping_detector(monkeypatch, cluster, tmp_path)
    before = cluster.producers
    assert run_guarded("python -m detector", run) == ExitCode.OK
    # No new producer at shutdown: its init_transactions could wait out a broker outage
    # (the watchdog's exit 3); the next start's aborts the open transaction anyway.
    assert cluster.producers == before
    assert not detector._consumer.assigned
    # A failed producer cannot abort: its transaction is left to the next start's.
    assert cluster.commits == 0 and cluster.aborts == (0 if error.fatal() else 1)
    assert cluster.rows("transactions.scored") == []
    restart_drains(monkeypatch, cluster, tmp_path)
    assert every_row_once(cluster)  # the next start re-read the rolled back rows, once


class FailAtCommitOnce:
    """A fault hook raising once at the commit step (a bug, as the fault suite injects)."""

    def __init__(self) -> None:
        self.fired = False

    def __call__(self, step: str, partition: int, offset: int) -> None:
        if step == "commit" and not self.fired:
            self.fired = True
            raise RuntimeError("injected at commit")


def test_an_unexpected_exception_at_the_shutdown_commit_aborts_it_and_exits_0(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # It used to escape as a traceback (exit 1) after the close's revoke callback had
    # committed the very transaction that raised.
    cluster = cluster_with()
    hook = FailAtCommitOnce()
    detector, run = stopping_detector(monkeypatch, cluster, tmp_path, hook=hook)
    before = cluster.producers
    assert run_guarded("python -m detector", run) == ExitCode.OK
    assert hook.fired
    assert cluster.producers == before
    assert cluster.commits == 0 and cluster.aborts >= 1
    assert not detector._consumer.assigned
    restart_drains(monkeypatch, cluster, tmp_path)
    assert every_row_once(cluster)


def rewinding_detector(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> tuple[FakeCluster, Any]:
    """A detector whose first commit times out, so that it aborts and rewinds."""
    cluster = cluster_with()
    cluster.on_txn = fails_at("commit", KafkaException(KafkaError(
        KafkaError._TIMED_OUT, "coordinator went away", txn_requires_abort=True)))
    return cluster, fake_detector(monkeypatch, cluster, state_dir=tmp)


def test_sigterm_during_a_rewind_waiting_out_an_outage_stops_at_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import detector.ownership as ownership

    monkeypatch.setattr(retry, "PAUSE_S", 0.01)
    monkeypatch.setattr(ownership, "REWIND_RETRY_S", 3.0)  # the outage outlasts it
    cluster, detector = rewinding_detector(monkeypatch, tmp_path)
    consumer, original, calls, failed = detector._consumer, detector._consumer.committed, 0, 0

    def committed(tps: Any, timeout: float = 0) -> Any:
        nonlocal calls, failed
        calls += 1
        if calls == 1:  # the assignment's restore works; the rewind meets the outage
            return original(tps, timeout)
        failed += 1
        if failed == 3:
            detector.stop()  # SIGTERM while the rewind retries
        raise KafkaException(KafkaError(KafkaError._TRANSPORT, "broker down"))

    consumer.committed = committed
    start = time.monotonic()
    assert run_guarded("python -m detector", lambda: detector.run()) == ExitCode.OK
    assert time.monotonic() - start < 2.0
    assert failed == 3  # no try after the stop
    assert cluster.commits == 0 and cluster.rows("transactions.scored") == []
    restart_drains(monkeypatch, cluster, tmp_path)
    assert every_row_once(cluster)


def test_sigterm_during_a_rewind_blocked_on_an_unreachable_coordinator_stops_soon(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # librdkafka's committed() blocks for its whole timeout while the coordinator is out of
    # reach; one call used to wait 60 s before the stop was even looked at.
    import threading

    import detector.ownership as ownership

    monkeypatch.setattr(ownership, "REWIND_TRY_S", 0.3)
    monkeypatch.setattr(retry, "PAUSE_S", 0.01)
    cluster, detector = rewinding_detector(monkeypatch, tmp_path)
    consumer, original, calls = detector._consumer, detector._consumer.committed, 0
    waits: list[float] = []

    def committed(tps: Any, timeout: float = 0) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:  # the assignment's restore works; the rewind meets the outage
            return original(tps, timeout)
        if len(waits) == 0:
            threading.Timer(0.1, detector.stop).start()  # SIGTERM while blocked
        waits.append(timeout)
        time.sleep(timeout)  # blocked for the whole timeout, as librdkafka is
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "coordinator unreachable"))

    consumer.committed = committed
    start = time.monotonic()
    assert run_guarded("python -m detector", lambda: detector.run()) == ExitCode.OK
    assert time.monotonic() - start < 5.0
    assert waits == [0.3]  # one bounded try, then the stop is seen
    assert cluster.commits == 0 and cluster.rows("transactions.scored") == []
    restart_drains(monkeypatch, cluster, tmp_path)
    assert every_row_once(cluster)


@pytest.mark.parametrize("commit", ["commits", "aborts"])
def test_an_assignment_lost_at_the_close_starts_no_new_producer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, commit: str
) -> None:
    """The close finds the assignment lost (the session ran out in a broker outage): its
    on_lost used to replace the producer there, whose init_transactions could wait out the
    outage at shutdown (the watchdog's exit 3) for a producer nothing would use."""
    cluster = cluster_with()
    if commit == "aborts":
        cluster.on_txn = fails_at("commit", KafkaException(KafkaError(
            KafkaError._TIMED_OUT, "coordinator went away", txn_requires_abort=True)))
    detector, run = stopping_detector(monkeypatch, cluster, tmp_path)
    detector._consumer.lost_on_close = True
    before = cluster.producers
    assert run_guarded("python -m detector", run) == ExitCode.OK
    assert cluster.producers == before
    assert not detector._consumer.assigned and detector._failure is None
    assert cluster.commits == (1 if commit == "commits" else 0)
    restart_drains(monkeypatch, cluster, tmp_path)
    assert every_row_once(cluster)


def test_the_shutdown_s_last_report_gives_the_lag_and_partitions_it_stopped_with(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The close's revoke gives up the partitions (and a closed consumer has no watermarks):
    the last report line, read after it, said `lag 0`, `partitions []`, `model -` whatever
    was left. It is read before the close: the backlog left to the next owner."""
    cluster = cluster_with(n=1000, partitions=2)
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path)
    with caplog.at_level("INFO", logger="detector"):
        detector.run(until=lambda d: cluster.commits >= 1)
    left = sum(1000 - n for n in cluster.committed_offsets.values())
    assert sorted(cluster.committed_offsets) == [0, 1] and left > 0
    assert detector._consumer.closed
    last = [r.getMessage() for r in caplog.records if r.getMessage().startswith("rate ")][-1]
    assert f", lag {left:,}, " in last and "partitions [0, 1]" in last and "model fake-" in last
