"""Settings of the local broker (prefix `BROKER_`)."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from shared.errors import UsageError
from shared.settings import MAX_WAIT_S, NamedPath, Settings


def _user_dir(env: str, fallback: str) -> Path:
    """`$<env>/auditstream`, else `~/<fallback>/auditstream`; without a home (HOME unset and
    a user id the password database does not know, as in a container run with `-u N`) a
    `UsageError` naming the settings to give instead of `Path.home()`'s RuntimeError."""
    base = os.environ.get(env)
    if base:
        return Path(base) / "auditstream"
    try:
        return Path.home() / fallback / "auditstream"
    except RuntimeError:
        raise UsageError(
            f"no home folder for the local broker's files: HOME is not set and user id "
            f"{os.getuid()} has none in the password database; set HOME, or BROKER_HOME and "
            "BROKER_CACHE_DIR (or XDG_STATE_HOME and XDG_CACHE_HOME)") from None


def _any_address(host: str) -> bool:
    """Whether `host` is the any-address (every interface) in any spelling: `0.0.0.0` and
    `::`, but also `0`, `::0`, `000.000.000.000` (the resolver, Java's as libc's, reads them
    so: the broker then listens on every interface)."""
    bare = host.strip("[]")
    if not bare:
        return True
    try:
        return ipaddress.ip_address(bare).is_unspecified
    except ValueError:
        pass
    try:
        return socket.inet_aton(bare) == bytes(4)
    except OSError:  # a host name
        return False


class BrokerSettings(Settings):
    """Where the local broker keeps its jars, data and log, and which ports it binds."""

    # infinity or NaN as the start timeout: a broker launched, then stopped at once as "did
    # not answer within nans"
    model_config = SettingsConfigDict(env_prefix="BROKER_", frozen=True, extra="ignore",
                                      allow_inf_nan=False)

    kafka_version: str = "4.3.1"
    host: str = "127.0.0.1"
    port: int = Field(default=9092, ge=1, le=65535)
    controller_port: int = Field(default=9093, ge=1, le=65535)
    heap: str = "512m"
    # NamedPath: an empty BROKER_HOME was the working folder (data, log and pid file where
    # the command ran, which `broker stop` from another folder never found)
    cache_dir: NamedPath = Field(
        default_factory=lambda: _user_dir("XDG_CACHE_HOME", ".cache"))
    home: NamedPath = Field(
        default_factory=lambda: _user_dir("XDG_STATE_HOME", ".local/state") / "broker"
    )
    # at most a day: 1e308 waited for ever on a broker that never answered
    start_timeout: float = Field(default=90.0, gt=0, le=MAX_WAIT_S)

    @field_validator("host")
    @classmethod
    def _reachable(cls, host: str) -> str:
        if _any_address(host):  # Kafka refuses to advertise 0.0.0.0 and ::
            raise ValueError(f"{host} is not an address clients can reach (the broker "
                             "advertises it); give this machine's own address")
        return host

    @field_validator("heap")
    @classmethod
    def _jvm_size(cls, heap: str) -> str:
        # another spelling launched Java to fail ("Invalid initial heap size"), after the jar
        # fetch, in a 30-line log tail
        if not re.fullmatch(r"[1-9][0-9]*[kKmMgGtT]?", heap):
            raise ValueError(f"{heap!r} is not a JVM heap size: a whole number of bytes, or "
                             "with k, m, g or t (512m, 1g)")
        return heap

    @field_validator("controller_port")
    @classmethod
    def _own_port(cls, controller_port: int, info: ValidationInfo) -> int:
        if controller_port == info.data.get("port"):  # Kafka's storage tool: a stack trace
            raise ValueError(f"{controller_port} is BROKER_PORT too; the broker and its "
                             "controller listen on two ports: give them two")
        return controller_port

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def libs_dir(self) -> Path:
        return self.cache_dir / f"kafka-{self.kafka_version}" / "libs"
