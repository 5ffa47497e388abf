"""A raw exchange with a server a test runs on a loopback port (the bytes as sent, no client
library in between)."""

from __future__ import annotations

import socket


def raw(port: int, data: bytes, timeout: float = 10) -> bytes:
    """`data` sent to 127.0.0.1:`port` as they are, and all it answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out
