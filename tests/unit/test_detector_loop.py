"""The batch loop: offset order per partition, no double scoring, dead letters, snapshots."""

from __future__ import annotations

from detector.loop import BatchProcessor, replay
from detector.partition import PartitionState
from shared.codec import decode, encode
from shared.schemas import ScoredTransaction
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
