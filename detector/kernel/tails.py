"""The core's tail probabilities (`detector.core.surprise`) in kernel form, to the bit."""

from __future__ import annotations

import math

import numpy as np

from detector.kernel.jit import jit

#: As `surprise._TINY` (tests/unit/test_kernel_tails.py checks it).
TINY = 1e-300
#: CPython's `math.lgamma(i)` for i = 1..64, as a table: CPython computes lgamma itself
#: (Modules/mathmodule.c, `m_lgamma`), numba calls the C library's, and the two differ in
#: the last bits (up to 3 ulp at integers on this machine, docs/kernel.md "Parity"). The
#: kernel reads CPython's values, so `poisson_tail` stays exact. Index 0 is unused.
LGAMMA = np.array([0.0] + [math.lgamma(i) for i in range(1, 65)], np.float64)


@jit
def poisson_tail(k: int, mu: float, lgamma: np.ndarray) -> float:  # pragma: no cover
    """`surprise.poisson_tail`, the same operations in the same order; `lgamma[k + 1]` is
    CPython's `math.lgamma(k + 1)` (`LGAMMA`; k at most 63)."""
    if k <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    term = math.exp(-mu)
    below = 0.0
    for i in range(k):
        below += term
        term *= mu / (i + 1)
    tail = 1.0 - below
    if tail < 1e-9:
        tail = 0.0
        term = math.exp(-mu + k * math.log(mu) - lgamma[k + 1])
        for i in range(k, k + 60):
            tail += term
            term *= mu / (i + 1)
    return TINY if tail < TINY else tail


@jit
def bits(p: float, cap: float) -> float:  # pragma: no cover - compiled
    """`surprise._bits`: the surprise of probability `p`, at most `cap`."""
    b = -math.log(TINY if p < TINY else p)
    return b if b < cap else cap
