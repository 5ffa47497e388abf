"""Send pacing (as fast as possible, N per second, or X times event time) and a progress bar.

The pacing is ours (no library schedules by event time); the bar is tqdm's.
"""

from __future__ import annotations

from datetime import datetime
from typing import TextIO

from tqdm import tqdm


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


class Progress:
    """A progress bar with rate and ETA (tqdm), fed the absolute count of rows done.

    tqdm draws it only when `stream` is a terminal (`disable=None`): a log file or a pipe
    gets nothing, the caller's summary line says what was done.
    """

    def __init__(self, total: int, stream: TextIO, every: float = 0.2) -> None:
        self._bar = tqdm(total=total, file=stream, mininterval=every, unit=" rows",
                         disable=None, dynamic_ncols=True)

    def update(self, done: int, force: bool = False) -> None:
        self._bar.update(done - self._bar.n)
        if force:
            self._bar.refresh()

    def close(self, done: int) -> None:
        self.update(done)
        self._bar.close()
