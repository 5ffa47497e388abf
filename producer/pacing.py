"""Send pacing (as fast as possible, N per second, or X times event time) and a TTY progress bar."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TextIO


class Pacer:
    """When each message is due, relative to the first one sent.

    `rate`: messages per second; `speed`: event-time seconds per wall second (60 = one hour of
    data per minute). Neither: everything is due at once.
    """

    def __init__(self, rate: float | None = None, speed: float | None = None) -> None:
        if rate is not None and speed is not None:
            raise ValueError("give --rate or --speed, not both")
        if (rate is not None and rate <= 0) or (speed is not None and speed <= 0):
            raise ValueError("--rate and --speed must be positive")
        self.rate, self.speed = rate, speed
        self._t0: float | None = None
        self._e0: datetime | None = None

    @property
    def unpaced(self) -> bool:
        return self.rate is None and self.speed is None

    def delay(self, index: int, event_time: datetime, now: float) -> float:
        """Seconds to wait before sending message `index` (0-based) with `event_time`."""
        if self._t0 is None:
            self._t0, self._e0 = now, event_time
        if self.rate is not None:
            due = self._t0 + index / self.rate
        elif self.speed is not None and self._e0 is not None:
            due = self._t0 + (event_time - self._e0).total_seconds() / self.speed
        else:
            return 0.0
        return due - now


def _clock(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    """A one-line progress bar with rate and ETA, redrawn at most every `every` seconds."""

    def __init__(self, total: int, stream: TextIO, every: float = 0.2, width: int = 30) -> None:
        self.total, self.stream, self.every, self.width = total, stream, every, width
        self.start = time.monotonic()
        self._last = 0.0

    def update(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        self._last = now
        elapsed = max(now - self.start, 1e-9)
        rate = done / elapsed
        frac = done / self.total if self.total else 1.0
        filled = int(frac * self.width)
        eta = (self.total - done) / rate if rate > 0 else 0.0
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (self.width - filled)}] {frac:6.1%} "
            f"{done:,}/{self.total:,} {rate:,.0f} rows/s ETA {_clock(eta)} "
        )
        self.stream.flush()

    def close(self, done: int) -> None:
        self.update(done, force=True)
        self.stream.write("\n")
        self.stream.flush()
