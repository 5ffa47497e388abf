"""A BROKER_CACHE_DIR that cannot be a folder: one line and the README's exit code, as for
BROKER_HOME (tests/unit/test_broker_home_folder.py, which holds the test of a file in the
way of either). Found walking the README's exit-code table (2026-12-06): `broker fetch`
(and `broker start` on a fresh cache) with the cache under /proc or through a file ended in
a FileNotFoundError / NotADirectoryError traceback, exit 70, where the table gives `broker
fetch` (the jar cache) exit 5."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditstream.broker.process import free_port
from auditstream.cli import main
from tests.unit.test_broker_home_folder import _one_line
from tests.unit.test_broker_libs import fake_mvn  # noqa: F401  (a fixture)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_mvn: Path) -> Path:  # noqa: F811
    monkeypatch.setenv("BROKER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BROKER_KAFKA_VERSION", "9.9.9")
    monkeypatch.setenv("BROKER_PORT", str(free_port()))
    monkeypatch.setenv("BROKER_CONTROLLER_PORT", str(free_port()))
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n")
    return a_file


@pytest.mark.parametrize("action", ["fetch", "start"])
def test_a_cache_where_no_folder_can_be_made_is_exit_5(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    action: str,
) -> None:
    monkeypatch.setenv("BROKER_CACHE_DIR", "/proc/auditstream-cache")
    assert main(["broker", action]) == 5
    assert _one_line(capsys).startswith(
        "auditstream broker: error: cannot write /proc/auditstream-cache"), action
