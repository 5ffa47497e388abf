"""Kafka wiring: client factories, topic creation, delivery tracking, broker readiness.

With `shared.kafka_log`, `shared.kafka_rights` and `shared.retry`, the only modules in
`shared` that import confluent_kafka; the pure core never does. Every client made here logs
through `kafka_log.ClientLog` (connection failures summarised as one "waiting for Kafka at
..." line per `KafkaSettings.log_interval_s`); a broker that never answers is
`KafkaUnreachableError` (exit 4); one that refuses the client's SASL or TLS handshake is
`refused` (exit 2 at once: a setting to fix, not a wait).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import confluent_kafka
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicCollection
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from shared.errors import KafkaUnreachableError, KafkaWiringError
from shared.kafka_log import TRANSPORT_CODES, ClientLog, wait_line
from shared.kafka_rights import AUTHZ_CODES
from shared.names import shown
from shared.settings import KafkaSettings, ignored_security_variables
from shared.stranded import STATS_INTERVAL_MS, BrokerWatch

log = logging.getLogger(__name__)

#: The ignored security variables already named in this process.
_WARNED_IGNORED: set[str] = set()


def _warn_ignored() -> None:
    names = [n for n in ignored_security_variables(os.environ) if n not in _WARNED_IGNORED]
    if names:
        _WARNED_IGNORED.update(names)
        log.warning("%s: not read by auditstream, ignored (the KAFKA_SASL_* and KAFKA_SSL_* it "
                    "reads: README, Configuration)", ", ".join(names))


def _logged(kafka: KafkaSettings, conf: dict[str, Any], quiet: bool = False) -> dict[str, Any]:
    _warn_ignored()
    sink = ClientLog(kafka, quiet)
    # librdkafka's log lines and client-wide errors go to Python logging, summarised,
    # instead of straight to stderr (one line per failed connection attempt).
    conf.setdefault("logger", sink)
    conf.setdefault("error_cb", sink.error_cb)
    return conf


def client_versions() -> dict[str, str]:
    """confluent-kafka's and librdkafka's full version strings (for run.json)."""
    raw: Any = confluent_kafka.version()
    ck = raw[0] if isinstance(raw, tuple) else raw
    return {"confluent_kafka_version": str(getattr(confluent_kafka, "__version__", ck) or ck),
            "librdkafka_version": str(confluent_kafka.libversion()[0])}


def unreachable(kafka: KafkaSettings, timeout: float, detail: object = "",
                setting: str | None = None) -> KafkaUnreachableError:
    """The one-line error of a command that found no broker; `setting` names the wait."""
    error = KafkaUnreachableError(
        f"no Kafka broker answered at {kafka.bootstrap_servers} within {timeout:.0f} s"
        f"{why(setting, detail)}; start one with `auditstream broker start`, or correct "
        "KAFKA_BOOTSTRAP_SERVERS if the address is wrong"
    )
    error.detail = str(detail)
    return error


def why(setting: str | None, detail: object) -> str:
    """" (SETTING; last error: DETAIL)" of an exit-4 line, the parts there are."""
    parts = "; ".join(x for x in (setting or "", f"last error: {detail}" if detail else "") if x)
    return f" ({parts})" if parts else ""


def refused(kafka: KafkaSettings, cause: str) -> KafkaWiringError:
    """The one-line error (exit 2) of a broker that refused the SASL or TLS handshake; it names
    the settings to check, never their secret values."""
    return KafkaWiringError(
        f"Kafka at {kafka.bootstrap_servers} refused this client's SASL or TLS handshake "
        f"({cause}); check KAFKA_SECURITY_PROTOCOL (now {kafka.security_protocol}) against the "
        "broker's listener, then KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, "
        "KAFKA_SASL_PASSWORD and KAFKA_SSL_* (README, Configuration)", "_AUTHENTICATION")


#: The setting a command's wait for the broker comes from (services name their own).
STARTUP_WAIT_SETTING = "KAFKA_STARTUP_WAIT_S"


@contextlib.contextmanager
def startup_wait(kafka: KafkaSettings, seconds: float, setting: str) -> Iterator[float]:
    """A service's start-up window: yields its deadline (`time.monotonic`); within it every
    "waiting for Kafka at ..." line also says how long is left and names `setting`, the
    first one as soon as a try fails (a mistyped address is news in seconds)."""
    deadline = time.monotonic() + seconds
    with wait_line(kafka).expect(deadline, setting):
        yield deadline


#: Settings of every topic this project creates, under a spec's own `config`.
TOPIC_DEFAULTS = {
    # A record's Kafka timestamp from the broker's clock, not the producing host's: Kafka 4
    # refuses a record stamped over `log.message.timestamp.after.max.ms` (1 h, KIP-1030)
    # ahead of the broker and fails its whole batch (a host whose clock runs an hour ahead
    # published nothing), and a record stamped far behind is deleted by time retention as
    # soon as its segment rolls. No reader here uses it: the event time is in the message.
    "message.timestamp.type": "LogAppendTime",
}


@dataclass(frozen=True)
class TopicSpec:
    """A topic to create when missing."""

    name: str
    partitions: int
    replication_factor: int = 1
    config: dict[str, str] = field(default_factory=dict)


def producer_config(kafka: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    """Safe producer defaults; callers add `transactional.id` and the like as overrides."""
    conf = kafka.client_config()
    conf.update(
        {
            # Idempotence: retries can never duplicate or reorder a message in a partition.
            "enable.idempotence": True,
            # Every in-sync replica must have the message before it counts as delivered.
            "acks": "all",
            # The Java client's partitioner, so keys land where offline emulation expects.
            "partitioner": "murmur2_random",
            # Small batching delay: large batches at a negligible latency cost.
            "linger.ms": 5,
            # LZ4 is cheap on CPU and shrinks repetitive JSON several times.
            "compression.type": "lz4",
        }
    )
    conf.update(overrides)
    return conf


def consumer_config(kafka: KafkaSettings, group_id: str, **overrides: Any) -> dict[str, Any]:
    """Consumer defaults for at-least/exactly-once processing with manual commits."""
    conf = kafka.client_config()
    conf.update(
        {
            "group.id": group_id,
            # Offsets are committed by the application (or its transaction), never on a timer.
            "enable.auto.commit": False,
            # A new group starts at the beginning: no transaction may be skipped.
            "auto.offset.reset": "earliest",
            # Only committed transactional output is visible downstream.
            "isolation.level": "read_committed",
        }
    )
    conf.update(overrides)
    return conf


#: The file settings (fields of `KafkaSettings`: each one's variable is KAFKA_ and its name in
#: capitals, its librdkafka property its name with dots) and what the file must be when
#: librdkafka cannot load it; the key's pass phrase included.
_FILES = {
    "ssl_ca_location": "not PEM certificates",
    "ssl_certificate_location": "not a PEM certificate",
    "ssl_key_location": "not read: a wrong or missing KAFKA_SSL_KEY_PASSWORD, or not a PEM "
                        "private key",
}
#: librdkafka's words for a key that is not the certificate's, and what to say instead.
_MISMATCH_TEXT = "key values mismatch"
_MISMATCH = "not the private key of the certificate in KAFKA_SSL_CERTIFICATE_LOCATION"


def file_problems(kafka: KafkaSettings, text: str = "") -> list[str]:
    """"KAFKA_SSL_..._LOCATION=PATH: no such file" for each file setting whose file is not
    there, and what the file must be for each one librdkafka's `text` says it failed to
    load though it is there (librdkafka says only "ssl.key.location failed: ... PEM lib")."""
    prefix = KafkaSettings.model_config.get("env_prefix", "")
    problems = []
    for setting, must_be in _FILES.items():
        path = getattr(kafka, setting)
        name = f"{prefix}{setting.upper()}"
        if path and not os.path.exists(path):
            problems.append(f"{name}={shown(path)}: no such file")
        elif path and f"{setting.replace('_', '.')} failed" in text:
            mismatch = setting == "ssl_key_location" and _MISMATCH_TEXT in text
            problems.append(f"{name}={shown(path)}: {_MISMATCH if mismatch else must_be}")
    return problems


@contextlib.contextmanager
def _client_made(kafka: KafkaSettings) -> Iterator[None]:
    """A setting librdkafka refuses as the client is made (a CA file that is not there, an
    unknown SASL mechanism) is one line and exit 2, naming the settings, not a traceback."""
    try:
        yield
    except KafkaException as exc:
        err = exc.args[0] if exc.args else exc
        said = err.str() if isinstance(err, KafkaError) else str(err)
        text = "; ".join([said, *file_problems(kafka, said)])
        raise KafkaWiringError(
            f"invalid Kafka client setting ({text}); check the KAFKA_ settings it names "
            "(e.g. ssl.ca.location is KAFKA_SSL_CA_LOCATION; README, Configuration)",
            "_INVALID_ARG") from None


class _Watched:
    """What a client's owner asks to learn whether librdkafka left it without a broker."""

    watch: BrokerWatch | None = None

    def stranded(self) -> bool:
        """No usable broker for its watch's grace (only when made watched)."""
        return self.watch is not None and self.watch.stranded()

    def out_of_touch(self, seconds: float) -> bool:
        """No broker connection for more than `seconds` (only when made watched)."""
        return self.watch is not None and self.watch.out_of_touch(seconds)


