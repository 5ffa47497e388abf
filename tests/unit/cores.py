"""Running a test on the core's own row loop or on the compiled kernel (the default)."""

from __future__ import annotations

import pytest

from tests.ci import IN_CI

#: The detection cores a parametrized test runs on.
CORES = ["core", "kernel"]


def use(core: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Engines made from now on in the test run on `core` (one of `CORES`)."""
    if core == "kernel":
        if not IN_CI:  # in CI a missing numba fails the run, never skips
            pytest.importorskip("numba", reason="numba is a dev dependency")
        monkeypatch.setenv("AUDITSTREAM_CORE", "kernel")
    else:  # the core's own row loop (its mypyc build when there is one)
        monkeypatch.setenv("AUDITSTREAM_CORE", "compiled")
    return core
