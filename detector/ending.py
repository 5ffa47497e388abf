"""How the detector's open transaction ends, and how the detector itself ends.

A commit carries the input offsets of the partitions the transaction moved; commit or abort,
nothing is pending afterwards. A failure is counted where it struck (the poison-pill
circuit). At shutdown only a clean stop commits; the clients always close; being fenced at
that commit is raised once they are (exit 2), a commit that aborted leaves the exit at 0.
Part of `detector.app.Detector` (a mixin: the attributes below are the detector's).
"""

from __future__ import annotations

import logging

from confluent_kafka import Consumer, KafkaException, TopicPartition

from detector.circuit import FailureCircuit
from detector.kafka_io import Restorer
from detector.loop import BatchProcessor
from detector.metrics import Metrics
from detector.txn import Abortable, DetectorError, Transactions
from shared.errors import AuditstreamError, PoisonPillError
from shared.kafka_rights import RightsAdmin

log = logging.getLogger("detector")


class TransactionEnds:
    """Commit, abort, failure counting and shutdown of a `Detector`."""

    _topic: str
    _txn: Transactions
    _consumer: Consumer
    _restorer: Restorer
    _rights: RightsAdmin
    _circuit: FailureCircuit
    processor: BatchProcessor
    metrics: Metrics
    #: Partitions the open transaction moved, and each partition's committed offset.
    _dirty: set[int]
    _committed: dict[int, int]
    _failure: BaseException | None
    #: True once the shutdown closes the clients: the close's callbacks start nothing new.
    _closing: bool

    def _count_failure(self, exc: BaseException) -> None:
        """Count a failure where it happened: the record being handled, else the open
        transaction (`FailureCircuit`); raises PoisonPillError at the limit. A state
        checkpoint's is the transaction's, at that partition's committed offset: no record
        is to blame (nor skipped) for it.

        The record's position is used up: a later failure (a rewind's) is not that record's."""
        record = self.processor.position or self._restorer.ctx.position
        state_of = self.processor.checkpointing
        self.processor.position = self._restorer.ctx.position = None
        self.processor.checkpointing = None
        if record is None and state_of is not None:
            where: tuple[int, int] | None = (state_of, self._committed.get(state_of, 0))
        else:
            where = record or self._txn_position()
        if where is not None:
            self._circuit.failed(where[0], where[1], exc, record=record is not None)

    def _txn_position(self) -> tuple[int, int] | None:
        if not self._dirty:
            return None
        p = min(self._dirty)
        return p, self._committed.get(p, 0)

    def _commit_or_abort(self, replace: bool = True) -> None:
        """Commit the open transaction; a failed one is aborted (`Transactions.commit`)."""
        parts = self.processor.parts
        offsets = [TopicPartition(self._topic, p, parts[p].next_offset)
                   for p in sorted(self._dirty) if p in parts]
        try:
            self._txn.commit(offsets, self._consumer.consumer_group_metadata,
                             self.processor.hook, replace)
        finally:
            if not self._txn.open:
                self._dirty.clear()  # committed or aborted: nothing is pending any more
        self._committed.update({tp.partition: tp.offset for tp in offsets})
        self._circuit.progress(self._committed)

    def _abort(self, replace: bool = True) -> None:
        try:
            self._txn.abort(replace)
        finally:
            if not self._txn.open:
                self._dirty.clear()

    def _partition_lag(self) -> dict[int, int | None]:
        """Messages waiting in each owned partition, from the consumer's cached partition
        ends (no request); None where the end is not known yet."""
        lag: dict[int, int | None] = {}
        for p, state in list(self.processor.parts.items()):
            _, high = self._consumer.get_watermark_offsets(TopicPartition(self._topic, p),
                                                           cached=True)
            lag[p] = max(0, high - state.next_offset) if high >= 0 else None
        return lag

    def _lag(self) -> dict[int, int]:
        """`_partition_lag` for the report line, an end not known yet as 0."""
        return {p: n or 0 for p, n in self._partition_lag().items()}

    def _model_versions(self) -> set[str]:
        return {s.model_version for s in self.processor.parts.values() if s.model_version}

    def _shutdown(self, clean: bool) -> None:
        """Only a clean stop commits the open transaction; any other ending aborts it.

        The clients always close. After a clean stop, an `AuditstreamError` at the commit
        (being fenced: exit 2) is raised once they are closed; a commit that aborted leaves
        the exit at 0 (the transaction rolled back whole: the partitions' next owner re-reads
        its rows, nothing lost nor doubled). After any other ending its error propagates."""
        error: AuditstreamError | None = None
        try:
            if self._txn.open:
                if clean and self._txn.ok and self._failure is None:
                    self._final_commit()
                else:
                    self._txn.ok = False
                    self._abort(replace=False)
        except Abortable as exc:
            log.warning("the last transaction was aborted at shutdown (%s): its rows are "
                        "re-read from the committed offsets by the next owner", exc)
        except (AuditstreamError, KafkaException) as exc:
            log.warning("open transaction not committed at shutdown: %s", exc)
            if clean:
                error = exc if isinstance(exc, AuditstreamError) else (
                    self._txn.fenced_error(exc)
                    or DetectorError(f"Kafka client error at shutdown: {exc.args[0]}"))
        finally:
            # A producer that cannot end it leaves it to the instance that fenced it (or the
            # next start): the close's revoke callback must not try again.
            self._txn.abandon()
            # Read before the close: its revoke gives every partition up (the line said
            # `lag 0, partitions []`), and a closed consumer has no watermarks.
            lag, versions = self._lag(), self._model_versions()
            self._closing = True
            self._consumer.close()
            self._restorer.close()
            self._rights.close()
            try:
                self._txn.producer.flush(10)
            except KafkaException as exc:  # a producer that failed fatally has nothing to send
                log.warning("producer not flushed at shutdown: %s", exc)
            self.metrics.report(lag, versions)
            log.info("detector stopped: %d scored, %d dead letters", self.metrics.total_records,
                     self.metrics.total_dead)
        if error is not None:
            raise error

    def _final_commit(self) -> None:
        """The clean stop's commit; an unexpected exception aborts it, as in the loop.

        A failed commit does not replace the producer: a new one's init_transactions could
        wait out a broker outage at shutdown; the next start aborts what is left open."""
        try:
            self._commit_or_abort(replace=False)
        except (Abortable, AuditstreamError, KafkaException):
            raise
        except Exception as exc:
            self._txn.ok = False
            log.error("the commit at shutdown failed, aborting: %s", exc, exc_info=exc)
            try:
                self._count_failure(exc)  # PoisonPillError (exit 7) at the circuit's limit
            except PoisonPillError:
                # Exit 7, as the circuit just logged: an abort failing too (exit 2) must not
                # replace it; the next start aborts what is left open.
                try:
                    self._abort(replace=False)
                except (AuditstreamError, KafkaException) as failed:
                    log.warning("the abort at shutdown failed too: %s", failed)
                raise
            self._abort(replace=False)
            raise Abortable(str(exc)) from exc
