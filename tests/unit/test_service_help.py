"""`python -m detector --help` and `python -m producer --help` print their usage and exit 0;
an unknown argument is exit 2. Neither touches Kafka.

Before: both ignored their arguments, so asking for help started the detector (consuming
`transactions` on the default broker, committing its group's offsets) or published the
generated demo stream to `transactions`: a help request that writes to a cluster.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import ExitCode


def _forbid(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    started: list[str] = []

    def run(*_: Any, **__: Any) -> int:
        started.append("ran")
        return 0

    monkeypatch.setattr("detector.app.run_service", run)  # main imports it when called
    monkeypatch.setattr("producer.__main__._run", run)
    return started


@pytest.mark.parametrize("service", ["detector", "producer"])
def test_help_prints_usage_and_runs_nothing(
    service: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    started = _forbid(monkeypatch)
    module = __import__(f"{service}.__main__", fromlist=["main"])
    with pytest.raises(SystemExit) as stopped:
        module.main(["--help"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m {service}") and "KAFKA_" in out
    assert started == []


@pytest.mark.parametrize("service", ["detector", "producer"])
def test_an_unknown_argument_is_exit_2_and_runs_nothing(
    service: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    started = _forbid(monkeypatch)
    module = __import__(f"{service}.__main__", fromlist=["main"])
    with pytest.raises(SystemExit) as stopped:
        module.main(["--group", "x"])
    assert stopped.value.code == ExitCode.USAGE
    assert "unrecognized arguments: --group x" in capsys.readouterr().err
    assert started == []


@pytest.mark.parametrize("service", ["detector", "producer"])
def test_no_argument_runs_the_service(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    started = _forbid(monkeypatch)
    monkeypatch.setattr("shared.entry.setup_logging", lambda *_: None)
    module = __import__(f"{service}.__main__", fromlist=["main"])
    assert module.main([]) == 0
    assert started == ["ran"]
