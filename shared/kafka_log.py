"""librdkafka's logging, made quiet: connection failures summarised, the rest logged.

While no broker answers, librdkafka logs a failed connection attempt several times a second
per client. `ClientLog` (given to every client as its `logger` and `error_cb` by
`shared.kafka`) turns those into one "waiting for Kafka at HOST:PORT (cause)" line per
`KafkaSettings.log_interval_s` for the whole process; every other line goes to the Python
logger `librdkafka` at its level. During a service's start-up wait (`WaitLine.expect`) the
line also says how long it keeps trying and which setting says so, so a mistyped address is
news within seconds, not when the wait runs out. A broker that refuses the client's SASL or
TLS handshake (a setting to fix, not a wait) is one "refused" line per interval, and the
cause is kept (`WaitLine.take_refusal`) so the wait can stop at once (`shared.kafka`). So is
a listener that wants SASL or TLS from a client without it: librdkafka only says
"Disconnected" there, but the broker closes every connection at once (`listener_mismatch`),
and a listener without TLS that hangs up on every TLS handshake. A broker that refuses the
client's certificate (mutual TLS) sends a TLS alert, which the refusal names together with
the certificate settings (`certificate_refused`).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator

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
    # Something listens at the address but does not answer as Kafka does (a wrong port):
    # librdkafka's "ApiVersionRequest failed ... probably due to broker version < 0.10" is
    # misleading there, and comes with two more lines every 10 s.
    "ApiVersionRequest", " in-flight, ",
)


#: librdkafka error codes that mean the broker answered and refused the client's SASL or TLS
#: handshake: wrong settings, which waiting cannot fix.
REFUSED_CODES = frozenset({
    KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError._SSL,
})
#: Text of librdkafka log lines that say the same (each comes with a client error too).
_REFUSED_TEXT = ("handshake failed", "SASL authentication", "Authentication failed",
                 # the client's own check of the broker's certificate (its FAIL line)
                 "certificate verify failed")


#: TLS alerts a broker sends a client whose certificate it does not accept: none given to a
#: listener with `ssl.client.auth=required`, one its CAs did not sign, expired, revoked.
#: librdkafka logs them as a failed receive, not as a handshake failure.
_CERT_ALERTS = ("alert bad certificate", "alert certificate required", "alert unknown ca",
                "alert certificate unknown", "alert certificate expired",
                "alert certificate revoked", "alert unsupported certificate")


def is_refusal(text: str) -> bool:
    """Whether a librdkafka log line says the broker refused the SASL or TLS handshake. One
    the peer hung up on is not (a broker shutting down does that too): it is waited for."""
    return ((any(m in text for m in _REFUSED_TEXT) and not is_transport_noise(text))
            or is_certificate_alert(text))


def is_certificate_alert(text: str) -> bool:
    """Whether a librdkafka line carries a TLS alert refusing this client's certificate."""
    return any(alert in text for alert in _CERT_ALERTS)


#: librdkafka's warning, at every connection, that the broker asks for a certificate signed by
#: CAs none of which signed this client's, so it sends none.
NO_MATCHING_ISSUER = "No matching issuer found in server trusted certificate authorities"


def certificate_refused(kafka: KafkaSettings, text: str, unsent: bool = False) -> str:
    """The cause of a refusal by certificate alert, saying which client certificate was
    offered (the settings' names and paths, no secret); `unsent`: librdkafka did not send
    it, as no CA the broker named signed it (`NO_MATCHING_ISSUER`)."""
    cert, key = kafka.ssl_certificate_location, kafka.ssl_key_location
    if not cert:
        offered = "none offered: KAFKA_SSL_CERTIFICATE_LOCATION is not set"
    elif unsent:
        offered = (f"KAFKA_SSL_CERTIFICATE_LOCATION={cert}: not sent, signed by none of the "
                   "CAs the broker trusts")
    elif not key:
        offered = f"KAFKA_SSL_CERTIFICATE_LOCATION={cert} without KAFKA_SSL_KEY_LOCATION"
    else:
        offered = (f"KAFKA_SSL_CERTIFICATE_LOCATION={cert}: one the broker's CAs must have "
                   "signed, still valid")
    return f"client certificate not accepted ({offered}): {text}"


