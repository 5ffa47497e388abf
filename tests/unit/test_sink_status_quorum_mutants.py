"""The sink's status row, its row quorum's restore and the reviews topic's renewal warning,
as the mutation round of the changes `ea1c55a..467e97d` found them untested
(docs/mutation.md)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sink.status import write_status
from sink.watermark import RowQuorum


def test_a_status_row_is_of_a_running_sink_unless_stopped_and_keeps_its_heartbeat(
        tmp_path: Path) -> None:
    beat = "2026-12-06T05:00:00+00:00"
    cells = write_status(tmp_path, {"rows": 3}, "2026-12-06T04:59:00+00:00", 0,
                         heartbeat=beat)
    assert (cells[2], cells[-1]) == (beat, "")  # heartbeat_at; stopped_at empty
    assert (tmp_path / "status.csv").read_text(encoding="utf-8").splitlines()[1] == ",".join(
        cells)
    stopped = write_status(tmp_path, {"rows": 3}, "2026-12-06T04:59:00+00:00", 0,
                           heartbeat=beat, stopped=True)
    assert (stopped[2], stopped[-1]) == (beat, beat)


@pytest.mark.parametrize(("low", "high", "ok"), [
    (2, 2, True), (3, 3, True), (2, 1, False), (1, 2, False), (4, 4, False)])
def test_a_row_quorum_restores_only_as_many_low_as_high_times_within_its_quorum(
        low: int, high: int, ok: bool) -> None:
    times = [f"2026-12-0{d}T00:00:00Z" for d in range(1, 5)]
    data = {"quorum": 3, "low": times[:low], "high": times[-high:]}
    if ok:
        assert RowQuorum.from_json(data).to_json() == RowQuorum.from_json(
            RowQuorum.from_json(data).to_json()).to_json()
    else:
        with pytest.raises(ValueError, match=rf"^a row quorum of 3 keeps {low} and {high} "
                                             "times$"):
            RowQuorum.from_json(data)


def test_a_renewed_reviews_topic_is_said_with_its_old_and_new_ids(
        caplog: pytest.LogCaptureFixture) -> None:
    from sink.app import same_reviews_topic
    from sink.rollup import RollupParams
    from sink.state import Checkpoint
    from sink.volume import SinkRollup

    cp = Checkpoint(topic="scored", lengths={}, offsets={}, rollup=SinkRollup(RollupParams()),
                    extra={"reviews_topic_id": "old-id", "review_offsets": {"0": 5},
                           "reviews": {"current": {"c1": {}, "c2": {}}}})
    with caplog.at_level(logging.WARNING, logger="sink.app"):
        same_reviews_topic(cp, "new-id", "reviews")
    assert caplog.messages == [
        "reviews topic reviews was deleted and created again since this folder's checkpoint "
        "(id old-id, now new-id): reading the new topic from its start; the 2 outcomes of "
        "the old one stay as logged in reviews_log.csv (docs/review.md)"]
    assert cp.extra["review_offsets"] == {} and cp.extra["reviews_topic_id"] == "new-id"


def test_the_start_asks_each_topic_s_id_within_the_time_left(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`_start_kafka`'s one try: the broker waited for, the topics made, then each topic's
    id asked of that broker within what is left of the wait (at most TOPICS_TIMEOUT_S)."""
    from types import SimpleNamespace

    import sink.app as app
    from sink.settings import SinkSettings

    asked: list[tuple[float, str, float]] = []

    def topic_id(kafka: object, name: str, *, timeout: float) -> str:
        asked.append((kafka.startup_wait_s, name, timeout))  # type: ignore[attr-defined]
        return f"id-{name}"

    monkeypatch.setattr(app, "wait_for_broker", lambda *a, **k: None)
    monkeypatch.setattr(app, "ensure_topics", lambda *a, **k: None)
    monkeypatch.setattr(app, "topic_id", topic_id)
    settings = SinkSettings(startup_wait_s=0.5)
    specs = [SimpleNamespace(name="scored"), SimpleNamespace(name="reviews")]
    assert app._start_kafka(settings, specs) == ["id-scored", "id-reviews"]  # type: ignore[arg-type]
    assert [name for _, name, _ in asked] == ["scored", "reviews"]
    for left, _, timeout in asked:
        assert 0 < timeout == min(app.TOPICS_TIMEOUT_S, left) <= 0.5
