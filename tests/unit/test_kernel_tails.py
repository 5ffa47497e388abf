"""detector/kernel/tails.py: the kernel's Poisson tail and surprise equal the core's to the
bit, the cancellation branch (CPython's lgamma table) included."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.core import surprise
from detector.kernel import tails
from tests.ci import IN_CI

if not IN_CI:  # in CI a missing numba fails the run , never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")


def test_constants_are_the_cores() -> None:
    assert tails.TINY == surprise._TINY
    for i in range(1, len(tails.LGAMMA)):
        assert tails.LGAMMA[i] == math.lgamma(i)


@settings(deadline=None)  # the first example compiles the kernel (or loads it)
@given(st.integers(-2, 63), st.floats(-1.0, 200.0, allow_nan=False))
def test_poisson_tail_is_the_cores(k: int, mu: float) -> None:
    assert tails.poisson_tail(k, mu, tails.LGAMMA).hex() == surprise.poisson_tail(k, mu).hex()


def test_poisson_tail_across_the_cancellation_branch() -> None:
    """Both branches: the tail below 1e-9 sums from k with lgamma (k up to 63)."""
    branch = 0
    for k in range(1, 64):
        for mu in (1e-6, 0.01, 0.3, 1.0, 2.5, 7.0, 20.0, 45.0, 63.0):
            want = surprise.poisson_tail(k, mu)
            assert tails.poisson_tail(k, mu, tails.LGAMMA).hex() == want.hex()
            branch += want < 1e-9
    assert branch > 50


@settings(deadline=None)
@given(st.floats(0.0, 1.0, allow_nan=False), st.floats(0.1, 60.0, allow_nan=False))
def test_bits_is_the_cores(p: float, cap: float) -> None:
    assert tails.bits(p, cap).hex() == surprise._bits(p, cap).hex()
