"""The loop's consume step: the cyclic GC waits for it, error events are skipped or fatal."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError

from detector.app import DetectorError
from shared.codec import decode, encode
from shared.schemas import ScoredTransaction
from tests.unit.detector_fakes import FakeCluster, drained, fake_detector, tx


class _ErrorEvent:
    def __init__(self, fatal: bool) -> None:
        self.err = KafkaError(KafkaError._TRANSPORT, "broker down", fatal=fatal)

    def error(self) -> KafkaError:
        return self.err


def _cluster(n: int = 12) -> FakeCluster:
    cluster = FakeCluster(topic="transactions", partitions=1)
    cluster.append(0, [encode(tx(i)) for i in range(n)])
    return cluster


def _detector(monkeypatch: pytest.MonkeyPatch, cluster: FakeCluster, tmp: Path,
              extra: list[Any] | None = None) -> tuple[Any, list[bool]]:
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp)
    consume, seen = detector._consumer.consume, []

    def watched(*args: Any, **kwargs: Any) -> list[Any]:
        seen.append(gc.isenabled())
        msgs = consume(*args, **kwargs)
        return [*extra, *msgs] if msgs and extra else msgs

    detector._consumer.consume = watched
    return detector, seen


def test_the_cyclic_gc_waits_for_each_consume_and_is_on_after_the_run(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cluster = _cluster()
    detector, seen = _detector(monkeypatch, cluster, tmp_path)
    assert gc.isenabled()
    detector.run(until=drained(cluster))
    assert seen and not any(seen)
    assert gc.isenabled()


def test_an_error_event_in_a_batch_is_skipped_and_the_rest_is_scored(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cluster = _cluster()
    detector, _ = _detector(monkeypatch, cluster, tmp_path, [_ErrorEvent(fatal=False)])
    detector.run(until=drained(cluster))
    rows = [decode(r.value or b"", ScoredTransaction) for r in cluster.rows("transactions.scored")]
    assert sorted(r.source_offset or 0 for r in rows) == list(range(12))


def test_a_fatal_error_event_ends_the_run(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    detector, _ = _detector(monkeypatch, _cluster(), tmp_path, [_ErrorEvent(fatal=True)])
    with pytest.raises(DetectorError, match="fatal consumer error"):
        detector.run()
    assert gc.isenabled()
