"""Every path on which the detector's producer is found fenced ends with the one fenced line
and exit 2, not only a step of a batch's transaction: a new producer fenced as it starts
(after lost partitions, at an assignment's end), a fence that surfaces between batches (an
idle poll), a revoke's commit. Before, those outside the batch handling ended with the
generic `Kafka client error: KafkaError{FATAL,code=_FENCED,...}` line (the idle zombie of
docs/reliability.md did)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from detector.app import DetectorError
from detector.txn import fenced_error
from shared.errors import ExitCode
from tests.unit.detector_fakes import FakeCluster, cluster_with, drained, fake_detector
from tests.unit.test_detector_txn_errors import fails_at, fatal

FENCED_TEXT = "Failed to end transaction: Local: This instance has been fenced by a newer instance"
#: The fenced exit line's start (`detector.txn.fenced_error`).
LINE = ("transactional producer auditstream-detector-t was fenced (another instance with the "
        "same id?): ")


def _exits_fenced(detector: Any, cluster: FakeCluster, until: Any) -> None:
    before = cluster.producers
    with pytest.raises(DetectorError) as info:
        detector.run(until=until)
    assert info.value.exit_code == ExitCode.USAGE
    assert str(info.value).startswith(LINE), str(info.value)
    assert "fenced by a newer instance" in str(info.value)
    assert "Kafka client error" not in str(info.value)
    assert cluster.producers == before  # no producer made after the fence: none fenced back


@pytest.mark.parametrize("code", [KafkaError._FENCED, KafkaError.PRODUCER_FENCED])
def test_a_new_producer_fenced_as_it_starts_after_lost_partitions_exits_fenced(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, code: int) -> None:
    # the consumer left without a broker: its partitions given up (on_lost), the open
    # transaction aborted and a new producer made, whose init_transactions is fenced
    cluster = cluster_with()
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path,
                             commit_interval_ms=50_000)
    detector._consumer.stranded_after = 2
    cluster.on_txn = fails_at("init", fatal(code, FENCED_TEXT))  # the next producer's
    before = cluster.producers
    with pytest.raises(DetectorError) as info:
        detector.run(until=drained(cluster))
    assert info.value.exit_code == ExitCode.USAGE
    assert str(info.value).startswith(LINE), str(info.value)
    assert cluster.producers == before + 1  # the one that was fenced, no other after it


def test_a_fence_surfacing_between_batches_exits_fenced(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # idle: nothing in a batch's handling; the producer's poll between turns raises it
    cluster = cluster_with()
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path)
    producer = detector._txn.producer
    polls = {"n": 0}  # poll() calls

    def poll(timeout: float = 0) -> int:
        polls["n"] += 1
        if cluster.commits >= 1 and not detector._txn.open:
            raise fatal(KafkaError._FENCED, FENCED_TEXT)
        return 0

    monkeypatch.setattr(producer, "poll", poll)
    turns = {"idle": 0}

    def idle_a_while(d: Any) -> bool:  # drained, then idle turns (the poll raises at one)
        turns["idle"] += bool(drained(cluster)(d))
        return turns["idle"] > 20

    _exits_fenced(detector, cluster, idle_a_while)
    assert polls["n"] > 1


def test_fenced_at_a_revokes_commit_exits_fenced(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # a rebalance while a transaction is open: librdkafka calls on_revoke inside consume,
    # whose commit is fenced (a guard: this path already ended with the fenced line)
    cluster = cluster_with()
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path,
                             commit_interval_ms=50_000)
    consumer, real = detector._consumer, detector._consumer.consume

    def consume(num_messages: int = 1, timeout: float = 0) -> list[Any]:
        if detector._txn.open:
            cluster.on_txn = fails_at("commit", fatal(KafkaError._FENCED, FENCED_TEXT))
            consumer.callbacks["on_revoke"](
                consumer, [TopicPartition("transactions", p) for p in range(2)])
            return []
        return list(real(num_messages, timeout))

    monkeypatch.setattr(consumer, "consume", consume)
    _exits_fenced(detector, cluster, drained(cluster))


@pytest.mark.parametrize("code", [KafkaError._FENCED, KafkaError.PRODUCER_FENCED])
def test_fenced_at_the_start_exits_fenced(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, code: int) -> None:
    cluster = cluster_with()
    cluster.on_txn = fails_at("init", fatal(code, FENCED_TEXT))
    with pytest.raises(DetectorError) as info:
        fake_detector(monkeypatch, cluster, state_dir=tmp_path)
    assert str(info.value).startswith(LINE), str(info.value)


def test_another_fatal_error_at_a_new_producer_keeps_its_own_line(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # the boundary: a fatal error that is no fence is not called one
    cluster = cluster_with()
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path,
                             commit_interval_ms=50_000)
    detector._consumer.stranded_after = 2
    cluster.on_txn = fails_at("init", KafkaException(KafkaError(
        KafkaError.CLUSTER_AUTHORIZATION_FAILED, "no", fatal=True)))
    with pytest.raises(DetectorError) as info:
        detector.run(until=drained(cluster))
    assert "was fenced" not in str(info.value)


@pytest.mark.parametrize("exc", [
    KafkaException(),  # raised without an error (the client's own never are): no fence
    KafkaException(KafkaError(KafkaError._FENCED, FENCED_TEXT, fatal=False)),  # not fatal
    KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "x", fatal=True)),
    RuntimeError(KafkaError(KafkaError._FENCED, FENCED_TEXT, fatal=True)),  # not the client's
])
def test_only_a_fatal_fence_of_the_client_is_the_fenced_exit(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, exc: BaseException) -> None:
    detector = fake_detector(monkeypatch, cluster_with(), state_dir=tmp_path)
    assert fenced_error(detector.settings, exc) is None
    fenced = fenced_error(detector.settings, fatal(KafkaError._FENCED, FENCED_TEXT))
    assert fenced is not None and str(fenced).startswith(LINE)
