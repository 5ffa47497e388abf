"""The streaming detector: `transactions` -> detection core -> `transactions.scored`, exactly once.

Each loop turn consumes a batch, scores it per partition in offset order and produces the
rows, dead letters and due state snapshots inside the open Kafka transaction; the transaction
also carries the input offsets (`send_offsets_to_transaction`) and commits every
`commit_interval_ms`. Any abortable error aborts it and rewinds every owned partition to its
committed offset with its state restored, so a row is never lost nor published twice.

Only a clean stop commits: any exception between begin and commit marks the transaction
failed, and every path (the loop, rebalance callbacks, shutdown) then aborts it. A failed
batch is retried in place after the rewind, in smaller batches (halved per failure, doubled
back per commit) so that a fault that strikes every few thousand records cannot keep a
catch-up from ever committing; the same offset failing `poison_pill_failures` times in a
row stops the process with exit code 7 (detector.circuit). At a stop the clients always
close; being fenced at the last commit then exits 2, a last commit that aborted exits 0.
"""

from __future__ import annotations

import argparse
import logging
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from detector.circuit import FailureCircuit
from detector.kafka_io import (
    KafkaOutput,
    Restorer,
    ensure_detector_topics,
    make_group_consumer,
)
from detector.loop import (
    BatchProcessor,
    CoreEngineFactory,
    CoreFailure,
    EngineFactory,
    Hook,
    PartitionState,
    ReplayContext,
)
from detector.metrics import Metrics, Watchdog
from detector.settings import DetectorSettings, settings_from_args
from detector.txn import STARTUP_TIMEOUT_S, Abortable, DetectorError, Transactions
from shared.errors import AuditstreamError
from shared.kafka import wait_for_broker

log = logging.getLogger("detector")

#: A transaction step blocked this long ends the process (a restart resumes exactly once).
WATCHDOG_S = 45.0
#: How long a rewind after an abort waits out an unreachable cluster, and its pause per try.
REWIND_RETRY_S = 60.0
REWIND_RETRY_PAUSE_S = 1.0
#: The smallest consume batch after repeated failures (see the module doc).
MIN_RETRY_BATCH = 100

__all__ = ["Detector", "DetectorError", "main_from_args", "run_service"]


