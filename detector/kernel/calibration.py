"""The terms' recalibration (`detector.core.calibration.Recalibration`) as arrays, and its
converters (docs/kernel.md (b) `Recalibration`, (d)).

`apply` and `learn` (with `_edge` and `_rescale`) are the core's, to the bit
(tests/unit/test_kernel_calibration.py); `min` and `max` are spelt as the builtins choose.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from detector.core.calibration import TERMS, Recalibration
from detector.kernel.jit import jit

#: At most this many points per term's map (`Recalibration.LEVELS`).
POINTS = len(Recalibration.LEVELS)
#: `Recalibration`'s constants.
LEVELS = Recalibration.LEVELS
BINS_PER_UNIT = Recalibration.BINS_PER_UNIT
MIN_ROWS = Recalibration.MIN_ROWS
EVERY = Recalibration.EVERY
WINDOW = Recalibration.WINDOW


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


@jit
def apply(values: Any, out: Any, shapes: Any, shape_len: Any,
          scales: Any) -> None:  # pragma: no cover - compiled
    """`Recalibration.apply`: `values` (one row's terms) mapped into `out`."""
    steps = values.shape[0]
    for i in range(steps):
        v = values[i]
        m = shape_len[i]
        if m == 0 or v <= 0:
            out[i] = v
            continue
        x0 = y0 = 0.0
        mapped = 0.0
        inside = False
        for j in range(m):
            x1 = shapes[i, j, 0]
            y1 = shapes[i, j, 1]
            if v <= x1:
                mapped = y0 + (v - x0) * (y1 - y0) / (x1 - x0)
                inside = True
                break
            x0 = x1
            y0 = y1
        if not inside:
            mapped = y0 + (v - x0) * scales[i]
        low = mapped if mapped < v else v  # min(v, mapped)
        third = v / 3.0
        out[i] = low if low > third else third  # max(v / 3.0, low)


@jit
def _edge(h: Any, level: float, total: int) -> float:  # pragma: no cover - compiled
    """`Recalibration._edge`: the smallest value exceeded by at most e^-level of the rows."""
    target = total * math.exp(-level)
    above = 0
    for b in range(h.shape[0] - 1, -1, -1):
        above += h[b]
        if above >= target:
            return b / BINS_PER_UNIT
    return 0.0


@jit
def _rescale(hist: Any, total: int, shapes: Any, shape_len: Any,
             scales: Any) -> None:  # pragma: no cover - compiled
    """`Recalibration._rescale`."""
    if total < MIN_ROWS:
        return
    for i in range(hist.shape[0]):
        m = 0
        narrow = False
        for level in LEVELS:
            edge = _edge(hist[i], level, total)
            if edge <= 0 or (m > 0 and edge <= shapes[i, m - 1, 0]):
                continue
            narrow |= edge > level
            shapes[i, m, 0] = edge
            shapes[i, m, 1] = level if level < edge else edge  # min(edge, level)
            m += 1
        if not narrow:
            shape_len[i] = 0
            scales[i] = 1.0
            continue
        shape_len[i] = m
        if m == 1:
            xa = ya = 0.0
        else:
            xa = shapes[i, m - 2, 0]
            ya = shapes[i, m - 2, 1]
        r = (shapes[i, m - 1, 1] - ya) / (shapes[i, m - 1, 0] - xa)
        r = r if r > 1.0 / 3.0 else 1.0 / 3.0  # max(1.0 / 3.0, r)
        scales[i] = r if r < 1.0 else 1.0  # min(1.0, r)


@jit
def learn(values: Any, hist: Any, total: Any, shapes: Any, shape_len: Any,
          scales: Any) -> None:  # pragma: no cover - compiled
    """`Recalibration.learn`: one row's raw terms counted (`total[0]` the rows)."""
    last = hist.shape[1] - 1
    for i in range(hist.shape[0]):
        b = int(values[i] * BINS_PER_UNIT)
        j = last if b > last else 0 if b < 0 else b
        hist[i, j] += 1
    total[0] += 1
    if total[0] % EVERY == 0:
        _rescale(hist, total[0], shapes, shape_len, scales)
    if total[0] >= WINDOW:  # a moving window: halve the counts
        for i in range(hist.shape[0]):
            for j in range(hist.shape[1]):
                hist[i, j] //= 2
        kept = 0
        for j in range(hist.shape[1]):
            kept += hist[0, j]
        total[0] = kept