class WatchedProducer(_Watched, Producer):
    """A producer whose owner can ask whether librdkafka left it without a broker."""


class WatchedConsumer(_Watched, Consumer):
    """A consumer whose owner can ask whether librdkafka left it without a broker."""


Client = TypeVar("Client", WatchedProducer, WatchedConsumer)


def _made(kind: type[Client], kafka: KafkaSettings, conf: dict[str, Any],
          watch: bool) -> Client:
    """A client of `kind` from `conf` (logged); with `watch`, a `BrokerWatch` as its
    `stats_cb`. Only for clients polled all the time: librdkafka queues the statistics
    for the next poll, so a client that is never polled would pile them up."""
    conf = _logged(kafka, conf)
    watcher = BrokerWatch() if watch else None
    if watcher is not None:
        # Statistics every second, for the watch only: the sign of a client librdkafka
        # left with no broker (shared.stranded, librdkafka #5301). Off by default.
        conf["statistics.interval.ms"] = STATS_INTERVAL_MS
        conf["stats_cb"] = watcher
    with _client_made(kafka):
        client = kind(conf)
    client.watch = watcher
    return client


def make_producer(kafka: KafkaSettings, **overrides: Any) -> WatchedProducer:
    """A producer (`producer_config`), not watched (`stranded()` is always False)."""
    return _made(WatchedProducer, kafka, producer_config(kafka, **overrides), watch=False)


