"""Detector settings (prefix `DETECTOR_`, nested with `__`, e.g. `DETECTOR_CORE__SEED=7`)."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from detector.core.config import CoreConfig
from shared.errors import UsageError
from shared.schemas import MAX_TIMESTAMP, MIN_TIMESTAMP
from shared.settings import (
    LIBRDKAFKA_INT_MAX,
    MAX_WAIT_S,
    KafkaId,
    KafkaSettings,
    NamedPath,
    Settings,
    TopicName,
    TopicSettings,
    kafka_id,
)

RecoveryPolicy = Literal["fail", "reset"]

#: The most records a partition goes between snapshots: a restore replays up to this many
#: (10 million: about 5 min at the detector's ~30,000 tx/s, the default max.poll interval).
MAX_SNAPSHOT_EVERY = 10_000_000
#: The event-time range of the schema (1970-2100), in seconds: a longer dedupe horizon is the
#: same as this one.
EVENT_SPAN_S = (MAX_TIMESTAMP - MIN_TIMESTAMP).total_seconds()
#: The most failures in a row before exit 7: each is a restart by the supervisor, so more is a
#: crash loop that never says "poison pill".
MAX_POISON_PILL_FAILURES = 1000

#: The longest name a file system takes: the failure count's is the transactional id's.
NAME_MAX = 255


def failures_file(transactional_id: str) -> str:
    """The failure count's file name in `state_dir` (`detector.circuit`)."""
    return f"{transactional_id}.failures.json"


