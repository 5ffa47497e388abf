"""Fakes for the waits that ride out an unreachable cluster (`shared.retry`)."""

from __future__ import annotations

import time
from typing import Any

from shared.kafka import unreachable


class Clock:
    """A clock that only moves when the code under test sleeps (or a test or fake says
    so); calling it reads it, as `time.monotonic`."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now

    __call__ = monotonic

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class BrokerGoneAfterAnswering:
    """A `wait_for_broker` that answers once, then fails every try as one that no broker
    answers would, each after `try_s` (real time); `calls` holds each try's timeout."""

    def __init__(self, try_s: float = 0.0) -> None:
        self.calls: list[float] = []
        self.try_s = try_s

    def __call__(self, kafka: Any, timeout: float, setting: str) -> int:
        self.calls.append(timeout)
        if len(self.calls) == 1:
            return 1
        time.sleep(self.try_s)
        raise unreachable(kafka, timeout, "Broker transport failure", setting)
