"""The fault suite's own bookkeeping, without a broker: each detector start is seeded anew,
and a detector that died is reported with its log's last lines."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import tests.integration.fault_fleet as fault_fleet
from tests.integration.detector_harness import FAULTS_ENV, ROOT
from tests.integration.pipeline_harness import Service


def fleet_without_broker(tmp_path: Path) -> fault_fleet.Fleet:
    """A fleet whose detectors exit at once: no broker answers (exit 4 after 0.2 s)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
           "KAFKA_STARTUP_WAIT_S": "0.2", "DETECTOR_STARTUP_WAIT_S": "0.2"}
    sink = Service("sink", ("timeit", "-n", "1", "import time; time.sleep(60)"), env, tmp_path)
    return fault_fleet.Fleet(env, tmp_path, sink.start())


def wait_dead(service: Service, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while service.alive():
        assert time.monotonic() < deadline, "the detector did not exit"
        time.sleep(0.1)


@pytest.mark.skipif(not fault_fleet.EXCEPTIONS, reason="no fault hook without exceptions")
def test_a_detector_restarted_by_the_suite_gets_the_fault_seed_of_its_own_start(
    tmp_path: Path
) -> None:
    # Every restart used to run with the first start's seed: the same fault schedule after
    # each restart from the same committed offsets hit the same record again, and three
    # restarts in a row made the suite's own faults a poison pill (exit 7, seen at load 14).
    fleet = fleet_without_broker(tmp_path)
    try:
        det = fleet.start_detector("a")
        seeds = [det.env[FAULTS_ENV]]
        for _ in range(2):
            wait_dead(det)
            fleet.check()  # restarts it (an unplanned exit)
            seeds.append(det.env[FAULTS_ENV])
        assert seeds == [f"{fault_fleet.SEED}:a:{start}" for start in (1, 2, 3)]
        assert det.starts == 3
        assert fleet.unplanned == ["detector a exited 4 (detector-a-1.log)",
                                   "detector a exited 4 (detector-a-2.log)"]
        words = fleet.last_words["detector-a-1.log"]
        assert any("error:" in line for line in words), words
        report = fleet.diagnosis(tmp_path / "exports", 10)
        assert "0 of 10 rows committed" in report
        assert "--- last lines of detector-a-1.log (ended unplanned) ---" in report
    finally:
        for svc in [*fleet.detectors.values(), fleet.sink]:
            svc.terminate(10)
