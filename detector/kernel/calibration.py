"""The terms' recalibration (`detector.core.calibration.Recalibration`) as arrays, and its
converters (docs/kernel.md (b) `Recalibration`, (d)).

Status: the arrays and converters; `apply`, `learn` and `_rescale` in the kernel are step 6.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from detector.core.calibration import TERMS, Recalibration

#: At most this many points per term's map (`Recalibration.LEVELS`).
POINTS = len(Recalibration.LEVELS)


class CalibrationArrays(NamedTuple):
    """`Recalibration`'s fields; one partition's."""

    hist: Any  # int64[terms][bins]
    scales: Any  # float64[terms]
    shapes: Any  # float64[terms][POINTS][2]: each map's points (raw, calibrated)
    shape_len: Any  # int8[terms]: 0 = the identity
    total: Any  # int64[1]


def to_arrays(cal: Recalibration) -> CalibrationArrays:
    """`cal` as arrays (the histograms' width as stored: a checkpoint written under another
    `surprise_cap` keeps its own)."""
    terms = len(TERMS)
    shapes = np.zeros((terms, POINTS, 2), np.float64)
    shape_len = np.zeros(terms, np.int8)
    for i, points in enumerate(cal.shapes):
        if len(points) > POINTS:
            raise ValueError(f"a map of {len(points)} points, at most {POINTS}")
        for j, (x, y) in enumerate(points):
            shapes[i, j] = (x, y)
        shape_len[i] = len(points)
    return CalibrationArrays(hist=np.array(cal.hist, np.int64),
                             scales=np.array(cal.scales, np.float64), shapes=shapes,
                             shape_len=shape_len, total=np.array([cal.total], np.int64))


def from_arrays(a: CalibrationArrays, cap: float) -> Recalibration:
    """The arrays as a `Recalibration` (the inverse of `to_arrays`)."""
    cal = Recalibration(cap)
    cal.hist = [[int(x) for x in row] for row in a.hist]
    cal.scales = [float(x) for x in a.scales]
    cal.shapes = [[[float(a.shapes[i, j, 0]), float(a.shapes[i, j, 1])]
                   for j in range(int(a.shape_len[i]))] for i in range(len(TERMS))]
    cal.total = int(a.total[0])
    return cal