class DetectorSettings(Settings):
    """What the streaming detector needs."""

    model_config = SettingsConfigDict(
        env_prefix="DETECTOR_", env_nested_delimiter="__", frozen=True, extra="ignore",
        # infinity passed `gt=0` (a poll that never returns: SIGTERM then waits for a
        # message; an infinite dedupe horizon a traceback in the assign callback)
        allow_inf_nan=False,
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    core: CoreConfig = Field(default_factory=CoreConfig)
    # empty: librdkafka's consumer aborts in C (SIGABRT, exit 134, no message)
    group_id: KafkaId = "auditstream-detector"
    instance_id: str = Field(
        default_factory=socket.gethostname,
        description="stable per process: names its transactional.id and static group member; "
        "two live processes must never share it",
    )
    snapshot_topic: TopicName = "transactions.detector-snapshots"
    snapshot_every: int = Field(
        default=20_000, ge=1, le=MAX_SNAPSHOT_EVERY,
        description="records per partition between state snapshots "
        "(bounds the replay on restore)",
    )
    snapshot_chunk_bytes: int = Field(default=512 * 1024, ge=1024, le=900 * 1024)
    recovery_policy: RecoveryPolicy = Field(
        default="fail", description="input history lost to retention: fail loudly, or reset "
        "the partition's state and go on with a warning",
    )
    # above 1M: confluent-kafka's consume() raises ValueError (a traceback once connected)
    batch_size: int = Field(default=5_000, ge=1, le=1_000_000,
                            description="messages per consume() call")
    # at most 5 s: a stop asked while a turn waits is seen when it returns
    poll_timeout_s: float = Field(default=0.05, gt=0, le=5)
    transaction_timeout_ms: int = Field(default=60_000, ge=1_000, le=LIBRDKAFKA_INT_MAX)
    # below the transaction timeout (`_within_transaction`): declared after it, so checked
    commit_interval_ms: int = Field(
        default=100, ge=1, le=LIBRDKAFKA_INT_MAX,
        description="longest a transaction stays open (latency vs. cost)"
    )
    # librdkafka's bounds: its own error came only once the topics were created, blaming
    # the KAFKA_ settings (the broker's narrower ones: `detector.kafka_io.REFUSED_SETTINGS`)
    session_timeout_ms: int = Field(default=10_000, ge=1_000, le=3_600_000)
    max_poll_interval_ms: int = Field(default=300_000, ge=10_000, le=86_400_000)
    static_membership: bool = Field(
        default=False, description="restart without a rebalance (group.instance.id); off by "
        "default: after a broker restart librdkafka can fatally fence a static member by its "
        "own previous incarnation (librdkafka #3437), which stops the process",
    )
    max_output_bytes: int = Field(
        default=900_000, ge=1024, le=1_000_000, description="largest scored message (key + "
        "value); a bigger one is dead-lettered (below librdkafka's and the broker's 1 MB "
        "default message limits)",
    )
    dedupe_horizon_s: float | None = Field(
        default=None, ge=0, le=EVENT_SPAN_S,
        description="a transaction_id scored in the same partition within "
        "this much event time is a duplicate (dead-lettered); default core.customer_ttl_s; "
        "0 turns the check off",
    )
    state_dir: NamedPath = Field(
        default=Path("~/.local/state/auditstream/detector"), description="where the "
        "poison-pill circuit keeps its failure count across restarts",
    )
    poison_pill_failures: int = Field(
        default=3, ge=1, le=MAX_POISON_PILL_FAILURES,
        description="the same input offset failing this many times in a row "
        "(or the commit, with none succeeding in between) stops the process with exit code 7",
    )
    startup_wait_s: float = Field(
        default=180.0, gt=0, le=MAX_WAIT_S,
        description="how long the start-up waits out a cluster it "
        "cannot reach (a broker restart), as a rewind does (REWIND_RETRY_S); then exit 4. "
        "Instead of KAFKA_STARTUP_WAIT_S, whose 30 s a broker restart on a loaded machine "
        "outlasts",
    )
    metrics_port: int | None = Field(default=None, ge=1, le=65535, description="off when unset")
    metrics_host: str = "127.0.0.1"
    log_interval_s: float = Field(default=10.0, gt=0, le=MAX_WAIT_S)

    @field_validator("group_id")
    @classmethod
    def _group_names_a_file(cls, value: str) -> str:
        return _file_part(value)

    @field_validator("instance_id")
    @classmethod
    def _distinct(cls, value: str, info: ValidationInfo) -> str:
        # DETECTOR_INSTANCE_ID= (an unset variable in a compose file) gave every process the
        # transactional id "<group>-": each new one fenced the one before
        if not value.strip():
            raise ValueError("empty; unset it for the host name, or give each process its own")
        kafka_id(value)  # part of the client and transactional ids
        name = failures_file(f"{info.data.get('group_id', '')}-{_file_part(value)}")
        if len(name.encode()) > NAME_MAX:
            raise ValueError(f"too long: with the group id it names a file of "
                             f"{len(name.encode())} bytes (the failure count; at most "
                             f"{NAME_MAX})")
        return value

    @field_validator("commit_interval_ms")
    @classmethod
    def _within_transaction(cls, value: int, info: ValidationInfo) -> int:
        # a busy stream commits only when this is due: at or past the timeout the broker
        # aborted every transaction first, and the detector rewound and redid it for ever
        timeout = info.data.get("transaction_timeout_ms")
        if timeout is not None and value >= timeout:
            raise ValueError(f"{value} is not below DETECTOR_TRANSACTION_TIMEOUT_MS ({timeout}),"
                             " at which the broker aborts a transaction still open; give less")
        return value

    @field_validator("max_poll_interval_ms")
    @classmethod
    def _after_session(cls, value: int, info: ValidationInfo) -> int:
        session = info.data.get("session_timeout_ms")
        if session is not None and value < session:  # librdkafka refuses the consumer
            raise ValueError(f"{value} is below DETECTOR_SESSION_TIMEOUT_MS ({session}); "
                             "it must be at least that")
        return value

    @property
    def transactional_id(self) -> str:
        return f"{self.group_id}-{self.instance_id}"

    @property
    def failures_path(self) -> Path:
        """The failure count's file (`detector.circuit`)."""
        return self.state_dir.expanduser() / failures_file(self.transactional_id)

    @property
    def dedupe_horizon(self) -> float:
        """The dedupe horizon in seconds (0: off)."""
        if self.dedupe_horizon_s is None:
            return self.core.customer_ttl_s
        return self.dedupe_horizon_s


def _file_part(value: str) -> str:
    """A part of the failure count's file name (`<state_dir>/<group>-<instance>.failures.json`):
    `a/b` put it in a folder no one made, so the count was lost at every restart (a crash
    loop, never exit 7), and `../x` outside the state folder."""
    if "/" in value:
        raise ValueError(f"{value!r} holds '/'; it names a file (the failure count)")
    return value


def settings_from_args(args: argparse.Namespace) -> DetectorSettings:
    """Environment settings, overridden by the command-line options that were given."""
    settings = DetectorSettings()
    names = {"group": "group_id", "group_id": "group_id", "instance_id": "instance_id",
             "metrics_port": "metrics_port", "batch_size": "batch_size",
             "snapshot_every": "snapshot_every", "recovery_policy": "recovery_policy"}
    update = {field: getattr(args, arg) for arg, field in names.items()
              if getattr(args, arg, None) is not None}
    if not update:
        return settings
    try:
        return DetectorSettings.model_validate({**settings.model_dump(), **update})
    except ValidationError as exc:  # an option's value: name the option, not its variable
        flags: dict[str, str] = {}
        for arg, field in names.items():  # the first option of a setting names it
            flags.setdefault(field, "--" + arg.replace("_", "-"))
        bad = "; ".join(f"{flags.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}"
                        for e in exc.errors())
        raise UsageError(f"invalid option {bad}") from None