def make_watched_producer(kafka: KafkaSettings, **overrides: Any) -> WatchedProducer:
    """A producer whose `stranded()` says when librdkafka left it no broker; poll it."""
    return _made(WatchedProducer, kafka, producer_config(kafka, **overrides), watch=True)


def make_consumer(kafka: KafkaSettings, group_id: str, **overrides: Any) -> WatchedConsumer:
    """A consumer (`consumer_config`), not watched (`stranded()` is always False)."""
    return _made(WatchedConsumer, kafka, consumer_config(kafka, group_id, **overrides),
                 watch=False)


def make_watched_consumer(kafka: KafkaSettings, group_id: str,
                          **overrides: Any) -> WatchedConsumer:
    """A consumer whose `stranded()` says when librdkafka left it no broker; poll it."""
    return _made(WatchedConsumer, kafka, consumer_config(kafka, group_id, **overrides),
                 watch=True)


def unstranded(producer: WatchedProducer, tracker: DeliveryTracker,
               make: Callable[[], WatchedProducer]) -> WatchedProducer:
    """`producer`, or, when librdkafka left it no broker, a new one (`make()`) with every
    message it held (`renew_producer`)."""
    return renew_producer(producer, tracker, make) if producer.stranded() else producer


def renew_producer(old: Producer, tracker: DeliveryTracker,
                   make: Callable[[], WatchedProducer]) -> WatchedProducer:
    """A new producer (`make()`) sending every message `old` still holds, in their order.

    For a producer librdkafka left with no broker (`WatchedProducer.stranded`): its
    messages are purged, and `tracker` (their delivery callback) keeps them instead of
    counting them failed; each keeps its partition, but its Kafka timestamp is the resend's
    (librdkafka hands a purged message back without it; nothing here reads it: event time
    is in the value). One that was in flight may reach the topic twice (the new producer
    is a new idempotent producer); the detector drops a transaction it has had."""
    old.purge(in_queue=True, in_flight=True, blocking=True)
    deadline = time.monotonic() + PURGE_SERVE_S
    while len(old) and time.monotonic() < deadline:
        old.poll(0.05)  # serves the purged messages' delivery callbacks
    if len(old):  # not given back: never sent again, so never counted as delivered
        tracker.count_failed(len(old), "not given back by a producer replaced for having "
                             "no broker (librdkafka #5301)")
    new = make()
    for topic, partition, key, value, headers in tracker.take_purged():
        new.produce(topic, value, key, partition=partition, headers=headers,
                    on_delivery=tracker)
    log.warning("replaced a Kafka producer that had no broker left (librdkafka #5301, "
                "docs/reliability.md); %d queued message(s) handed to the new one",
                len(new))
    return new


