"""librdkafka's logging, made quiet: connection failures summarised, the rest logged.

While no broker answers, librdkafka logs a failed connection attempt several times a second
per client. `ClientLog` (given to every client as its `logger` and `error_cb` by
`shared.kafka`) turns those into one "waiting for Kafka at HOST:PORT (cause)" line per
`KafkaSettings.log_interval_s` for the whole process; every other line goes to the Python
logger `librdkafka` at its level.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import KafkaError

from shared.settings import KafkaSettings

client_log = logging.getLogger("librdkafka")

#: librdkafka error codes that mean "no broker to talk to (yet)".
TRANSPORT_CODES = frozenset({
    KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE,
})
#: Text of librdkafka log lines that say the same.
_TRANSPORT_TEXT = (
    "Connection refused", "Connect to ", "Broker transport failure", "brokers are down",
    "Failed to resolve", "Name or service not known", "Disconnected", "Connection reset",
)


def is_transport_noise(text: str) -> bool:
    """Whether a librdkafka log line only says the broker cannot be reached right now."""
    return any(marker in text for marker in _TRANSPORT_TEXT)


class WaitLine:
    """At most one "waiting for Kafka at ..." line per `interval` seconds for one address."""

    def __init__(self, bootstrap: str, interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bootstrap = bootstrap
        self.interval = interval
        self._clock = clock
        self._last: float | None = None
        self._hidden = 0
        self._lock = threading.Lock()

    def note(self, cause: str) -> str | None:
        """Record one failure; return the line to print now, or None to stay quiet."""
        now = self._clock()
        with self._lock:
            if self._last is not None and now - self._last < self.interval:
                self._hidden += 1
                return None
            hidden, self._hidden, self._last = self._hidden, 0, now
        more = f"; {hidden} more like it since the last line" if hidden else ""
        return f"waiting for Kafka at {self.bootstrap} ({cause}){more}"


_WAIT_LINES: dict[tuple[str, float], WaitLine] = {}
_WAIT_LOCK = threading.Lock()


def wait_line(kafka: KafkaSettings) -> WaitLine:
    """The process-wide `WaitLine` of `kafka`'s address, shared by all of its clients."""
    key = (kafka.bootstrap_servers, kafka.log_interval_s)
    with _WAIT_LOCK:
        if key not in _WAIT_LINES:
            _WAIT_LINES[key] = WaitLine(*key)
        return _WAIT_LINES[key]


def _cause(text: str) -> str:
    for marker in ("Connection refused", "Name or service not known", "Failed to resolve",
                   "brokers are down", "Disconnected", "Connection reset"):
        if marker in text:
            return marker.lower() if marker != "brokers are down" else "all brokers down"
    return "broker transport failure"


class ClientLog:
    """librdkafka's `logger` and `error_cb`: connection noise summarised, the rest logged.

    `quiet` drops every librdkafka line (a probe that expects "no answer yet" as the news).
    """

    def __init__(self, kafka: KafkaSettings, quiet: bool = False) -> None:
        self._wait = wait_line(kafka)
        self._quiet = quiet

    def log(self, level: int, msg: str, *args: object) -> None:
        """Called by confluent_kafka (as a `logging.Logger`) while the client is polled."""
        if self._quiet:
            return
        text = msg % args if args else msg
        if is_transport_noise(text):
            line = self._wait.note(_cause(text))
            if line is not None:
                client_log.warning("%s", line)
            return
        client_log.log(level, "%s", text)

    def error_cb(self, err: KafkaError) -> None:
        """Client-wide errors; without this callback librdkafka would print each one."""
        if self._quiet:
            return
        if err.code() in TRANSPORT_CODES:
            line = self._wait.note(_cause(err.str()))
            if line is not None:
                client_log.warning("%s", line)
        elif err.fatal():
            client_log.error("fatal client error: %s", err.str())
        else:
            client_log.warning("client error: %s", err.str())
