"""`review serve`'s follower: the reviews topic read from its start into `Outcomes`, and
whether what the page shows is current (`Lapse`).

A failed read never ends the follower without a word. A Kafka error it may outlive (a
broker gone or restarting, a transport error, a time-out, a refused authorization that an
administrator may yet grant) is retried with a back-off (`RETRY_FIRST_S`, doubled up to
`RETRY_MOST_S`); librdkafka's fatal error, or any other exception (a bug), ends it. Either
way the page and the log say, in one line, `reviews not followed since T: <reason>`, until
reading resumes: the page never passes off what it read before as current. Right after the
start it says it is still reading the topic (`CATCHING_UP`) until it has read to where the
topic ended when first asked.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from confluent_kafka import (
    OFFSET_BEGINNING,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from shared.errors import AuditstreamError, KafkaUnreachableError
from shared.kafka import (
    WatchedConsumer,
    is_fatal,
    make_watched_consumer,
    topic_gone,
    topic_id,
    topic_partitions,
)
from shared.reviews import (
    REVIEW_SCHEMA_VERSION,
    NewerReviewError,
    Review,
    decode_review,
    now_utc,
)
from shared.settings import REVIEWS_PASS_VARIABLE as PASS_VARIABLE
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

#: Reviews the follower shows at a time, each batch after the topic's id was checked.
FOLLOW_BATCH = 500
#: The longest the follower waits for the topic's id (s): the page is not held by it.
ID_TIMEOUT_S = 5.0
#: The pause after a read failed (s), doubled at each failure in a row up to `RETRY_MOST_S`.
RETRY_FIRST_S = 1.0
RETRY_MOST_S = 30.0
#: Seconds without a connected broker (its statistics, `shared.stranded`) after which the
#: page says its reviews are not followed: librdkafka keeps an outage to itself (its error
#: callback), `consume` just returns nothing. Past a broker restart's usual few seconds.
OUT_OF_TOUCH_S = 10.0
#: Reading counts as current again once it has gone this long (s) without an error, a
#: broker connected within `IN_TOUCH_S` (statistics come every second): an error that
#: comes back at each fetch (a refused authorization) is not current between two of them.
RECOVERED_S = 3.0
IN_TOUCH_S = 3.0
#: A broker connected within this long (s) counts as the follower's last word from Kafka,
#: which the page shows (`Outcomes.heard`): statistics come every second.
HEARD_WITHIN_S = 2.0
#: How often (s) the follower asks whether its topic still exists (a metadata request on
#: its consumer's connections); a deleted topic is otherwise an empty one to `consume`.
GONE_EVERY_S = 5.0
GONE_TIMEOUT_S = 2.0


#: Said on the page until the topic is read to where it ended when the follower first asked.
CATCHING_UP = ("reading the reviews topic from its start: a case decided before may still "
               "show as open")


@dataclass(frozen=True)
class Lapse:
    """Since when, and why, the reviews shown are not current; `fatal`: the follower ended."""

    since: datetime
    reason: str
    fatal: bool = False

    def line(self) -> str:
        then = self.since.strftime("%Y-%m-%dT%H:%M:%SZ")
        tail = ("; the follower has stopped: restart `auditstream review serve`" if self.fatal
                else "; retrying")
        return f"reviews not followed since {then}: {self.reason}{tail}"


class Outcomes:
    """Last outcome per review key in the topic's order (`put`, by the follower), and the
    page's own reviews (`put_own`) until the follower has read them: the page shows its
    mark at once, and a review published after it (an import, another page) is never
    hidden by it. Noted as the last call, a review the follower had already passed stood
    over the later one for good (a probe of 2026-12-06). `lapse`: why they are not current,
    None while the follower reads; `caught_up`: the topic read to where it ended when the
    follower first asked (a case decided before may still show as open until then)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, str] = {}
        self._read: dict[str, set[Review]] = {}  # every review the follower read, by key
        self._own: dict[str, Review] = {}
        self.lapse: Lapse | None = None
        self.caught_up = True
        #: When the follower last read with a broker connected (UTC), None before: the
        #: page says it, so its first seconds of an outage (before `OUT_OF_TOUCH_S`, when
        #: it says nothing else) do not pass for current.
        self.heard: datetime | None = None
        #: Partition -> what the page says of it while the follower holds it at a review a
        #: newer release wrote (`TopicFollower._hold`).
        self.held: dict[int, str] = {}

    def not_current(self) -> str:
        """What the page says above the queue when the outcomes are not current, or ""."""
        lapse = self.lapse
        said = [lapse.line() if lapse is not None else "" if self.caught_up else CATCHING_UP,
                *(line for _, line in sorted(dict(self.held).items()))]
        return "; ".join(line for line in said if line)

    def heard_line(self) -> str:
        """When the reviews shown were last read with Kafka answering, or ""."""
        heard = self.heard
        if heard is None:
            return ""
        return f"reviews as read from Kafka at {heard.strftime('%Y-%m-%dT%H:%M:%SZ')}"

    def put(self, review: Review) -> None:
        with self._lock:
            self._by_key[review.key] = review.outcome
            self._read.setdefault(review.key, set()).add(review)
            if self._own.get(review.key) == review:
                del self._own[review.key]

    def put_own(self, review: Review) -> None:
        with self._lock:
            if review not in self._read.get(review.key, ()):
                self._own[review.key] = review

    def snapshot(self) -> dict[str, str]:
        with self._lock:
            return self._by_key | {k: r.outcome for k, r in self._own.items()}


