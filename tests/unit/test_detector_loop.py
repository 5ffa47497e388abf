"""The batch loop: offset order per partition, no double scoring, dead letters, snapshots."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Sequence
from typing import Any

import pytest

from detector.loop import BatchProcessor, CoreFailure, replay
from detector.partition import PartitionState, Record
from shared.codec import decode, encode
from shared.schemas import ScoredTransaction, TransactionView
from tests.unit.detector_fakes import (
    CountingEngine,
    FakeMessage,
    RecordingOutput,
    messages,
    tx,
)


def processor(out: RecordingOutput, partitions: tuple[int, ...] = (0, 1),
              snapshot_every: int = 1000) -> BatchProcessor:
    proc = BatchProcessor(out, snapshot_every)
    for p in partitions:
        proc.parts[p] = PartitionState(CountingEngine(), 0)
    return proc


def scored(out: RecordingOutput) -> list[ScoredTransaction]:
    return [decode(v, ScoredTransaction) for _, v in out.scored_rows]


def test_rows_carry_their_kafka_partition_and_offset_and_are_keyed_by_customer() -> None:
    out = RecordingOutput()
    proc = processor(out)
    touched = proc.process(messages(1, 0, [tx(i) for i in range(5)]))
    rows = scored(out)
    assert touched == {1}
    assert [(r.source_partition, r.source_offset) for r in rows] == [(1, i) for i in range(5)]
    assert [k for k, _ in out.scored_rows] == [r.customer_id.encode() for r in rows]
    assert proc.parts[1].next_offset == 5


def test_batch_cut_does_not_change_any_output() -> None:
    txs = [tx(i) for i in range(40)]
    whole, cut = RecordingOutput(), RecordingOutput()
    processor(whole).process(messages(0, 0, txs))
    proc = processor(cut)
    for lo in range(0, 40, 7):
        proc.process(messages(0, lo, txs[lo:lo + 7]))
    assert whole.scored_rows == cut.scored_rows


def test_already_processed_offsets_are_never_scored_twice() -> None:
    out = RecordingOutput()
    proc = processor(out)
    msgs = messages(0, 0, [tx(i) for i in range(10)])
    proc.process(msgs[:6])
    proc.process(msgs[3:])  # a prefetched overlap after a seek
    assert [r.source_offset for r in scored(out)] == list(range(10))


def test_records_of_partitions_not_owned_are_ignored() -> None:
    out = RecordingOutput()
    proc = processor(out, partitions=(0,))
    proc.process(messages(3, 0, [tx(1)]))
    assert out.scored_rows == [] and proc.counters.skipped == 1


def test_malformed_record_goes_to_dead_letters_and_the_batch_goes_on() -> None:
    out = RecordingOutput()
    proc = processor(out)
    msgs = messages(0, 0, [tx(0), tx(1), tx(2)])
    bad = FakeMessage(0, 1, b"{oops")
    proc.process([msgs[0], bad, FakeMessage(0, 2, encode(tx(1))),
                  FakeMessage(0, 3, msgs[2].value())])
    assert [r.source_offset for r in scored(out)] == [0, 2, 3]
    (record, headers), = out.dead_letters
    assert record.value() == b"{oops"
    assert dict(headers)["error.class"] == b"InvalidJSON"
    assert dict(headers)["source.offset"] == b"1"
    assert proc.parts[0].next_offset == 4


def test_a_batch_of_only_bad_records_still_moves_the_position() -> None:
    out = RecordingOutput()
    proc = processor(out)
    assert proc.process([FakeMessage(0, 0, b"x"), FakeMessage(0, 1, None)]) == {0}
    assert proc.parts[0].next_offset == 2 and len(out.dead_letters) == 2


def test_snapshot_is_taken_every_n_records_with_the_next_offset() -> None:
    out = RecordingOutput()
    proc = processor(out, snapshot_every=10)
    txs = [tx(i) for i in range(25)]
    for lo in range(0, 25, 4):
        proc.process(messages(0, lo, txs[lo:lo + 4]))
    assert [(p, off) for p, off, _ in out.snapshots] == [(0, 12), (0, 24)]
    restored = CountingEngine.restore(out.snapshots[-1][2].parts["engine"] or b"")
    assert sum(restored.counts.values()) == 24


def test_snapshot_plus_replay_rebuilds_the_exact_state() -> None:
    txs = [tx(i) for i in range(30)]
    out = RecordingOutput()
    proc = processor(out, snapshot_every=10)
    proc.process(messages(0, 0, txs[:24]))
    proc.process(messages(0, 24, txs[24:]))
    _, at, changes = out.snapshots[0]
    rebuilt = PartitionState(CountingEngine.restore(changes.parts["engine"] or b""), at)
    assert replay(rebuilt, messages(0, at, txs[at:]), until=27) == 27 - at
    assert rebuilt.next_offset == 27
    # the rebuilt engine now scores offsets 27.. exactly like the uninterrupted one did
    again = RecordingOutput()
    follow = BatchProcessor(again, 1000, parts={0: rebuilt})
    follow.process(messages(0, 27, txs[27:]))
    assert again.scored_rows == out.scored_rows[27:]


class _FailingOutput(RecordingOutput):
    """Raises on the `at`-th scored row (1-based) or on any dead letter."""

    def __init__(self, at: int = 0) -> None:
        super().__init__()
        self.at = at

    def scored(self, key: bytes, value: bytes) -> None:
        if len(self.scored_rows) + 1 == self.at:
            raise RuntimeError("produce failed")
        super().scored(key, value)

    def dead(self, record: Record, headers: list[tuple[str, bytes]]) -> None:
        raise RuntimeError("dead letter failed")


@pytest.mark.parametrize("at", [1, 2, 5])
def test_a_failing_produce_leaves_the_position_at_that_record(at: int) -> None:
    """The poison-pill circuit counts the failure at the record being written (the first,
    one inside, the last of the batch), though the position is no longer set per row."""
    proc = processor(_FailingOutput(at))
    with pytest.raises(RuntimeError, match="produce failed"):
        proc.process(messages(1, 10, [tx(i) for i in range(5)]))
    assert proc.position == (1, 10 + at - 1)


@pytest.mark.parametrize("bad", [0, 1, 3])
def test_a_failing_dead_letter_while_decoding_leaves_the_position_at_that_record(
        bad: int) -> None:
    msgs: list[Any] = messages(0, 0, [tx(i) for i in range(4)])
    msgs[bad] = FakeMessage(0, bad, b"{oops")
    proc = processor(_FailingOutput())
    with pytest.raises(RuntimeError, match="dead letter failed"):
        proc.process(msgs)
    assert proc.position == (0, bad)


def test_the_position_after_a_good_batch_is_cleared() -> None:
    proc = processor(RecordingOutput())
    proc.process(messages(0, 0, [tx(i) for i in range(3)]))
    assert proc.position is None


class _GcWatchingEngine(CountingEngine):
    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.seen: list[bool] = []

    def verdicts(self, txs: Sequence[TransactionView]) -> list[Any]:
        self.seen.append(gc.isenabled())
        if self.fail:
            raise ValueError("core bug")
        return super().verdicts(txs)


@pytest.mark.parametrize("fail", [False, True])
def test_the_cyclic_gc_waits_for_the_batch_and_is_back_on_after_it(fail: bool) -> None:
    engine = _GcWatchingEngine(fail)
    proc = BatchProcessor(RecordingOutput(), 1000, parts={0: PartitionState(engine, 0)})
    assert gc.isenabled()
    with contextlib.suppress(CoreFailure):
        proc.process(messages(0, 0, [tx(i) for i in range(3)]))
    assert engine.seen == [False] and gc.isenabled()


def test_a_model_version_is_that_of_the_last_row_written() -> None:
    proc = processor(RecordingOutput())
    proc.process(messages(0, 0, [tx(i) for i in range(7)]))
    # CountingEngine names the model by the rows it has seen // 5: the 7th row's is fake-1
    assert proc.parts[0].model_version == "fake-1"
