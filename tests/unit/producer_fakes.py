"""Stand-ins for `producer.app.publish`'s Kafka side in unit tests (no broker)."""

from __future__ import annotations

import os
from typing import Any

import pytest


class SignalOnProduce:
    """A producer stand-in that takes every message and, at the `at`-th, gets `sig` while
    handing it over (the signal lands inside `produce`, after the message was taken)."""

    def __init__(self, at: int, sig: int) -> None:
        self.at, self.sig, self.taken = at, sig, 0

    def produce(self, topic: str, value: bytes, key: bytes) -> None:
        self.taken += 1
        if self.taken == self.at:
            os.kill(os.getpid(), self.sig)  # Python runs its handler as this call returns

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        return 0

    def stranded(self) -> bool:
        return False

    def __len__(self) -> int:
        return 0


def publish_to(monkeypatch: pytest.MonkeyPatch, fake: Any) -> None:
    """`producer.app.publish` sends to `fake`: no topic created, no rights asked (no ACLs)."""
    from producer import app

    monkeypatch.setattr(app, "ensure_topics", lambda *a, **k: None)
    monkeypatch.setattr(app, "check_rights", lambda *a, **k: None)
    monkeypatch.setattr(app, "make_watched_producer", lambda *a, **k: fake)
