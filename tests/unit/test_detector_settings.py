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


@pytest.mark.parametrize("delay, ok", [(16 * 500, True), (16 * 500 + 1, False), (0, True)])
def test_refit_delay_is_at_most_16_refit_intervals(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], delay: int, ok: bool
) -> None:
    # Each pending fit holds a copy of the training sample and goes into every snapshot:
    # a delay of many intervals would queue fits without bound.
    from shared.entry import run_guarded

    monkeypatch.setenv("DETECTOR_CORE__REFIT_EVERY", "500")
    monkeypatch.setenv("DETECTOR_CORE__REFIT_DELAY", str(delay))
    code = run_guarded("python -m detector", lambda: DetectorSettings().core.refit_delay * 0)
    err = capsys.readouterr().err
    if ok:
        assert (code, err) == (0, "")
    else:
        assert code == 2 and err.count("\n") == 1
        assert "DETECTOR_CORE" in err and "refit_delay" in err and "16" in err
