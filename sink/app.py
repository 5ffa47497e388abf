"""The sink's Kafka loop: `transactions.scored` -> exports folder, exactly once across crashes.

Partitions are assigned by hand (one sink owns one folder) at the offsets recorded in the
folder's checkpoint, so the files and the offsets can never disagree; committing them to
the consumer group too is only for lag monitoring (a commit that fails is only logged).

SIGTERM/SIGINT always end the sink with exit 0: during start-up (waiting for the broker,
assigning) at once, later after the current batch and a checkpoint. A broker down or
starting is waited for at start-up (`SinkSettings.startup_wait_s`, as the detector's), and
as long again for a broker restart while assigning; then exit 4.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from shared.errors import KafkaUnreachableError, KafkaWiringError
from shared.folderlock import FolderLock
from shared.freshness import beat_every
from shared.kafka import (
    TopicSpec,
    WatchedConsumer,
    client_versions,
    close_within,
    ensure_topics,
    is_transport_error,
    make_watched_consumer,
    startup_wait,
    topic_id,
    wait_for_broker,
    worth_waiting,
)
from shared.kafka_rights import RightsRefused, check_rights, refused_line
from shared.outputs import output_errors
from shared.retry import exit_4, last_error, retry_within
from shared.reviews import REVIEWS_PARTITIONS, REVIEWS_TOPIC_CONFIG
from sink.assign import (
    TRY_S,
    assign_from_checkpoint,
    commit,
    consumer_overrides,
    waiting,
)
from sink.clock import PartitionEnds
from sink.exports import OnRollup
from sink.folder import refuse_foreign
from sink.review_holds import release
from sink.settings import SinkSettings
from sink.state import Checkpoint, SinkStateError
from sink.status import mark_starting, mark_stopped
from sink.writer import Record, SinkWriter

log = logging.getLogger(__name__)
T = TypeVar("T")

_OUT_OF_RANGE = {KafkaError.OFFSET_OUT_OF_RANGE, KafkaError._AUTO_OFFSET_RESET}
@dataclass
class SinkResult:
    rows: int = 0  # rows appended by this run
    rejected: int = 0
    total_rows: int = 0  # rows in the folder
    offsets: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0  # the whole run
    loop_seconds: float = 0.0  # consuming and appending, without start-up and final rollups


class _StopRequested(BaseException):
    """SIGTERM/SIGINT during start-up: leave at once (nothing consumed yet)."""


class _Stopper:
    """SIGTERM/SIGINT ask the loop to finish its batch, checkpoint and exit; before the loop
    runs (`early`), they end the start-up at once."""

    def __init__(self, event: threading.Event | None) -> None:
        self.event = event or threading.Event()
        self.early = True

    def __enter__(self) -> threading.Event:
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self.event

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping after this batch", signum)
        self.event.set()
        if self.early:
            raise _StopRequested


#: A checkpoint or refresh that takes t seconds is not repeated within PACE x t (at least
#: the configured interval), so a large case book never keeps the loop from consuming
#: (bench/cases_bench.py: a checkpoint grows with the cases kept, `docs/assurance.md`).
PACE = 4.0
#: The setting of the start-up's wait, as messages name it (`SinkSettings.startup_wait_s`).
STARTUP_WAIT_SETTING = "SINK_STARTUP_WAIT_S"
#: The longest one try of creating the topics at start-up.
TOPICS_TIMEOUT_S = 30.0
#: Who the one line of a right refused names.
WHO = "the sink"
#: How long the sink waits for its consumer to close at exit.
CLOSE_TIMEOUT_S = 10.0
#: What a disk-full or read-only failure leaves behind, for its one-line message.
AFTER_OUTPUT_ERROR = ("every row up to the last checkpoint is kept and a restart continues "
                      "from there exactly once")


def run(settings: SinkSettings, *, once: bool = False, until_idle: float | None = None,
        reset: bool = False, stop: threading.Event | None = None,
        on_rollup: OnRollup | None = None) -> SinkResult:
    """Consume until stopped (or, with `once`/`until_idle`, until the topic is drained).

    `on_rollup(state, folder)` runs after each rollup refresh (report.html, at the root).

    The exports folder is locked first (`LockedError` if another sink holds it), then its
    status.csv marked as starting (`sink.status.mark_starting`); a disk-full or read-only
    folder is `OutputError`, the checkpoint left as it was.
    """
    folder = settings.exports_dir
    stopper = _Stopper(stop)
    with stopper:
        try:
            refuse_foreign(folder)  # before the lock: nothing created in a folder not ours
            with output_errors(folder, AFTER_OUTPUT_ERROR), FolderLock(folder, "sink"):
                mark_starting(folder)  # the last run's status vouches not for this one
                try:
                    return _run(settings, once, until_idle, reset, stopper, on_rollup)
                except _StopRequested:  # before the loop: not "starting" for good
                    stopper.early = False  # a second signal waits for the row
                    mark_stopped(folder)
                    raise
                except KafkaException as exc:  # the broker went away between start-up steps
                    if stopper.event.is_set():  # asked to stop: the checkpoint holds it all
                        log.warning("stopping: %s", exc.args[0] if exc.args else exc)
                        mark_stopped(folder)
                        return SinkResult()
                    if not is_transport_error(exc):
                        raise KafkaWiringError(
                            f"Kafka refused the sink's request ({last_error(exc)}); waiting "
                            "cannot fix this: check the topics, this client's rights and the "
                            "KAFKA_ settings (README, Configuration)") from exc
                    raise KafkaUnreachableError(
                        f"the Kafka cluster at {settings.kafka.bootstrap_servers} stopped "
                        f"answering (last error: {last_error(exc)}); {AFTER_OUTPUT_ERROR}, "
                        "once the cluster is back") from exc
        except _StopRequested:
            log.info("stopped during start-up; nothing consumed")
            return SinkResult()


def _run(settings: SinkSettings, once: bool, until_idle: float | None, reset: bool,
         stopper: _Stopper, on_rollup: OnRollup | None) -> SinkResult:
    started = time.monotonic()
    topic = settings.topics.scored_topic
    idle_limit = 0.0 if once else until_idle
    t = settings.topics
    live_id, reviews_id = _start_kafka(settings, [
        TopicSpec(topic, t.partitions, t.replication_factor),
        TopicSpec(t.reviews_topic, REVIEWS_PARTITIONS, t.replication_factor,
                  dict(REVIEWS_TOPIC_CONFIG)),
    ])
    writer = SinkWriter(settings.exports_dir, topic, settings.exports, reset=reset,
                        workers=settings.decode_workers, on_rollup=on_rollup,
                        passed=settings.topics.reviews_passed)
    try:
        same_topic(writer.cp, live_id)
        same_reviews_topic(writer.cp, reviews_id, t.reviews_topic)
        writer.tell_holds()  # the checkpoint's, before the held review is read again
    except BaseException:
        writer.close()
        raise
    reader = _Reader(settings, writer)
    run_info: dict[str, object] = {"group_id": settings.group_id, **client_versions()}
    result = SinkResult()
    start_rows, start_rejected = writer.rows, writer.cp.rejected
    try:
        parts = reader.open()
        writer.write_rollups(run_info, report=False)
        loop_started = time.monotonic()
        stopper.early = False  # from here a signal ends the loop after its batch
        _loop(reader, writer, settings, parts, idle_limit, stopper.event, run_info)
        result.loop_seconds = time.monotonic() - loop_started
        # The lag at the stop, for the last rollups and the stop row: a `--once` that drains
        # before its loop measured one would leave it unknown.
        run_info["lag_messages"] = waiting(reader.current, topic, writer.offsets, parts)
        writer.checkpoint()
        writer.write_rollups(run_info)
        if reader.commits:  # lag monitoring only: never renewed for it
            commit(reader.current, topic, writer.offsets)
        # Last: the exports no longer follow the stream ("stopped at", not "0 minutes behind").
        writer.stopped(run_info)
    finally:
        reader.close(CLOSE_TIMEOUT_S)
        writer.close()
    result.rows = writer.rows - start_rows
    result.rejected = writer.cp.rejected - start_rejected
    result.total_rows = writer.rows
    result.offsets = writer.offsets
    result.seconds = time.monotonic() - started
    log.info("sink stopped: %d rows appended (%d in folder), %d rejected, in %.1f s",
             result.rows, result.total_rows, result.rejected, result.seconds)
    return result


class _Reader:
    """The sink's consumer, assigned at the checkpoint's offsets (`open`); `checked`
    replaces it, assigned at the offsets of what is in the files, when librdkafka has left
    it no broker (librdkafka #5301, docs/reliability.md)."""

    def __init__(self, settings: SinkSettings, writer: SinkWriter) -> None:
        self.settings, self.writer = settings, writer
        self.consumer: WatchedConsumer | None = None
        #: Consumers replaced because they had no broker left.
        self.renewals = 0
        #: Whether offsets are committed to the group (until it is found refused: `refused`).
        self.commits = True

    def open(self) -> set[int]:
        """A new consumer, assigned; the scored topic's partitions."""
        s, writer = self.settings, self.writer
        topic, reviews = s.topics.scored_topic, s.topics.reviews_topic
        consumer = self.consumer = make_watched_consumer(
            s.kafka, s.group_id, **consumer_overrides(on_commit=self._committed))
        # Waited for as long as the start-up: a broker that answered late may still elect
        # leaders.
        return _waited(s, lambda left: assign_from_checkpoint(
            consumer, topic, writer.offsets, {reviews: writer.review_offsets}, left),
            worth_waiting, f"assigning {topic}")

    def refused(self, err: KafkaError | None) -> bool:
        """Whether `err` is the group refused (`GROUP_AUTHORIZATION_FAILED`: the
        coordinator's lookup, or a commit's result). The first time, one warning naming the
        right, not an exit (the group only shows lag tools the sink's progress: the checkpoint
        holds it), and no commits from then on (each failed, and the close waited 10 s for
        the coordinator). Seen, never asked: DescribeConsumerGroups while a broker's
        connection drops can abort the process (librdkafka #4605)."""
        if err is None or err.code() != KafkaError.GROUP_AUTHORIZATION_FAILED:
            return False
        if self.commits:
            self.commits = False
            group = [("group", self.settings.group_id, "READ")]
            log.warning("%s; until it is granted and the sink started again, it commits no "
                        "offsets to group %s, so group lag tools do not see its progress "
                        "(the exports are whole: its checkpoint holds it)",
                        refused_line(self.settings.kafka, WHO, group), self.settings.group_id)
        return True

    def _committed(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """`on_commit`: a commit's result, refused for the group or for each partition."""
        for error in [err, *(tp.error for tp in partitions or [])]:
            if self.refused(error):
                return

    @property
    def current(self) -> WatchedConsumer:
        """The consumer `open` made (or `checked` made last)."""
        assert self.consumer is not None, "the sink's consumer used before open()"
        return self.consumer

    def checked(self) -> WatchedConsumer:
        """The consumer, a new one if the one there was had no broker left."""
        if self.current.stranded():
            log.warning("the Kafka consumer has had no broker left (librdkafka #5301, "
                        "docs/reliability.md): replacing it")
            self.close(1.0)
            self.renewals += 1
            self.open()
        return self.current

    def close(self, seconds: float) -> None:
        # The checkpoint, not Kafka, holds the sink's progress: never hang on a close that
        # waits for a cluster that has gone away (nor for one that left the client).
        if self.consumer is not None:
            close_within(self.consumer, seconds)
            self.consumer = None


def same_topic(cp: Checkpoint, live: str | None) -> None:
    """Refuse a checkpoint of a topic deleted and created again under its name since (its
    offsets would skip the new topic's first rows, silently: found by a hostile probe);
    record the topic's id in a checkpoint without one (a new folder, or one of an older
    version)."""
    known = cp.extra.get("topic_id")
    if known and live and known != live:
        raise SinkStateError(
            f"topic {cp.topic!r} was deleted and created again since this folder's checkpoint "
            f"(its id was {known}, is {live}): the offsets it recorded are the old topic's; "
            "use another folder or --reset")
    if live:
        cp.extra["topic_id"] = live


def same_reviews_topic(cp: Checkpoint, live: str | None, name: str) -> None:
    """Read a reviews topic deleted and created again since this folder's checkpoint from
    its start: the offsets recorded are the old topic's, and going on from them skipped the
    new topic's first reviews without a word (a probe of 2026-12-06). The outcomes the old
    topic gave stay in the book and in reviews_log.csv (deleting a topic withdraws no
    decision). Record the topic's id in a checkpoint without one."""
    known = cp.extra.get("reviews_topic_id")
    if known and live and known != live:
        log.warning("reviews topic %s was deleted and created again since this folder's "
                    "checkpoint (id %s, now %s): reading the new topic from its start; the "
                    "%d outcomes of the old one stay as logged in reviews_log.csv "
                    "(docs/review.md)", name, known, live,
                    len(cp.extra.get("reviews", {}).get("current", {})))
        cp.extra["review_offsets"] = {}
        release(cp.extra)  # its offsets start again: so do its holds
    if live:
        cp.extra["reviews_topic_id"] = live


def _reviews_topic_renewed(reader: _Reader, settings: SinkSettings) -> bool:
    """Whether the reviews topic was deleted and created again while the sink runs (asked
    of the cluster before each batch of reviews is taken, a human-sized stream): then its
    offsets start again (`same_reviews_topic`) and the consumer is assigned anew, the batch
    left for the new assignment to read. Unknown (the cluster gives no id or does not
    answer) is not a change."""
    cp, name = reader.writer.cp, settings.topics.reviews_topic
    before = cp.extra.get("reviews_topic_id")
    try:
        live = topic_id(settings.kafka, name, timeout=TRY_S)
    except (KafkaException, KafkaUnreachableError) as exc:
        log.warning("%s: its id not checked: %s", name, exc.args[0] if exc.args else exc)
        return False
    same_reviews_topic(cp, live, name)
    if before is None or live is None or live == before:
        return False
    reader.close(1.0)
    reader.open()
    return True


def _start_kafka(settings: SinkSettings, specs: list[TopicSpec]) -> list[str | None]:
    """The start-up's first Kafka steps: the broker answers, the topics exist (`_waited`);
    the id of each (`same_topic`, `same_reviews_topic`)."""
    def connect(left: float) -> list[str | None]:  # one try, within `left` s
        kafka = settings.kafka.model_copy(update={"startup_wait_s": left})
        wait_for_broker(kafka, timeout=left, setting=STARTUP_WAIT_SETTING)
        ensure_topics(kafka, specs, timeout=min(TOPICS_TIMEOUT_S, left))
        # before anything is read: a topic it may not read is one line naming the right
        check_rights(kafka, WHO, [("topic", s.name, "READ") for s in specs])
        return [topic_id(kafka, s.name, timeout=min(TOPICS_TIMEOUT_S, left)) for s in specs]

    return _waited(settings, connect, _out_of_reach, "starting")


def _out_of_reach(exc: Exception) -> bool:
    """Out of reach, or (a broker restarting) the topics not in its metadata yet."""
    return isinstance(exc, KafkaUnreachableError) or (
        isinstance(exc, KafkaWiringError) and exc.code == "_UNKNOWN_TOPIC")


def _waited(settings: SinkSettings, call: Callable[[float], T],
            waitable: Callable[[Exception], bool], doing: str) -> T:
    """`call(seconds_left)`, tried again while `waitable` says the cluster is out of reach,
    for `startup_wait_s` (as the detector's start-up), then exit 4 naming it; every "waiting
    for Kafka" line meanwhile says how long is left. A signal ends it at once (`_Stopper`)."""
    wait_s = settings.startup_wait_s
    with startup_wait(settings.kafka, wait_s, STARTUP_WAIT_SETTING):
        return retry_within(call, waitable, wait_s,
                            exit_4(settings.kafka, STARTUP_WAIT_SETTING, doing), doing)


def _loop(reader: _Reader, writer: SinkWriter, settings: SinkSettings, parts: set[int],
          idle_limit: float | None, stop: threading.Event, run_info: dict[str, object]) -> None:
    ends = PartitionEnds(parts, settings.idle_partition_s)
    try:
        _turns(reader, writer, settings, parts, idle_limit, stop, run_info, ends)
    finally:  # stopped or drained: a partition at its end holds nothing back any more
        writer.settle(parts - ends.at_end)


def _turns(reader: _Reader, writer: SinkWriter, settings: SinkSettings, parts: set[int],
           idle_limit: float | None, stop: threading.Event, run_info: dict[str, object],
           ends: PartitionEnds) -> None:
    topic, reviews_topic = settings.topics.scored_topic, settings.topics.reviews_topic
    consumer = reader.checked()
    review_parts = {tp.partition for tp in consumer.assignment() if tp.topic == reviews_topic}
    reviews_at_end: set[int] = set()
    last_data = last_cp = last_rollup = last_report = last_beat = time.monotonic()
    rolled = writer.changes
    cp_gap, roll_gap = settings.checkpoint_interval_s, settings.rollup_interval_s
    while not stop.is_set():
        records: list[Record] = []
        reviews: list[Record] = []
        # (partition, rows before it, when): `ends` takes them with the rows once a batch
        eofs: list[tuple[int, int, float]] = []
        consumer = reader.checked()
        quiet = ends.quiet(time.monotonic())
        for msg in consumer.consume(settings.batch_size, timeout=0.2):
            err, part, offset = msg.error(), msg.partition(), msg.offset()
            if msg.topic() == reviews_topic:  # review outcomes (sink.reviews_state)
                if err is None and part is not None and offset is not None:
                    reviews.append((part, offset, msg.value()))
                    reviews_at_end.discard(part)
                elif err is not None and err.code() == KafkaError._PARTITION_EOF:
                    reviews_at_end.add(part if part is not None else -1)
                elif err is not None and err.code() in _OUT_OF_RANGE and \
                        _reviews_topic_renewed(reader, settings):
                    consumer, reviews = reader.checked(), []
                    break
                elif err is not None and (err.fatal() or err.code() in _OUT_OF_RANGE):
                    raise KafkaWiringError(f"{reviews_topic}: consumer error: {err.str()}",
                                           err.name())
                elif err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                    raise RightsRefused(refused_line(settings.kafka, WHO, [  # retried for ever
                        ("topic", reviews_topic, "READ")]), err.name())
                continue
            if err is None and part is not None and offset is not None:
                records.append((part, offset, msg.value()))
            elif err is None:
                continue
            elif err.code() == KafkaError._PARTITION_EOF and part is not None:
                eofs.append((part, len(records), time.monotonic()))
            elif err.code() in _OUT_OF_RANGE:  # the next row is gone: the exports would skip it
                raise KafkaWiringError(
                    f"{topic}: partition {part} no longer holds the offset where this "
                    f"folder's checkpoint goes on ({err.str()}): retention deleted rows not "
                    "yet exported, or the topic was emptied; nothing skipped. Export into "
                    "another folder or start again with --reset", err.name())
            elif err.fatal():
                raise KafkaWiringError(f"{topic}: consumer error: {err.str()}", err.name())
            elif err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:  # retried for ever
                raise RightsRefused(refused_line(settings.kafka, WHO, [("topic", topic,
                                                                         "READ")]), err.name())
            elif reader.refused(err):  # the coordinator's lookup: said once
                continue
            else:  # transient (broker restart, network): librdkafka retries on its own
                log.warning("%s: %s", topic, err.str())
        ends.took(records, eofs)  # an error raised above ends the run: no checkpoint follows
        now = time.monotonic()
        # Partitions not at their end hold the stream's watermark back (`sink.clock`); one
        # at its end, only for `idle_partition_s` (never every day open for ever).
        if records and quiet:
            ends.resumed(now)
        held = ends.holding(now)
        if records:
            writer.add(records, held)
            last_data = now
        else:
            writer.settle(held)
        if reviews and _reviews_topic_renewed(reader, settings):
            # read again from the new topic's start; the records still to write go first
            reviews, consumer = [], reader.checked()
        if reviews:
            writer.add_reviews(reviews, reviews_topic)
            last_data = now
        roll_due = writer.changes != rolled and now - last_rollup >= roll_gap
        if writer.pending_rows and (roll_due or writer.pending_rows >= settings.checkpoint_rows
                                    or now - last_cp >= cp_gap):
            writer.checkpoint()
            if reader.commits:
                commit(consumer, topic, writer.offsets)
            last_cp = now
            cp_gap = max(settings.checkpoint_interval_s, PACE * (time.monotonic() - now))
        beat_due = now - last_beat >= beat_every(settings.rollup_interval_s)
        if roll_due or beat_due:
            run_info["lag_messages"] = waiting(consumer, topic, writer.offsets, parts)
            last_beat = now
        if beat_due and not roll_due:
            writer.heartbeat(run_info)  # idle or between refreshes: the sink is alive
        if roll_due:  # always right after a checkpoint: rollups describe durable rows only
            report = now - last_report >= settings.report_interval_s
            started = time.monotonic()
            writer.write_rollups(run_info, report=report)
            rolled, last_rollup = writer.changes, now
            roll_gap = max(settings.rollup_interval_s, PACE * (time.monotonic() - started))
            last_report = now if report else last_report
            log.info("%d rows in %s, offsets %s", writer.rows, writer.folder, writer.offsets)
        if (idle_limit is not None and ends.at_end >= parts and reviews_at_end >= review_parts
                and now - last_data >= idle_limit):
            log.info("%s drained", topic)
            return


