"""`consume_ready`: what is fetched at once, a wait only when nothing is, never past `limit`."""

from __future__ import annotations

from typing import Any

import pytest

from shared.kafka import consume_ready


class _Scripted:
    """A consumer whose queue holds `queued` now and gets `later` during a poll's wait."""

    def __init__(self, queued: list[str], later: list[str] | None = None) -> None:
        self.queue = list(queued)
        self.later = list(later or [])
        self.calls: list[tuple[str, int | None, float]] = []

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[str]:
        if not 1 <= num_messages <= 1_000_000:  # as confluent_kafka refuses it
            raise ValueError("num_messages must be between 1 and 1000000 (1M)")
        self.calls.append(("consume", num_messages, timeout))
        out, self.queue = self.queue[:num_messages], self.queue[num_messages:]
        return out

    def poll(self, timeout: float = -1) -> str | None:
        self.calls.append(("poll", None, timeout))
        self.queue += self.later
        self.later = []
        return self.queue.pop(0) if self.queue else None


def _take(c: _Scripted, limit: int, timeout: float = 0.05) -> list[str]:
    return consume_ready(c, limit, timeout)  # type: ignore[arg-type,return-value]


def test_fetched_messages_come_at_once_without_waiting() -> None:
    c = _Scripted(["a", "b", "c"])
    assert _take(c, 5_000) == ["a", "b", "c"]
    assert c.calls == [("consume", 5_000, 0)]


@pytest.mark.parametrize(("limit", "taken"), [(2, ["a", "b"]), (3, ["a", "b", "c"]),
                                              (4, ["a", "b", "c"])])
def test_never_more_than_the_limit(limit: int, taken: list[str]) -> None:
    c = _Scripted(["a", "b", "c"])
    assert _take(c, limit) == taken
    assert c.queue == ["a", "b", "c"][limit:]


def test_with_nothing_fetched_it_waits_for_the_first_and_takes_what_came_with_it() -> None:
    c = _Scripted([], later=["a", "b", "c"])
    assert _take(c, 5_000, timeout=0.2) == ["a", "b", "c"]
    assert c.calls == [("consume", 5_000, 0), ("poll", None, 0.2), ("consume", 4_999, 0)]


@pytest.mark.parametrize(("limit", "taken", "left"), [
    (1, ["a"], ["b", "c"]), (2, ["a", "b"], ["c"]), (3, ["a", "b", "c"], [])])
def test_after_a_wait_the_limit_holds_too(limit: int, taken: list[str],
                                          left: list[str]) -> None:
    c = _Scripted([], later=["a", "b", "c"])
    assert _take(c, limit) == taken
    assert c.queue == left
    assert [call[0] for call in c.calls] == ["consume", "poll"] + (["consume"] if limit > 1
                                                                   else [])


def test_nothing_within_the_timeout_is_an_empty_batch() -> None:
    c = _Scripted([])
    assert _take(c, 5_000, timeout=0.3) == []
    assert c.calls == [("consume", 5_000, 0), ("poll", None, 0.3)]


def test_the_wait_is_the_callers_timeout() -> None:
    c = _Scripted([])
    waits: list[Any] = []
    c.poll = lambda timeout=-1: waits.append(timeout)  # type: ignore[method-assign]
    _take(c, 10, timeout=1.5)
    assert waits == [1.5]
