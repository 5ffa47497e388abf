"""The pacer: batches of about `target_s` of work (detector.pacing), and the detector's use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from detector.pacing import BatchPacer
from shared.codec import encode
from tests.unit.detector_fakes import FakeCluster, drained, fake_detector, tx


def test_before_any_batch_the_count_bound_alone_holds() -> None:
    assert BatchPacer(0.1).limit(5_000) == 5_000


@pytest.mark.parametrize(("cap", "limit"), [(999, 999), (1_000, 1_000), (1_001, 1_000),
                                            (5_000, 1_000)])
def test_a_batch_is_about_the_target_of_work(cap: int, limit: int) -> None:
    pacer = BatchPacer(0.1)
    pacer.batch(2_000, 0.2)  # 100 us a record: 1,000 in 100 ms
    assert pacer.limit(cap) == limit


@pytest.mark.parametrize(("cap", "limit"), [(99, 99), (100, 100), (101, 100), (5_000, 100)])
def test_never_under_the_floor_nor_over_the_cap(cap: int, limit: int) -> None:
    pacer = BatchPacer(0.1, floor=100)
    pacer.batch(10, 1.0)  # 100 ms a record: 1 in the target
    assert pacer.limit(cap) == limit


def test_the_per_record_time_is_a_moving_average_of_the_batches() -> None:
    pacer = BatchPacer(0.1)
    pacer.batch(1_000, 0.1)
    pacer.batch(1_000, 0.3)  # half each: 200 us a record
    assert pacer.per_record_s == pytest.approx(200e-6)
    assert pacer.limit(5_000) == 500
    pacer.batch(500, 0.05)  # 100 us: half of it and half of 200
    assert pacer.per_record_s == pytest.approx(150e-6)


@pytest.mark.parametrize(("records", "seconds"), [(0, 0.1), (10, 0.0), (-1, 0.1)])
def test_an_empty_or_untimed_batch_teaches_nothing(records: int, seconds: float) -> None:
    pacer = BatchPacer(0.1)
    pacer.batch(1_000, 0.1)
    pacer.batch(records, seconds)
    assert pacer.per_record_s == pytest.approx(100e-6)


class _Pacer:
    def __init__(self, limit: int) -> None:
        self.at_most = limit
        self.caps: list[int] = []
        self.batches: list[int] = []

    def limit(self, cap: int) -> int:
        self.caps.append(cap)
        return self.at_most

    def batch(self, records: int, seconds: float) -> None:
        assert seconds > 0
        self.batches.append(records)


def test_the_detector_consumes_at_most_the_pacers_limit_and_teaches_it_every_batch(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cluster = FakeCluster(topic="transactions", partitions=1)
    cluster.append(0, [encode(tx(i)) for i in range(20)])
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path, batch_size=5_000)
    pacer = detector.pacer = _Pacer(3)
    asked: list[int] = []
    consume = detector._consumer.consume

    def watched(num_messages: int = 1, timeout: float = 0) -> list[Any]:
        asked.append(num_messages)
        got: list[Any] = consume(num_messages, timeout)
        return got

    detector._consumer.consume = watched
    detector.run(until=drained(cluster))
    assert set(pacer.caps) == {5_000}  # the count bound goes in
    assert asked and max(asked) == 3  # the pacer's limit comes out (poll's rest: 2)
    assert sum(pacer.batches) == 20 and max(pacer.batches) == 3
