"""Slots for the tests of what reads every slot field (parking, checkpoint records): an
engine on the kernel after a generated stream, and slots filled with random customers
(any lengths within the capacities, rings at any head, held events in blocks of the pool,
floats of any bits: NaN, -0.0, +-inf, subnormals) for the property tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.kernel import slots as sl
from detector.kernel.codes import Codes
from detector.kernel.rows import KernelRows
from tests.unit.kernel_rows import generated


def streamed(monkeypatch: pytest.MonkeyPatch, config: CoreConfig,
             **data: Any) -> PartitionEngine:
    """An engine on the kernel after the stream `kernel_rows.generated(**data)`."""
    monkeypatch.setenv("AUDITSTREAM_CORE", "kernel")
    engine = PartitionEngine(config, 0)
    txs = generated(**data)
    for i in range(0, len(txs), 97):
        engine.verdicts(txs[i:i + 97])
    return engine


def streamed_rows(monkeypatch: pytest.MonkeyPatch, config: CoreConfig,
                  **data: Any) -> KernelRows:
    """`streamed`'s kernel state."""
    rows = streamed(monkeypatch, config, **data)._kernel
    assert isinstance(rows, KernelRows)
    return rows

#: Strings JSON must escape or spell out, beside plain ones.
WORDS = ("", "CH", "web", 'say "hi"', "back\\slash", "tab\there", "zürich ☃", "😀", "a/b",
         "10.0.3", "\u2028")


def _floats(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Floats of random bits, with ordinary and special values mixed in."""
    bits = rng.integers(0, 2**64, size=shape, dtype=np.uint64).view(np.float64)
    ordinary = rng.normal(0, 1e3, size=shape).round(2)
    special = rng.choice(np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, 1e300]),
                         size=shape)
    pick = rng.integers(0, 3, size=shape)
    return np.where(pick == 0, bits, np.where(pick == 1, ordinary, special))


def random_slots(seed: int, customers: int, dims: sl.Dims) -> tuple[sl.CustomerSlots, Codes]:
    """`customers` slots, each a random customer (its lists' entries only where its
    lengths say), and the codes of their strings."""
    rng = np.random.default_rng(seed)
    codes = Codes()
    for w in WORDS:
        codes.code(w)
    s = sl.allocate(dims, customers + 2)
    n = len(WORDS)
    for name in sl.PER_SLOT + sl.POOL:
        a = getattr(s, name)
        if name in ("pend_at", "pend_len"):
            continue
        if a.dtype == np.float64:
            a[...] = _floats(rng, a.shape)
        elif name in ("last_country",) or name.endswith(("_cat", "_chan", "_code")):
            a[...] = rng.integers(0, n, size=a.shape)
        elif name.endswith("_len"):
            continue
        elif name in ("amt_head", "ctx_head"):
            cap = (s.amt if name == "amt_head" else s.ctx_la).shape[1]
            a[...] = rng.integers(0, cap, size=a.shape)
        else:
            info = np.iinfo(a.dtype)
            a[...] = rng.integers(info.min, info.max, size=a.shape, endpoint=True)
    s.pend_bare[...] = rng.integers(0, 2, size=s.pend_bare.shape)
    for c in range(customers):
        s.amt_len[c] = rng.integers(0, dims.a + 1)
        s.rec_len[c] = rng.integers(0, dims.r + 1)
        s.win_len[c] = rng.integers(0, dims.w + 1)
        s.days_len[c] = rng.integers(0, dims.w + 1)
        s.ctx_len[c] = rng.integers(0, dims.x + 1)
        s.tab_len[c] = rng.integers(0, dims.k + 1, size=len(sl.TABLES))
        s.tab_count[c] = rng.integers(0, 2**31 - 1, size=s.tab_count.shape[1:])
        m = min(dims.k, n)
        for i in range(len(sl.TABLES)):  # a table's keys are distinct (a dict's)
            s.tab_code[c, i, :m] = rng.permutation(n)[:m]
            s.tab_len[c, i] = min(s.tab_len[c, i], m)
        held = int(rng.integers(0, dims.p + 1)) if rng.random() < 0.6 else 0
        s.pend_len[c] = held
        if held:  # a block of the pool, as `hold` takes one
            k = int(s.pool_nfree[0]) - 1
            s.pend_at[c] = s.pool_free[k]
            s.pool_nfree[0] = k
    return s, codes
