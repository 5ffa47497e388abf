"""The fault suite's own bookkeeping, without a broker: each detector start is seeded anew,
a detector that died is reported with its log's last lines, a failure stops everything the
suite started, and a feeder that cannot deliver says what it waited for."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import tests.integration.fault_fleet as fault_fleet
import tests.integration.pipeline_harness as pipeline_harness
from shared.settings import KafkaSettings
from tests.integration.detector_harness import FAULTS_ENV, ROOT
from tests.integration.pipeline_harness import Feeder, Service


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


def sleeper(name: str, tmp_path: Path, env: dict[str, str]) -> Service:
    """A process that runs until stopped (as a detector, a sink or a replay would)."""
    return Service(name, ("timeit", "-n", "1", "import time; time.sleep(120)"), env, tmp_path)


def test_a_failing_suite_stops_every_process_and_feeder_it_started(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A failure before the drain (a feeder that could not flush, seen in CI) left the sink
    # and the detectors running after the test: only the drain's `finally` stopped them.
    fleet = fleet_without_broker(tmp_path)
    env = fleet.env
    feeder = Feeder(KafkaSettings(bootstrap_servers="127.0.0.1:9"), "t",
                    [(b"k", b"v")] * 1000, rate=10.0)
    started = [fleet.sink]
    with pytest.raises(AssertionError, match="the suite failed"), \
            fleet.supervised(tmp_path / "exports", 10):
        fleet.detectors["a"] = sleeper("detector-a", tmp_path, env).start()
        fleet.detectors["b"] = sleeper("detector-b", tmp_path, env).start()
        fleet.retire("b")
        for name in ("replay", "sink-second"):
            svc = sleeper(name, tmp_path, env).start()
            fleet.track(svc)
            started.append(svc)
        fleet.track(feeder)
        feeder.start()
        started += list(fleet.detectors.values()) + fleet.retired
        assert all(svc.alive() for svc in started[:-1]) and feeder.is_alive()
        raise AssertionError("the suite failed")
    assert [svc.log_path.name for svc in started if svc.alive()] == []
    assert not feeder.is_alive()
    out = capsys.readouterr().out
    assert "--- last lines of detector-a-1.log (running) ---" in out  # diagnosed first
    assert "--- feeder to t: " in out
    assert ("stopped, still running at the end: ['detector-a-1.log', 'sink-1.log', "
            "'replay-1.log', 'sink-second-1.log']") in out


def test_a_feeder_that_cannot_deliver_says_how_many_and_what_librdkafka_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "poison messages still undelivered" alone left a CI failure unexplained.
    monkeypatch.setattr(pipeline_harness, "FLUSH_S", 1.0)
    log = tmp_path / "feeder.log"
    feeder = Feeder(KafkaSettings(bootstrap_servers="127.0.0.1:9"), "t",
                    [(b"k", b"v")] * 3, rate=1000.0, log=log)
    feeder.start()
    with pytest.raises(AssertionError) as failed:
        feeder.result(30)
    text = str(failed.value)
    assert text.startswith("3 of 3 messages to t still undelivered after 1 s; "
                           f"librdkafka's last lines ({log}):"), text
    assert len(text.splitlines()) > 1, text


@pytest.mark.parametrize("answers", [["partitions without a leader: 0 [] (0.1 s)"], None])
def test_a_failure_reports_what_the_broker_answers_new_clients(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], answers: list[str] | None
) -> None:
    # Whether a stall was the broker's or the suite's long-lived clients' (a CI failure
    # left that open); a check that fails itself must not hide the run's own failure.
    def check() -> list[str]:
        if answers is None:
            raise RuntimeError("no broker")
        return answers

    fleet = fleet_without_broker(tmp_path)
    with pytest.raises(AssertionError, match="the drain stalled"), \
            fleet.supervised(tmp_path / "exports", 10, check):
        raise AssertionError("the drain stalled")
    out = capsys.readouterr().out
    expected = answers or ["failed: RuntimeError('no broker')"]
    assert "\n".join(["--- the broker, asked by new clients ---", *expected]) in out
    assert not fleet.sink.alive()
