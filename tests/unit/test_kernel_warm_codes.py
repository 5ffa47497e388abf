"""`python -m detector.kernel.warm` without numba: exit 2 in one line, as the README says."""

from __future__ import annotations

import pytest

from detector.kernel import jit, warm


def test_without_numba_warm_says_so_and_exits_2(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(jit, "NUMBA", False)
    assert warm.main() == 2
    assert capsys.readouterr().err == (
        "detector.kernel.warm: numba is not installed: nothing to compile\n")