class Detector:
    """One detector process: a consumer-group member with a transactional producer."""

    def __init__(self, settings: DetectorSettings, factory: EngineFactory | None = None,
                 hook: Hook | None = None) -> None:
        """`hook`: the fault-injection seam of tests (see detector.loop.Hook); None in use."""
        self.settings = settings
        self._factory = factory or CoreEngineFactory(settings.core)
        self._topic = settings.topics.transactions_topic
        self._stopping = False
        self._failure: BaseException | None = None
        self._committed: dict[int, int] = {}
        self._circuit = FailureCircuit(
            settings.state_dir.expanduser() / f"{settings.transactional_id}.failures.json",
            settings.poison_pill_failures)
        self._dirty: set[int] = set()
        self._kept: dict[int, PartitionState] = {}
        #: Messages per consume(): `batch_size`, less after failures (see the module doc).
        self.batch_limit = settings.batch_size
        wait_for_broker(settings.kafka)  # KafkaUnreachableError (exit 4) after KAFKA_STARTUP_WAIT_S
        snapshot_partitions = ensure_detector_topics(settings)
        self.metrics = Metrics(settings.metrics_port, settings.metrics_host)
        self._watchdog = Watchdog(WATCHDOG_S)
        self._snapshot_partitions = snapshot_partitions
        self._txn = Transactions(settings, self._watchdog, self.metrics,
                                 lambda: self._stopping, self._new_output)
        self._consumer: Consumer = make_group_consumer(settings)
        output = KafkaOutput(self._txn.producer, settings, snapshot_partitions)
        self.processor = BatchProcessor(output, settings.snapshot_every, factory=self._factory,
                                        max_output_bytes=settings.max_output_bytes, hook=hook)
        # Restores share the poison ranges; the fault hook covers live batches only.
        self._restorer = Restorer(settings, self._factory, snapshot_partitions, ReplayContext(
            self._factory, self.processor.careful))

    def _new_output(self, producer: Producer) -> None:
        self.processor.output = KafkaOutput(producer, self.settings, self._snapshot_partitions)

    def stop(self) -> None:
        """Ask the loop to finish its turn, commit and leave (safe from a signal handler)."""
        self._stopping = True

    def run(self, until: Callable[[Detector], bool] | None = None) -> None:
        """Consume, score and commit until `stop()` (or `until` says so), then shut down."""
        s = self.settings
        self._consumer.subscribe([self._topic], on_assign=self._on_assign,
                                 on_revoke=self._on_revoke, on_lost=self._on_lost)
        log.info("detector %s consuming %s (group %s)", s.transactional_id, self._topic,
                 s.group_id)
        clean = False
        try:
            while not self._stopping:
                msgs = self._consumer.consume(num_messages=self.batch_limit,
                                              timeout=s.poll_timeout_s)
                self._raise_failure()
                records = [m for m in msgs if not self._is_error(m)]
                self._turn(records)
                if self.metrics.due(s.log_interval_s):
                    self.metrics.report(self._lag(), self._model_versions())
                if until is not None and until(self):
                    break
            clean = self._failure is None
        except AuditstreamError:
            raise
        except KafkaException as exc:
            raise DetectorError(f"Kafka client error: {exc.args[0]}") from exc
        except Exception as exc:
            self._count_failure(exc)
            raise
        finally:
            self._shutdown(clean)

    def _turn(self, records: list[Any]) -> None:
        """Process a batch and commit when due; a failure aborts, rewinds and goes on."""
        try:
            if records:
                self._process(records)
            if self._txn.open and (not records or time.monotonic() - self._txn.started
                                   >= self.settings.commit_interval_ms / 1000):
                self._commit()
        except CoreFailure as exc:
            self._txn.ok = False
            log.warning("the detection core failed on %s; rewinding to isolate the record",
                        exc)
            self.processor.careful.setdefault(exc.partition, []).append((exc.first, exc.last))
            self._shrink()
            self._abort_and_rewind()
        except AuditstreamError:
            self._txn.ok = False
            raise
        except Exception as exc:
            self._txn.ok = False
            self._count_failure(exc)
            log.error("batch failed, aborting and retrying: %s", exc, exc_info=exc)
            self._shrink()
            self._abort_and_rewind()

    def _shrink(self) -> None:
        self.batch_limit = max(min(MIN_RETRY_BATCH, self.settings.batch_size),
                               self.batch_limit // 2)

    def _count_failure(self, exc: BaseException) -> None:
        """Count a failure where it happened; raises PoisonPillError at the limit."""
        where = self.processor.position or self._restorer.ctx.position or self._txn_position()
        if where is not None:
            self._circuit.failed(where[0], where[1], exc)

    def _txn_position(self) -> tuple[int, int] | None:
        if not self._dirty:
            return None
        p = min(self._dirty)
        return p, self._committed.get(p, 0)

    def _abort_and_rewind(self) -> None:
        if self._txn.open:
            self._abort()
        self._rewind()

    # --- one batch ------------------------------------------------------------------

    def _process(self, records: list[Any]) -> None:
        self._txn.begin()
        start = time.perf_counter()
        before_scored, before_dead = (self.processor.counters.scored,
                                      self.processor.counters.dead)
        self._dirty |= self.processor.process(records)
        self._txn.producer.poll(0)
        c = self.processor.counters
        self.metrics.batch(c.scored - before_scored, c.dead - before_dead,
                           time.perf_counter() - start)

    def _is_error(self, msg: Any) -> bool:
        err = msg.error()
        if err is None:
            return False
        if err.fatal() or err.code() == KafkaError._FATAL:
            # e.g. a static member fenced across a broker restart: exit, a restart rejoins.
            raise DetectorError(f"fatal consumer error: {err}")
        log.warning("consumer error: %s", err)
        return True

    # --- transactions ---------------------------------------------------------------

    def _commit(self) -> bool:
        """Commit the open transaction with the offsets it covers; on abort, rewind."""
        try:
            self._commit_or_abort()
        except Abortable:
            self._shrink()
            self._rewind()
            return False
        self.batch_limit = min(self.settings.batch_size, self.batch_limit * 2)
        return True

    def _commit_or_abort(self) -> None:
        parts = self.processor.parts
        offsets = [TopicPartition(self._topic, p, parts[p].next_offset)
                   for p in sorted(self._dirty) if p in parts]
        try:
            self._txn.commit(offsets, self._consumer.consumer_group_metadata,
                             self.processor.hook)
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

    def _rewind(self) -> None:
        """After an abort: every owned partition back to its committed offset and state.

        The abort may have come from the cluster going away (a broker restart): a restore
        that cannot reach it is retried for `REWIND_RETRY_S` before the process gives up
        (exit 2; a restart resumes exactly once)."""
        owned = [TopicPartition(self._topic, p) for p in sorted(self.processor.parts)]
        self.processor.parts.clear()
        for tp in self._restore_retrying(owned, "rewinding after the abort"):
            self._consumer.seek(tp)

    def _restore_retrying(self, partitions: list[TopicPartition],
                          doing: str) -> list[TopicPartition]:
        """`_restore`, retried for `REWIND_RETRY_S` while the cluster cannot be reached (none
        once a stop is asked: nothing is open then, and the partitions' next owner restores)."""
        deadline = time.monotonic() + REWIND_RETRY_S
        while True:
            try:
                return self._restore(partitions)
            except KafkaException as exc:
                err = exc.args[0]
                if (isinstance(err, KafkaError) and err.fatal()) or time.monotonic() >= deadline:
                    raise
                log.warning("%s: %s; retrying", doing, err)
                time.sleep(REWIND_RETRY_PAUSE_S)
                if self._stopping:  # SIGTERM: nothing is open, the next owner restores
                    log.warning("%s: stopping as asked instead of waiting", doing)
                    return []

    # --- rebalances -----------------------------------------------------------------

    def _restore(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        """Give each partition its state as of its committed offset; return start positions."""
        committed = self._consumer.committed(partitions, timeout=STARTUP_TIMEOUT_S)
        out = []
        for tp in committed:
            p, offset = tp.partition, (tp.offset if tp.offset >= 0 else None)
            kept = self._kept.pop(p, None)
            if kept is not None and offset == kept.next_offset:
                state = kept
                log.info("partition %d kept in memory at offset %d", p, offset)
            else:
                start = time.perf_counter()
                state, plan = self._restorer.restore(p, offset)
                took = time.perf_counter() - start
                self.metrics.restored(took)
                log.info("partition %d restored (%s, replayed %d records) at offset %d in "
                         "%.2f s", p, "snapshot" if plan.use_snapshot else "empty state",
                         plan.replay_count, state.next_offset, took)
            self.processor.parts[p] = state
            self._committed[p] = state.next_offset
            out.append(TopicPartition(self._topic, p, state.next_offset))
        self._restorer.ctx.position = None
        self._kept.clear()
        return out

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        with self._callback("assign"):
            # Assigned right after a broker restart, the restore may not reach it at first.
            consumer.assign(self._restore_retrying(partitions, "restoring the assignment"))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        with self._callback("revoke"):
            clean = True
            if self._txn.open:
                try:
                    self._commit_or_abort()
                except Abortable:
                    clean = False
            revoked = {tp.partition for tp in partitions}
            for p in revoked & set(self.processor.parts):
                state = self.processor.parts.pop(p)
                if clean:
                    self._kept[p] = state

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        with self._callback("lost"):
            if self._txn.open:
                self._abort()
            else:
                # Lost partitions mean the cluster was out of reach; a producer that lived
                # through a broker restart was seen to block in send_offsets afterwards.
                self._txn.replace_producer()
            self.processor.parts.clear()
            self._kept.clear()

    @contextmanager
    def _callback(self, name: str) -> Iterator[None]:
        # An exception must not vanish inside librdkafka's callback: keep it, stop, re-raise.
        try:
            yield
        except Exception as exc:
            log.error("%s callback failed: %s", name, exc)
            self._txn.ok = False  # whatever is open now may only be aborted
            self._failure = exc
            self._stopping = True

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    # --- reporting and shutdown -------------------------------------------------------

    def _lag(self) -> dict[int, int]:
        lag = {}
        for p, state in self.processor.parts.items():
            _, high = self._consumer.get_watermark_offsets(TopicPartition(self._topic, p),
                                                           cached=True)
            lag[p] = max(0, high - state.next_offset) if high >= 0 else 0
        return lag

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
                error = exc if isinstance(exc, AuditstreamError) else DetectorError(
                    f"Kafka client error at shutdown: {exc.args[0]}")
        finally:
            # A producer that cannot end it leaves it to the instance that fenced it (or the
            # next start): the close's revoke callback must not try again.
            self._txn.abandon()
            self._consumer.close()
            self._restorer.close()
            try:
                self._txn.producer.flush(10)
            except KafkaException as exc:  # a producer that failed fatally has nothing to send
                log.warning("producer not flushed at shutdown: %s", exc)
            self.metrics.report(self._lag(), self._model_versions())
            log.info("detector stopped: %d scored, %d dead letters", self.metrics.total_records,
                     self.metrics.total_dead)
        if error is not None:
            raise error

    def _final_commit(self) -> None:
        """The clean stop's commit; an unexpected exception aborts it, as in the loop."""
        try:
            self._commit_or_abort()
        except (Abortable, AuditstreamError, KafkaException):
            raise
        except Exception as exc:
            self._txn.ok = False
            log.error("the commit at shutdown failed, aborting: %s", exc, exc_info=exc)
            try:
                self._count_failure(exc)  # PoisonPillError (exit 7) at the circuit's limit
            finally:
                self._abort(replace=False)
            raise Abortable(str(exc)) from exc


def run_service(settings: DetectorSettings, hook: Hook | None = None,
                factory: EngineFactory | None = None) -> int:
    """Run until SIGTERM/SIGINT; return the process exit code (`hook`, `factory`: tests')."""
    detector: Detector | None = None
    stop_early = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stop_early
        log.info("signal %d: finishing the current batch and shutting down", signum)
        stop_early = True
        if detector is not None:
            detector.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        detector = Detector(settings, factory, hook)
        if stop_early:
            detector.stop()
        detector.run()
    except KafkaException as exc:  # e.g. init_transactions timing out: one line, exit 2
        raise DetectorError(f"Kafka client error: {exc.args[0]}") from exc
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def main_from_args(args: argparse.Namespace) -> int:
    """Entry point of `auditstream detect`."""
    return run_service(settings_from_args(args))
