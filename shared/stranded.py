"""A Kafka client librdkafka has left with no broker at all, told from its statistics.

librdkafka removes every broker a Metadata answer does not list. A KRaft broker in its
controlled shutdown can answer with its topics and no broker; a client that asks in that
instant removes every broker it knew, and may never bootstrap again: librdkafka's open bug
#5301 (docs/reliability.md). Such a client waits for ever without an error. Its statistics
(`statistics.interval.ms`) then list no broker it could connect to, where a client in an
ordinary outage still lists the ones it is retrying. `BrokerWatch` is every client's
`stats_cb` (shared.kafka); the client's owner asks `stranded()` and replaces it.
`out_of_touch(s)` says whether no statistics listed a connected broker (state UP) for `s`
seconds: an outage, which the health checks report (shared.health).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import orjson

#: How often librdkafka hands a client's statistics to its `stats_cb` (ms).
STATS_INTERVAL_MS = 1_000
#: How long a client may list no usable broker before it counts as stranded (s). librdkafka's
#: own re-bootstrap, when it happens, adds the bootstrap servers back at once.
STRANDED_S = 5.0
#: Strandings further apart than this (s) start the back-off afresh (`Strandings`).
BACKOFF_WINDOW_S = 600.0
#: The longest grace the back-off gives (s).
MOST_STRANDED_S = 300.0
#: Broker sources a client can connect to: `bootstrap.servers` and the brokers metadata
#: named. The others are librdkafka's own placeholders ("internal", the "logical" group
#: coordinator), which never connect anywhere by themselves.
USABLE_SOURCES = frozenset({"configured", "learned"})


def usable_brokers(stats: str | bytes) -> int | None:
    """How many brokers a client's statistics JSON lists that it could connect to; None
    when it is not statistics as librdkafka writes them (never an exception: the watch runs
    inside librdkafka's callback, whose exception would surface at the owner's next poll)."""
    counts = _counts(stats)
    return None if counts is None else counts[0]


def _counts(stats: str | bytes) -> tuple[int, int] | None:
    """(usable brokers, those of them connected: state UP), or None (`usable_brokers`)."""
    try:
        brokers = orjson.loads(stats).get("brokers", {})
        usable = [b for b in brokers.values() if b.get("source") in USABLE_SOURCES]
        return len(usable), sum(1 for b in usable if b.get("state") == "UP")
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        return None


class Strandings:
    """When this process's clients were found stranded: the back-off between replacements.

    A cluster that keeps answering with no broker (a broker stuck in its shutdown) strands
    every new client within seconds; replacing them at that pace would leave a client
    closing in the background every few seconds (a group consumer's close waits for a
    coordinator it cannot find). So each stranding found within `window` s of the last
    doubles the grace of the next, up to `most` s; a quiet `window` starts afresh."""

    def __init__(self, window: float = BACKOFF_WINDOW_S, most: float = MOST_STRANDED_S) -> None:
        self.window, self.most = window, most
        self._lock = threading.Lock()
        self._last: float | None = None
        self._streak = 0

    def grace(self, base: float, now: float) -> float:
        """The grace a watch has at `now`: `base` doubled per stranding in the streak."""
        with self._lock:
            if self._last is None or now - self._last > self.window:
                return base
            return min(base * 2.0 ** self._streak, self.most)

    def found(self, now: float) -> None:
        with self._lock:
            quiet = self._last is None or now - self._last > self.window
            self._streak = 1 if quiet else self._streak + 1
            self._last = now


#: The strandings of this process (every watch's default).
PROCESS = Strandings()


class BrokerWatch:
    """A client's `stats_cb`: whether it has listed no usable broker for its grace
    (`grace` s, more after recent strandings in the process: `Strandings`)."""

    def __init__(self, grace: float = STRANDED_S,
                 clock: Callable[[], float] = time.monotonic,
                 strandings: Strandings = PROCESS) -> None:
        self.grace, self._clock, self._strandings = grace, clock, strandings
        #: When the statistics first listed no usable broker (None while they list one).
        self.none_since: float | None = None
        #: The usable brokers the last statistics listed (None before the first).
        self.usable: int | None = None
        self._found = False
        #: When statistics last listed a connected broker (its creation until the first).
        self.connected_at = clock()

    def __call__(self, stats: str | bytes) -> None:
        counts = _counts(stats)
        if counts is None:
            return  # unreadable: says nothing either way
        usable, connected = counts
        self.usable = usable
        if connected:
            self.connected_at = self._clock()
        if usable:
            self.none_since, self._found = None, False
        elif self.none_since is None:
            self.none_since = self._clock()

    def out_of_touch(self, seconds: float) -> bool:
        """No statistics listed a connected broker for more than `seconds` (an outage, or a
        client whose owner stopped polling it; since its creation if none ever did)."""
        return self._clock() - self.connected_at > seconds

    def stranded(self) -> bool:
        """No usable broker in every statistics for at least the grace; the first True of
        a watch counts as a stranding of the process."""
        if self.none_since is None:
            return False
        if self._found:
            return True
        now = self._clock()
        if now - self.none_since < self._strandings.grace(self.grace, now):
            return False
        self._found = True
        self._strandings.found(now)
        return True