def consume_ready(consumer: Consumer, limit: int, timeout: float) -> list[Message]:
    """Up to `limit` messages: those already fetched, at once; when there are none, the
    first to arrive within `timeout` (and any fetched with it); [] when none does.

    `Consumer.consume(limit, timeout)` alone waits out the whole `timeout` unless `limit`
    messages are there: every batch smaller than `limit` (every batch of a consumer that
    keeps up) paid the full wait in latency (50 ms a turn for the detector)."""
    msgs = consumer.consume(num_messages=limit, timeout=0)
    if msgs:
        return msgs
    first = consumer.poll(timeout)
    if first is None:
        return []
    if limit == 1:
        return [first]
    return [first, *consumer.consume(num_messages=limit - 1, timeout=0)]


def make_admin(kafka: KafkaSettings, quiet: bool = False) -> AdminClient:
    with _client_made(kafka):
        return AdminClient(_logged(kafka, kafka.client_config(), quiet))


#: Wrong settings or rights: waiting cannot help, exit 2 at once (also in a detector rewind
#: or a sink assignment).
CONFIG_CODES = frozenset({
    KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError._SSL,
    KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    KafkaError.INVALID_CONFIG, KafkaError.POLICY_VIOLATION, KafkaError.INVALID_PARTITIONS,
    KafkaError.TOPIC_EXCEPTION, KafkaError._INVALID_ARG,
})


def kafka_code(exc: BaseException) -> int | None:
    """librdkafka's error code behind `exc` (a KafkaException, or an error raised from one,
    or a `KafkaWiringError` naming it); None when there is none."""
    if isinstance(exc, KafkaException):
        err = exc.args[0] if exc.args else None
        return err.code() if isinstance(err, KafkaError) else None
    if isinstance(exc.__cause__, KafkaException):
        return kafka_code(exc.__cause__)
    if isinstance(exc, KafkaWiringError) and exc.code:
        code = getattr(KafkaError, exc.code, None)
        return code if isinstance(code, int) else None
    return None


def is_fatal(exc: BaseException) -> bool:
    """Whether `exc` is librdkafka's fatal error: the client is unusable from now on."""
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    return isinstance(err, KafkaError) and err.fatal()


def worth_waiting(exc: BaseException) -> bool:
    """Whether a Kafka request's error may pass while a broker restarts (no leader, unknown
    partition, time out): any Kafka error but a fatal one or a wrong setting or right
    (`CONFIG_CODES`), which waiting cannot help. The sink's assignment and the detector's
    rewinds wait these out (`shared.retry.retry_within`)."""
    return (isinstance(exc, KafkaException) and not is_fatal(exc)
            and kafka_code(exc) not in CONFIG_CODES)


def is_transport_error(exc: KafkaException) -> bool:
    """Whether `exc` only says no broker could be reached (in time)."""
    err = exc.args[0] if exc.args else None
    return isinstance(err, KafkaError) and err.code() in TRANSPORT_CODES | {KafkaError._TIMED_OUT}


