"""`review serve`'s follower when a read fails (fakes, no broker; known defect of the
session of 2026-12-06). A Kafka error raised by `consume` (a broker gone, a transport
error, librdkafka's fatal error) or any other exception in its loop ended the follower's
thread for good, a traceback on stderr, and the page went on showing the reviews it had
read as if current, without a word. An outage librdkafka keeps to itself (`consume` just
returns nothing) was not said either. Now: a transient error is retried with a back-off
and reading resumes; a fatal one ends the follower with one log line; and while reviews are
not followed the page says `reviews not followed since T: <reason>`."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditstream.review import server
from shared.reviews import Review, encode_review
from shared.settings import KafkaSettings
from tests.unit.review_page import Running, cases_folder

TOPIC = "reviews"
#: The module the follower is defined in (server.py before 2026-12-06: the tests ran there).
MOD = sys.modules[server.TopicFollower.__module__]
TRANSPORT = KafkaError(KafkaError._TRANSPORT, "Broker transport failure")
FATAL = KafkaError(KafkaError._FATAL, "Fatal error: broker fenced this client", fatal=True)
DENIED = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "Topic authorization failed")


def _review(id_: str, outcome: str) -> Review:
    return Review(target="case", id=id_, outcome=outcome, reviewer="ana",
                  reviewed_at=datetime(2026, 12, 6, tzinfo=UTC))


class _Msg:
    def __init__(self, offset: int, value: bytes | None = None,
                 error: KafkaError | None = None) -> None:
        self._offset, self._value, self._error = offset, value, error

    def error(self) -> KafkaError | None:
        return self._error

    def value(self) -> bytes | None:
        return self._value

    def offset(self) -> int:
        return self._offset

    def partition(self) -> int:
        return 0


def _ok(offset: int, id_: str, outcome: str) -> _Msg:
    return _Msg(offset, encode_review(_review(id_, outcome))[1])


#: A turn of a fake consumer: the batch it returns or the exception it raises, and the
#: seconds since its last broker connection (its statistics: `out_of_touch`).
Turn = tuple[list[_Msg] | BaseException, float]


class _Consumer:
    """Scripted turns, then empty batches; notes the page's lapse as each turn starts."""

    def __init__(self, turns: list[Turn], outcomes: server.Outcomes,
                 stranded_at: int | None = None,
                 ends: list[tuple[int, int] | BaseException] | None = None) -> None:
        self.turns, self.outcomes, self.stranded_at = list(turns), outcomes, stranded_at
        self.closed, self.calls = False, 0
        self.ends = list(ends or [(0, 0)])  # (low, high) of partition 0, at each question
        self.position_at = OFFSET_BEGINNING  # the next offset after those handed out
        self.assigned: list[tuple[int, int]] = []
        self.gap = 0.0
        self.lapses: list[Any] = []
        self.said: list[str] = []  # the page's line as each turn starts

    def assign(self, parts: Any) -> None:
        self.assigned = [(p.partition, p.offset) for p in parts]

    def consume(self, n: int, timeout: float) -> list[_Msg]:
        assert not self.closed, "consumed after close"
        self.lapses.append(getattr(self.outcomes, "lapse", None))
        self.said.append(self.outcomes.not_current())
        self.calls += 1
        if not self.turns:
            self.gap = 0.0
            return []
        got, self.gap = self.turns.pop(0)
        if isinstance(got, BaseException):
            raise got
        self.position_at = max([self.position_at, *(m.offset() + 1 for m in got
                                                     if m.error() is None)])
        return got

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(TOPIC, p, o) for p, o in self.assigned]

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float) -> tuple[int, int]:
        end = self.ends.pop(0) if len(self.ends) > 1 else self.ends[0]
        if isinstance(end, BaseException):
            raise end
        return end

    def position(self, parts: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(TOPIC, tp.partition, self.position_at) for tp in parts]

    def out_of_touch(self, seconds: float) -> bool:
        return self.gap > seconds

    def stranded(self) -> bool:
        return self.stranded_at is not None and self.calls >= self.stranded_at

    def close(self) -> None:
        self.closed = True


