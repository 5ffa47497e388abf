"""The detector's transactional producer: begin, commit with the input offsets, abort.

Only a clean transaction commits: `ok` turns False once anything raised while it was open,
and `commit` then aborts instead. Retriable errors are retried a few times; what still fails
aborts (rows, snapshots and offsets roll back together). Being fenced (another instance
took the transactional.id), rights refused (`REFUSED`: an authorization error, named, never
taken for a fencing), or an abort refused for good (a non-retriable error), is a
`DetectorError`: a restart with the same transactional.id aborts whatever is open and resumes
exactly. Fenced while the open transaction is older than transaction.timeout.ms is not
another instance: the coordinator aborted the transaction for its age and bumped the epoch
(a slow batch and a broker restart on a loaded machine), handled as the producer's own
fatal error below. The age counts from the transaction's first send (`sending`), where the
coordinator's clock starts: begin_transaction is local, and the batch is scored between
the two. Any other fatal error is the producer's own (e.g. INVALID_TXN_STATE when ending a
transaction after a broker restart): the producer is replaced, which aborts its open
transaction, and `ProducerFailed` (an `Abortable`) has the caller rewind. So is an abort that
cannot finish for a passing reason: it timed out on every try (the coordinator out of reach
in a broker restart), or librdkafka refuses it with `_CONFLICT` because a commit that timed
out is still in progress on that producer (it does so at once, every time). The new
producer's init_transactions ends the old transaction (aborted, or committed if its commit
got through; tried again while the coordinator answers that it is still ending one,
`init_retriable`), and the rewind goes back to whatever offsets were committed, so nothing is
lost or doubled either way. `MAX_REPLACEMENTS` replacements in a row without a commit end
the process all the same.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

from detector.kafka_io import make_transactional_producer
from detector.metrics import Metrics, Watchdog
from detector.outage import is_outage
from detector.partition import Hook
from detector.settings import DetectorSettings
from shared.errors import AuditstreamError, ExitCode, KafkaWiringError
from shared.kafka import WatchedProducer, why
from shared.kafka_rights import SIGN_IN_SETTINGS
from shared.retry import exit_4, last_error, retry_within
from shared.settings import env_name

log = logging.getLogger("detector")

TXN_TIMEOUT_S = 10.0
#: The first producer's wait for init_transactions when none is given.
STARTUP_TIMEOUT_S = 60.0
#: The longest one try of init_transactions when the cluster may be out of reach (at
#: start-up, replacing a producer): below the watchdog, so a try that times out is retried
#: instead of the watchdog ending the process (exit 3) while librdkafka waits.
INIT_TRY_S = 20.0
#: How long a producer replacement waits out an unreachable cluster (as a rewind, 180 s).
REPLACE_RETRY_S = 180.0
RETRIES = 3
#: Fatal errors that mean another instance owns the transactional.id: a new producer would
#: fence that instance in turn, so the process ends instead.
FENCED = frozenset({KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                    KafkaError.INVALID_PRODUCER_EPOCH})
#: Fatal errors that mean the cluster refuses this client the transactional.id or
#: idempotent writes: rights refused, whatever the transaction's age (exit 2, named).
REFUSED = frozenset({KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                     KafkaError.CLUSTER_AUTHORIZATION_FAILED})
#: Producers replaced after a fatal error of their own, in a row without a commit, before
#: the process gives up (a producer failing at once every time is not transient).
MAX_REPLACEMENTS = 5


def init_retriable(exc: BaseException) -> bool:
    """Whether init_transactions may be called again on the same producer: a retriable
    error, not fatal, that is no outage. `CONCURRENT_TRANSACTIONS` is one: the coordinator
    still ends an earlier transaction of this id (a process killed -9 with one open, a
    broker just restarted); librdkafka retries it inside the try and returns it, retriable,
    when the try times out (seed 742 exited 2 on it, docs/reliability.md)."""
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    return (isinstance(err, KafkaError) and err.retriable() and not err.fatal()
            and not is_outage(exc))


class DetectorError(AuditstreamError):
    """The detector cannot go on (fenced by a newer instance, fatal client error, ...)."""


def fenced_error(s: DetectorSettings, exc: BaseException,
                 left: str | None = None) -> DetectorError | None:
    """The one exit of a producer fenced (`exc` a fatal error of `FENCED`; else None),
    wherever it surfaced: a transaction step, a new producer's init_transactions, a poll
    between batches, a callback, the shutdown. `left`: the zombie's line, once the group
    said a newer process holds the id (`Transactions.leave_to_newer`). Before, the paths
    outside a batch's steps ended with the generic "Kafka client error" line."""
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    if not (isinstance(err, KafkaError) and err.fatal() and err.code() in FENCED):
        return None
    return DetectorError(left or f"transactional producer {s.transactional_id} was fenced "
                         f"(another instance with the same id?): {err}")


