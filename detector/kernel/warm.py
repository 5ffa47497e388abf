"""`python -m detector.kernel.warm`: compile the kernel into its cache before anything runs.

A process loads the compiled kernel from the per-user cache in ~3 s (`jit.cache_dir`); the
first one on a machine, or after any edit or upgrade of its sources, compiles it for about
a minute, and a detector doing that at its first partition assignment makes the group wait.
This runs every operation of an engine that calls into the kernel from Python (scoring
across refits, parking and eviction, checkpoints, snapshots, restores, resumes, copies) once
on a small made-up stream, so each compiled function is in the cache afterwards (a test
holds that nothing else an engine does compiles another: tests/unit/test_kernel_warm.py).
`make` runs it before the tests and the demo, the Docker image at build. With the cache
already filled it only loads it. Exit 0; 1 when the cache could not keep what was compiled
(a full disk, a folder this user cannot write or make: the warning says which); 2 when
numba is missing.
"""

from __future__ import annotations

import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np


def _rows(n: int, seed: int) -> list[Any]:
    """`n` made-up transactions of a few customers, in time order (their values do not
    matter: the kernel compiles by the types it is called with)."""
    from shared.schemas import Transaction

    rng = random.Random(seed)
    t = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        t += timedelta(seconds=rng.randrange(1, 4000))
        out.append(Transaction(
            transaction_id=f"w{i}", customer_id=f"c{rng.randrange(40)}", timestamp=t,
            amount=round(rng.choice((12.5, 40.0, 99.99, 250.0, 1800.0)) * rng.random() + 1, 2),
            country=rng.choice(("CH", "CH", "FR", "US")), channel=rng.choice(("web", "app")),
            device=f"d{rng.randrange(3)}", ip=f"10.0.{rng.randrange(4)}.{rng.randrange(9)}",
            merchant_category=rng.choice(("grocery", "travel", "fuel"))))
    return out


def warm() -> None:
    """Run every operation of an engine on the kernel once (the module docstring)."""
    from detector.core.config import CoreConfig
    from detector.core.engine import PartitionEngine, row_loop
    from detector.kernel import forest

    row_loop("kernel")  # the kernel loaded (compiled.KernelMissing without numba)
    config = CoreConfig(hot_customers=4, max_customers=30, customer_ttl_s=5 * 86400,
                        first_fit_after=64, refit_every=64, refit_delay=32, sample_size=64,
                        n_trees=8, max_samples=32)
    engine = PartitionEngine(config, 0)
    if engine._kernel is None:
        raise RuntimeError("the engine did not take the kernel")
    rows = _rows(400, 1)
    for lo in range(0, 300, 50):
        engine.verdicts(rows[lo:lo + 50])
        engine.checkpoint(full=lo == 0)
    copy = engine.clone()
    copy.verdicts(rows[300:350])
    data = engine.snapshot()
    again = PartitionEngine.restore(data, config)
    again.verdicts(rows[300:350])
    changes = engine.checkpoint(full=True)
    parts = {name: part for name, part in changes.parts.items() if part is not None}
    resumed = PartitionEngine.resume(parts, changes.customers, config)
    resumed.verdicts(rows[300:400])
    for e in (engine, copy, again, resumed):
        e.close()
    arrays = engine._model.arrays if engine._model is not None else None
    if arrays is not None:  # the rows above hold no NaN: a batch with one walks otherwise
        forest.depths(arrays, np.full((1, arrays.width), np.nan, np.float32))


def main() -> int:
    from detector.core import compiled
    from detector.kernel import jit
    from detector.kernel.jit import NUMBA, cache_dir

    if not NUMBA:
        print("detector.kernel.warm: numba is not installed: nothing to compile",
              file=sys.stderr)
        return 2
    start = time.perf_counter()
    os.environ[compiled.SWITCH] = "kernel"  # this process only
    warm()
    if jit._UNSAVED or jit._FALLBACK:  # a process after this one would compile again
        kept = "none of it" if jit._FALLBACK else f"{len(jit._UNSAVED)} functions short"
        print(f"detector.kernel.warm: the kernel compiled but its cache {cache_dir()} "
              f"cannot keep it ({kept}; the warning above says why)", file=sys.stderr)
        return 1
    print(f"detection kernel ready in {cache_dir()} ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
