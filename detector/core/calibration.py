"""Recalibration of the surprise terms on the data at hand (split from `detector.core.surprise`)."""

from __future__ import annotations

import math
from typing import ClassVar, Final

#: The surprise terms, in the order of every term vector (detector.core.surprise).
TERMS: Final[tuple[str, ...]] = (
    "amount_high", "amount_low", "country", "device", "ip_network", "channel", "category",
    "hour", "rate", "repeat", "dormancy", "travel",
)


class Recalibration:
    """Keeps each term honest on the data at hand, at several levels of its tail: where a
    term surprises more often than it should on this population (its value exceeds L on
    more than e^-L of established customers' rows, L = 3, 4), it is mapped down so
    that those quantiles are L again (a piecewise-linear map through them), and beyond the
    last it grows with the slope of the last piece (a tail heavier than the term's model,
    e.g. amounts that are normal rather than log-normal, is not extrapolated as a
    miracle). Never up (a cautious term stays cautious), never below a third. Levels stop
    at 4 (e^-4 = 1.8% of rows; at 5, 0.7%, anomalies of a few kinds together taught
    `amount_high` that they are usual).
    Fixed between recomputes (every `EVERY` rows, from `MIN_ROWS` on): deterministic."""

    # ClassVar: class constants, also when compiled (detector.core.compiled)
    BINS_PER_UNIT: ClassVar[int] = 10
    LEVELS: ClassVar[tuple[float, ...]] = (3.0, 4.0)
    MIN_ROWS: ClassVar[int] = 512
    EVERY: ClassVar[int] = 256
    WINDOW: ClassVar[int] = 200_000

    #: The state's fields, in the order the state formats write them.
    FIELDS: ClassVar[tuple[str, ...]] = ("hist", "scales", "shapes", "total")
    __slots__ = FIELDS

    def __init__(self, cap: float) -> None:
        width = int(cap * self.BINS_PER_UNIT) + 1
        self.hist = [[0] * width for _ in TERMS]
        self.scales = [1.0] * len(TERMS)  # each term's slope beyond its last level
        # per term: the map's points [raw, calibrated] in increasing order; [] = identity
        # (lists, so that the state format's JSON gives them back as they were)
        self.shapes: list[list[list[float]]] = [[] for _ in TERMS]
        self.total = 0

    def apply(self, values: list[float]) -> list[float]:
        for shape in self.shapes:  # `any(self.shapes)` as a native loop
            if shape:
                break
        else:  # every map the identity (most of the time)
            return list(values)
        # an index loop over terms, maps and scales of one length: a keyword call of
        # `zip(..., strict=True)` is generic compiled (a type call parsing its keywords,
        # an iterator per list)
        shapes, scales = self.shapes, self.scales
        steps = len(values)
        if len(shapes) != steps or len(scales) != steps:
            raise ValueError(f"terms, maps and scales of unequal lengths: {steps}, "
                             f"{len(shapes)}, {len(scales)}")
        out = []
        for i in range(steps):
            v, points, slope = values[i], shapes[i], scales[i]
            if not points or v <= 0:
                out.append(v)
                continue
            x0 = y0 = 0.0
            for x1, y1 in points:
                if v <= x1:
                    mapped = y0 + (v - x0) * (y1 - y0) / (x1 - x0)
                    break
                x0, y0 = x1, y1
            else:
                mapped = y0 + (v - x0) * slope
            out.append(max(v / 3.0, min(v, mapped)))
        return out

    def learn(self, values: list[float]) -> None:
        hist = self.hist
        last = len(hist[0]) - 1
        per = self.BINS_PER_UNIT
        # an index loop over histograms and terms of one length (see `apply`); each count
        # added as an int (`+=` on a list's item is a generic in-place add compiled)
        steps = len(hist)
        if len(values) != steps:
            raise ValueError(
                f"histograms and terms of unequal lengths: {steps}, {len(values)}")
        for i in range(steps):
            h = hist[i]
            b = int(values[i] * per)
            j = last if b > last else 0 if b < 0 else b
            h[j] = h[j] + 1
        self.total += 1
        if self.total % self.EVERY == 0:
            self._rescale()
        if self.total >= self.WINDOW:  # a moving window: halve the counts
            self.hist = [[n // 2 for n in h] for h in self.hist]
            self.total = sum(self.hist[0])

    def _edge(self, h: list[int], level: float) -> float:
        """The smallest value exceeded by at most e^-level of the rows."""
        target = self.total * math.exp(-level)
        above = 0
        for b in range(len(h) - 1, -1, -1):
            above += h[b]
            if above >= target:
                return b / self.BINS_PER_UNIT
        return 0.0

    def _rescale(self) -> None:
        if self.total < self.MIN_ROWS:
            return
        for i, h in enumerate(self.hist):
            points: list[list[float]] = []
            narrow = False
            for level in self.LEVELS:
                edge = self._edge(h, level)
                if edge <= 0 or (points and edge <= points[-1][0]):
                    continue
                narrow |= edge > level
                points.append([edge, min(edge, level)])
            if not narrow:
                self.shapes[i], self.scales[i] = [], 1.0
                continue
            (xa, ya), (xb, yb) = [[0.0, 0.0], *points][-2:]
            self.shapes[i] = points
            self.scales[i] = min(1.0, max(1.0 / 3.0, (yb - ya) / (xb - xa)))

    def __getstate__(self) -> tuple[object, ...]:
        return (self.hist, self.scales, self.total, self.shapes)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        self.hist, self.scales, self.total, self.shapes = state  # type: ignore[assignment]