def _said(exc: BaseException) -> str:
    """An error's own words, one line: librdkafka's text, or the exception's."""
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    if isinstance(err, KafkaError):
        return err.str()
    if isinstance(exc, AuditstreamError | KafkaException):
        return str(exc.args[0] if exc.args else exc)
    return f"{type(exc).__name__}: {exc}"


class TopicFollower(threading.Thread):
    """Reads the reviews topic from its start, without a consumer group, until stopped.

    A topic deleted and created again under its name (its cluster id changed: asked before
    each batch is shown, as the sink does, `sink.app.same_reviews_topic`) is read again from
    its start; going on at the old topic's offsets skipped the new topic's first reviews
    without a word. The outcomes read from the old topic stay shown: deleting a topic
    withdraws no decision, and the sink keeps them too. Unknown (the cluster gives no id or
    does not answer) is not a change. A consumer librdkafka left with no broker (#5301,
    docs/reliability.md) is replaced, at the offsets read so far.
    """

    def __init__(self, kafka: KafkaSettings, topic: str, outcomes: Outcomes,
                 passed: frozenset[tuple[int, int]] = frozenset()) -> None:
        super().__init__(name="reviews-follower", daemon=True)
        self._kafka, self._topic = kafka, topic
        #: Positions of reviews to pass rather than hold (`TopicSettings.reviews_pass`).
        self._passed = passed
        self._clean_since = -float("inf")  # the last failure (monotonic)
        self.stopping = threading.Event()
        self._next: dict[int, int] = {}  # the next offset to read, by partition
        self._id = topic_id(kafka, topic)  # before the assignment: a later change is seen
        self._parts = 0  # partitions assigned (`_assigned`)
        self._consumer = self._assigned()
        self._ends: dict[int, tuple[int, int]] | None = None  # (low, high) when first asked
        self._outcomes = outcomes
        outcomes.caught_up = False
        #: Times the topic was found deleted and created again.
        self.renewals = 0
        self._gone_asked, self._gone = -float("inf"), False  # when asked last (monotonic)

    def _assigned(self) -> WatchedConsumer:
        parts = max(1, topic_partitions(self._kafka, self._topic))  # first: none left open
        self._parts = parts
        consumer = make_watched_consumer(self._kafka,
                                         f"auditstream-review-page-{secrets.token_hex(4)}")
        consumer.assign([TopicPartition(self._topic, p, self._next.get(p, OFFSET_BEGINNING))
                         for p in range(parts)])
        return consumer

    def run(self) -> None:
        wait = RETRY_FIRST_S
        try:
            while not self.stopping.is_set():
                try:
                    self._turn()
                    wait = RETRY_FIRST_S
                except (KafkaException, KafkaUnreachableError) as exc:
                    if is_fatal(exc):
                        raise
                    self._lapsed(_said(exc))
                    self.stopping.wait(wait)  # a stop ends the pause
                    wait = min(2 * wait, RETRY_MOST_S)
        except Exception as exc:  # fatal, or a bug: said on the page, not a dead thread
            self._lapsed(_said(exc), fatal=True)
            log.debug("the reviews follower ended", exc_info=True)
        finally:
            with contextlib.suppress(Exception):
                self._consumer.close()

    def _turn(self) -> None:
        """One batch: show its reviews, then say whether reading is current (an error in the
        batch is raised after the reviews read with it are shown)."""
        if self._consumer.stranded():
            self._replace()
        batch = self._consumer.consume(FOLLOW_BATCH, timeout=0.5)
        if not self._consumer.out_of_touch(HEARD_WITHIN_S):
            self._outcomes.heard = now_utc()
        records = [m for m in batch if m.error() is None]
        if records and not self._renewed():  # a renewed topic's batch is read again
            self._show(records)
        if not self._outcomes.caught_up:
            self._outcomes.caught_up = self._read_to_ends()
        errors = [e for m in batch if (e := m.error()) is not None
                  and e.code() != KafkaError._PARTITION_EOF]
        if errors:  # a fatal one first: `run` ends on it
            raise KafkaException(max(errors, key=lambda e: e.fatal()))
        if self._deleted():
            self._lapsed(f"reviews topic {self._topic} no longer exists (its outcomes read "
                         "before stay shown)")
        elif self._consumer.out_of_touch(OUT_OF_TOUCH_S):
            self._lapsed(f"no connection to Kafka at {self._kafka.bootstrap_servers} for "
                         f"{OUT_OF_TOUCH_S:.0f} s", ago=OUT_OF_TOUCH_S)
        elif (time.monotonic() - self._clean_since >= RECOVERED_S
              and not self._consumer.out_of_touch(IN_TOUCH_S)):
            self._current()

    def _deleted(self) -> bool:
        """Whether the topic no longer exists, asked every `GONE_EVERY_S`; unknown (the
        cluster does not answer) keeps the last answer."""
        now = time.monotonic()
        if now - self._gone_asked >= GONE_EVERY_S:
            self._gone_asked = now
            gone = topic_gone(self._consumer, self._topic, GONE_TIMEOUT_S)
            self._gone = self._gone if gone is None else gone
            if gone is False:
                self._regrown()
        return self._gone

    def _regrown(self) -> None:
        """Read a topic found with other partitions than assigned: created again with
        another count (read anew, `_renewed`), or partitions added (each new one read from
        its start). Before, only a record on an assigned partition made the follower look,
        so reviews on the others were never shown and the page said nothing (twelfth
        hostile probe, 2026-12-06)."""
        try:
            parts = topic_partitions(self._kafka, self._topic, timeout=GONE_TIMEOUT_S)
        except (KafkaException, KafkaUnreachableError):
            return  # asked again at the next check
        if parts in (0, self._parts) or self._renewed():
            return
        known = self._parts
        try:
            consumer = self._assigned()  # read on where it stands; the new ones from start
        except (KafkaException, KafkaUnreachableError):
            self._parts = known
            return
        log.warning("reviews topic %s has %d partitions, not %d: reading the new ones from "
                    "their start", self._topic, parts, known)
        old, self._consumer = self._consumer, consumer
        old.close()
        self._ends, self._outcomes.caught_up = None, False

    def _show(self, records: list[Message]) -> None:
        for msg in records:
            part, offset, value = msg.partition(), msg.offset(), msg.value()
            if part in self._outcomes.held:  # nothing of it shown from the held offset on
                continue
            if part is not None and offset is not None:
                self._next[part] = offset + 1
            if value is None:  # a tombstone: no review
                continue
            try:
                self._outcomes.put(decode_review(value))
            except NewerReviewError as exc:
                if (part, offset) not in self._passed:
                    self._hold(part, offset, exc)
                else:  # no release will read it (the operator says): not shown, as a bad one
                    log.warning("%s: passing the review at partition %s offset %s, as %s "
                                "asks: %s", self._topic, part, offset, PASS_VARIABLE, exc)
            except AuditstreamError as exc:  # a bad record is someone else's bug: skip
                log.warning("%s: skipping a bad review at partition %s offset %s (the sink "
                            "rejects it into sink_rejected.jsonl): %s", self._topic, part,
                            offset, exc)

    def _hold(self, part: int | None, offset: int | None, exc: NewerReviewError) -> None:
        """Show nothing of `part` from a review a newer release wrote on (skipped, its case
        was shown open, to be decided again over that decision; stopping the page let one
        such record end it): said in the page's status line and one warning; the follower
        reads the other partitions on. A replaced consumer reads it from there again."""
        if part is None or offset is None:
            return
        self._next[part] = offset
        line = (f"reviews of {self._topic} partition {part} from offset {offset} on are not "
                f"shown: a newer auditstream release wrote them (a review of schema version "
                f"{exc.version}; this release reads version {REVIEW_SCHEMA_VERSION}); run "
                "`review serve` of that release (or a later one) to see them; if none will, "
                f"set {PASS_VARIABLE}={part}:{offset} to pass it (docs/review.md, "
                "\"Rollbacks\")")
        self._outcomes.held[part] = line
        log.warning("%s", line)

    def _read_to_ends(self) -> bool:
        """Whether each partition is read to where it ended when first asked (a partition
        with nothing in it at once); unknown (the cluster does not answer) is not yet."""
        parts = [TopicPartition(self._topic, tp.partition)
                 for tp in self._consumer.assignment()]
        try:
            if self._ends is None:
                self._ends = {tp.partition: self._consumer.get_watermark_offsets(
                    tp, timeout=ID_TIMEOUT_S) for tp in parts}
            at = {tp.partition: tp.offset for tp in self._consumer.position(parts)}
        except KafkaException as exc:
            log.debug("%s: where it ends not known yet: %s", self._topic, _said(exc))
            return False
        return all(high <= low or at.get(p, OFFSET_BEGINNING) >= high
                   for p, (low, high) in self._ends.items())

    def _lapsed(self, reason: str, fatal: bool = False, ago: float = 0.0) -> None:
        """Note that the reviews are not current, since the first failure of a row; one
        log line when that starts, when its reason changes, and when the follower ends."""
        was = self._outcomes.lapse
        since = was.since if was is not None else (
            now_utc() - timedelta(seconds=ago))
        lapse = Lapse(since, reason, fatal)
        self._outcomes.lapse, self._clean_since = lapse, time.monotonic()
        if fatal:
            log.error("%s", lapse.line())
        elif was is None or was.reason != reason:
            log.warning("%s", lapse.line())

    def _current(self) -> None:
        was = self._outcomes.lapse
        if was is not None:
            self._outcomes.lapse = None
            log.warning("reviews followed again (not followed since %s)",
                        was.since.strftime("%Y-%m-%dT%H:%M:%SZ"))

    def _replace(self) -> None:
        """A consumer librdkafka left with no broker: a new one, where reading stands."""
        consumer = self._assigned()
        log.warning("%s: the reviews follower's consumer had no broker left (librdkafka "
                    "#5301): replaced, reading on from offsets %s", self._topic,
                    self._next or "at the start")
        old, self._consumer = self._consumer, consumer
        threading.Thread(target=old.close, daemon=True).start()  # its close may wait

    def _renewed(self) -> bool:
        """Whether the topic was deleted and created again since it was assigned; then it
        is assigned again from its start (the old assignment kept, and the question asked
        again at the next batch, while the cluster cannot say the new one's partitions)."""
        try:
            live = topic_id(self._kafka, self._topic, timeout=ID_TIMEOUT_S)
        except (KafkaException, KafkaUnreachableError) as exc:
            log.warning("%s: its id not checked: %s", self._topic, _said(exc))
            return False
        if self._id is None or live is None or live == self._id:
            self._id = self._id or live
            return False
        known, self._next = self._next, {}
        held, self._outcomes.held = self._outcomes.held, {}
        try:  # the old assignment kept until the new one is made: a failure ended the thread
            consumer = self._assigned()
        except (KafkaException, KafkaUnreachableError) as exc:
            self._next, self._outcomes.held = known, held
            log.warning("reviews topic %s was deleted and created again (id %s, now %s) but "
                        "is not read anew yet: %s; asked again at the next batch",
                        self._topic, self._id, live, _said(exc))
            return True
        log.warning("reviews topic %s was deleted and created again (id %s, now %s): reading "
                    "the new topic from its start; the outcomes of the old one stay shown",
                    self._topic, self._id, live)
        self._id = live
        self._consumer.close()
        self._consumer = consumer
        self._ends, self._outcomes.caught_up = None, False
        self.renewals += 1
        return True