class _Run:
    """A follower over scripted consumers, run in its own thread (as `serve` runs it) for
    `turns` turns of its loop; the pauses it asked for, and any exception that ended it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, consumers: list[_Consumer],
                 outcomes: server.Outcomes, turns: int,
                 gone: Callable[..., bool | None] = lambda *a: False,
                 passed: frozenset[tuple[int, int]] = frozenset()) -> None:
        made = iter(consumers)
        for name in ("make_consumer", "make_watched_consumer"):
            monkeypatch.setattr(MOD, name, lambda *a, **k: next(made), raising=False)
        monkeypatch.setattr(MOD, "topic_id", lambda *a, **k: "id-1")
        monkeypatch.setattr(MOD, "topic_gone", gone, raising=False)
        monkeypatch.setattr(MOD, "topic_partitions", lambda *a, **k: 1)
        self.follower = server.TopicFollower(KafkaSettings(), TOPIC, outcomes, passed)
        left = iter(range(turns))
        monkeypatch.setattr(self.follower.stopping, "is_set", lambda: next(left, None) is None)
        self.pauses: list[float] = []
        monkeypatch.setattr(self.follower.stopping, "wait", self._pause)
        self.died: list[BaseException] = []
        monkeypatch.setattr(threading, "excepthook", lambda a: self.died.append(a.exc_value))
        self.started = datetime.now(UTC).replace(microsecond=0)
        self.follower.start()
        self.follower.join(30)
        self.ended = datetime.now(UTC)

    def _pause(self, seconds: float | None = None) -> bool:
        self.pauses.append(seconds or 0.0)
        return False


def _shown(outcomes: server.Outcomes) -> str:
    """The page's body with these outcomes, over real HTTP."""
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        running = Running(cases_folder(Path(folder) / "ex"))
        running.app.outcomes = outcomes
        try:
            status, _, body = running.request("GET", "/")
        finally:
            running.close()
    assert status == 200
    return body


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Reading counts as current again at the first clean turn."""
    monkeypatch.setattr(MOD, "RECOVERED_S", 0.0, raising=False)
    yield


def _lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level
            and r.name == MOD.log.name]


def test_a_transient_read_error_is_retried_with_a_back_off_and_reading_resumes(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        quick: None) -> None:
    outcomes = server.Outcomes()
    consumer = _Consumer([([_ok(0, "a", "confirmed")], 0),
                          *[(KafkaException(TRANSPORT), 0)] * 7,
                          ([_ok(1, "b", "dismissed")], 0)], outcomes)
    with caplog.at_level(logging.INFO, logger=MOD.log.name):
        run = _Run(monkeypatch, [consumer], outcomes, turns=12)
    assert run.died == []
    assert outcomes.snapshot() == {"case:a": "confirmed", "case:b": "dismissed"}
    # doubled from 1 s, at most 30 s
    assert run.pauses == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    during = consumer.lapses[2:9]  # the turns after each failure
    assert all(lapse is not None and not lapse.fatal for lapse in during), during
    assert {lapse.since for lapse in during} == {during[0].since}  # since the first failure
    assert run.started <= during[0].since <= run.ended
    assert during[0].line() == (f"reviews not followed since "
                                f"{during[0].since:%Y-%m-%dT%H:%M:%SZ}: Broker transport "
                                "failure; retrying")
    assert outcomes.lapse is None  # current again
    # one line when it started (the same reason 7 times), one when it ended
    assert _lines(caplog, logging.WARNING) == [
        during[0].line(),
        f"reviews followed again (not followed since {during[0].since:%Y-%m-%dT%H:%M:%SZ})"]
    assert consumer.closed


@pytest.mark.parametrize("failure", [KafkaException(FATAL), [_Msg(3, error=FATAL)],
                                     RuntimeError("a bug in the loop")],
                         ids=["raised", "in-the-batch", "not-kafka"])
def test_a_fatal_error_ends_the_follower_with_one_line_and_the_page_says_since_when(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        failure: list[_Msg] | BaseException) -> None:
    outcomes = server.Outcomes()
    consumer = _Consumer([([_ok(0, "a", "confirmed")], 0), (failure, 0),
                          ([_ok(1, "b", "dismissed")], 0)], outcomes)
    with caplog.at_level(logging.INFO, logger=MOD.log.name):
        run = _Run(monkeypatch, [consumer], outcomes, turns=5)
    assert run.died == []  # no traceback, no dead thread
    assert not run.follower.is_alive()
    assert outcomes.snapshot() == {"case:a": "confirmed"}  # nothing after it
    lapse = outcomes.lapse
    assert lapse is not None and lapse.fatal
    assert run.started <= lapse.since <= run.ended
    reason = ("RuntimeError: a bug in the loop" if isinstance(failure, RuntimeError)
              else "Fatal error: broker fenced this client")
    line = (f"reviews not followed since {lapse.since:%Y-%m-%dT%H:%M:%SZ}: {reason}; the "
            "follower has stopped: restart `auditstream review serve`")
    assert lapse.line() == line
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [line]
    assert errors[0].exc_info is None  # one line, no traceback
    assert consumer.closed
    body = _shown(outcomes)
    assert f'<p class="lapse" id="lapse">{line}</p>' in body
    assert 'data-current="0"' in body


def test_an_outage_librdkafka_keeps_to_itself_is_said_after_ten_seconds_not_before(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        quick: None) -> None:
    """`consume` raises nothing while no broker answers: the consumer's statistics say it
    (seconds since a broker was connected); said past 10 s, at 9, 10 s not yet."""
    outcomes = server.Outcomes()
    consumer = _Consumer([([_ok(0, "a", "confirmed")], 0), ([], 9.0), ([], 10.0),
                          ([], 11.0), ([], 40.0), ([_ok(1, "b", "dismissed")], 0.5)],
                         outcomes)
    with caplog.at_level(logging.INFO, logger=MOD.log.name):
        run = _Run(monkeypatch, [consumer], outcomes, turns=7)
    assert run.died == []
    seen = consumer.lapses[1:7]  # as each turn starts: what the turn before left
    assert [lapse is not None for lapse in seen] == [False, False, False, True, True, False]
    lapse = seen[3]
    assert lapse.reason == "no connection to Kafka at 127.0.0.1:9092 for 10 s"
    # since the last connection: 10 s before the turn that found it out
    assert run.started - timedelta(seconds=10) <= lapse.since <= run.ended
    assert seen[4] == lapse  # the same lapse, since the same time
    assert outcomes.snapshot() == {"case:a": "confirmed", "case:b": "dismissed"}
    assert outcomes.lapse is None


def test_an_error_at_every_fetch_is_not_current_between_two_of_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused authorization comes back at each fetch, with empty turns between: it is
    retried (an administrator may grant it) and the page says so all along, until a turn
    `RECOVERED_S` after the last error."""
    outcomes = server.Outcomes()
    monkeypatch.setattr(MOD, "RECOVERED_S", 1e9, raising=False)
    consumer = _Consumer([([_ok(0, "a", "confirmed")], 0), ([_Msg(1, error=DENIED)], 0),
                          ([], 0), ([_Msg(1, error=DENIED)], 0), ([], 0),
                          ([_ok(1, "b", "unclear")], 0)], outcomes)
    run = _Run(monkeypatch, [consumer], outcomes, turns=8)
    assert run.died == []
    assert [lapse is not None for lapse in consumer.lapses] == [False, False] + [True] * 6
    assert outcomes.lapse is not None
    assert outcomes.lapse.line().endswith(": Topic authorization failed; retrying")
    assert outcomes.snapshot() == {"case:a": "confirmed", "case:b": "unclear"}