#: A connection the broker closed at once, as librdkafka logs it: right after the ApiVersion
#: exchange ("in state UP": a SASL listener closes a client that sends no SASL handshake
#: at its first request), or before answering ApiVersion (a TLS listener and a client
#: without TLS). librdkafka says no more than "Disconnected" there.
_CLOSED_AT_ONCE = re.compile(r"Disconnected.* \(after \d{1,2}ms in state (UP|APIVERSION_QUERY)[,)]")
#: So many such closes in a row are a listener that wants SASL or TLS, not a broker going
#: down (that one closes a connection once, then refuses new ones).
CLOSED_IN_A_ROW = 3


#: librdkafka's own guess when the broker hung up on its TLS handshake.
_TLS_HUNG_UP = "connecting to a PLAINTEXT broker listener?"


def listener_mismatch(text: str, protocol: str) -> str | None:
    """What a librdkafka log line says of the listener when the broker closed this client's
    connection at once and the client (`protocol`) lacks what that close asks for, or hung
    up on its TLS handshake; else None. A refusal only when it comes `CLOSED_IN_A_ROW` times
    in a row (`WaitLine`)."""
    if _TLS_HUNG_UP in text and protocol.endswith("SSL"):
        return ("it hung up on every TLS handshake, as a listener without TLS (PLAINTEXT or "
                "SASL_PLAINTEXT) does")
    closed = _CLOSED_AT_ONCE.search(text)
    if closed is None:
        return None
    if closed.group(1) == "UP" and not protocol.startswith("SASL_"):
        return ("it closed every connection at the first request, as a SASL listener does "
                "a client without SASL")
    if closed.group(1) == "APIVERSION_QUERY" and not protocol.endswith("SSL"):
        return ("it closed every connection before answering, as a TLS listener does a "
                "client without TLS")
    return None


#: Text of a librdkafka line saying it retries a request a broker could not answer yet (a
#: broker just started loads its coordinators): news, not a fault, as the retry follows.
_RETRIED_TEXT = ("Coordinator load in progress: retrying",)


def is_retried(text: str) -> bool:
    """Whether a librdkafka log line only says a request is retried as the broker warms up."""
    return any(marker in text for marker in _RETRIED_TEXT)


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
        #: While a start-up waits: when it gives up (this clock) and the setting that says so.
        self._deadline: float | None = None
        self._setting = ""
        #: The last refused handshake's cause (until taken), and its own line's pace.
        self._refusal: str | None = None
        self._refused_last: float | None = None
        self._refused_hidden = 0
        #: Connections in a row the broker closed at once (`listener_mismatch`).
        self._closed = 0
        #: librdkafka said it sent no certificate, none matching the broker's CAs.
        self.unsent_certificate = False

    def refuse(self, cause: str) -> str | None:
        """Record a refused SASL or TLS handshake; return the line to print now, or None."""
        now = self._clock()
        with self._lock:
            self._refusal = cause
            last = self._refused_last
            if last is not None and now - last < self.interval:
                self._refused_hidden += 1
                return None
            hidden, self._refused_hidden, self._refused_last = self._refused_hidden, 0, now
        more = f"; {hidden} more like it since the last line" if hidden else ""
        return (f"Kafka at {self.bootstrap} refused this client's SASL or TLS handshake "
                f"({cause}){more}")

    def certificate_unsent(self) -> bool:
        """Record librdkafka's `NO_MATCHING_ISSUER`; True the first time (to say it once)."""
        with self._lock:
            first, self.unsent_certificate = not self.unsent_certificate, True
        return first

    def take_refusal(self) -> str | None:
        """The cause of the last refused handshake since the last call, if any."""
        with self._lock:
            cause, self._refusal, self._closed = self._refusal, None, 0
        return cause

    def closed_at_once(self, closed: bool) -> bool:
        """Count a connection the broker closed at once (`closed`), or another failure (which
        starts the count again); True at the `CLOSED_IN_A_ROW`th close in a row."""
        with self._lock:
            self._closed = self._closed + 1 if closed else 0
            return self._closed == CLOSED_IN_A_ROW

    def note(self, cause: str) -> str | None:
        """Record one failure; return the line to print now, or None to stay quiet."""
        now = self._clock()
        with self._lock:
            # A refusal's "all brokers down" is no wait: its own line said what it is.
            refused = self._refused_last is not None and now - self._refused_last < self.interval
            if refused or (self._last is not None and now - self._last < self.interval):
                self._hidden += 1
                return None
            hidden, self._hidden, self._last = self._hidden, 0, now
            deadline, setting = self._deadline, self._setting
        more = f"; {hidden} more like it since the last line" if hidden else ""
        until = ""
        if deadline is not None:
            until = (f"; still trying for {max(deadline - now, 0):.0f} s ({setting}), "
                     "then exit 4")
        return f"waiting for Kafka at {self.bootstrap} ({cause}){more}{until}"

    @contextlib.contextmanager
    def expect(self, deadline: float, setting: str) -> Iterator[None]:
        """Within the block every line says the wait ends at `deadline` (this line's clock),
        as `setting` says; the first failure in it is shown at once."""
        with self._lock:
            self._deadline, self._setting, self._last = deadline, setting, None
        try:
            yield
        finally:
            with self._lock:
                self._deadline, self._setting = None, ""


