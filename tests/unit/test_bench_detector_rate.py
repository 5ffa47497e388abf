"""bench/detector_bench.py's `detector_rate`: each run has its own consumer group and output
topics, with or without scoring. Identity runs of one source shared one group: a second one
in a process (bench/service_split.py --identity --rounds 3) found every offset committed
and waited for ever."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from shared.settings import KafkaSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import detector_bench


@pytest.mark.parametrize("identity", [True, False])
def test_each_run_of_one_source_has_its_own_group_and_topics(
        monkeypatch: pytest.MonkeyPatch, identity: bool) -> None:
    seen: list[Any] = []

    class Detector:  # stands in for the real one: records its settings, "scores" 20 rows
        def __init__(self, settings: Any, factory: Any) -> None:
            seen.append(settings)
            self.metrics = SimpleNamespace(total_records=10)

        def run(self, until: Any) -> None:
            until(self)
            start = time.process_time()
            while time.process_time() == start:  # some CPU time between the two marks
                pass
            self.metrics.total_records = 20
            assert until(self)

    monkeypatch.setattr(detector_bench, "Detector", Detector)
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    for name in ("r0", "r1"):
        detector_bench.detector_rate(kafka, "src", 20, 5, identity=identity, name=name)
    first, second = seen
    assert first.group_id != second.group_id
    assert first.topics.scored_topic != second.topics.scored_topic
    assert first.snapshot_topic != second.snapshot_topic
    assert first.topics.transactions_topic == second.topics.transactions_topic == "src"