class CoordinatorNotReady(KafkaWiringError):
    """init_transactions answered a retriable error for a whole wait (`init_retriable`:
    CONCURRENT_TRANSACTIONS, the coordinator still ending an earlier transaction of this
    id). The cluster is not ready for this id, as in an outage past its wait: exit 4, which
    a supervisor restarts (it was exit 2, a client error, which systemd does not)."""

    exit_code = ExitCode.KAFKA_UNREACHABLE


def not_ready(exc: Exception, doing: str, waited: float,
              setting: str | None) -> CoordinatorNotReady:
    """The exit-4 error of `_new_producer`'s wait, naming it and the last error; it keeps
    the error's code (`shared.kafka.kafka_code`)."""
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    return CoordinatorNotReady(
        f"{doing} was answered with a retriable error for {waited:.0f} s"
        f"{why(setting, last_error(exc))}: the transaction coordinator is not ready for this "
        "id (still ending an earlier transaction of it?); a restart resumes exactly once, "
        "when it is ready", err.name() if isinstance(err, KafkaError) else None)


class Abortable(Exception):
    """The open transaction was aborted (the caller rewinds the owned partitions)."""


class ProducerFailed(Abortable):
    """The producer failed fatally, not fenced: it was (or is to be) replaced; rewind."""


class _Unfinished(Exception):
    """A step that may not be given up (the abort) still failed retriably after the tries."""


