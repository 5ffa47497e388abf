"""The sink rides out a broker restart while assigning, within its start-up wait
(`SINK_STARTUP_WAIT_S`), and a failed group commit."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

import sink.assign as app
from shared.errors import ExitCode, KafkaUnreachableError, KafkaWiringError
from shared.kafka import worth_waiting
from shared.retry import retry_within
from tests.unit.outage_fakes import Clock


@dataclass
class _Topic:
    partitions: dict[int, object]
    error: KafkaError | None = None


@dataclass
class _Meta:
    topics: dict[str, _Topic]


@dataclass
class FlakyConsumer:
    """Metadata and watermarks that fail `failures` times first, as while a broker restarts."""

    failures: list[KafkaException | None]
    assigned: list[TopicPartition] = field(default_factory=list)
    commits: int = 0
    #: What `stranded()` answers, one by one (then False): librdkafka left it no broker.
    strands: list[bool] = field(default_factory=list)
    closed: bool = False

    def stranded(self) -> bool:
        return self.strands.pop(0) if self.strands else False

    def out_of_touch(self, seconds: float) -> bool:
        return False  # its failures last less than `seconds`

    def close(self) -> None:
        self.closed = True

    def _next(self) -> None:
        exc = self.failures.pop(0) if self.failures else None
        if exc is not None:
            raise exc

    def list_topics(self, topic: str, timeout: float = 0) -> _Meta:
        self._next()
        return _Meta({topic: _Topic({0: None, 1: None})})

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float = 0) -> tuple[int, int]:
        self._next()
        return 0, 100

    def assign(self, tps: list[TopicPartition]) -> None:
        self.assigned = tps

    def commit(self, offsets: Any = None, asynchronous: bool = True) -> None:
        self.commits += 1
        raise KafkaException(KafkaError(KafkaError._UNKNOWN_PARTITION, "no leader"))


def transient(code: int = KafkaError._UNKNOWN_PARTITION) -> KafkaException:
    return KafkaException(KafkaError(code, "Local: Unknown partition"))


def gave_up(exc: Exception, waited: float) -> KafkaUnreachableError:
    return KafkaUnreachableError(f"gave up after {waited:.0f} s: {exc}")


def assign(consumer: FlakyConsumer, offsets: dict[int, int], wait_s: float = 180.0,
           clock: Clock | None = None) -> set[int]:
    """The assignment as the sink's start-up waits for it (`sink.app._waited`)."""
    clock = clock or Clock()
    return retry_within(
        lambda left: app.assign_from_checkpoint(consumer, "scored", offsets,  # type: ignore[arg-type]
                                                timeout=left),
        worth_waiting, wait_s, gave_up, "assigning", clock.monotonic, clock.sleep)


def test_assigning_while_the_broker_restarts_is_retried() -> None:
    # Seen in the fault suite (exit 1 with a traceback): a sink restarted while the broker
    # restarted got "Failed to get watermark offsets: Local: Unknown partition".
    consumer = FlakyConsumer([None, transient(), transient(KafkaError._TIMED_OUT)])
    assert assign(consumer, {0: 5}) == {0, 1}
    assert [(tp.partition, tp.offset) for tp in consumer.assigned] == [(0, 5), (1, -2)]


def test_a_topic_without_partitions_in_the_metadata_is_retried() -> None:
    consumer = FlakyConsumer([])
    answers = [_Meta({"scored": _Topic({}, KafkaError(KafkaError.LEADER_NOT_AVAILABLE))}),
               _Meta({"scored": _Topic({0: None})})]
    consumer.list_topics = lambda topic, timeout=0: answers.pop(0)  # type: ignore[method-assign]
    assert assign(consumer, {}) == {0}


