"""Listeners the local broker may open beside its own PLAINTEXT one (SASL, TLS: for tests).

`auditstream broker start` opens none: its broker listens PLAINTEXT on loopback only. A test
that needs a SASL or TLS broker gives `LocalBroker` its `Listener`s and their settings
(`listener.name.<name>.*`, `ssl.*`); the broker's own PLAINTEXT listener stays, as its
inter-broker listener and the one its readiness probe talks to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

#: The listener names the broker's own template holds (`process._SERVER_PROPERTIES`).
RESERVED_NAMES = frozenset({"PLAINTEXT", "CONTROLLER"})
#: The keys the template writes: an extra listener goes through `Listener`, not over them.
TEMPLATE_KEYS = frozenset({
    "process.roles", "node.id", "controller.quorum.bootstrap.servers", "listeners",
    "advertised.listeners", "controller.listener.names", "listener.security.protocol.map",
    "inter.broker.listener.name", "log.dirs",
})


@dataclass(frozen=True)
class Listener:
    """One extra listener on the broker's host: its name (also the prefix of its own settings,
    `listener.name.<name lower-cased>.`), its security protocol and its port."""

    name: str
    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
    port: int

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", self.name) or self.name in RESERVED_NAMES:
            raise ValueError(f"listener name {self.name!r}: upper-case letters, digits and _, "
                             f"not one of {sorted(RESERVED_NAMES)}")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"listener {self.name}: port {self.port} is not a TCP port")


def listener_fields(host: str, port: int, cport: int,
                    extra: Sequence[Listener]) -> dict[str, str]:
    """The template's `listeners`, `advertised` and `protocols` values with `extra` added
    after the broker's own (without `extra`: exactly the PLAINTEXT-only broker's)."""
    names = [x.name for x in extra]
    if len(set(names)) != len(names):
        raise ValueError(f"listener names given twice: {names}")
    own = [f"{x.name}://{host}:{x.port}" for x in extra]
    return {
        "listeners": ",".join([f"PLAINTEXT://{host}:{port}", f"CONTROLLER://{host}:{cport}",
                               *own]),
        "advertised": ",".join([f"PLAINTEXT://{host}:{port}", *own]),
        "protocols": "".join(f",{x.name}:{x.protocol}" for x in extra),
    }


def extra_properties(properties: Mapping[str, str]) -> str:
    """`properties` as lines to append to the server properties ("" when there are none)."""
    clash = sorted(TEMPLATE_KEYS & properties.keys())
    if clash:
        raise ValueError(f"{clash}: written by the broker itself; add a Listener instead")
    bad = sorted(k for k, v in properties.items() if "\n" in k + v or "=" in k)
    if bad:
        raise ValueError(f"{bad}: a property is one key=value line")
    if not properties:
        return ""
    lines = "".join(f"{key}={value}\n" for key, value in properties.items())
    return f"# Given to LocalBroker by its caller (extra listeners' settings).\n{lines}"
