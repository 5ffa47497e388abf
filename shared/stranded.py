"""A Kafka client librdkafka has left with no broker at all, told from its statistics.

librdkafka removes every broker a Metadata answer does not list. A KRaft broker in its
controlled shutdown can answer with its topics and no broker; a client that asks in that
instant removes every broker it knew, and may never bootstrap again: librdkafka's open bug
#5301 (docs/reliability.md). Such a client waits for ever without an error. Its statistics
(`statistics.interval.ms`) then list no broker it could connect to, where a client in an
ordinary outage still lists the ones it is retrying. `BrokerWatch` is every client's
`stats_cb` (shared.kafka); the client's owner asks `stranded()` and replaces it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson

#: How often librdkafka hands a client's statistics to its `stats_cb` (ms).
STATS_INTERVAL_MS = 1_000
#: How long a client may list no usable broker before it counts as stranded (s). librdkafka's
#: own re-bootstrap, when it happens, adds the bootstrap servers back at once.
STRANDED_S = 5.0
#: Broker sources a client can connect to: `bootstrap.servers` and the brokers metadata
#: named. The others are librdkafka's own placeholders ("internal", the "logical" group
#: coordinator), which never connect anywhere by themselves.
USABLE_SOURCES = frozenset({"configured", "learned"})


def usable_brokers(stats: str | bytes) -> int | None:
    """How many brokers a client's statistics JSON lists that it could connect to; None
    when it is not statistics as librdkafka writes them (never an exception: the watch runs
    inside librdkafka's callback, whose exception would surface at the owner's next poll)."""
    try:
        brokers = orjson.loads(stats).get("brokers", {})
        return sum(1 for b in brokers.values() if b.get("source") in USABLE_SOURCES)
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        return None


class BrokerWatch:
    """A client's `stats_cb`: whether it has listed no usable broker for `grace` s."""

    def __init__(self, grace: float = STRANDED_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.grace, self._clock = grace, clock
        #: When the statistics first listed no usable broker (None while they list one).
        self.none_since: float | None = None
        #: The usable brokers the last statistics listed (None before the first).
        self.usable: int | None = None

    def __call__(self, stats: str | bytes) -> None:
        usable = usable_brokers(stats)
        if usable is None:
            return  # unreadable: says nothing either way
        self.usable = usable
        if usable:
            self.none_since = None
        elif self.none_since is None:
            self.none_since = self._clock()

    def stranded(self) -> bool:
        """No usable broker in every statistics for at least `grace` s."""
        return self.none_since is not None and self._clock() - self.none_since >= self.grace