def wait_for_broker(kafka: KafkaSettings, timeout: float | None = None,
                    quiet: bool = False, setting: str | None = None) -> int:
    """Block until the cluster answers a metadata request; return its broker count.

    `timeout` defaults to `kafka.startup_wait_s`; no answer by then is
    `KafkaUnreachableError`, naming `setting` (default: KAFKA_STARTUP_WAIT_S when `timeout`
    is not given). `quiet` prints nothing while waiting (a probe).
    """
    if setting is None and timeout is None:
        setting = STARTUP_WAIT_SETTING
    return _await(make_admin(kafka, quiet), kafka, timeout, setting, quiet)


#: The longest one metadata request of the wait: a try that fails says so within this.
_TRY_S = 2.0


def _await(admin: AdminClient, kafka: KafkaSettings, timeout: float | None,
           setting: str | None = None, quiet: bool = False) -> int:
    timeout = kafka.startup_wait_s if timeout is None else timeout
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    line = wait_line(kafka)
    line.take_refusal()  # an earlier one is news only if it comes again
    while time.monotonic() < deadline:
        try:
            meta = admin.list_topics(timeout=min(_TRY_S, max(0.1, deadline - time.monotonic())))
            return len(meta.brokers)
        except KafkaException as exc:
            last = exc
            admin.poll(0)  # hands queued log lines to ClientLog (one summary line at most)
            cause = line.take_refusal()
            if cause is not None:
                raise refused(kafka, cause) from None  # its own code, not the transport one
            if not quiet:
                # librdkafka says nothing for 10-30 s when the address swallows the
                # connection (a wrong port, a filtered host): the wait itself speaks then.
                note = line.note("no answer yet")
                if note is not None:
                    log.warning("%s", note)
            time.sleep(0.2)
    err = last.args[0] if last is not None and last.args else last
    raise unreachable(kafka, timeout, err.str() if isinstance(err, KafkaError) else err,
                      setting)


def ensure_topics(kafka: KafkaSettings, specs: Iterable[TopicSpec], timeout: float = 30.0) -> None:
    """Create missing topics (`TOPIC_DEFAULTS` under each spec's config) and wait until they
    exist; existing ones are left as they are.

    No broker answering within `kafka.startup_wait_s` is `KafkaUnreachableError`.
    """
    specs = list(specs)
    new = [
        NewTopic(s.name, num_partitions=s.partitions, replication_factor=s.replication_factor,
                 config=TOPIC_DEFAULTS | dict(s.config))
        for s in specs
    ]
    if not new:
        return
    admin = make_admin(kafka)
    _await(admin, kafka, None, STARTUP_WAIT_SETTING)  # its wait: named in the exit-4 line
    futures = admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout)
    for name, fut in futures.items():
        try:
            fut.result(timeout=timeout)
            log.info("created topic %s", name)
        except concurrent.futures.TimeoutError as exc:
            raise unreachable(kafka, timeout, f"creating topic {name} timed out") from exc
        except KafkaException as exc:
            err = exc.args[0]
            if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            if is_transport_error(exc):
                raise unreachable(kafka, timeout, err) from exc
            raise KafkaWiringError(f"could not create topic {name}: {err}", str(err)) from exc
    _wait_topics_visible(kafka, admin, [s.name for s in specs], timeout)


