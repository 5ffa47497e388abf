"""The `auditstream` command's parser, and so `auditstream --help` and every command's start,
loads no detection engine: the engine brings scikit-learn and numba (~1 s), which only the
commands that score need, when they run. Before: `--help` took 1.6 s, 0.7 s after. Nor
pandas (~0.3 s of CPU), which only `dashboard sample --synthetic` needs."""

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
                         "detector.app", "pandas") if m in sys.modules))
from detector.core import PartitionEngine  # still there, on first use
print(PartitionEngine.__module__)
"""


def test_the_parser_loads_no_engine_and_the_engine_is_there_when_asked() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("AUDITSTREAM_CORE", None)
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout.splitlines()
    assert out == ["[]", "detector.core.engine"]


SCORING_PROBE = """
import sys
import numpy as np
import detector.offline, detector.core.engine, detector.core.stateformat
print("sklearn" in sys.modules)
from detector.core.config import CoreConfig
from detector.core.model import fit_rows
rows = np.arange(64, dtype=np.float32).reshape(16, 4)
print(fit_rows(rows, 1, CoreConfig()).version, "sklearn" in sys.modules)
"""


def test_scoring_loads_scikit_learn_at_its_first_fit_not_at_its_start() -> None:
    """A `score` or a detector whose partitions never reach a fit point (a small input)
    needs no forest: scikit-learn and the scipy it loads (~1 s of CPU) wait for the first
    fit. Before: `import detector.core.engine` loaded it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", SCORING_PROBE], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout.splitlines()
    assert out == ["False", "if-v1 True"]