@pytest.mark.parametrize("error", [DENIED, FATAL], ids=["denied", "fatal"])
def test_the_reviews_read_in_a_batch_with_an_error_are_shown(
        monkeypatch: pytest.MonkeyPatch, error: KafkaError) -> None:
    """An error of one partition comes in the batch of the others' reviews: they are read
    (the consumer has moved past them) and shown, and then the error is."""
    outcomes = server.Outcomes()
    consumer = _Consumer([([_ok(0, "a", "confirmed"), _Msg(0, error=error),
                            _ok(1, "b", "dismissed"), _Msg(2, None)], 0)], outcomes)
    run = _Run(monkeypatch, [consumer], outcomes, turns=2)
    assert run.died == []
    assert outcomes.snapshot() == {"case:a": "confirmed", "case:b": "dismissed"}
    assert outcomes.lapse is not None and outcomes.lapse.fatal == error.fatal()
    assert outcomes.lapse.reason == error.str()


def test_a_stranded_consumer_is_replaced_where_reading_stands(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """librdkafka's #5301 after a broker restart: the consumer is left with no broker and
    no error, for ever; it is replaced, assigned at the next offset to read."""
    outcomes = server.Outcomes()
    first = _Consumer([([_ok(0, "a", "confirmed"), _ok(1, "b", "confirmed")], 0)], outcomes,
                      stranded_at=2)
    second = _Consumer([([_ok(2, "a", "dismissed")], 0)], outcomes)
    with caplog.at_level(logging.INFO, logger=MOD.log.name):
        run = _Run(monkeypatch, [first, second], outcomes, turns=4)
    run.follower.join(5)
    assert run.died == []
    assert first.assigned == [(0, OFFSET_BEGINNING)]
    assert second.assigned == [(0, 2)]
    assert outcomes.snapshot() == {"case:a": "dismissed", "case:b": "confirmed"}
    assert first.calls == 2 and second.calls == 2
    assert any("librdkafka #5301" in m for m in _lines(caplog, logging.WARNING))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(st.one_of(
    st.binary(max_size=60),
    st.sampled_from([b"{}", b"null", b"[]", b'{"target":"case"}', b"\xff\xfe",
                     b'{"schema_version":1,"target":"case","id":"x","outcome":"confirmed",'
                     b'"reviewed_at":"0001-01-01T00:00:00+01:00"}']),
    st.tuples(st.sampled_from("abc"), st.sampled_from(["confirmed", "dismissed", "unclear"]))),
    max_size=12))
