"""`python -m detector.kernel.warm` compiles every kernel function an engine calls, so that no
detector compiles at its first partition assignment (`make` and the Docker image run it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ci import IN_CI

ROOT = Path(__file__).resolve().parents[2]

#: Run in a fresh interpreter: the warm-up, then what else an engine does beyond it (the
#: default bounds, the tap, eviction by time, state written by the core's own loop restored
#: and resumed on the kernel); prints the kernel functions that gained a compiled signature
#: after the warm-up.
SCRIPT = r"""
import importlib, json, os, pkgutil, sys
import detector.kernel
from detector.kernel.warm import _rows, warm
from numba.core.dispatcher import Dispatcher

def signatures():
    out = {}
    for info in pkgutil.iter_modules(detector.kernel.__path__):
        module = importlib.import_module(f"detector.kernel.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, Dispatcher):
                out[f"{value.py_func.__module__}.{value.py_func.__qualname__}"] = {
                    str(s) for s in value.signatures}
    return out

warm()
before = signatures()
from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
rows = _rows(3000, 7)
small = CoreConfig(hot_customers=2, max_customers=12, customer_ttl_s=86400,
                   first_fit_after=100, refit_every=200, refit_delay=0, sample_size=64,
                   n_trees=8, max_samples=32)
for config in (CoreConfig(first_fit_after=500, refit_every=700), small):
    os.environ["AUDITSTREAM_CORE"] = "compiled"
    core = PartitionEngine(config, 1)
    core.verdicts(rows[:900])
    snap, changes = core.snapshot(), core.checkpoint(full=True)
    os.environ["AUDITSTREAM_CORE"] = "kernel"
    engine = PartitionEngine(config, 1)
    engine.tap = []
    for lo in range(0, 1500, 333):
        engine.verdicts(rows[lo:lo + 333])
        engine.checkpoint()
    for other in (PartitionEngine.restore(snap, config),
                  PartitionEngine.resume(changes.parts, changes.customers, config),
                  engine.clone()):
        other.verdicts(rows[900:1400])
        other.checkpoint(full=True)
        other.snapshot()
        other.close()
    engine.close()
after = signatures()
print(json.dumps({name: sorted(after[name] - before.get(name, set()))
                  for name in after if after[name] - before.get(name, set())}))
"""


def test_the_warm_up_compiles_every_kernel_function_an_engine_calls() -> None:
    if not IN_CI:  # in CI a missing numba fails the run, never skips
        pytest.importorskip("numba", reason="numba is a dependency")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("AUDITSTREAM_CORE", None)
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {}


def test_the_warm_up_command_says_where_the_cache_is() -> None:
    if not IN_CI:
        pytest.importorskip("numba", reason="numba is a dependency")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUDITSTREAM_CORE": "compiled"}
    done = subprocess.run([sys.executable, "-m", "detector.kernel.warm"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    from detector.kernel.jit import cache_dir

    assert done.stdout.startswith(f"detection kernel ready in {cache_dir()} (")
