"""`detector.core.rounding.rounded` is Python's `round(v, digits)`, to the bit, by column."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.core.rounding import rounded


def _bits(values: list[float]) -> list[str]:
    return [v.hex() if not math.isnan(v) else "nan" for v in values]


def _same(values: list[float], digits: int) -> None:
    got = rounded(np.array(values, dtype=np.float64), digits).tolist()
    assert _bits(got) == _bits([round(v, digits) for v in values])


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=50),
       st.integers(0, 15))
@settings(max_examples=300)
def test_any_doubles(values: list[float], digits: int) -> None:
    _same(values, digits)


@given(st.lists(st.integers(-10**9, 10**9), min_size=1, max_size=50),
       st.lists(st.integers(-6, 6), min_size=1, max_size=50), st.integers(1, 9))
@settings(max_examples=300)
def test_ties_and_a_few_ulps_either_side(halves: list[int], steps: list[int],
                                         digits: int) -> None:
    """(k + 1/2) / 10**d, the double nearest to it and a few steps either side: where the
    scaling's rounding decides which way the half goes."""
    values = []
    for k, step in zip(halves, steps * len(halves), strict=False):
        v = (k + 0.5) / 10**digits
        for _ in range(abs(step)):
            v = math.nextafter(v, math.inf if step > 0 else -math.inf)
        values.append(v)
    _same(values, digits)


def test_exact_binary_ties_go_to_even_and_zeros_keep_their_sign() -> None:
    # 1/128 * 10**6 = 7812.5 exactly: half to even, 7812
    _same([1 / 128, 3 / 128, 0.5, 1.5, 2.5, -0.5, -0.0, 0.0, -1e-9, 1e-9, 0.9999995,
           0.6, 0.599999, 0.600001, 1.0, 1e300, -1e300, 5e-324], 6)
    assert rounded(np.array([1 / 128]), 6)[0] == 0.007812


@pytest.mark.parametrize("digits", [-1, 16])
def test_digits_outside_the_exact_scales_are_refused(digits: int) -> None:
    with pytest.raises(ValueError, match="digits must be 0 to 15"):
        rounded(np.array([0.5]), digits)
