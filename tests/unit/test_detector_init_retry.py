"""init_transactions answered with a retriable error that is no outage is tried again on the
same producer within the wait (start-up: DETECTOR_STARTUP_WAIT_S; a replacement:
REPLACE_RETRY_S), with one line, not one per try; a fatal or non-retriable one ends at once.

The soak's seed 742 (docs/reliability.md): a detector restarted after kill -9 with a
transaction open, just before a broker restart, got `CONCURRENT_TRANSACTIONS` (the broker
still aborting the killed process's transaction; librdkafka returns the code as a retriable
error when its try times out) and exited 2, which systemd does not restart.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from detector.txn import DetectorError, init_retriable, not_ready
from shared import retry
from shared.errors import AuditstreamError, ExitCode
from shared.kafka import kafka_code
from tests.unit.detector_fakes import FakeCluster, cluster_with, drained, fake_detector

CONCURRENT = ("Failed to initialize Producer ID: Broker: Producer attempted to update a "
              "transaction while another concurrent operation on the same transaction was "
              "ongoing")


def concurrent() -> KafkaException:
    """What librdkafka 2.x raised in the soak (KafkaError 51, retriable, not fatal)."""
    return KafkaException(KafkaError(KafkaError.CONCURRENT_TRANSACTIONS, CONCURRENT,
                                     retriable=True))


class Inits:
    """Each producer's init_transactions: raises `errors` first, one per call, across
    producers; records each call's producer and timeout."""

    def __init__(self, cluster: FakeCluster, errors: list[Exception]) -> None:
        self.cluster, self.errors = cluster, list(errors)
        self.calls: list[tuple[int, float]] = []
        self.made_for: list[str] = []  # each producer's transactional id

    def __call__(self, s: Any) -> Any:
        self.made_for.append(s.transactional_id)
        made = self.cluster.producer()
        number = self.cluster.producers

        def init(timeout: float) -> None:
            self.calls.append((number, timeout))
            if self.errors:
                raise self.errors.pop(0)
        made.init_transactions = init  # type: ignore[method-assign]
        return made


def start(monkeypatch: pytest.MonkeyPatch, cluster: FakeCluster, inits: Inits,
          pause: float = 0.0, **settings: Any) -> Any:
    """A `Detector` on `cluster` whose producers are `inits`', pausing `pause` s a retry."""
    monkeypatch.setattr(retry, "PAUSE_S", pause)
    return fake_detector(monkeypatch, cluster, producer=inits, **settings)


def retrying_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]


def test_concurrent_transactions_at_start_up_is_retried_and_the_detector_goes_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Before: KafkaException(CONCURRENT_TRANSACTIONS) out of Detector(): exit 2 "Kafka client
    # error", which systemd does not restart (RestartPreventExitStatus=2).
    caplog.set_level(logging.INFO)
    cluster = cluster_with(10)
    inits = Inits(cluster, [concurrent(), concurrent(), concurrent()])
    detector = start(monkeypatch, cluster, inits, state_dir=tmp_path)
    assert [producer for producer, _ in inits.calls] == [1, 1, 1, 1]  # the same producer
    assert all(timeout <= 20.0 for _, timeout in inits.calls)  # below the watchdog
    lines = retrying_lines(caplog)
    assert len(lines) == 1, lines  # not one a try
    assert lines[0].startswith("transactional producer auditstream-detector-t: "
                               f"init_transactions: KafkaError{{code=CONCURRENT_TRANSACTIONS,"
                               f"val=51,str=\"{CONCURRENT}\"}}; retrying (for "), lines
    assert inits.made_for == ["auditstream-detector-t"]  # made with the detector's settings
    detector.run(until=drained(cluster))
    assert len(cluster.rows("transactions.scored")) == 20 and cluster.commits >= 1