@pytest.mark.parametrize(("down_s", "assigned"), [(9.0, True), (10.0, True), (11.0, False)])
def test_assigning_waits_its_wait_then_gives_up_as_told(down_s: float, assigned: bool) -> None:
    # Tries take no time, pauses 1 s: a try at 10 s (the deadline) still runs; one failing
    # then is the end, phrased by the caller with the whole wait.
    clock = Clock()
    consumer = FlakyConsumer([])

    def metadata(topic: str, timeout: float = 0) -> _Meta:
        assert 0 < timeout <= 10.0  # never a try longer than the wait left
        if clock.now < down_s:
            raise transient()
        return _Meta({topic: _Topic({0: None})})
    consumer.list_topics = metadata  # type: ignore[method-assign]
    if assigned:
        assert assign(consumer, {}, 10.0, clock) == {0}
        return
    with pytest.raises(KafkaUnreachableError, match=r"gave up after 10 s: .*Unknown partition"):
        assign(consumer, {}, 10.0, clock)
    assert clock.now == 10.0


def test_a_fatal_assignment_error_is_raised_at_once() -> None:
    fatal = KafkaException(KafkaError(KafkaError._FENCED, "fenced", fatal=True))
    consumer = FlakyConsumer([fatal, None, None])
    with pytest.raises(KafkaException) as info:
        assign(consumer, {})
    assert info.value is fatal and len(consumer.failures) == 2


def test_a_retention_gap_is_raised_at_once() -> None:
    consumer = FlakyConsumer([])
    consumer.get_watermark_offsets = lambda tp, timeout=0: (50, 100)  # type: ignore[method-assign]
    with pytest.raises(KafkaWiringError, match="retention"):
        assign(consumer, {0: 7})


def _error_lines(stderr: str) -> list[str]:
    """The "PROG: error: ..." lines of a command's stderr (its log lines left out)."""
    return [line for line in stderr.splitlines() if ": error: " in line]


def _sink_after_start_up(consumer: FlakyConsumer, wait_s: int, monkeypatch: pytest.MonkeyPatch,
                         tmp_path: Path, capsys: pytest.CaptureFixture[str]
                         ) -> tuple[int, float, str]:
    """`python -m sink --once` whose broker answered and whose topics exist, then whose
    `consumer` fails as given: (exit code, seconds, stderr)."""
    import sink.app as sink_app
    from sink.__main__ import main

    monkeypatch.setattr(sink_app, "wait_for_broker", lambda *a, **k: 1)
    monkeypatch.setattr(sink_app, "check_rights", lambda *a, **k: None)  # no ACLs
    monkeypatch.setattr(sink_app, "ensure_topics", lambda *a, **k: None)
    monkeypatch.setattr(sink_app, "topic_id", lambda *a, **k: None)
    monkeypatch.setattr(sink_app, "make_watched_consumer", lambda *a, **k: consumer)
    monkeypatch.setenv("SINK_STARTUP_WAIT_S", str(wait_s))
    started = time.monotonic()
    code = main(["--once", "--exports", str(tmp_path / "exports")])
    return code, time.monotonic() - started, capsys.readouterr().err