_WAIT_LINES: dict[tuple[str, float], WaitLine] = {}
_WAIT_LOCK = threading.Lock()


def wait_line(kafka: KafkaSettings) -> WaitLine:
    """The process-wide `WaitLine` of `kafka`'s address, shared by all of its clients."""
    key = (kafka.bootstrap_servers, kafka.log_interval_s)
    with _WAIT_LOCK:
        if key not in _WAIT_LINES:
            _WAIT_LINES[key] = WaitLine(*key)
        return _WAIT_LINES[key]


#: What the start-up's wait says when something listens there but does not answer as Kafka.
NOT_KAFKA = "connected, but no Kafka answer"


def cause_of(text: str) -> str:
    """The few words a "waiting for Kafka" line gives as the cause of a failure."""
    if "ApiVersionRequest" in text:
        return NOT_KAFKA
    if "PLAINTEXT broker listener" in text:  # librdkafka's own guess, at a TLS hang-up
        return "TLS hung up on: a PLAINTEXT listener? check KAFKA_SECURITY_PROTOCOL"
    for marker in ("Connection refused", "Name or service not known", "Failed to resolve",
                   "brokers are down", "Disconnected", "Connection reset"):
        if marker in text:
            return marker.lower() if marker != "brokers are down" else "all brokers down"
    if "Timed out" in text:
        return "no answer in time"
    return "broker transport failure"


class ClientLog:
    """librdkafka's `logger` and `error_cb`: connection noise summarised, the rest logged.

    `quiet` drops every librdkafka line (a probe that expects "no answer yet" as the news).
    """

    def __init__(self, kafka: KafkaSettings, quiet: bool = False) -> None:
        self._wait = wait_line(kafka)
        self._quiet = quiet
        self._kafka = kafka

    def log(self, level: int, msg: str, *args: object) -> None:
        """Called by confluent_kafka (as a `logging.Logger`) while the client is polled."""
        text = msg % args if args else msg
        if NO_MATCHING_ISSUER in text:  # at every connection: said once, then in the refusal
            if self._wait.certificate_unsent() and not self._quiet:
                client_log.log(level, "%s", text)
            return
        if is_refusal(text):
            # "FAIL [client] [thread]: cause": the cause, as the client error gives it.
            self._refused(self._cause(text.split("]: ", 1)[-1]))
            return
        if is_transport_noise(text):
            mismatch = listener_mismatch(text, self._kafka.security_protocol)
            if self._wait.closed_at_once(mismatch is not None) and mismatch is not None:
                self._refused(mismatch)
                return
        if self._quiet:
            return
        if is_transport_noise(text):
            line = self._wait.note(cause_of(text))
            if line is not None:
                client_log.warning("%s", line)
            return
        client_log.log(min(level, logging.INFO) if is_retried(text) else level, "%s", text)

    def error_cb(self, err: KafkaError) -> None:
        """Client-wide errors; without this callback librdkafka would print each one."""
        if ((err.code() in REFUSED_CODES and not is_transport_noise(err.str()))
                or is_certificate_alert(err.str())):
            self._refused(self._cause(err.str()))
            return
        if self._quiet:
            return
        if err.code() in TRANSPORT_CODES or err.code() in REFUSED_CODES:
            line = self._wait.note(cause_of(err.str()))
            if line is not None:
                client_log.warning("%s", line)
        elif err.fatal():
            client_log.error("fatal client error: %s", err.str())
        else:
            client_log.warning("client error: %s", err.str())

    def _cause(self, text: str) -> str:
        """A refusal's cause as librdkafka gives it, a certificate alert explained."""
        if not is_certificate_alert(text):
            return text
        return certificate_refused(self._kafka, text, self._wait.unsent_certificate)

    def _refused(self, cause: str) -> None:
        line = self._wait.refuse(cause)
        if line is not None and not self._quiet:
            client_log.error("%s", line)
