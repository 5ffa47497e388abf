"""Send pacing (as fast as possible, N per second, or X times event time) and a progress bar.

The pacing is ours (no library schedules by event time); the bar is tqdm's.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TextIO

from tqdm import tqdm

log = logging.getLogger(__name__)

#: The longest `--speed` waits for one row (s of wall time): a row due later is sent at
#: once and the pacing goes on from it (a warning names the gap). One row of a mistyped
#: year (1970 first in a sorted file, 2100 last) held `--speed 60` for most of a year.
MAX_WAIT_S = 3600.0


class Pacer:
    """When each message is due, relative to the first one sent.

    `rate`: messages per second; `speed`: event-time seconds per wall second (60 = one hour of
    data per minute), but never a wait over `MAX_WAIT_S` for one row. Neither: everything is
    due at once.
    """

    def __init__(self, rate: float | None = None, speed: float | None = None) -> None:
        if rate is not None and speed is not None:
            raise ValueError("give --rate or --speed, not both")
        if (rate is not None and rate <= 0) or (speed is not None and speed <= 0):
            raise ValueError("--rate and --speed must be positive")
        self.rate, self.speed = rate, speed
        self._t0: float | None = None
        self._e0: datetime | None = None
        self._last: datetime | None = None  # the event time of the row before

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
            if due - now > MAX_WAIT_S:  # a gap no one waits out: the pace goes on from here
                log.warning("event time jumps from %s to %s: %.0f s to wait at --speed %g, "
                            "over %.0f s; sent at once, the pacing going on from it",
                            self._last, event_time, due - now, self.speed, MAX_WAIT_S)
                self._t0, self._e0 = now, event_time
                due = now
            self._last = event_time
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
