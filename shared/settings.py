"""Settings read from the environment, in one place.

`KafkaSettings` (prefix `KAFKA_`) and `TopicSettings` (prefix `AUDITSTREAM_`) are shared; each
service has one settings class of its own that nests them (see producer/detector/sink
`settings.py`). Secrets are `SecretStr` and are never logged.
"""

from __future__ import annotations

import difflib
import functools
import json
import logging
import os
import re
from argparse import ArgumentTypeError
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from shared.entry import STDIO, file_name, input_file, stdio_refused
from shared.errors import UsageError
from shared.partitioning import MAX_PARTITIONS, MAX_REPLICATION_FACTOR
from shared.schemas import CONTROL_CHARACTERS

log = logging.getLogger(__name__)

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
#: The SASL mechanisms librdkafka knows (`sasl.mechanism`; GSSAPI its default).
SASL_MECHANISMS = ("GSSAPI", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")
#: Those that sign in with `sasl.username` and `sasl.password`.
PASSWORD_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


#: librdkafka's largest value of an integer property: a larger one wraps round without a word
#: (DETECTOR_TRANSACTION_TIMEOUT_MS=4294968296 ran with transactions of 1 s).
LIBRDKAFKA_INT_MAX = 2**31 - 1

#: The longest wait, timeout or interval a setting takes: a day. Past it a wait is a hang and
#: a timer one that never fires (`DETECTOR_STARTUP_WAIT_S=1e308` waited for ever, saying
#: "still trying for" a number of 309 digits); a day in ms is within `LIBRDKAFKA_INT_MAX`.
MAX_WAIT_S = 86_400.0

#: A client that has had no metadata from any broker for this long bootstraps again.
REBOOTSTRAP_MS = 15_000


def _named(value: object) -> object:
    # "" is Path("."): an unset variable in a compose or .env file (`X=`) would put the
    # folder wherever the service was started, without a word.
    if isinstance(value, str) and not value.strip():
        raise ValueError("empty; name a folder, or unset the variable for its default")
    if value == STDIO:  # as the options (`shared.entry.folder_name`)
        raise ValueError(stdio_refused("a folder"))
    return value


#: A folder setting: an empty value is refused, not taken as the current folder.
NamedPath = Annotated[Path, BeforeValidator(_named)]


def _file(value: object) -> object:
    # PRODUCER_OUT=data/ wrote a file named `data`: the CLI's --out check, for the setting
    if isinstance(value, str):
        try:
            file_name(value)
        except ArgumentTypeError as exc:
            raise ValueError(str(exc)) from None
    return value


#: A file setting: a name, not empty and not one of a folder (`x/`, `x/.`).
FileName = Annotated[Path, BeforeValidator(_file)]


def _input(value: object) -> object:
    if isinstance(value, str):  # as the inputs' arguments: not `-`, empty or blank
        try:
            input_file(value)
        except ArgumentTypeError as exc:
            raise ValueError(str(exc)) from None
    return value


#: A file setting to read: not `-`.
InputName = Annotated[Path, BeforeValidator(_input)]


#: Kafka's rule for a topic name (`org.apache.kafka.common.internals.Topic`).
TOPIC_NAME_MAX = 249
_TOPIC_CHARS = re.compile(r"[a-zA-Z0-9._-]")
_TOPIC_RULE = (f"a topic name is 1 to {TOPIC_NAME_MAX} of a-z, A-Z, 0-9, '.', '_' and '-', "
               "not '.' or '..'")


def _topic_name(value: str) -> str:
    # a name Kafka refuses was asked of the broker first (after the wait for it, when none
    # answered) and refused in Kafka's words, not tied to the variable that set it
    if not value:
        why = "empty"
    elif len(value) > TOPIC_NAME_MAX:
        why = f"{len(value)} characters, over Kafka's {TOPIC_NAME_MAX}"
    elif value in (".", ".."):
        why = f"{value!r} is not a name Kafka allows"
    else:
        bad = sorted(set(_TOPIC_CHARS.sub("", value)))
        if not bad:
            return value
        why = f"{value!r} holds {', '.join(map(repr, bad))}"
    raise ValueError(f"{why}; {_TOPIC_RULE}")


#: A topic name setting: refused at once, naming its variable, unless Kafka would take it.
TopicName = Annotated[str, AfterValidator(_topic_name)]


def kafka_id(value: str) -> str:
    """`value` if it is a group, client or instance id to take: not empty, no blank space at
    its start or end, no control character (`shared.schemas`' rule: a line break made one
    log line two); else a ValueError saying which. Spaces inside it are Kafka's to take."""
    if not value.strip():
        why = "empty" if not value else f"{value!r} is only blank space"
    elif value != value.strip():
        why = f"{value!r} has blank space at its start or end"
    elif found := CONTROL_CHARACTERS.search(value):
        why = f"{value!r} holds the control character {found.group()!r}"
    else:
        return value
    raise ValueError(f"{why}; give a name of visible characters, without blank space around it")


#: A consumer group or client id setting: refused at once, naming its variable (or the
#: option that set it), when `kafka_id` refuses it. Before, `detect --group ' '` and
#: `SINK_GROUP_ID=' sink'` were taken: a group nobody meant.
KafkaId = Annotated[str, AfterValidator(kafka_id)]


#: The most positions `AUDITSTREAM_REVIEWS_PASS` names (a hand-kept list, not a data set).
MAX_REVIEWS_PASSED = 1_000
_POSITION = re.compile(r"([0-9]{1,10}):([0-9]{1,19})")


def review_positions(value: str) -> str:
    """`value` if it lists reviews-topic positions to pass, `partition:offset` separated by
    commas (blank around each allowed; empty: none); else a ValueError saying which item."""
    items = [item.strip() for item in value.split(",")] if value.strip() else []
    if len(items) > MAX_REVIEWS_PASSED:
        raise ValueError(f"{len(items)} positions, over {MAX_REVIEWS_PASSED}")
    for item in items:
        found = _POSITION.fullmatch(item)
        if (found is None or int(found[1]) >= MAX_PARTITIONS
                or int(found[2]) >= 2**63):  # Kafka's offsets are signed 64-bit
            raise ValueError(f"{item!r} is not a position; give partition:offset, whole "
                             "numbers (e.g. 0:17), separated by commas")
    return value


#: Positions of the reviews topic, `partition:offset,...` (`review_positions`).
ReviewPositions = Annotated[str, AfterValidator(review_positions)]


def passed_positions(value: str) -> frozenset[tuple[int, int]]:
    """The (partition, offset) pairs a `ReviewPositions` value names."""
    return frozenset((int(p), int(o)) for p, o in
                     (item.strip().split(":") for item in value.split(",") if item.strip()))


def _port(address: str) -> str | None:
    """The port part of `host:port` or `[v6]:port` as written, or None when there is none
    (librdkafka's default 9092; a bare IPv6 address has colons but no port)."""
    if address.startswith("["):
        rest = address.partition("]")[2]
        return rest[1:] if rest.startswith(":") else rest or None
    host, colon, port = address.rpartition(":")
    return port if colon and ":" not in host else None


def env_names(settings_cls: type[BaseModel]) -> set[str]:
    """Every environment variable a settings class reads, nested settings included (and a
    nested model's fields, `DETECTOR_CORE__SEED`, where the class nests them)."""
    names: set[str] = set()
    prefix = delimiter = ""
    if issubclass(settings_cls, BaseSettings):
        prefix = str(settings_cls.model_config.get("env_prefix", ""))
        delimiter = str(settings_cls.model_config.get("env_nested_delimiter") or "")
    for name, field in settings_cls.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseSettings):
            names |= env_names(annotation)
            continue
        names.add(f"{prefix}{name}".upper())
        if delimiter and isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= {f"{prefix}{name}{delimiter}{sub}".upper() for sub in annotation.model_fields}
    return names


