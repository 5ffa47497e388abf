"""Ctrl-C while `auditstream` starts (its first one to three seconds import every command's
modules: pandas, scikit-learn) printed a KeyboardInterrupt traceback; afterwards it is one
line and exit 130, as README's "Exit codes" says (found probing, 2026-12-03)."""

from __future__ import annotations

import pytest

from auditstream import cli
from shared.errors import ExitCode


def test_ctrl_c_while_the_commands_are_imported_is_one_line_and_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["score", "x.csv", "--out", "o"]) == ExitCode.INTERRUPTED
    assert capsys.readouterr().err.strip().splitlines() == ["auditstream: interrupted"]


def test_a_start_not_interrupted_still_runs_the_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0 and "auditstream" in capsys.readouterr().out
