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
@pytest.mark.parametrize(("args", "code", "said"), [
    (["--help"], 0, "usage: python -m {service}"),  # on stdout, naming the settings
    (["--group", "x"], ExitCode.USAGE, "unrecognized arguments: --group x"),  # on stderr
])
def test_arguments_are_parsed_before_anything_runs(
    service: str, args: list[str], code: int, said: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = _forbid(monkeypatch)
    module = __import__(f"{service}.__main__", fromlist=["main"])
    with pytest.raises(SystemExit) as stopped:
        module.main(args)
    assert stopped.value.code == code
    out = capsys.readouterr()
    if code == 0:
        assert out.out.startswith(said.format(service=service)) and "KAFKA_" in out.out
    else:
        assert said in out.err
    assert started == []


@pytest.mark.parametrize("service", ["detector", "producer"])
def test_no_argument_runs_the_service(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    started = _forbid(monkeypatch)
    monkeypatch.setattr("shared.entry.setup_logging", lambda *_: None)
    module = __import__(f"{service}.__main__", fromlist=["main"])
    assert module.main([]) == 0
    assert started == ["ran"]
