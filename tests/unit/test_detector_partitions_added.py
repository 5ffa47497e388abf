"""Partitions added to the input topic: refused with one clear exit 2, at start and while
running. The detector keeps each customer's history and its duplicate check per partition
(the input is keyed by customer_id); added partitions move customers away from both, so a
replay was exported twice and customers were scored as new (hostile probe, 2026-12-05):
before, a running detector stalled for minutes on restores that could not succeed, then
ended on librdkafka's raw _UNKNOWN_PARTITION, and a restart told the user to enlarge the
state topic, after which it ran on with the customers split."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.codec import encode
from shared.errors import ExitCode, KafkaWiringError
from tests.unit.detector_fakes import FakeCluster, drained, fake_detector, tx


def _cluster(partitions: int) -> FakeCluster:
    cluster = FakeCluster(topic="transactions", partitions=partitions)
    for p in range(partitions):
        cluster.append(p, [encode(tx(i, f"c{i % 3}")) for i in range(p * 100, p * 100 + 5)])
    return cluster


def test_a_partition_added_while_running_stops_the_detector_with_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cluster = _cluster(2)
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path)  # started with 2
    cluster.partitions = 3  # the group's next assignment holds partition 2
    cluster.append(2, [encode(tx(900, "c0"))])
    with pytest.raises(KafkaWiringError) as stopped:
        detector.run(until=drained(cluster))  # before: every partition scored, no word
    assert stopped.value.exit_code == ExitCode.USAGE
    text = str(stopped.value)
    assert "transactions has 3 partitions, not the 2" in text and "split" in text
    assert not cluster.rows("transactions.scored")  # nothing scored at all


def test_the_partitions_it_started_with_run_as_before(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cluster = _cluster(2)
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path)
    detector.run(until=drained(cluster))
    assert len(cluster.rows("transactions.scored")) == 10
