"""Ctrl-C or SIGTERM at the first slow import of every entry point (`auditstream` and
`python -m producer|detector|sink`) is one line and the command's own exit code, never a
traceback nor death by the signal (143). Found probing, 2026-12-03: the guard began only
after `auditstream.cli`, and each service's `__main__`, had imported pydantic (~0.3 s), and
the services' `__main__` imported their whole service (~0.8 s) before any guard.

Each case runs the real entry point in a child interpreter that signals itself when the
named module starts importing, so the moment is the same on every run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: The child: signal itself when TRIGGER starts importing, then run MODULE as `python -m`.
CHILD = """
import importlib.abc, os, runpy, sys

class Trip(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == {trigger!r}:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), {signum})
        return None

sys.meta_path.insert(0, Trip())
sys.argv = {argv!r}
runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
"""

#: (module run as `python -m`, its arguments, code, the one line on stderr).
ENTRIES = {
    "auditstream score": ("auditstream", ["score", "x.csv", "--out", "o"], 130,
                          "auditstream: interrupted"),
    "auditstream detect": ("auditstream", ["detect"], 0,
                           "auditstream detect: stopped before it started"),
    "auditstream sink": ("auditstream", ["-v", "sink"], 0,
                         "auditstream sink: stopped before it started"),
    "python -m producer": ("producer", [], 130, "python -m producer: interrupted"),
    "python -m detector": ("detector", [], 0, "python -m detector: stopped before it started"),
    "python -m sink": ("sink", [], 0, "python -m sink: stopped before it started"),
}


def run_child(module: str, argv: list[str], trigger: str, signum: int,
              tmp_path: Path) -> subprocess.CompletedProcess[str]:
    code = CHILD.format(trigger=trigger, signum=int(signum), argv=[module, *argv],
                        module=module)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SOURCE_DATE_EPOCH", None)
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_a_signal_at_the_first_slow_import_is_the_commands_own_stop(
    entry: str, signum: int, tmp_path: Path,
) -> None:
    module, argv, code, line = ENTRIES[entry]
    done = run_child(module, argv, "pydantic_settings", signum, tmp_path)
    assert (done.returncode, done.stderr.strip().splitlines()) == (code, [line]), done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("entry", ["python -m producer", "python -m sink", "python -m detector"])
def test_a_sigterm_while_the_service_itself_loads_is_its_own_stop(
    entry: str, tmp_path: Path,
) -> None:
    """Later in the start: the service's own modules (numpy for the producer's generator
    and the detector's core, the sink's exports)."""
    module, argv, code, line = ENTRIES[entry]
    done = run_child(module, argv, "numpy", signal.SIGTERM, tmp_path)
    assert (done.returncode, done.stderr.strip().splitlines()) == (code, [line]), done.stderr


@pytest.mark.parametrize("entry", ["python -m producer", "python -m sink", "python -m detector"])
def test_help_still_prints_without_loading_the_service(entry: str, tmp_path: Path) -> None:
    module, _, _, _ = ENTRIES[entry]
    done = run_child(module, ["--help"], "never-imported", signal.SIGTERM, tmp_path)
    assert done.returncode == 0 and f"usage: python -m {module}" in done.stdout, done.stderr
