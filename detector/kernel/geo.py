"""`geo.distance_km` (detector/core/geo.py) in kernel form, over a centroid table by country
code, to the bit.

The shell fills the table (`centroid_table`) as country codes appear: row `code` holds the
centroid's latitude and longitude already in radians (`math.radians`, in Python, as the core
converts them), NaN for a country `geo.CENTROIDS` does not know. The haversine's squares
take the exponent as a run-time float (`two`, 2.0): `x ** 2` with a literal is a product in
numba, where CPython calls the C library's `pow` (docs/kernel.md "Parity"; over the known
countries' pairs a literal happened to give the same bits: the argument makes it so whatever
the table holds).

Status: `distance_km` equal to the core's to the bit over every ordered pair of known
countries, unknown ones and codes of one spelling in two cases (tests/unit/test_kernel_geo.py).
Not yet called by an engine (docs/kernel.md step 7).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from detector.core.geo import CENTROIDS
from detector.kernel.jit import jit

#: As `geo._EARTH_KM`.
EARTH_KM = 6371.0


def centroid_table(values: Sequence[str], table: np.ndarray | None = None) -> np.ndarray:
    """The centroid table for codes `0 .. len(values) - 1` (an encoder's strings, by code):
    `table`'s rows kept and the new codes' rows added (a new array when it grows)."""
    have = 0 if table is None else len(table)
    if table is not None and have >= len(values):
        return table
    out = np.full((len(values), 2), np.nan)
    if table is not None:
        out[:have] = table
    for code in range(have, len(values)):
        at = CENTROIDS.get(values[code].upper())
        if at is not None:
            out[code, 0] = math.radians(at[0])
            out[code, 1] = math.radians(at[1])
    return out


@jit
def distance_km(a: int, b: int, unknown_km: float, centroids: np.ndarray,
                two: float) -> float:  # pragma: no cover - compiled
    """`geo.distance_km` between country codes `a` and `b`; `centroids` is
    `centroid_table`'s, `two` is 2.0 (a run-time exponent: see the module docstring)."""
    if a == b:
        return 0.0
    lat1, lon1 = centroids[a, 0], centroids[a, 1]
    lat2, lon2 = centroids[b, 0], centroids[b, 1]
    if math.isnan(lat1) or math.isnan(lat2):
        return unknown_km
    h = (
        math.sin((lat2 - lat1) / 2) ** two
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** two
    )
    s = math.sqrt(h)
    return 2 * EARTH_KM * math.asin(s if s < 1.0 else 1.0)
