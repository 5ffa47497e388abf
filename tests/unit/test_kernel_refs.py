"""detector/kernel/refs.py: `as_ref` makes each structref through a constructor compiled
and cached as the kernel's functions are. Called from Python, numba's proxy class compiled
its constructor anew in every process (~0.5-1 s each, 4-5 s for the five a `KernelRows`
makes: most of a detector's or `score`'s start on a warm cache)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ci import IN_CI

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")

ROOT = Path(__file__).resolve().parents[2]

#: Makes every kind of ref once; prints the constructors' cache hits and misses.
MAKE = """
from detector.core.calibration import Recalibration
from detector.core.config import CoreConfig
from detector.core.knobs import Knobs
from detector.core.state import Population
from detector.kernel import calibration as kc, population as kp, refs, slots as sl
from detector.kernel.codes import Codes
from detector.kernel.hold import due_buffer
from detector.kernel.knobs import kernel_knobs
config = CoreConfig()
s = sl.allocate(sl.Dims.of(config), 4)
for state in (s, kp.to_arrays(Population(), Codes(), config.max_population_keys),
              kc.to_arrays(Recalibration(config.surprise_cap)),
              kernel_knobs(Knobs(config)), due_buffer(s.pend_r.shape[1])):
    refs.as_ref(state)
stats = [f.stats for f in refs._MAKE.values()]
print(sum(sum(st.cache_hits.values()) for st in stats),
      sum(sum(st.cache_misses.values()) for st in stats))
"""


def test_a_second_process_loads_every_constructor_from_the_cache(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "AUDITSTREAM_KERNEL_CACHE": str(tmp_path / "cache")}
    runs = [subprocess.run([sys.executable, "-c", MAKE], env=env, capture_output=True,
                           text=True, check=True, timeout=600).stdout.split()
            for _ in range(2)]
    assert runs == [["0", "5"], ["5", "0"]]