def test_concurrent_transactions_past_the_start_up_wait_exits_4_as_an_outage_past_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The retries stop at DETECTOR_STARTUP_WAIT_S's end. Before (init18): the error then
    # ended the start-up as a client error, exit 2 (run_service: "Kafka client error"),
    # which systemd does not restart (RestartPreventExitStatus=2 7): a coordinator still
    # ending an earlier transaction is the cluster not ready, as a broker restart's
    # COORDINATOR_LOAD_IN_PROGRESS past the wait (exit 4, restarted).
    cluster = cluster_with(10)
    inits = Inits(cluster, [concurrent()] * 100_000)
    began = time.monotonic()
    with pytest.raises(AuditstreamError) as info:
        start(monkeypatch, cluster, inits, pause=0.02, state_dir=tmp_path, startup_wait_s=0.5)
    took = time.monotonic() - began
    assert info.value.exit_code == ExitCode.KAFKA_UNREACHABLE
    assert kafka_code(info.value) == KafkaError.CONCURRENT_TRANSACTIONS
    said = str(info.value)
    assert said.startswith("transactional producer auditstream-detector-t: init_transactions "
                           "was answered with a retriable error for 0 s "
                           f"(DETECTOR_STARTUP_WAIT_S; last error: {CONCURRENT})"), said
    assert said.endswith("a restart resumes exactly once, when it is ready"), said
    assert len(inits.calls) > 2, inits.calls  # retried, on one producer
    assert {producer for producer, _ in inits.calls} == {1}
    assert all(timeout <= 0.5 for _, timeout in inits.calls)  # never past the wait
    assert 0.5 <= took < 5.0


def running(monkeypatch: pytest.MonkeyPatch, pause: float) -> tuple[Any, Inits]:
    """A running process's `Transactions` (its first producer made) whose later producers'
    init_transactions are the returned `Inits`' (no errors yet), pausing `pause` s a retry."""
    import detector.txn as txn
    from detector.metrics import Metrics, Watchdog
    from detector.settings import DetectorSettings

    monkeypatch.setattr(retry, "PAUSE_S", pause)
    inits = Inits(FakeCluster(), [])
    monkeypatch.setattr(txn, "make_transactional_producer", inits)
    return txn.Transactions(DetectorSettings(instance_id="t"), Watchdog(45.0), Metrics(None),
                            lambda: False), inits


def test_a_replacement_answered_concurrent_transactions_past_its_wait_exits_4(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    import detector.txn as txn

    monkeypatch.setattr(txn, "REPLACE_RETRY_S", 0.3)
    t, inits = running(monkeypatch, pause=0.02)
    inits.errors = [concurrent()] * 100_000
    with pytest.raises(AuditstreamError) as info:
        t.replace_producer()
    assert info.value.exit_code == ExitCode.KAFKA_UNREACHABLE
    assert str(info.value).startswith(
        "transactional producer auditstream-detector-t: init_transactions was answered with a "
        f"retriable error for 0 s (last error: {CONCURRENT})"), info.value
    assert {producer for producer, _ in inits.calls[1:]} == {2}  # one new producer


@pytest.mark.parametrize(("error", "fenced"), [
    (KafkaError(KafkaError.PRODUCER_FENCED, "fenced", fatal=True), True),
    (KafkaError(KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "denied", fatal=True), False),
    (KafkaError(KafkaError.CONCURRENT_TRANSACTIONS, "fatal, though 51", fatal=True), False),
    (KafkaError(KafkaError.INVALID_TRANSACTION_TIMEOUT, "not retriable"), False),
])
def test_a_fatal_or_non_retriable_init_error_at_start_up_ends_it_at_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, error: KafkaError, fenced: bool
) -> None:
    cluster = cluster_with(10)
    inits = Inits(cluster, [KafkaException(error)] * 3)
    with pytest.raises((KafkaException, DetectorError)) as info:
        start(monkeypatch, cluster, inits, state_dir=tmp_path)
    assert len(inits.calls) == 1
    if fenced:  # the fenced line and exit 2, as before
        assert isinstance(info.value, DetectorError)
        assert info.value.exit_code == ExitCode.USAGE and "was fenced" in str(info.value)
    else:
        assert isinstance(info.value, KafkaException) and info.value.args[0] is error