def _wait_topics_visible(kafka: KafkaSettings, admin: AdminClient, names: list[str],
                         timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            meta = admin.list_topics(timeout=max(0.1, deadline - time.monotonic()))
        except KafkaException as exc:
            if not is_transport_error(exc):
                raise
            raise unreachable(kafka, timeout, exc.args[0]) from exc
        ready = all(
            n in meta.topics and meta.topics[n].error is None and meta.topics[n].partitions
            for n in names
        )
        if ready:
            return
        time.sleep(0.1)
    # The code: librdkafka's "not in the metadata (yet)", so callers may wait and retry.
    raise KafkaWiringError(f"topics not visible after {timeout:.0f}s: {names}", "_UNKNOWN_TOPIC")


def topic_id(kafka: KafkaSettings, topic: str, timeout: float = 10.0) -> str | None:
    """The cluster's id of `topic` (a topic deleted and created again under its name has a
    new one); None when it does not exist or the cluster gives none."""
    admin = make_admin(kafka)  # held until the answer: a client collected ends its requests
    futures = admin.describe_topics(TopicCollection([topic]), request_timeout=timeout)
    try:
        found = futures[topic].result(timeout=timeout)
    except concurrent.futures.TimeoutError as exc:
        raise unreachable(kafka, timeout, f"describing topic {topic} timed out") from exc
    except KafkaException as exc:
        err = exc.args[0]
        if isinstance(err, KafkaError) and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return None
        raise
    uuid = getattr(found, "topic_id", None)
    return None if uuid is None else str(uuid)


def topic_gone(consumer: Consumer, topic: str, timeout: float) -> bool | None:
    """Whether the cluster says `topic` does not exist, asked on `consumer`'s own
    connections (a consumer creates no topic by asking: `allow.auto.create.topics` is off
    by default); None when it does not answer."""
    try:
        meta = consumer.list_topics(topic=topic, timeout=timeout)
    except KafkaException:
        return None
    t = meta.topics.get(topic)
    return t is None or (t.error is not None
                         and t.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART)


def topic_partitions(kafka: KafkaSettings, topic: str, timeout: float = 10.0) -> int:
    """How many partitions `topic` has (0 when it does not exist)."""
    try:
        meta = make_admin(kafka).list_topics(topic=topic, timeout=timeout)
    except KafkaException as exc:
        if not is_transport_error(exc):
            raise
        raise unreachable(kafka, timeout, exc.args[0]) from exc
    t = meta.topics.get(topic)
    if t is None or t.error is not None:
        return 0
    return len(t.partitions)


#: (topic, partition, key, value, headers) of a purged message, to send again.
Purged = tuple[str, int, bytes | None, bytes | None, Any]
#: How long a replaced producer is polled for the delivery callbacks of its purged messages.
PURGE_SERVE_S = 5.0
#: The errors of a message `Producer.purge` took back (not a failure: `renew_producer`).
PURGE_CODES = frozenset({KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT})


class DeliveryTracker:
    """A producer delivery callback that counts successes and keeps the first failures.

    A message purged from a producer is kept to send again (`take_purged`), not counted."""

    def __init__(self, keep: int = 20) -> None:
        self.delivered = 0
        self.failed = 0
        self.errors: list[str] = []
        self._keep = keep
        self._purged: list[Purged] = []
        #: Whether a message failed for a right refused (`shared.kafka_rights`).
        self.refused = False

    def count_failed(self, count: int, why: str) -> None:
        """`count` messages lost for the same reason, counted and logged once."""
        self.failed += count
        if len(self.errors) < self._keep:
            self.errors.append(f"{count} message(s): {why}")
        log.error("delivery failed: %d message(s) %s", count, why)

    def take_purged(self) -> list[Purged]:
        """The messages purged since the last call, in the order librdkafka handed them."""
        purged, self._purged = self._purged, []
        return purged

    def __call__(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.delivered += 1
            return
        if err.code() in PURGE_CODES:
            partition = msg.partition()
            self._purged.append((str(msg.topic()), -1 if partition is None else partition,
                                 msg.key(), msg.value(), msg.headers()))
            return
        self.failed += 1
        self.refused = self.refused or err.code() in AUTHZ_CODES
        if len(self.errors) < self._keep:
            raw = msg.key()
            key = raw.decode(errors="replace") if raw else None
            self.errors.append(f"topic={msg.topic()} key={key}: {err}")
            log.error("delivery failed: topic=%s key=%s error=%s", msg.topic(), key, err)


def close_within(client: Consumer, seconds: float) -> bool:
    """Close a consumer, giving up after `seconds` (True when it closed in time).

    librdkafka's close waits for the group coordinator (outstanding commits, leaving the
    group); with the cluster gone that wait has no end. A caller whose progress lives
    elsewhere (the sink's checkpoint) must not hang at exit for it: the close goes on in a
    daemon thread and the process may leave without it."""
    import threading

    worker = threading.Thread(target=client.close, name="kafka-close", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        log.warning("the Kafka consumer did not close within %.0f s (cluster unreachable?); "
                    "leaving without it", seconds)
        return False
    return True
