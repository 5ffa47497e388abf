"""`auditstream broker start` warns when the unauthenticated local broker would listen
beyond this machine (BROKER_HOST other than loopback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditstream.broker.process import exposure_warning


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_is_quiet(host: str) -> None:
    assert exposure_warning(host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "192.168.1.20", "kafka.example",
                                  "128.0.0.1"])
def test_anything_else_is_named_with_what_it_exposes(host: str) -> None:
    warning = exposure_warning(host)
    assert warning is not None
    assert warning.startswith(f"BROKER_HOST={host}: ")
    assert "without authentication" in warning and "every topic" in warning


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "[::]"])
def test_the_any_address_is_refused_as_a_setting_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], host: str,
) -> None:
    # Kafka cannot advertise it: `broker start` used to end in the storage tool's Java
    # stack trace ("advertised.listeners cannot use the nonroutable meta-address").
    from auditstream.cli import main

    monkeypatch.setenv("BROKER_HOST", host)
    assert main(["broker", "status"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("auditstream broker: error: invalid setting "
                                               "BROKER_HOST: "), err
    assert "address clients can reach" in err[0]


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.5", "::1"])
def test_a_reachable_address_is_a_valid_broker_host(host: str) -> None:
    from auditstream.broker import BrokerSettings

    assert BrokerSettings(host=host).host == host


@pytest.mark.parametrize("action", ["start", "status"])
def test_one_port_for_broker_and_controller_is_refused_as_a_setting_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    action: str,
) -> None:
    # Both listeners cannot bind one port: `broker start` ended in the storage tool's
    # 26-line Java stack trace (a hostile probe). Refused before anything is started.
    from auditstream.cli import main

    monkeypatch.setenv("BROKER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BROKER_PORT", "19097")
    monkeypatch.setenv("BROKER_CONTROLLER_PORT", "19097")
    assert main(["broker", action]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("auditstream broker: error: invalid setting "
                                               "BROKER_CONTROLLER_PORT: "), err
    assert "BROKER_PORT" in err[0] and "19097" in err[0] and "two ports" in err[0]
    assert not (tmp_path / "home").exists()