class Transactions:
    """One transactional producer and the state of its open transaction."""

    def __init__(self, settings: DetectorSettings, watchdog: Watchdog, metrics: Metrics,
                 stopping: Callable[[], bool],
                 on_new_producer: Callable[[Producer], None] | None = None,
                 init_wait: float = STARTUP_TIMEOUT_S,
                 newer_instance: Callable[[], bool] = lambda: False) -> None:
        """`init_wait`: how long the first producer's init_transactions may take (what is
        left of the start-up's wait; see `_new_producer`); `newer_instance`: whether another
        process with this instance id is in the group."""
        self._s = settings
        self._newer_instance = newer_instance
        self._watchdog = watchdog
        self._metrics = metrics
        self._stopping = stopping
        self.on_new_producer = on_new_producer
        self.open = False
        #: When the open transaction began, on the watchdog's clock (local:
        #: begin_transaction sends nothing): the commit interval's (`open_s`) and `_overdue`'s
        #: "a pause since then".
        self.begun = 0.0
        #: When its first send went (a row, or its offsets; `sending`): the coordinator's
        #: transaction.timeout.ms runs from there (AddPartitionsToTxn, AddOffsetsToTxn).
        #: None: nothing sent, the coordinator has no transaction to time out.
        self.started: float | None = None
        #: False once anything raised inside the open transaction: it may only be aborted.
        self.ok = True
        #: Producers replaced after a fatal error since the last commit.
        self.replacements = 0
        self._failed_producer: Producer | None = None
        #: Why this process leaves its id to a newer one, once the group said so
        #: (`leave_to_newer`); None: not known to.
        self._left: str | None = None
        #: Whether a fence within the timeout has been met (the group asked about it once).
        self._fence_told = False
        #: When the current producer's init_transactions returned (the watchdog's clock).
        self._made_at = 0.0
        self.producer = self._new_producer(init_wait, env_name(DetectorSettings, "startup_wait_s"))

    def _new_producer(self, wait_s: float, setting: str | None = None) -> WatchedProducer:
        """A producer whose init_transactions, in tries of at most `INIT_TRY_S`, is tried
        again on a retriable error that is no outage (`init_retriable`) until `wait_s` (that
        `setting` sets, if one does) is spent, with one line; then `CoordinatorNotReady`
        (exit 4). Any other error is raised at once (fenced: the fenced `DetectorError`).
        An outage is the caller's wait: a new producer each try."""
        producer = make_transactional_producer(self._s)
        doing = f"transactional producer {self._s.transactional_id}: init_transactions"
        retry_within(lambda left: self._init(producer, min(INIT_TRY_S, left)), init_retriable,
                     wait_s, lambda exc, waited: not_ready(exc, doing, waited, setting),
                     doing, stopping=self._stopping, once=True)
        self._made_at = self._watchdog.now()
        return producer

    def _init(self, producer: WatchedProducer, timeout: float) -> None:
        try:
            with self._watchdog.guard("init_transactions"):
                producer.init_transactions(timeout)
        except KafkaException as exc:  # fenced as it starts: another instance is newer
            fenced = self.fenced_error(exc)
            if fenced is None:
                raise
            raise fenced from exc

    def begin(self) -> None:
        if not self.open:
            try:
                self.producer.begin_transaction()
            except KafkaException as exc:
                try:
                    self._raise_fatal("begin", exc)
                except ProducerFailed:  # it failed fatally in the background: a new one
                    self.replace_producer()
                    self.producer.begin_transaction()
                else:
                    raise exc
            self.open, self.begun, self.started, self.ok = True, self._watchdog.now(), None, True

    def sending(self) -> None:
        """Called before a send of the open transaction while `started` is None (by
        `KafkaOutput`; before the offsets, always): the first one starts its age."""
        if self.started is None:
            self.started = self._watchdog.now()

    def commit(self, offsets: list[TopicPartition], group_metadata: Callable[[], Any],
               hook: Hook | None = None, replace: bool = True) -> None:
        """Commit with the input offsets; on failure abort and raise `Abortable` (and, if
        `replace`, start over with a fresh producer, as `abort` does)."""
        if not self.ok:
            self.abort(replace)
            raise Abortable("the transaction holds a failed batch")
        at = (offsets[0].partition, offsets[0].offset) if offsets else (-1, -1)
        producer = self.producer
        try:
            if offsets:
                if hook is not None:
                    hook("send_offsets", *at)
                self.sending()
                self._call("send_offsets", lambda: producer.send_offsets_to_transaction(
                    offsets, group_metadata(), TXN_TIMEOUT_S))
            if hook is not None:
                hook("commit", *at)
            self._call("commit", lambda: producer.commit_transaction(TXN_TIMEOUT_S))
        except ProducerFailed:
            self._discard(replace)
            raise
        except Abortable:
            self.abort(replace)
            raise
        self.open = False
        self.replacements = 0
        self._metrics.committed()

    def abort(self, replace: bool = True) -> None:
        """Abort the open transaction; by default then start over with a fresh producer."""
        log.warning("aborting the open transaction")
        producer = self.producer
        try:
            self._call("abort", lambda: producer.abort_transaction(TXN_TIMEOUT_S),
                       abortable=False)
        except ProducerFailed:
            self._discard(replace)
            return
        except _Unfinished as exc:
            log.warning("the abort could not finish (%s); %s", exc,
                        "a new producer aborts the open transaction" if replace
                        else "the next start aborts the open transaction")
            self._failed_producer = producer  # counted by MAX_REPLACEMENTS
            self._discard(replace)
            return
        self.open = False
        self._metrics.aborted()
        if replace:
            self.replace_producer()

    def abandon(self) -> None:
        """Forget an open transaction that this producer cannot end (fenced, or failed at
        shutdown): the instance that fenced it, or the next start with the same
        transactional.id, aborts it (the broker does after the transaction timeout)."""
        if self.open:
            log.warning("leaving the open transaction to be aborted by the next owner")
        self.open, self.ok = False, False

    def _discard(self, replace: bool) -> None:
        """The producer failed fatally inside the open transaction: count it aborted and
        (`replace`) start over with a new producer, whose init_transactions aborts it; at
        shutdown the next start (or the transaction timeout) does."""
        self.open = False
        self._metrics.aborted()
        if replace:
            self.replace_producer()

    def stranded(self) -> bool:
        """Whether librdkafka has left the producer with no broker (its #5301,
        docs/reliability.md): it would send nothing again, each commit and abort only
        timing out. Its statistics come with `poll`."""
        self.producer.poll(0)
        return self.producer.stranded()

    def renew_stranded(self) -> bool:
        """Replace a stranded producer at once (not after its commit's and abort's timeouts):
        the new one's init_transactions aborts what the old one had open (it is fenced).
        Returns whether a transaction was open: the caller rewinds. Not counted with the
        fatal failures of `MAX_REPLACEMENTS` (`shared.stranded`'s back-off spaces these)."""
        was_open = self.open
        log.warning("the transactional producer has had no broker left (librdkafka #5301): "
                    "replacing it%s", ", its open transaction aborted" if was_open else "")
        if was_open:
            self._discard(True)
        else:
            self.replace_producer()
        return was_open

    def replace_producer(self) -> None:
        """A fresh producer with the same transactional.id (it fences the old one): after a
        failed send_offsets, librdkafka's next send_offsets was seen to block for good.
        Its init_transactions waits out an unreachable cluster for `REPLACE_RETRY_S` in
        tries of `INIT_TRY_S` (then exit 4), and is tried again on `init_retriable` errors
        within the same wait; a stop asked meanwhile ends the wait."""
        if self.producer_failed():
            self.replacements += 1
            if self.replacements > MAX_REPLACEMENTS:
                raise DetectorError(
                    f"transactional producer {self._s.transactional_id} failed fatally "
                    f"{self.replacements} times in a row without a commit; exiting")
        try:
            doing = "starting a new transactional producer"
            self.producer = retry_within(
                self._new_producer, is_outage,
                REPLACE_RETRY_S, exit_4(self._s.kafka, None, doing), doing,
                stopping=self._stopping)
        except KafkaException as exc:
            if not self._stopping():
                raise
            # SIGTERM during an outage: nothing is open, the shutdown needs no producer
            # (the next start's init_transactions ends what this one left).
            log.warning("no new transactional producer: stopping as asked (%s)", exc)
            return
        if self.on_new_producer is not None:
            self.on_new_producer(self.producer)

    def _call(self, step: str, call: Callable[[], None], abortable: bool = True) -> None:
        """One transaction step, retried while retriable (see the module doc)."""
        for attempt in range(RETRIES):
            try:
                with self._watchdog.guard(step):
                    call()
                return
            except KafkaException as exc:
                err = exc.args[0]
                if not isinstance(err, KafkaError):
                    raise
                self._raise_fatal(step, exc)
                # A failed send_offsets is not retried (a resumed call can block past its
                # timeout after a coordinator restart); aborting is always safe.
                if (err.retriable() and not err.txn_requires_abort() and not self._stopping()
                        and step != "send_offsets" and attempt < RETRIES - 1):
                    log.warning("retrying %s after: %s", step, err)
                    continue
                if not abortable:
                    if err.retriable():  # timed out, or a timed-out commit still in progress
                        raise _Unfinished(str(err)) from exc
                    raise DetectorError(f"transaction {step} failed ({err}); exiting so that "
                                        "a restart aborts the open transaction") from exc
                log.warning("%s failed, the transaction will be aborted: %s", step, err)
                raise Abortable(str(err)) from exc
        raise AssertionError("unreachable")

    def _raise_fatal(self, step: str, exc: KafkaException) -> None:
        """Raise `DetectorError` if fenced, `ProducerFailed` on any other fatal error."""
        err = exc.args[0]
        if not isinstance(err, KafkaError) or not err.fatal():
            return
        if err.code() in REFUSED:
            raise DetectorError(
                f"Kafka refused transactional producer {self._s.transactional_id} at {step} "
                f"({err.name()}: {err.str()}): this client lacks the rights; check the ACLs "
                "of its principal (Write and Describe on the transactional id, IdempotentWrite "
                f"on the cluster) and {SIGN_IN_SETTINGS}") from exc
        fenced = fenced_error(self._s, exc)
        age = self._overdue()
        if fenced is not None and age is None:
            # Another instance's fence: a zombie paused in its transaction before the first
            # send (no age at the coordinator) says so once the group lists that one. Asked
            # at the first fence only, not again at the shutdown's abort.
            if not self._fence_told:
                self._fence_told = True
                self.leave_to_newer(f"was fenced ({err})")
            raise self.fenced_error(exc) or fenced from exc
        # Past the timeout it may also be a zombie: paused (SIGSTOP, a frozen VM) while its
        # supervisor started a newer process with its id. A new producer would fence that one.
        if err.code() in FENCED and age is not None:
            self.leave_to_newer(f"was fenced while its transaction was open {age:.0f} s "
                                f"({err})")
            log.warning("%s: fenced after the transaction was open %.0f s, over "
                        "transaction.timeout.ms: the coordinator aborted it and bumped the "
                        "epoch (not another instance); replacing the producer and rewinding",
                        step, age)
        else:
            log.warning("%s: the transactional producer failed fatally (%s); replacing it "
                        "and rewinding", step, err)
        self._failed_producer = self.producer
        raise ProducerFailed(str(err)) from exc

    def fenced_error(self, exc: BaseException) -> DetectorError | None:
        """`fenced_error` of this producer's settings (the zombie's line once known)."""
        return fenced_error(self._s, exc, self._left)

    def leave_to_newer(self, what: str) -> None:
        """Raise `DetectorError` when the group lists a newer process with this instance id:
        this one is a zombie (paused while its supervisor started that one; only a process
        the watchdog saw paused asks), and a new producer of its own would fence the newer
        one. The group is asked once: the exit's shutdown, aborting with the fenced
        producer, is told the same (another DescribeConsumerGroups could abort the process,
        librdkafka #4605, or answer otherwise). Nor is it asked once this process has
        made a producer since its last pause long enough for a newer process to take the
        id (`_newest`): that producer fenced whichever process held the id before, so one
        listed now ends at its next transaction step; leaving too would leave nobody (a
        zombie woken between the newer one's init_transactions and its join asked, found
        none, made a producer, and left once that one had joined; both paused and woken
        together, one that made a producer and then saw its watchdog run a second late on
        a loaded machine would ask again, find the other and leave)."""
        if self._left is None and not self._newest() and self._newer_instance():
            self._left = (
                f"transactional producer {self._s.transactional_id} {what}, and another "
                f"instance with the same id is in group {self._s.group_id} (this process was "
                "paused?); it ends and leaves the id to that one, which goes on")
        if self._left is not None:
            raise DetectorError(self._left)

    def _newest(self) -> bool:
        """Whether the current producer was made after the last pause the watchdog saw
        (its marks brought up to date first) that could have let a newer process take the
        id: one of the session's length (the group may have dropped this member) or of
        transaction.timeout.ms (the coordinator aborted its transaction), whichever is
        shorter. Then it holds the id's newest epoch. A shorter pause is not one: a check
        of the watchdog a second late on a loaded machine counts as a pause elsewhere (the
        group asked, a step's bound restarted), not here."""
        s = self._s
        paused = self._watchdog.last_pause(
            min(s.session_timeout_ms, s.transaction_timeout_ms) / 1000)
        return paused is not None and self._made_at > paused

    def _age(self) -> float:
        """Seconds since the open transaction's first send (0: nothing sent)."""
        return 0.0 if self.started is None else self._watchdog.now() - self.started

    def _overdue(self) -> float | None:
        """The open transaction's age when it has outlived transaction.timeout.ms (None:
        not, or none open): the coordinator then aborts it and bumps the producer's epoch,
        which fences the producer. Counted from its first send: fenced with nothing sent,
        or within the timeout of that, it is another instance's doing (a gap from begin,
        the batch scored or a pause, is not the coordinator's: taken so, the new producer
        fenced that instance). The age returned is the one judged: the fenced line says it."""
        limit = self._s.transaction_timeout_ms / 1000
        if not self.open:
            return None
        age = self._age()
        if self.started is not None and age >= limit:
            return age
        # Paused (SIGSTOP, a frozen VM) since it began: judged from its begin, as before the
        # first-send clock, so a zombie woken first with nothing sent still asks the group
        # and, finding nobody, goes on with a new producer (the both-paused test's `older
        # first`: counted from its first send it exited 2 fenced, 2026-12-07). Its line
        # gives the age from the begin (from the first send it said "open 0 s").
        begun = self.open_s()
        if begun >= limit and self._watchdog.paused_within(0.0, since=self.begun):
            return begun
        return None

    def open_s(self) -> float:
        """Seconds since the open transaction began (the commit interval's clock)."""
        return self._watchdog.now() - self.begun

    def producer_failed(self) -> bool:
        """Whether the current producer is the one that last failed fatally."""
        return self._failed_producer is self.producer
