"""Each demo keeps its detector's state in a topic of its own, as it does its other topics.

Before: the run's topics were fresh (`demo-<time>.transactions`, ...) but the detector's
state went to the default `transactions.detector-snapshots`, shared with every earlier run
and every `auditstream detect` on that broker, so `demo --partitions 1` (or 2, or 8) on a
broker where one of those had used 4 partitions ended at once: "detector exited with code
2", the detector refusing an input of 1 partition for a state topic of 4 (found walking the
README's commands, 2026-12-06).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

import auditstream.demo as demo
from detector.settings import DetectorSettings


def _env(tmp_path: Path, run_id: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setattr(demo, "datetime", _Clock(run_id))
    run = demo.Demo(argparse.Namespace(exports=tmp_path / "exports", partitions=1))
    return run._env("127.0.0.1:19092")


class _Clock:
    """Stands for `datetime` in `auditstream.demo`: a run id of the test's choosing."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id

    def now(self, tz: object) -> _Clock:
        return self

    def strftime(self, fmt: str) -> str:
        return self.run_id


def test_the_demos_detector_keeps_its_state_in_the_runs_own_topic(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _env(tmp_path, "20261206111828", monkeypatch)
    for name in list(env):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = DetectorSettings()
    run = settings.snapshot_topic.removesuffix(".detector-snapshots")
    assert re.fullmatch(r"demo-20261206111828-[0-9a-f]{6}", run), run
    assert settings.topics.transactions_topic == f"{run}.transactions"


def test_two_demos_share_no_state_topic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _env(tmp_path, "20261206111752", monkeypatch)["DETECTOR_SNAPSHOT_TOPIC"]
    second = _env(tmp_path, "20261206111828", monkeypatch)["DETECTOR_SNAPSHOT_TOPIC"]
    assert first != second


def test_two_demos_started_on_one_clock_reading_share_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two demos in the same second against one cluster (two terminals, a script, CI jobs),
    or a demo after the host's clock was stepped back onto an earlier run's second: the
    time alone named the same topics, groups and log folder, so the second run read the
    first's transactions and scored rows, its detector joined the other's group (hostile
    probe of time, 2026-12-06, sixteenth)."""
    first, second = (_env(tmp_path, "20261206111828", monkeypatch) for _ in range(2))
    names = ("AUDITSTREAM_TRANSACTIONS_TOPIC", "AUDITSTREAM_SCORED_TOPIC", "AUDITSTREAM_DLQ_TOPIC",
             "AUDITSTREAM_REVIEWS_TOPIC", "DETECTOR_SNAPSHOT_TOPIC", "DETECTOR_GROUP_ID",
             "SINK_GROUP_ID")
    for name in names:
        assert first[name] != second[name], name
        assert first[name].startswith("demo-20261206111828-"), first[name]
