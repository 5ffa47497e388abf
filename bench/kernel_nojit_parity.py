"""Whether `detector/kernel/lru.py`'s compiled functions give the same as the plain Python
they are with `NUMBA_DISABLE_JIT=1` (docs/mutation.md, "The kernel's customer table and
stray clock": its mutants were judged so). Prints a digest of every output on seeded random
streams (late rows, jumps far ahead, tiny tables, `lru_rows` and `lru_pass`); run it both
ways and compare the two lines:

    .venv/bin/python bench/kernel_nojit_parity.py
    NUMBA_DISABLE_JIT=1 .venv/bin/python bench/kernel_nojit_parity.py
"""

from __future__ import annotations

import hashlib
import random

import numpy as np

from detector.kernel import lru


def digest(streams: int = 400) -> tuple[int, str]:
    """Rows run, and the SHA-256 of each batch's drops, fresh flags, order, arrays (`prev`,
    `next`, `seen`, `ends`), ids gone and count evicted, per row (`lru_rows`) and per batch
    (`lru_pass`)."""
    h = hashlib.sha256()
    rows = 0
    for seed in range(streams):
        rng = random.Random(seed)
        max_customers = rng.randint(1, 12)
        ttl = rng.choice((0.5, 1.0, 10.0, 99.5, 1e9))
        tables = [lru.Slots(max_customers, ttl) for _ in range(2)]
        t = 0.0
        for _ in range(rng.randint(1, 6)):
            ids, ts = [], []
            for _ in range(rng.randint(0, 40)):
                if rng.random() < 0.9:
                    t += rng.choice((0.0, 0.5, 1.0, -3.0))
                else:
                    t += rng.choice((150.0, 1e8, -200.0))
                ids.append(f"c{rng.randrange(15)}")
                ts.append(t + (1e9 if rng.random() < 0.05 else 0.0))  # a stray row
            for per_row, table in zip((True, False), tables, strict=True):
                dropped, fresh = table.run(ids, np.array(ts, np.float64), per_row)
                rows += len(ids)
                a = table.arrays
                h.update(repr((dropped, fresh.tolist(), table.order(), a.seen.tolist(),
                               a.prev.tolist(), a.next.tolist(), a.ends.tolist(),
                               sorted(table.gone), table.evicted)).encode())
    return rows, h.hexdigest()


if __name__ == "__main__":
    n, d = digest()
    print(f"{type(lru.lru_pass).__name__}: {n} rows, {d}")
