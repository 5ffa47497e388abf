"""The `auditstream` command's parser, and so `auditstream --help` and every command's start,
loads no detection engine: the engine brings scikit-learn and numba (~1 s), which only the
commands that score need, when they run. Before: `--help` took 1.6 s, 0.7 s after."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
import auditstream.cli
auditstream.cli.build_parser()
import detector.core
print(sorted(m for m in ("sklearn", "numba", "detector.core.engine", "detector.offline",
                         "detector.app") if m in sys.modules))
from detector.core import PartitionEngine  # still there, on first use
print(PartitionEngine.__module__)
"""


def test_the_parser_loads_no_engine_and_the_engine_is_there_when_asked() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("AUDITSTREAM_CORE", None)
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout.splitlines()
    assert out == ["[]", "detector.core.engine"]
