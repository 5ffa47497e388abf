"""Transient trouble never ends the detector: a producer failing fatally on its own is
replaced, a catch-up under frequent faults still commits; being fenced still exits 2."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from detector.app import DetectorError
from shared import retry
from shared.errors import ExitCode
from shared.schemas import TransactionView
from tests.unit.detector_fakes import (
    CountingEngine,
    CountingFactory,
    Produced,
    cluster_with,
    drained,
    every_row_once,
    fake_detector,
    replaced_once,
)

INVALID_TXN_STATE = ("Failed to end transaction: Broker: Producer attempted a transactional "
                     "operation in an invalid state")


def fatal(code: int, text: str) -> KafkaException:
    return KafkaException(KafkaError(code, text, fatal=True))


def fails_at(step: str, exc: KafkaException, times: int = 1,
             after: int = 0) -> Callable[[str], None]:
    """An `on_txn` raising `exc` at the `after`+1-th call of `step`, `times` times."""
    seen = 0

    def on_txn(s: str) -> None:
        nonlocal seen
        if s != step:
            return
        seen += 1
        if after < seen <= after + times:
            raise exc
    return on_txn


class FailProduceOnce:
    def __init__(self) -> None:
        self.fired = False

    def __call__(self, rec: Produced) -> None:
        if not self.fired and rec.topic == "transactions.scored":
            self.fired = True
            raise RuntimeError("produce blew up")


def test_invalid_txn_state_on_the_abort_after_a_failed_batch_replaces_the_producer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Seen in the fault suite: an injected exception, then abort_transaction -> fatal
    # INVALID_TXN_STATE, which used to end the process with exit 2.
    cluster = cluster_with()
    cluster.on_produce = FailProduceOnce()
    cluster.on_txn = fails_at("abort", fatal(KafkaError.INVALID_TXN_STATE, INVALID_TXN_STATE))
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path)
    replaced_once(detector, cluster)  # the failed producer was replaced


def test_invalid_txn_state_on_commit_replaces_the_producer_and_rewinds(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cluster = cluster_with()
    cluster.on_txn = fails_at("commit", fatal(KafkaError.INVALID_TXN_STATE, INVALID_TXN_STATE))
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path)
    replaced_once(detector, cluster)  # the failed transaction's rows were scored again, once


def test_a_producer_failed_in_the_background_is_replaced_at_begin(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cluster = cluster_with()
    cluster.on_txn = fails_at("begin", fatal(KafkaError.INVALID_TXN_STATE, INVALID_TXN_STATE))
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path)
    replaced_once(detector, cluster)


class SlowEngine(CountingEngine):
    """Takes longer per batch than the commit interval (1 ms), so every batch commits."""

    def verdicts(self, txs: Sequence[TransactionView]) -> list[Any]:
        time.sleep(0.005)
        return super().verdicts(txs)


class SlowFactory(CountingFactory):
    def new(self, partition: int) -> CountingEngine:
        return SlowEngine()

    def restore(self, data: bytes) -> CountingEngine:
        return SlowEngine(CountingEngine.restore(data).counts)


@pytest.mark.parametrize("code", [KafkaError._FENCED, KafkaError.PRODUCER_FENCED])
def test_being_fenced_by_another_instance_still_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, code: int
) -> None:
    cluster = cluster_with()
    cluster.on_txn = fails_at("commit", fatal(code, "fenced by a newer instance"), after=1)
    # Small slow batches: the second commit falls inside the loop whatever the machine's
    # speed (a fast core once finished within one commit interval and committed at exit).
    detector = fake_detector(monkeypatch, cluster, SlowFactory(), state_dir=tmp_path,
                             batch_size=10)
    before = cluster.producers
    with pytest.raises(DetectorError) as info:
        detector.run(until=drained(cluster))
    assert info.value.exit_code == ExitCode.USAGE
    assert "fenced" in str(info.value)
    assert cluster.producers == before  # never fence the instance that fenced us


def test_a_producer_failing_fatally_every_time_ends_the_process_after_a_few_tries(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import detector.txn as txn

    cluster = cluster_with()
    cluster.on_txn = fails_at("commit", fatal(KafkaError.INVALID_TXN_STATE, INVALID_TXN_STATE),
                              times=1_000)
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path)
    before = cluster.producers
    with pytest.raises(DetectorError, match="in a row"):
        detector.run(until=drained(cluster))
    assert cluster.producers == before + txn.MAX_REPLACEMENTS
    assert cluster.rows("transactions.scored") == []


class EveryNth:
    """A fault hook raising at every `n`-th produce (a bug striking every n records)."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def __call__(self, step: str, partition: int, offset: int) -> None:
        if step == "produce":
            self.calls += 1
            if self.calls % self.n == 0:
                raise RuntimeError(f"fault at {partition}/{offset}")


