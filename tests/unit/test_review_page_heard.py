"""`review serve`'s page says when its reviews were last read with Kafka answering (twelfth
hostile probe, 2026-12-06): in the first `OUT_OF_TOUCH_S` (10 s) of a broker outage the
follower says nothing (a restart's few seconds are no lapse), and the page looked current
without saying since when; now it shows the time of the follower's last word from Kafka,
which stops moving when the broker goes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from auditstream.review import follower as server
from auditstream.review.page import render
from shared.settings import KafkaSettings
from tests.unit.review_page import Running, cases_folder


class _Consumer:
    """Nothing to read; one turn a second, a broker connected at the turns of `touched`."""

    def __init__(self, touched: set[int]) -> None:
        self.turn, self.touched = 0, touched

    def assign(self, parts: Any) -> None:
        pass

    def consume(self, n: int, timeout: float) -> list[Any]:
        return []

    def close(self) -> None:
        pass

    def stranded(self) -> bool:
        return False

    def assignment(self) -> list[Any]:
        return []

    def position(self, parts: Any) -> list[Any]:
        return []

    def out_of_touch(self, seconds: float) -> bool:
        return self.turn - max(t for t in self.touched if t <= self.turn) > seconds


def test_the_page_says_when_kafka_last_answered_even_before_it_says_a_lapse(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Turns at 12:00:00 to :09, a broker connected until :02: at :09, 7 s into the outage,
    no lapse yet, and the page names the last read with a broker connected within
    `HEARD_WITHIN_S` (2 s): :04."""
    consumer = _Consumer({0, 1, 2})
    monkeypatch.setattr(server, "make_watched_consumer", lambda *a: consumer)
    monkeypatch.setattr(server, "topic_id", lambda *a, **k: "id")
    monkeypatch.setattr(server, "topic_partitions", lambda *a, **k: 1)
    monkeypatch.setattr(server, "topic_gone", lambda *a: False)
    monkeypatch.setattr(server, "now_utc",
                        lambda: datetime(2026, 12, 6, 12, 0, consumer.turn, tzinfo=UTC))
    page = Running(cases_folder(tmp_path / "ex"))
    outcomes = page.app.outcomes
    follower = server.TopicFollower(KafkaSettings(), "reviews", outcomes)
    turns = iter(range(10))

    def next_turn() -> bool:
        turn = next(turns, None)
        if turn is None:
            return True
        consumer.turn = turn
        return False

    monkeypatch.setattr(follower.stopping, "is_set", next_turn)
    follower.run()
    try:
        status, _, body = page.request("GET", "/")
    finally:
        page.close()
    assert outcomes.lapse is None  # under OUT_OF_TOUCH_S: no lapse said yet
    assert status == 200 and 'data-current="1"' in body
    assert '<p id="heard">reviews as read from Kafka at 2026-12-06T12:00:04Z</p>' in body


def test_a_page_before_any_word_from_kafka_says_no_time() -> None:
    page = render([], {}, token="t", reviewer="ana", exports=Path("x"),
                  heard=server.Outcomes().heard_line())
    assert 'id="heard"' not in page