def env_name(settings_cls: type[BaseSettings], field: str) -> str:
    """The environment variable of one field of a settings class (`KeyError`: no such
    field), for a message that names it."""
    if field not in settings_cls.model_fields:
        raise KeyError(f"{settings_cls.__name__} has no setting {field!r}")
    return f"{settings_cls.model_config.get('env_prefix', '')}{field}".upper()


#: How alike a variable's name must be to one auditstream reads to be named as its typo
#: (difflib's ratio: `KAFKA_BOOTSTRAP_SERVER` 0.98; the broker image's
#: `KAFKA_SASL_ENABLED_MECHANISMS` beside `KAFKA_SASL_MECHANISM`, 0.82, is not).
TYPO_LIKENESS = 0.85
#: The Kafka security variables: any of them auditstream does not read is named as ignored
#: (`ignored_security_variables`), a typo or not.
SECURITY_PREFIXES = ("KAFKA_SASL_", "KAFKA_SSL_")
#: The typos already named in this process.
_WARNED_TYPOS: set[str] = set()


def mistyped(settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of `environ` under the class's prefix that it does not read but that are
    close to one it does (a typo), each with that one."""
    prefix = str(settings_cls.model_config.get("env_prefix", "")).upper()
    known = env_names(settings_cls)
    ours = sorted(n for n in known if n.startswith(prefix))
    found = {}
    for name in environ:
        upper = name.upper()
        if upper.startswith(SECURITY_PREFIXES):  # each one named by `shared.kafka` already
            continue
        if prefix and upper.startswith(prefix) and upper not in known:
            close = difflib.get_close_matches(upper, ours, n=1, cutoff=TYPO_LIKENESS)
            if close:
                found[name] = close[0]
    return found


def _is_json(text: str | None) -> bool:
    try:
        json.loads(text or "")
    except ValueError:
        return False
    return True


class _NamingEnvSource(EnvSettingsSource):
    """The environment, as pydantic-settings reads it, but a list or object setting that is
    not JSON is named by its variable (`PRODUCER_FILES=/data/tx.csv`): pydantic-settings
    named the field (`error parsing value for field "files"`), not what to fix."""

    def prepare_field_value(self, field_name: str, field: FieldInfo, value: Any,
                            value_is_complex: bool) -> Any:
        try:
            return super().prepare_field_value(field_name, field, value, value_is_complex)
        except ValueError as exc:  # json's JSONDecodeError (the cause of the refusal)
            name = f"{self.env_prefix}{field_name}".upper()
            delimiter = self.env_nested_delimiter or ""
            given = sorted(k.upper() for k, v in self.env_vars.items()
                           if (k.upper() == name or (delimiter
                               and k.upper().startswith(f"{name}{delimiter}")))
                           and not _is_json(v))
            raise UsageError(
                f"invalid setting {' or '.join(given) or name}: not JSON ({exc}); a list or "
                "object setting is JSON, such as '[60, 3600]' or '[\"/data/tx.csv\"]'; fix "
                "the environment variable (README, Configuration)") from None


class Settings(BaseSettings):
    """A settings class that warns, once a process, of a variable it takes for a typo of one
    it reads (never its value): `KAFKA_BOOTSTRAP_SERVER=kafka:9092` left the default
    127.0.0.1:9092 in force without a word, `AUDITSTREAM_PARTITION=8` 4 partitions."""

    @classmethod
    def settings_customise_sources(
            cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """pydantic-settings' sources, the environment's naming its variables."""
        return (init_settings, _NamingEnvSource(settings_cls), dotenv_settings,
                file_secret_settings)

    def model_post_init(self, context: Any, /) -> None:
        typos = {k: v for k, v in mistyped(type(self), os.environ).items()
                 if k not in _WARNED_TYPOS}
        _WARNED_TYPOS.update(typos)
        for name, meant in sorted(typos.items()):
            log.warning("%s is not read by auditstream, ignored: did you mean %s? (README, "
                        "Configuration)", name, meant)

    @classmethod
    def of_defaults(cls, **values: Any) -> Self:
        """The settings of `values` and the declared defaults, no environment variable read:
        for an output that must not depend on who makes it (`auditstream.sample`: a user's
        `EXPORTS_CASE_DAYS` changed the committed sample)."""
        return cast("Self", _unread(cls)(**values))


@functools.cache
def _unread(cls: type[Settings]) -> type[Settings]:
    """`cls` with the values given to it as its only source (pydantic-settings'
    `settings_customise_sources`), under its own name (as `settings_error` finds it)."""
    def sources(_cls: type[BaseSettings], /, settings_cls: type[BaseSettings],
                init_settings: PydanticBaseSettingsSource,
                **_environment: PydanticBaseSettingsSource,
                ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)
    return type(cls.__name__, (cls,), {"settings_customise_sources": classmethod(sources),
                                       "__module__": cls.__module__})


class KafkaSettings(Settings):
    """How to reach the cluster; security options pass through to librdkafka unchanged."""

    # hide_input_in_errors: a ValidationError's text quoted the whole input, the password too
    model_config = SettingsConfigDict(env_prefix="KAFKA_", frozen=True, extra="ignore",
                                      allow_inf_nan=False, hide_input_in_errors=True)

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None
    ssl_endpoint_identification_algorithm: str | None = None
    client_id: KafkaId = "auditstream"
    #: How long a command waits at start for a broker to answer before it gives up (exit 4).
    startup_wait_s: float = Field(default=30.0, gt=0, le=MAX_WAIT_S)
    #: While no broker answers, one "waiting for Kafka at ..." line per this many seconds
    #: stands for librdkafka's connection failures (which come several a second).
    log_interval_s: float = Field(default=10.0, ge=0, le=MAX_WAIT_S)

    @field_validator("bootstrap_servers")
    @classmethod
    def _some_server(cls, value: str) -> str:
        # KAFKA_BOOTSTRAP_SERVERS= waited the whole start-up window, then exit 4 naming a
        # blank address; so did `,,`, and a port no broker can have (`kafka:9O92`,
        # `kafka:99999`): "connection refused" for 180 s
        servers = re.split(r"[,\s]+", value.strip())  # librdkafka's separators
        if not any(servers):
            raise ValueError("empty; give host:port of at least one broker, or unset it for "
                             "127.0.0.1:9092")
        for server in filter(None, servers):
            port = _port(server.rpartition("://")[2])
            if port is not None and not (port.isascii() and port.isdigit()
                                         and 0 < int(port) <= 65535):
                raise ValueError(f"{server!r}: the port must be a number from 1 to 65535, "
                                 f"not {port!r}")
        return value

    @field_validator("sasl_mechanism")
    @classmethod
    def _some_mechanism(cls, value: str | None) -> str | None:
        # KAFKA_SASL_MECHANISM= reached librdkafka as 'sasl.mechanisms: (null)'
        if value is not None and not value.strip():
            raise ValueError(f"empty; give one of {', '.join(SASL_MECHANISMS)}, or unset it "
                             "(a SASL_ security protocol then uses GSSAPI)")
        return value

    @model_validator(mode="after")
    def _sasl_signs_in(self) -> KafkaSettings:
        # librdkafka said only "sasl.username and sasl.password must be set", naming no
        # variable; an empty one is no value to it either. Never the password itself.
        if (not self.security_protocol.startswith("SASL_")
                or self.sasl_mechanism not in PASSWORD_MECHANISMS):
            return self
        password = self.sasl_password.get_secret_value() if self.sasl_password else ""
        unset = [name for name, value in (("KAFKA_SASL_USERNAME", self.sasl_username),
                                          ("KAFKA_SASL_PASSWORD", password)) if not value]
        if unset:
            raise ValueError(  # no location: the message names its variables
                f"{', '.join(unset)}: not set or empty, but KAFKA_SASL_MECHANISM="
                f"{self.sasl_mechanism} over KAFKA_SECURITY_PROTOCOL={self.security_protocol} "
                "signs in with KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD; set both")
        return self

    def client_config(self) -> dict[str, Any]:
        """The librdkafka properties common to producers, consumers and admin clients."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
            "client.id": self.client_id,
            # A broker shutting down for a restart can answer metadata listing no broker and
            # no leader: librdkafka then drops every broker it knew and bootstraps again only
            # after this, 5 min by default. The fault suite saw the sink and a producer
            # sit idle for minutes after a broker restart (docs/reliability.md).
            "metadata.recovery.rebootstrap.trigger.ms": REBOOTSTRAP_MS,
        }
        optional: dict[str, str | SecretStr | None] = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password,
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
            "ssl.key.password": self.ssl_key_password,
            "ssl.endpoint.identification.algorithm": self.ssl_endpoint_identification_algorithm,
        }
        for key, value in optional.items():
            if value is not None:
                conf[key] = value.get_secret_value() if isinstance(value, SecretStr) else value
        return conf


