"""Python's `round(value, digits)` of every value of an array, to the bit, by column.

`round` gives the double nearest to the value rounded to `digits` decimals (half to even,
on the value's exact binary expansion). Scaled, rounded to an integer and scaled back
(`np.rint(x * 10**d) / 10**d`) gives the same double unless the scaling's own rounding
moved the value across a half: there, within a few units in the last place of a half,
`round` itself decides (tests/unit/test_core_rounding.py holds the two equal on any
double, ties and near-ties included).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: How near a half (in units in the last place of the scaled value) `round` decides.
NEAR_HALF_ULPS = 4.0


def rounded(values: NDArray[np.float64], digits: int) -> NDArray[np.float64]:
    """`[round(v, digits) for v in values]` as an array (0 <= digits <= 15)."""
    if not 0 <= digits <= 15:
        raise ValueError(f"digits must be 0 to 15, not {digits}")
    x = np.asarray(values, dtype=np.float64)
    scale = 10.0 ** digits  # exact up to 10**22
    with np.errstate(all="ignore"):
        y = x * scale
        out = np.rint(y) / scale
        near = np.abs(y - np.floor(y) - 0.5) <= NEAR_HALF_ULPS * np.abs(np.spacing(y))
    for i in np.flatnonzero(near | ~np.isfinite(y)).tolist():
        out[i] = round(float(x[i]), digits)
    return out
