"""Which Kafka errors mean "the cluster is out of reach for now" (wait, then exit 4), and
which are configuration errors (exit 2 at once): what the detector's start-up, rewinds and
producer replacement wait out (`shared.retry.retry_within`), then exit 4.

Observed against the local KRaft broker (Kafka 4.3.1, librdkafka 2.16) while it started
and restarted (docs/reliability.md): `list_topics` fails with `_TRANSPORT` or `_TIMED_OUT`;
`create_topics` with `_TIMED_OUT` ("waiting for controller") and, once the broker answers
but is still fenced, `INVALID_REPLICATION_FACTOR` ("All brokers are currently fenced");
`init_transactions` with `_TIMED_OUT` and `COORDINATOR_LOAD_IN_PROGRESS`. The last two
used to end a detector started during a broker restart with exit 2.
"""

from __future__ import annotations

from confluent_kafka import KafkaError

from shared.errors import KafkaUnreachableError
from shared.kafka import CONFIG_CODES, is_fatal, kafka_code

#: The cluster (or the broker, controller or coordinator serving us) cannot be reached or is
#: (re)starting. Each one is what a broker restart produces; none can be fixed by the user
#: beyond starting the broker, so waiting is right, and exit 4 when it lasts too long.
OUTAGE_CODES = frozenset({
    KafkaError._TRANSPORT,          # connection refused / reset: the broker is down
    KafkaError._ALL_BROKERS_DOWN,   # every known broker is down
    KafkaError._RESOLVE,            # its host name does not resolve (a container restarting)
    KafkaError._TIMED_OUT,          # no answer in time (also "waiting for controller")
    KafkaError.REQUEST_TIMED_OUT,   # the broker's own timeout, e.g. for its controller
    KafkaError.NETWORK_EXCEPTION,   # the connection broke mid-request
    KafkaError.BROKER_NOT_AVAILABLE,
    KafkaError.NOT_CONTROLLER,      # the KRaft controller moved or is being elected
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.COORDINATOR_NOT_AVAILABLE,  # group / transaction coordinator not yet up
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError._WAIT_COORD,
    KafkaError._UNKNOWN_TOPIC,      # a topic just created is not in the metadata yet
})



def is_outage(exc: BaseException, replication_factor: int = 1, brokers: int = 0) -> bool:
    """Whether `exc` only says the cluster cannot be reached (or serve us) right now.

    `INVALID_REPLICATION_FACTOR` is one when the cluster lists at least
    `replication_factor` brokers (`brokers`): they are there but fenced, which is what a
    restarting KRaft broker answers; with fewer brokers than that, the setting is wrong."""
    if isinstance(exc, KafkaUnreachableError):
        return True
    if is_fatal(exc):
        return False
    code = kafka_code(exc)
    if code == KafkaError.INVALID_REPLICATION_FACTOR:
        return 0 < replication_factor <= brokers
    return code in OUTAGE_CODES


def is_config_error(exc: BaseException) -> bool:
    """Whether `exc` is a wrong setting or missing right (waiting cannot help)."""
    return kafka_code(exc) in CONFIG_CODES