class TopicSettings(Settings):
    """Topic names and layout shared by every service."""

    model_config = SettingsConfigDict(env_prefix="AUDITSTREAM_", frozen=True, extra="ignore")

    transactions_topic: TopicName = "transactions"
    scored_topic: TopicName = "transactions.scored"
    dlq_topic: TopicName = "transactions.dlq"
    #: Auditors' review outcomes, compacted (the contract: `shared/reviews.py`).
    reviews_topic: TopicName = "transactions.reviews"
    #: Reviews of a later schema version that no release will read (written by mistake, or
    #: by someone able to write the topic), by position: passed, not held (docs/review.md,
    #: "Rollbacks"). Held, one such record stops that partition's reviews for good.
    reviews_pass: ReviewPositions = ""
    partitions: int = Field(default=4, ge=1, le=MAX_PARTITIONS)
    replication_factor: int = Field(default=1, ge=1, le=MAX_REPLICATION_FACTOR)

    @property
    def reviews_passed(self) -> frozenset[tuple[int, int]]:
        """The (partition, offset) positions `reviews_pass` names."""
        return passed_positions(self.reviews_pass)


#: The variable naming reviews to pass rather than hold (as the sink and the page say it).
REVIEWS_PASS_VARIABLE = env_name(TopicSettings, "reviews_pass")


def ignored_security_variables(environ: Mapping[str, str]) -> list[str]:
    """The `KAFKA_SASL_*` / `KAFKA_SSL_*` variables in `environ` that `KafkaSettings` does not
    read (a typo, or an option it does not pass on): unknown `KAFKA_` ones are ignored, as the
    broker image reads others, so these are named (`shared.kafka`), never their values."""
    known = env_names(KafkaSettings)
    return sorted({name.upper() for name in environ
                   if name.upper().startswith(SECURITY_PREFIXES)} - known)