def test_a_producer_replaced_mid_run_retries_concurrent_transactions_too(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    t, inits = running(monkeypatch, pause=0.0)
    inits.errors = [concurrent(), concurrent()]
    t.replace_producer()
    assert [producer for producer, _ in inits.calls] == [1, 2, 2, 2]
    assert t.producer is not None and inits.cluster.producers == 2


@pytest.mark.parametrize("exc", [RuntimeError(), RuntimeError(concurrent().args[0]),
                                 KafkaException(), KafkaException("no KafkaError")],
                         ids=["bare", "wrapping a KafkaError", "Kafka bare", "Kafka text"])
def test_only_a_kafka_exception_of_a_retriable_error_is_tried_again(exc: Exception) -> None:
    # an error of no KafkaException, or one carrying no KafkaError (none at all: no
    # `args[0]` to read), is raised as it is, never taken for one to wait out
    assert init_retriable(exc) is False
    assert init_retriable(concurrent()) is True


def test_the_exit_4_error_keeps_the_errors_code_of_its_own() -> None:
    # its code without a cause to read it from (`kafka_code`): a line or a test that has
    # only the error, not the chain
    err = not_ready(concurrent(), "init_transactions", 3.0, None)
    assert err.code == "CONCURRENT_TRANSACTIONS" and err.__cause__ is None
    assert kafka_code(err) == KafkaError.CONCURRENT_TRANSACTIONS
    assert str(err).startswith("init_transactions was answered with a retriable error for "
                               f"3 s (last error: {CONCURRENT}): "), str(err)
    for other in (KafkaException(), RuntimeError(concurrent().args[0])):
        assert not_ready(other, "init_transactions", 3.0, None).code is None


def test_a_stop_asked_while_init_is_retried_ends_the_retries_at_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # a replacement's init retried for REPLACE_RETRY_S: a stop asked meanwhile (SIGTERM) is
    # not waited out (then exit 4); the shutdown goes on without a producer, in one line
    import detector.txn as txn
    from detector.metrics import Metrics, Watchdog
    from detector.settings import DetectorSettings

    monkeypatch.setattr(retry, "PAUSE_S", 0.0)
    monkeypatch.setattr(txn, "REPLACE_RETRY_S", 2.0)
    inits = Inits(FakeCluster(), [])
    monkeypatch.setattr(txn, "make_transactional_producer", inits)
    t = txn.Transactions(DetectorSettings(instance_id="t"), Watchdog(45.0), Metrics(None),
                         lambda: len(inits.calls) >= 3)
    inits.errors = [concurrent()] * 100_000
    began = time.monotonic()
    t.replace_producer()
    stopped = [r.getMessage() for r in caplog.records if "stopping as asked" in r.getMessage()]
    assert stopped == ["no new transactional producer: stopping as asked (KafkaError{code="
                       f"CONCURRENT_TRANSACTIONS,val=51,str=\"{CONCURRENT}\"}})"], stopped
    assert [producer for producer, _ in inits.calls] == [1, 2, 2]  # stopped after the 2nd
    assert time.monotonic() - began < 1.5
    assert inits.made_for == ["auditstream-detector-t"] * 2


def test_an_init_transactions_stuck_past_the_watchdogs_bound_is_named_by_it(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    # the watchdog's line (and exit) names the step that hangs: init_transactions
    import detector.txn as txn
    from detector.metrics import Metrics, Watchdog
    from detector.settings import DetectorSettings

    now = [1000.0]
    dog = Watchdog(45.0, clock=lambda: now[0], run=False, cpu=lambda: now[0],
                   waited=lambda: None)  # busy all along: no pause, a step blocked
    seen: list[str | None] = []
    cluster = FakeCluster()

    def make(s: Any) -> Any:
        made = cluster.producer()

        def init(timeout: float) -> None:
            now[0] += 44.0
            seen.append(dog.check())  # within the bound
            now[0] += 2.0
            seen.append(dog.check())
        made.init_transactions = init  # type: ignore[method-assign]
        return made
    monkeypatch.setattr(txn, "make_transactional_producer", make)
    txn.Transactions(DetectorSettings(instance_id="t"), dog, Metrics(None), lambda: False)
    assert seen == [None, "init_transactions"]
