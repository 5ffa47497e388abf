"""The sink's status row, its row quorum's restore and the reviews topic's renewal warning,
as the mutation round of the changes `ea1c55a..467e97d` found them untested
(docs/mutation.md)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from shared.columns import STATUS_COLUMNS
from sink.status import write_status
from sink.watermark import RowQuorum


def test_a_status_row_is_of_a_running_sink_unless_stopped_and_keeps_its_heartbeat(
        tmp_path: Path) -> None:
    beat = "2026-12-06T05:00:00+00:00"
    at = STATUS_COLUMNS.index("stopped_at")
    cells = write_status(tmp_path, {"rows": 3}, "2026-12-06T04:59:00+00:00", 0,
                         heartbeat=beat)
    assert (cells[2], cells[at]) == (beat, "")  # heartbeat_at; stopped_at empty
    assert (tmp_path / "status.csv").read_text(encoding="utf-8").splitlines()[1] == ",".join(
        cells)
    stopped = write_status(tmp_path, {"rows": 3}, "2026-12-06T04:59:00+00:00", 0,
                           heartbeat=beat, stopped=True)
    assert (stopped[2], stopped[at]) == (beat, beat)


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
    monkeypatch.setattr(app, "check_rights", lambda *a, **k: None)  # no ACLs
    monkeypatch.setattr(app, "ensure_topics", lambda *a, **k: None)
    monkeypatch.setattr(app, "topic_id", topic_id)
    settings = SinkSettings(startup_wait_s=0.5)
    specs = [SimpleNamespace(name="scored"), SimpleNamespace(name="reviews")]
    assert app._start_kafka(settings, specs) == ["id-scored", "id-reviews"]  # type: ignore[arg-type]
    assert [name for _, name, _ in asked] == ["scored", "reviews"]
    for left, _, timeout in asked:
        assert 0 < timeout == min(app.TOPICS_TIMEOUT_S, left) <= 0.5


def _reader(extra: dict[str, object]) -> tuple[object, list[object]]:
    from types import SimpleNamespace

    from sink.rollup import RollupParams
    from sink.state import Checkpoint
    from sink.volume import SinkRollup

    calls: list[object] = []
    cp = Checkpoint(topic="scored", lengths={}, offsets={}, rollup=SinkRollup(RollupParams()),
                    extra=dict(extra))
    reader = SimpleNamespace(writer=SimpleNamespace(cp=cp),
                             close=lambda wait: calls.append(("close", wait)),
                             open=lambda: calls.append("open"))
    return reader, calls


@pytest.mark.parametrize(("before", "live", "renewed"), [
    ("old-id", "new-id", True), ("old-id", "old-id", False), (None, "new-id", False),
    ("old-id", None, False)])
def test_the_reviews_topic_renewed_while_the_sink_runs_is_read_anew_from_its_start(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        before: str | None, live: str | None, renewed: bool) -> None:
    """Asked of the cluster before a batch of reviews: a new id (the topic deleted and
    created again) restarts its offsets and assigns the consumer anew; the same id, a first
    id (recorded) or no answer changes nothing."""
    import sink.app as app
    from sink.assign import TRY_S
    from sink.settings import SinkSettings

    settings = SinkSettings()
    asked: list[tuple[object, str, float]] = []

    def topic_id(kafka: object, name: str, *, timeout: float) -> str | None:
        asked.append((kafka, name, timeout))
        return live

    monkeypatch.setattr(app, "topic_id", topic_id)
    held = {"0": {"topic": settings.topics.reviews_topic, "offset": 7, "version": 99}}
    reader, calls = _reader({} if before is None else {
        "reviews_topic_id": before, "review_offsets": {"0": 7}, "held_reviews": held})
    with caplog.at_level(logging.WARNING, logger="sink.app"):
        assert app._reviews_topic_renewed(reader, settings) is renewed  # type: ignore[arg-type]
    assert [m.split(" was deleted")[0] for m in caplog.messages] == (
        [f"reviews topic {settings.topics.reviews_topic}"] if renewed else [])
    assert asked == [(settings.kafka, settings.topics.reviews_topic, TRY_S)]
    assert calls == ([("close", 1.0), "open"] if renewed else [])
    extra = reader.writer.cp.extra  # type: ignore[attr-defined]
    assert extra.get("held_reviews") == (None if renewed or before is None else held)
    assert extra.get("reviews_topic_id") == (live or before)
    assert extra.get("review_offsets") == ({} if renewed else
                                           None if before is None else {"0": 7})


@pytest.mark.parametrize(("args", "said"), [
    (("broker gone",), "broker gone"), (("first", 2), "first"), ((), "")])
def test_a_reviews_topic_whose_id_cannot_be_asked_is_not_renewed_and_said(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        args: tuple[object, ...], said: str) -> None:
    from confluent_kafka import KafkaException

    import sink.app as app
    from sink.settings import SinkSettings

    def topic_id(kafka: object, name: str, *, timeout: float) -> str | None:
        raise KafkaException(*args)

    monkeypatch.setattr(app, "topic_id", topic_id)
    reader, calls = _reader({"reviews_topic_id": "old-id"})
    settings = SinkSettings()
    with caplog.at_level(logging.WARNING, logger="sink.app"):
        assert app._reviews_topic_renewed(reader, settings) is False  # type: ignore[arg-type]
    assert caplog.messages == [f"{settings.topics.reviews_topic}: its id not checked: {said}"]
    assert calls == []


@pytest.mark.parametrize("quorum", [-1, 0, 1])
def test_a_row_quorum_needs_at_least_one_row_and_says_so(quorum: int) -> None:
    if quorum >= 1:
        assert RowQuorum(quorum).values == ("", "")
    else:
        with pytest.raises(ValueError) as refused:
            RowQuorum(quorum)
        assert str(refused.value) == f"a row quorum needs at least 1 row, not {quorum}"