def test_frequent_faults_during_a_catch_up_do_not_keep_it_from_committing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Seen in the fault suite: a lag of thousands consumed in full batches, each struck by
    # an injected fault before its commit: nothing committed for minutes. Failed batches
    # are retried smaller, and each commits at once while shrunk, so each commit covers
    # fewer records than the faults' spacing, however fast the batches go (a fast core
    # used to fit 15 retried batches, 150 records, into one commit interval: never landed).
    import detector.app as app

    monkeypatch.setattr(app, "MIN_RETRY_BATCH", 10)
    n = 400
    cluster = cluster_with(n)
    turns = 0

    def until(d: Any) -> bool:
        nonlocal turns
        turns += 1
        return drained(cluster)(d) or turns > 2_000

    detector = fake_detector(monkeypatch, cluster, hook=EveryNth(150), state_dir=tmp_path,
                             batch_size=400, poison_pill_failures=1_000,
                             commit_interval_ms=50_000)  # never due by time: speed-proof
    detector._consumer.batch = 1_000  # a consume returns up to num_messages per partition
    detector.run(until=until)
    assert every_row_once(cluster, n)
    assert turns <= 2_000


def test_a_broker_outage_while_restoring_an_assignment_is_waited_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A rebalance right after a broker restart: committed() fails at first in on_assign;
    # that failure used to end the process with exit 2.
    monkeypatch.setattr(retry, "PAUSE_S", 0.0)
    cluster = cluster_with()
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path)
    consumer = detector._consumer
    original, left = consumer.committed, 3

    def committed(tps: Any, timeout: float = 0) -> Any:
        nonlocal left
        if left > 0:
            left -= 1
            raise KafkaException(KafkaError(KafkaError._UNKNOWN_PARTITION, "Unknown partition"))
        return original(tps, timeout)

    consumer.committed = committed
    detector.run(until=drained(cluster))
    assert left == 0
    assert every_row_once(cluster)


def timed_out(what: str) -> KafkaException:
    """librdkafka's answer to a transactional call that did not finish within its timeout."""
    return KafkaException(KafkaError(KafkaError._TIMED_OUT, f"{what}: Timed out waiting for "
                                     "operation to finish, retry call to resume",
                                     retriable=True))


def test_an_abort_refused_after_a_commit_that_timed_out_replaces_the_producer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A commit that cannot finish (the broker restarting, or a slow flush on a loaded
    # machine) times out on every try; librdkafka 2.16 then refuses abort_transaction on the
    # same producer, at once and every time, with a retriable _CONFLICT ("Conflicting
    # commit_transaction API call is already in progress", seen with a 1 ms commit timeout
    # against a real broker). That used to end the detector with exit 2 mid-run.
    cluster = cluster_with()
    stuck: int | None = None  # the producer whose commit is still in progress

    def on_txn(step: str) -> None:
        nonlocal stuck
        if step == "commit" and stuck is None and cluster.commits >= 1:
            stuck = cluster.producers
        if stuck == cluster.producers and step == "commit":
            raise timed_out("commit_transaction")
        if stuck == cluster.producers and step == "abort":
            raise KafkaException(KafkaError(
                KafkaError._CONFLICT, "Conflicting commit_transaction API call is already "
                "in progress", retriable=True))

    cluster.on_txn = on_txn
    detector = fake_detector(monkeypatch, cluster, SlowFactory(), state_dir=tmp_path,
                             batch_size=10)
    replaced_once(detector, cluster)  # the stuck producer was replaced
    assert stuck is not None


def test_an_abort_timing_out_in_a_broker_outage_replaces_the_producer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A batch fails (an exception) while the transaction coordinator is out of reach: each
    # abort_transaction times out (retriable). Exiting 2 there made a broker restart of
    # over 30 s an unplanned exit; a new producer aborts the open transaction as a restart
    # would, and the batch is rewound.
    cluster = cluster_with()
    cluster.on_produce = FailProduceOnce()
    cluster.on_txn = fails_at("abort", timed_out("abort_transaction"), times=3)
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path)
    replaced_once(detector, cluster)


@pytest.mark.parametrize("step", ["commit", "abort"])
def test_fenced_after_the_transaction_outlived_its_timeout_replaces_the_producer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, step: str
) -> None:
    # Seen in the fault suite on a loaded machine (seed 7, load 14): a batch of 23 s, then
    # a broker restart of over 40 s; the transaction outlived transaction.timeout.ms, the
    # restarted coordinator aborted it and bumped the producer's epoch, and the commit (or
    # the abort after a failed send_offsets) came back _FENCED. No other instance existed,
    # yet the detector exited 2 as if one had taken its transactional.id.
    cluster = cluster_with()
    if step == "abort":
        cluster.on_produce = FailProduceOnce()
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path,
                             transaction_timeout_ms=60_000)
    fired = False

    def on_txn(s: str) -> None:
        nonlocal fired
        if s == step and not fired:
            fired = True
            detector._txn.started -= 61.0  # open for longer than transaction.timeout.ms
            raise fatal(KafkaError._FENCED, "Failed to end transaction: Local: This instance "
                        "has been fenced by a newer instance")

    cluster.on_txn = on_txn
    replaced_once(detector, cluster)  # replaced, as after any fatal error of its own
    assert fired


def test_fenced_within_the_transaction_timeout_still_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The boundary: a transaction open for 1 s less than the timeout cannot have been timed
    # out by the coordinator: another instance took the id.
    cluster = cluster_with()
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path,
                             transaction_timeout_ms=60_000)

    def on_txn(s: str) -> None:
        if s == "commit":
            detector._txn.started = time.monotonic() - 59.0
            raise fatal(KafkaError._FENCED, "fenced by a newer instance")

    cluster.on_txn = on_txn
    with pytest.raises(DetectorError, match="fenced") as info:
        detector.run(until=drained(cluster))
    assert info.value.exit_code == ExitCode.USAGE
