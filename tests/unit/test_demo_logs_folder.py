"""`demo` where its logs folder (`run/demo-<time>/`) cannot be made: exit 5 in one line,
before anything starts. Walking the README's exit-code table (2026-12-06): `demo` run in a
folder that takes no folder (`/proc`) asked the broker, created its topics and only then
ended in a FileNotFoundError traceback, exit 70 (the table gives `demo` exit 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditstream.broker.process import free_port
from auditstream.cli import main


def test_a_logs_folder_that_cannot_be_made_is_exit_5_before_kafka(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # nothing answers here: asking Kafka first would be exit 4 after the wait
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("KAFKA_STARTUP_WAIT_S", "1")
    monkeypatch.chdir("/proc")
    code = main(["demo", "--exports", str(tmp_path / "ex"), "--customers", "3", "--days", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 5, err
    assert err[-1].startswith("auditstream demo: error: cannot write run"), err
    assert "Traceback" not in "\n".join(err)


def test_a_run_that_started_nothing_leaves_no_logs_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("KAFKA_STARTUP_WAIT_S", "1")
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--exports", "ex", "--customers", "3", "--days", "1"]) == 4
    assert list((tmp_path / "run").iterdir()) == []
