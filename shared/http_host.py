"""The one `Host` check of auditstream's local HTTP endpoints (`review serve`'s page, the
detector's metrics and health), against DNS rebinding.

A page on an attacker's site can make its own name resolve to 127.0.0.1 and then read what
a local server answers (a browser sends its requests there as same-origin); but it cannot
change the `Host` header, which names the attacker's host. So a request is answered only
when its one `Host` is `NAME:PORT`, PORT this server's and NAME an IP address (a page that
is same-origin with an address is this server's own), `localhost`, or a name the server was
told to serve as. Scrapers and the container's health check name the address they ask.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Sequence
from http import HTTPStatus


def names_this_server(host: str, port: int, names: Collection[str] = ()) -> bool:
    """Whether one `Host` value names this server (see the module's docstring)."""
    name, colon, given = host.strip().lower().rpartition(":")
    if not colon or given != str(port):
        return False
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]  # an IPv6 address is written in brackets
        try:
            return ipaddress.ip_address(name).version == 6
        except ValueError:
            return False
    try:
        return ipaddress.ip_address(name).version == 4
    except ValueError:
        return name == "localhost" or name in {n.lower() for n in names}


def host_refusal(hosts: Sequence[str], port: int, names: Collection[str] = ()
                 ) -> tuple[HTTPStatus, str] | None:
    """None when the request's `Host` headers (every one given) name this server; else the
    status and the reason to answer with: 400 for more than one (RFC 9112 3.2), 421 for
    none or another name."""
    if len(hosts) > 1:
        return HTTPStatus.BAD_REQUEST, "more than one Host"
    if hosts and names_this_server(hosts[0], port, names):
        return None
    return HTTPStatus.MISDIRECTED_REQUEST, "unknown host name"