def test_bad_records_are_skipped_and_never_end_the_follower(
        monkeypatch: pytest.MonkeyPatch, records: list[bytes | tuple[str, str]]) -> None:
    outcomes = server.Outcomes()
    batch = [_ok(i, *r) if isinstance(r, tuple) else _Msg(i, r)
             for i, r in enumerate(records)]
    consumer = _Consumer([(batch, 0), ([_ok(len(records), "z", "unclear")], 0)], outcomes)
    with monkeypatch.context() as m:
        run = _Run(m, [consumer], outcomes, turns=3)
    assert run.died == []
    want = {f"case:{i}": o for r in records if isinstance(r, tuple) for i, o in [r]}
    assert outcomes.snapshot() == want | {"case:z": "unclear"}
    assert getattr(outcomes, "lapse", None) is None  # (no lapse before 2026-12-06)


def test_a_bad_record_is_logged_with_its_partition_and_offset(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    outcomes = server.Outcomes()
    consumer = _Consumer([([_ok(0, "a", "confirmed"), _Msg(1, b"{}"),
                            _ok(2, "b", "dismissed")], 0)], outcomes)
    with caplog.at_level(logging.INFO, logger=MOD.log.name):
        _Run(monkeypatch, [consumer], outcomes, turns=2)
    assert outcomes.snapshot() == {"case:a": "confirmed", "case:b": "dismissed"}
    [line] = _lines(caplog, logging.WARNING)
    assert line.startswith("reviews: skipping a bad review at partition 0 offset 1 (")


@pytest.mark.parametrize(("last", "caught"), [(1, False), (2, True), (3, True)])
def test_the_page_says_it_is_reading_the_topic_until_read_to_where_it_ended(
        monkeypatch: pytest.MonkeyPatch, last: int, caught: bool) -> None:
    """Right after the start a case decided before shows as open until its review is read:
    said until the offset before the topic's end (3, asked at the first turn) is read."""
    outcomes = server.Outcomes()
    turns: list[Turn] = [([_ok(0, "a", "confirmed")], 0),
                         ([_ok(o, "b", "dismissed") for o in range(1, last + 1)], 0)]
    consumer = _Consumer(turns, outcomes, ends=[(0, 3)])
    run = _Run(monkeypatch, [consumer], outcomes, turns=3)
    assert run.died == []
    assert consumer.said[:2] == [MOD.CATCHING_UP] * 2
    assert consumer.said[2] == ("" if caught else MOD.CATCHING_UP)
    assert outcomes.lapse is None


@pytest.mark.parametrize("ends", [(0, 0), (5, 5)], ids=["empty", "compacted-away"])
def test_a_topic_with_nothing_to_read_is_read_to_its_end_at_once(
        monkeypatch: pytest.MonkeyPatch, ends: tuple[int, int]) -> None:
    outcomes = server.Outcomes()
    consumer = _Consumer([], outcomes, ends=[ends])
    _Run(monkeypatch, [consumer], outcomes, turns=2)
    assert consumer.said == [MOD.CATCHING_UP, ""]


def test_where_the_topic_ends_is_asked_again_until_the_cluster_answers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes = server.Outcomes()
    timed_out = KafkaException(KafkaError(KafkaError._TIMED_OUT, "timed out"))
    consumer = _Consumer([([_ok(0, "a", "confirmed")], 0)], outcomes,
                         ends=[timed_out, timed_out, (0, 1)])
    _Run(monkeypatch, [consumer], outcomes, turns=4)
    assert consumer.said == [MOD.CATCHING_UP] * 3 + [""]
    assert outcomes.lapse is None  # a question of its own, not a failed read


def test_the_page_says_it_is_catching_up_and_not_current() -> None:
    outcomes = server.Outcomes()
    outcomes.caught_up = False
    body = _shown(outcomes)
    assert (f'<p class="lapse" id="lapse">{MOD.CATCHING_UP}</p>' in body
            and 'data-current="0"' in body)


def test_the_page_shows_a_lapse_escaped_and_says_nothing_while_current() -> None:
    outcomes = server.Outcomes()
    body = _shown(outcomes)
    assert 'data-current="1"' in body and 'id="lapse"' not in body
    lapse = MOD.Lapse(datetime(2026, 12, 6, 8, 30, tzinfo=UTC), "<b>gone</b>")
    outcomes.lapse = lapse
    body = _shown(outcomes)
    assert ('<p class="lapse" id="lapse">reviews not followed since 2026-12-06T08:30:00Z: '
            "&lt;b&gt;gone&lt;/b&gt;; retrying</p>") in body
    assert 'data-current="0"' in body


def _answers(said: list[bool | None]) -> tuple[Callable[..., bool | None], list[str]]:
    """A `topic_gone` that gives these answers in turn (then False), and the topics asked."""
    asked: list[str] = []

    def gone(_consumer: Any, topic: str, timeout: float) -> bool | None:
        asked.append(topic)
        return said.pop(0) if said else False
    return gone, asked


def test_a_reviews_topic_deleted_and_not_created_again_is_said_on_the_page(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        quick: None) -> None:
    """Deleted, the topic is an empty one to `consume`: the page looked current for as long
    as it stayed deleted (hostile probe, 2026-12-06, eleventh). An unknown answer (the
    cluster does not say) keeps the last one; created again, the line goes."""
    monkeypatch.setattr(MOD, "GONE_EVERY_S", 0.0, raising=False)
    outcomes = server.Outcomes()
    consumer = _Consumer([([_ok(0, "a", "confirmed")], 0)], outcomes)
    gone, asked = _answers([False, True, None, True, False])
    with caplog.at_level(logging.INFO, logger=MOD.log.name):
        run = _Run(monkeypatch, [consumer], outcomes, turns=6, gone=gone)
    assert run.died == []
    seen = consumer.lapses[1:6]  # as each turn starts: what the turn before left
    assert [lapse is not None for lapse in seen] == [False, True, True, True, False]
    assert asked == [TOPIC] * 6
    lapse = seen[1]
    line = (f"reviews not followed since {lapse.since:%Y-%m-%dT%H:%M:%SZ}: reviews topic "
            f"{TOPIC} no longer exists (its outcomes read before stay shown); retrying")
    assert lapse.line() == line and not lapse.fatal
    assert consumer.said[2:5] == [line] * 3  # the same line, since the same time
    assert outcomes.snapshot() == {"case:a": "confirmed"}  # what was read stays shown
    assert _lines(caplog, logging.WARNING) == [
        line, f"reviews followed again (not followed since {lapse.since:%Y-%m-%dT%H:%M:%SZ})"]
    assert outcomes.lapse is None
    deleted = server.Outcomes()
    deleted.lapse = lapse
    assert f'<p class="lapse" id="lapse">{line}</p>' in _shown(deleted)


def test_whether_the_topic_exists_is_asked_every_five_seconds_not_each_turn(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 4.9, 5.0, 9.9, 10.0])
    now = [0.0]

    def monotonic() -> float:
        now[0] = next(clock)
        return now[0]

    times: list[float] = []
    gone, _ = _answers([])

    def noted(*args: Any) -> bool | None:
        times.append(now[0])
        return gone(*args)

    outcomes = server.Outcomes()
    consumer = _Consumer([], outcomes)
    follower = server.TopicFollower.__new__(server.TopicFollower)
    monkeypatch.setattr(MOD, "topic_gone", noted, raising=False)
    monkeypatch.setattr(MOD.time, "monotonic", monotonic)
    follower._gone_asked, follower._gone = -float("inf"), False
    follower._consumer, follower._topic = consumer, TOPIC  # type: ignore[assignment]
    # its partitions, asked after each answer: test_review_follower_partitions
    follower._regrown = lambda: None  # type: ignore[method-assign]
    for _ in range(5):
        assert follower._deleted() is False
    # at 0 s (the first turn), 5.0 s (not at 4.9 s), 10.0 s (not at 9.9 s)
    assert times == [0.0, 5.0, 10.0]