def test_a_broker_gone_right_after_start_up_is_exit_4_in_one_line_within_the_start_up_wait(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # Before: the assignment's own 60 s, then a traceback (exit 1), or for a
    # transport error "no Kafka broker answered ... within 10 s" after 60 s.
    consumer = FlakyConsumer([transient()] * 10_000)
    code, took, stderr = _sink_after_start_up(consumer, 2, monkeypatch, tmp_path, capsys)
    assert code == ExitCode.KAFKA_UNREACHABLE and took < 8, (took, stderr)
    assert "Traceback" not in stderr
    assert _error_lines(stderr) == [
        "python -m sink: error: assigning transactions.scored: the Kafka cluster could not be "
        "reached for 2 s (SINK_STARTUP_WAIT_S; last error: Local: Unknown partition); a "
        "restart resumes exactly once, when the cluster is back"]


def test_a_failed_group_commit_is_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    consumer = FlakyConsumer([])
    app.commit(consumer, "scored", {0: 7})  # type: ignore[arg-type]
    assert consumer.commits == 1
    assert "not committed to the group" in caplog.text


@pytest.mark.parametrize("code", [KafkaError.TOPIC_AUTHORIZATION_FAILED,
                                  KafkaError.GROUP_AUTHORIZATION_FAILED])
def test_a_missing_right_while_assigning_is_not_waited_for(code: int) -> None:
    """Rights refused are a setting to fix (`shared.kafka.CONFIG_CODES`): waiting them out
    for SINK_STARTUP_WAIT_S and then saying the cluster could not be reached misled."""
    refused = KafkaException(KafkaError(code, "Broker: Topic authorization failed"))
    consumer = FlakyConsumer([refused, None, None])
    with pytest.raises(KafkaException) as info:
        assign(consumer, {})
    assert info.value is refused and len(consumer.failures) == 2


@pytest.mark.parametrize("error", [
    KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "Broker: Topic authorization failed"),
    KafkaError(KafkaError._FENCED, "fenced", fatal=True),
])
def test_a_kafka_error_waiting_cannot_fix_ends_the_sink_with_exit_2_in_one_line(
    error: KafkaError, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """It used to leave the sink as a raw KafkaException: a traceback and exit 1 (the code
    of rejected rows), after the whole wait for a missing right."""
    consumer = FlakyConsumer([KafkaException(error)] * 10)
    code, took, stderr = _sink_after_start_up(consumer, 30, monkeypatch, tmp_path, capsys)
    assert code == ExitCode.USAGE and took < 10, (took, stderr)
    assert "Traceback" not in stderr
    assert _error_lines(stderr) == [
        f"python -m sink: error: Kafka refused the sink's request ({error.str()}); waiting "
        "cannot fix this: check the topics, this client's rights and the KAFKA_ settings "
        "(README, Configuration)"]


def test_a_broker_gone_after_assignment_is_exit_4_without_a_made_up_wait(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A transport error past the start-up waits used to say "no Kafka broker answered ...
    within 10 s": a wait that never happened, and advice to start a broker that had
    answered. It now says the cluster stopped answering and what a restart does."""
    import sink.app as sink_app

    def gone(*_: object) -> None:
        raise KafkaException(KafkaError(KafkaError._TRANSPORT, "Broker transport failure"))

    monkeypatch.setattr(sink_app, "_loop", gone)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    code, took, stderr = _sink_after_start_up(FlakyConsumer([]), 30, monkeypatch, tmp_path,
                                              capsys)
    assert code == ExitCode.KAFKA_UNREACHABLE and took < 10, (took, stderr)
    assert "Traceback" not in stderr
    assert _error_lines(stderr) == [
        "python -m sink: error: the Kafka cluster at 127.0.0.1:9092 stopped answering (last "
        "error: Broker transport failure); every row up to the last checkpoint is kept and a "
        "restart continues from there exactly once, once the cluster is back"]


@dataclass
class _Files:
    """What a sink writer has in its files: the offsets to read from next."""

    offsets: dict[int, int]
    review_offsets: dict[int, int] = field(default_factory=dict)


def test_a_consumer_left_with_no_broker_is_replaced_at_the_offsets_in_the_files(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """librdkafka #5301 (docs/reliability.md): a consumer with no broker left never fetches
    again. The sink replaces it, assigned where its files end, the rows read since the
    checkpoint included, and only then: a consumer that still has a broker is kept."""
    import sink.app as sink_app
    from sink.settings import SinkSettings

    first, second = FlakyConsumer([], strands=[False, True]), FlakyConsumer([])
    made = [first, second]
    monkeypatch.setattr(sink_app, "make_watched_consumer", lambda *a, **k: made.pop(0))
    files = _Files({0: 7})
    reader = sink_app._Reader(SinkSettings(), files)  # type: ignore[arg-type]
    assert reader.open() == {0, 1}
    assert [(tp.partition, tp.offset) for tp in first.assigned[:2]] == [(0, 7), (1, -2)]
    assert reader.checked() is cast(Any, first) and not first.closed
    files.offsets = {0: 9, 1: 4}  # rows added since: in the files, not yet checkpointed
    assert reader.checked() is cast(Any, second)
    assert first.closed and reader.renewals == 1
    topic = SinkSettings().topics.scored_topic
    assert [(tp.topic, tp.partition, tp.offset) for tp in second.assigned[:2]] == [
        (topic, 0, 9), (topic, 1, 4)]
    assert reader.checked() is cast(Any, second)
