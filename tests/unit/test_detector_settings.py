"""Detector settings: nested env variables and command-line overrides."""

from __future__ import annotations

import argparse

import pytest

from detector.settings import DetectorSettings, settings_from_args


def test_core_and_kafka_settings_nest_with_double_underscore(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DETECTOR_CORE__SEED", "7")
    monkeypatch.setenv("DETECTOR_CORE__REFIT_EVERY", "5000")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1234")
    monkeypatch.setenv("AUDITSTREAM_TRANSACTIONS_TOPIC", "tx-in")
    monkeypatch.setenv("DETECTOR_INSTANCE_ID", "a")
    s = DetectorSettings()
    assert (s.core.seed, s.core.refit_every) == (7, 5000)
    assert s.kafka.bootstrap_servers == "127.0.0.1:1234"
    assert s.topics.transactions_topic == "tx-in"
    assert s.transactional_id == "auditstream-detector-a"
    assert s.metrics_port is None and s.metrics_host == "127.0.0.1"


def test_command_line_options_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DETECTOR_GROUP_ID", "from-env")
    monkeypatch.setenv("DETECTOR_CORE__SEED", "7")
    s = settings_from_args(argparse.Namespace(group="cli-group", metrics_port=9300,
                                              instance_id=None))
    assert (s.group_id, s.metrics_port, s.core.seed) == ("cli-group", 9300, 7)
