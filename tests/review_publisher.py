"""`review import`'s Kafka seam replaced by a list, for unit tests that never reach a broker."""

from __future__ import annotations

from typing import Any

import pytest


def publish_to_list(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Make `review import` publish into the list returned, in order, instead of to Kafka."""
    sent: list[Any] = []

    class Publisher:
        def __init__(self, *_args: object) -> None:
            pass

        def publish(self, reviews: list[Any]) -> int:
            sent.extend(reviews)
            return len(reviews)

    monkeypatch.setattr("auditstream.review.cli.ReviewPublisher", Publisher)
    return sent
