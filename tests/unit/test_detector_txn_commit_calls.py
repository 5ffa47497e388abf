"""What `Transactions.commit` hands librdkafka, and what it does with a failed batch or a
failed send of the offsets (mutation round 22 left these alive: the fake producer ignored
the group's metadata and the timeouts, and no test committed a batch that had failed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

import detector.txn as txn
from detector.app import DetectorError
from tests.unit.detector_fakes import FakeProducer, cluster_with, fake_detector

OFFSETS = [TopicPartition("transactions", 0, 5)]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Every send_offsets_to_transaction and commit_transaction call, with its arguments."""
    seen: list[tuple[Any, ...]] = []
    send, commit = FakeProducer.send_offsets_to_transaction, FakeProducer.commit_transaction

    def send_offsets(self: Any, offsets: Any, meta: Any, timeout: float) -> None:
        seen.append(("send_offsets", list(offsets), meta, timeout))
        send(self, offsets, meta, timeout)

    def commit_transaction(self: Any, timeout: float) -> None:
        seen.append(("commit", timeout))
        commit(self, timeout)
    monkeypatch.setattr(FakeProducer, "send_offsets_to_transaction", send_offsets)
    monkeypatch.setattr(FakeProducer, "commit_transaction", commit_transaction)
    return seen


def _transactions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    detector = fake_detector(monkeypatch, cluster_with(), members=lambda *a, **k: [],
                             state_dir=tmp_path)
    return detector._txn


def test_the_offsets_go_with_the_groups_metadata_and_both_steps_with_the_timeout(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, calls: list[tuple[Any, ...]]) -> None:
    t = _transactions(monkeypatch, tmp_path)
    t.begin()
    t.commit(OFFSETS, lambda: "the group's metadata")
    assert calls == [("send_offsets", OFFSETS, "the group's metadata", txn.TXN_TIMEOUT_S),
                     ("commit", txn.TXN_TIMEOUT_S)]
    assert t.open is False


def test_nothing_consumed_commits_without_offsets(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, calls: list[tuple[Any, ...]]) -> None:
    t = _transactions(monkeypatch, tmp_path)
    t.begin()
    t.commit([], lambda: pytest.fail("no metadata is asked without offsets"))
    assert calls == [("commit", txn.TXN_TIMEOUT_S)]


def test_a_batch_that_failed_is_aborted_not_committed_and_a_new_producer_made(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, calls: list[tuple[Any, ...]]) -> None:
    t = _transactions(monkeypatch, tmp_path)
    cluster = t.producer.cluster
    old = t.producer
    t.begin()
    t.ok = False  # something raised inside the open transaction
    with pytest.raises(txn.Abortable, match=r"^the transaction holds a failed batch$"):
        t.commit(OFFSETS, lambda: "meta")
    assert calls == []  # neither the offsets nor a commit
    assert (cluster.aborts, cluster.commits, t.open) == (1, 0, False)
    assert t.producer is not old  # started over: the old one's next send_offsets can block

    t.begin()
    t.ok = False
    kept = t.producer
    with pytest.raises(txn.Abortable):
        t.commit(OFFSETS, lambda: "meta", replace=False)  # at shutdown: no new producer
    assert t.producer is kept and cluster.aborts == 2


def test_a_retriable_error_at_the_offsets_is_not_retried_but_aborted(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, calls: list[tuple[Any, ...]]) -> None:
    # A resumed send_offsets can block past its timeout after a coordinator restart: one
    # try, then the abort (the other steps are retried on such an error).
    busy = KafkaException(KafkaError(KafkaError._TIMED_OUT, "coordinator busy",
                                     retriable=True))

    def send_offsets(self: Any, offsets: Any, meta: Any, timeout: float) -> None:
        calls.append(("send_offsets",))
        raise busy
    monkeypatch.setattr(FakeProducer, "send_offsets_to_transaction", send_offsets)
    t = _transactions(monkeypatch, tmp_path)
    cluster = t.producer.cluster
    t.begin()
    with pytest.raises(txn.Abortable, match="coordinator busy"):
        t.commit(OFFSETS, lambda: "meta")
    assert calls == [("send_offsets",)] and (cluster.aborts, cluster.commits) == (1, 0)


def test_a_commit_gives_the_next_failures_their_whole_allowance_again(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, calls: list[tuple[Any, ...]]) -> None:
    t = _transactions(monkeypatch, tmp_path)

    def fail_fatally() -> None:
        t._failed_producer = t.producer  # as `_raise_fatal` marks it
        t.replace_producer()

    for _ in range(3):
        fail_fatally()
    t.begin()
    t.commit(OFFSETS, lambda: "meta")
    for _ in range(txn.MAX_REPLACEMENTS):  # each replaced, none ends the process
        fail_fatally()
    with pytest.raises(DetectorError, match=f"failed fatally {txn.MAX_REPLACEMENTS + 1} "
                                            "times in a row without a commit"):
        fail_fatally()
