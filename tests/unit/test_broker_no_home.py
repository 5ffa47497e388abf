"""Without HOME, and a user id the password database does not know (a container run with
`-u 12345`), the broker's default folders cannot be named: one line saying which settings to
give, exit 2. Before: `Path.home()`'s RuntimeError, a traceback and exit 70, for every
`broker` action, `status` included."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditstream.cli import main


@pytest.fixture
def no_home(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "BROKER_HOME",
                 "BROKER_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)

    def unknown() -> Path:  # what pathlib does for an unknown uid without HOME
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(unknown))


@pytest.mark.parametrize("action", ["status", "stop", "start", "fetch"])
def test_no_home_is_one_line_naming_the_settings(
    no_home: None, capsys: pytest.CaptureFixture[str], action: str
) -> None:
    assert main(["broker", action]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("auditstream broker: error: no home folder for the local "
                             "broker's files: HOME is not set"), err
    assert "BROKER_HOME" in err[0] and "BROKER_CACHE_DIR" in err[0]


def test_the_folders_given_need_no_home(
    no_home: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BROKER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BROKER_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["broker", "stop"]) == 0
    assert capsys.readouterr().out == "broker was not running\n"


def test_xdg_folders_need_no_home(
    no_home: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from auditstream.broker import BrokerSettings

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    settings = BrokerSettings()
    assert settings.home == tmp_path / "state" / "auditstream" / "broker"
    assert settings.cache_dir == tmp_path / "cache" / "auditstream"
