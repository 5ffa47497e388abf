"""Idempotence on transaction_id: duplicates within the horizon are dead letters, the index
survives snapshots and replays identically, and old snapshots without it still restore."""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import detector.dedupe as dedupe
from detector.checkpoints import CheckpointAssembler
from detector.dedupe import DedupeIndex, event_minute, id_hash, id_hashes
from detector.loop import BatchProcessor, replay
from detector.partition import PartitionState
from detector.resume import partition_state
from detector.snapshots import pack_state, unpack_state
from shared.codec import decode, encode
from shared.schemas import ScoredTransaction, Transaction, TransactionView
from tests.unit.detector_fakes import (
    CountingEngine,
    CountingFactory,
    FakeCluster,
    RecordingOutput,
    drained,
    fake_detector,
    messages,
    tx,
)

DAY = 86400.0


def at(t: Transaction, minutes: float) -> Transaction:
    return t.model_copy(update={"timestamp": tx(0).timestamp + timedelta(minutes=minutes)})


@pytest.mark.parametrize(("gap", "duplicate"), [(1439, True), (1440, True), (1441, False)])
def test_a_repeat_is_a_duplicate_up_to_the_horizon_inclusive(gap: int, duplicate: bool) -> None:
    index = DedupeIndex(DAY)
    assert index.check([at(tx(1), 0)], [5]) == [None]
    steps = [at(tx(2), 700), at(tx(3), gap)]  # move the watermark (each within a horizon)
    assert index.check([*steps, at(tx(1), gap)], [6, 7, 8]) == [
        None, None, 5 if duplicate else None]


def test_the_horizon_is_event_time_not_arrival_order() -> None:
    index = DedupeIndex(DAY)
    index.check([at(tx(1), 0), *(at(tx(9 + k), 1000 * k) for k in range(1, 6))],
                list(range(6)))  # the watermark is now 5000
    # a late copy of 1 (its own timestamp early) is still measured against the watermark
    assert index.check([at(tx(1), 10)], [6]) == [None]


@pytest.mark.parametrize("future", [49 + DAY / 60 + 1, 40 * 365 * 1440])  # a day and a minute
# past the watermark (49), 40 years
def test_one_row_dated_far_ahead_does_not_switch_the_check_off(future: float) -> None:
    """One row with a mistyped year moved the watermark past every id seen: a replay of the
    file was then scored twice (a hostile probe: a whole partition). It is noted, not
    followed, until `CONFIRM` rows that far ahead say the stream has moved on."""
    index = DedupeIndex(DAY)
    first = [at(tx(i), i) for i in range(50)]
    assert index.check(first, list(range(50))) == [None] * 50
    assert index.check([at(tx(99), future)], [50]) == [None]
    assert index.check(first, list(range(51, 101))) == list(range(50))  # all duplicates


@pytest.mark.parametrize("future", [DAY / 60 + 1, 40 * 365 * 1440])
@pytest.mark.parametrize("batched", [False, True])
def test_a_first_row_dated_far_ahead_does_not_switch_the_check_off(
    future: float, batched: bool,
) -> None:
    """The partition's very first row set the watermark, whatever its date: dated years
    ahead, every later row was behind the horizon at once and never a duplicate (a hostile
    probe, 2026-12-05). Until `CONFIRM` rows have come, the watermark is as if the stream
    began at the earliest of them, so that first row is only noted ahead."""
    index = DedupeIndex(DAY)
    stray = at(tx(99), future)
    first = [at(tx(i), i) for i in range(50)]
    if batched:
        assert index.check([stray, *first], list(range(51))) == [None] * 51
    else:
        assert index.check([stray], [0]) == [None]
        assert index.check(first, list(range(1, 51))) == [None] * 50
    assert index.check(first, list(range(51, 101))) == list(range(1, 51))  # all duplicates


def test_the_first_rows_that_all_lie_far_ahead_of_the_first_are_followed() -> None:
    """A first row dated far behind the rest (1970 before 2025) is the case already
    covered: the rest are noted ahead, and `CONFIRM` of them move the watermark."""
    index = DedupeIndex(DAY)
    jump = 20 * 365 * 1440
    index.check([at(tx(1), 0)], [0])
    rows = [at(tx(100 + k), jump + k) for k in range(dedupe.CONFIRM)]
    index.check(rows, list(range(1, dedupe.CONFIRM + 1)))
    assert index._watermark == event_minute(rows[0]) and index._ahead == []
    assert index.check([at(tx(1), 0)], [dedupe.CONFIRM + 1]) == [None]  # behind the horizon


def test_confirm_rows_far_ahead_move_the_watermark_to_the_earliest_of_them() -> None:
    index = DedupeIndex(DAY)
    index.check([at(tx(1), 0)], [0])
    jump = 10 * 1440
    ahead = [at(tx(100 + k), jump + k) for k in range(dedupe.CONFIRM)]
    index.check(ahead[:-1], list(range(1, dedupe.CONFIRM)))
    assert index._watermark == event_minute(at(tx(1), 0))  # not moved yet (a row within the
    # horizon here would end the run: test_dedupe_stray_rows)
    index.check(ahead[-1:], [dedupe.CONFIRM + 1])  # the CONFIRM-th: moved to `jump`
    assert index.check([at(tx(1), 0)], [dedupe.CONFIRM + 2]) == [None]  # behind the horizon
    assert index.check([at(tx(100), jump)], [dedupe.CONFIRM + 3]) == [1]


def _follow(minutes: list[int], horizon_min: int, watermark: int, ahead: list[int]
            ) -> tuple[int, list[int]]:
    for minute in minutes:
        if watermark == -(1 << 62) or minute <= watermark + horizon_min:
            if minute >= watermark - horizon_min:  # within the horizon: ends a run ahead
                ahead = []
            watermark = max(watermark, minute)
        else:  # far ahead: followed once CONFIRM such rows have come in a run
            ahead = [*ahead, minute]
            if len(ahead) == dedupe.CONFIRM:
                watermark, ahead = max(watermark, min(ahead)), []
    return watermark, ahead


def reference(stream: list[tuple[str, int]], horizon_min: int) -> list[int | None]:
    seen: dict[str, tuple[int, int]] = {}
    watermark, out, ahead = -(1 << 62), list[int | None](), list[int]()
    for off, (tid, minute) in enumerate(stream):
        if off < dedupe.CONFIRM:  # the first rows: as if the stream began at their earliest
            first = [m for _, m in stream[:off + 1]]
            watermark, ahead = _follow(first, horizon_min, min(first), [])
        else:
            watermark, ahead = _follow([minute], horizon_min, watermark, ahead)
        hit = seen.get(tid)
        if hit is not None and hit[1] >= watermark - horizon_min:
            out.append(hit[0])
            continue
        seen[tid] = (off, minute)
        out.append(None)
    return out


_STARTS = {
    "outlier second": [("first", 0), ("outlier", 9000)],  # one in the very first batch
    "outlier first": [("outlier", 9000), ("first", 0)],  # the very first row far ahead
    "outlier first, repeated": [("outlier", 9000), ("first", 0), ("outlier", 9001)],
    "early first": [("early", -9000), ("first", 0), ("1", 1)],  # the first far behind
    "outliers first": [(f"o{k}", 9000 + k) for k in range(4)] + [("first", 0)],
}


@pytest.mark.parametrize("start", sorted(_STARTS))
@pytest.mark.parametrize("seed", range(5))
def test_index_equals_a_plain_dict_across_compactions_and_snapshots(
    seed: int, start: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dedupe, "MIN_PENDING", 16)
    monkeypatch.setattr(dedupe, "CONFIRM", 5)
    rng = random.Random(seed)
    stream, minute = list(_STARTS[start]), 0
    for _ in range(3000):
        minute += rng.choice((0, 1, 2, 30, -20))
        if rng.random() < 0.01:  # a far jump the next rows follow
            minute += rng.choice((700, 2000))
        # now and then a row dated far ahead (a mistyped year) the others do not follow
        late = minute + 5000 if rng.random() < 0.01 else minute
        stream.append((str(rng.randrange(400)), late))
    txs = [at(tx(0).model_copy(update={"transaction_id": t}), m) for t, m in stream]
    expected = reference([(t, event_minute(x)) for (t, _), x in zip(stream, txs, strict=True)],
                         600)
    index, got = DedupeIndex(600 * 60), []
    size = rng.choice((1, 2, 37))  # small batches: checkpoints within the first rows too
    for lo in range(0, len(txs), size):
        got += index.check(txs[lo:lo + size], list(range(lo, lo + len(txs[lo:lo + size]))))
        index.maintain()
        if lo % 5 == 0:
            index = DedupeIndex.load(index.dump(), 600 * 60)
        elif lo % 5 == 1:
            parts = {k: v for k, v in index.checkpoint_parts(full=True).items() if v}
            index = DedupeIndex.from_parts(parts, 600 * 60)
    assert got == expected
    assert sum(g is not None for g in got) > 100  # the test exercises duplicates


def test_memory_is_20_bytes_per_id_in_the_arrays() -> None:
    index = DedupeIndex(DAY)
    index.check([tx(0).model_copy(update={"transaction_id": str(i)}) for i in range(100_000)],
                list(range(100_000)))
    index.dump()  # compacts
    assert len(index) == 100_000 and index.nbytes == 20 * 100_000


def processor(out: RecordingOutput, horizon: float = DAY) -> BatchProcessor:
    proc = BatchProcessor(out, 10)
    proc.parts[0] = PartitionState(CountingEngine(), 0, dedupe=DedupeIndex(horizon))
    return proc


def test_duplicates_are_dead_lettered_with_the_first_offset_and_not_scored() -> None:
    txs = [tx(i) for i in range(6)] + [tx(2), tx(4)]
    out = RecordingOutput()
    processor(out).process(messages(0, 0, txs))
    assert [decode(v, ScoredTransaction).source_offset for _, v in out.scored_rows] == \
        list(range(6))
    assert [(r.offset(), dict(h)["error.message"], dict(h)["duplicate.first_offset"])
            for r, h in out.dead_letters] == [(6, b"duplicate transaction_id", b"2"),
                                              (7, b"duplicate transaction_id", b"4")]
    assert all(dict(h)["error.class"] == b"DuplicateTransaction" for _, h in out.dead_letters)
    assert out.dead_letters[0][0].value() == encode(tx(2))  # unchanged


def test_snapshot_plus_replay_rebuilds_the_index_identically() -> None:
    txs = [tx(i % 25) for i in range(60)]  # each id three times, bar a few
    out = RecordingOutput()
    proc = processor(out)
    for lo in range(0, 60, 7):
        proc.process(messages(0, lo, txs[lo:lo + 7]))
    manifests = [i for i, r in enumerate(out.state_records) if r.key == b"g/t/0/m"]
    asm = CheckpointAssembler("g/t/0")
    for r in out.state_records[: manifests[1] + 1]:  # the topic as of the second checkpoint
        asm.feed(r.key, r.value, r.headers)
    snap = asm.result()
    assert snap is not None and snap.parts["dedupe"] and snap.next_offset == out.snapshots[1][1]
    rebuilt = partition_state(0, snap, CountingFactory(), DAY, snap.next_offset, [])
    at_offset = snap.next_offset
    replay(rebuilt, messages(0, at_offset, txs[at_offset:]), until=60)
    assert rebuilt.snapshot() == proc.parts[0].snapshot()


def test_a_snapshot_from_before_the_container_restores_with_an_empty_index() -> None:
    legacy = CountingEngine({"c": 3}).snapshot()
    assert unpack_state(legacy) == (legacy, None)
    assert unpack_state(pack_state(legacy, None)) == (legacy, None)
    assert unpack_state(pack_state(legacy, b"ix")) == (legacy, b"ix")


def test_the_detector_dead_letters_a_stream_replayed_twice_across_restarts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cluster = FakeCluster(partitions=1)
    once = [encode(tx(i, f"c{i % 4}")) for i in range(20)]
    cluster.append(0, once)
    fake_detector(monkeypatch, cluster, state_dir=tmp_path).run(until=drained(cluster))
    cluster.append(0, once)  # the same file replayed again
    fake_detector(monkeypatch, cluster, state_dir=tmp_path).run(until=drained(cluster))
    scored = [decode(r.value or b"", ScoredTransaction).transaction_id
              for r in cluster.rows("transactions.scored")]
    assert scored == [str(i) for i in range(20)]
    dead = cluster.rows("transactions.dlq")
    assert [d.value for d in dead] == once
    assert [dict(d.headers)["duplicate.first_offset"] for d in dead] == \
        [str(i).encode() for i in range(20)]


def test_horizon_zero_turns_the_check_off(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    cluster = FakeCluster(partitions=1)
    cluster.append(0, [encode(tx(1)), encode(tx(1))])
    fake_detector(monkeypatch, cluster, state_dir=tmp_path,
                  dedupe_horizon_s=0).run(until=drained(cluster))
    assert len(cluster.rows("transactions.scored")) == 2


class _PerRow(DedupeIndex):
    """The index without its all-new fast path: every batch checked row by row."""

    def check(self, txs: Sequence[TransactionView], offsets: Sequence[int]) -> list[int | None]:
        keys = id_hashes([t.transaction_id for t in txs])
        found = self._lookup_arrays(keys) or [-1] * len(txs)
        return self._check_each(keys.tolist(), offsets, [event_minute(t) for t in txs], found)


@pytest.mark.parametrize("seed", range(4))
def test_all_new_batches_at_once_equal_row_by_row(seed: int,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Mostly new ids (the fast path), a few repeats within and across batches, some behind
    the horizon, compactions in between: the same answers, index and checkpoint parts."""
    monkeypatch.setattr(dedupe, "MIN_PENDING", 64)
    rng = random.Random(seed)
    stream: list[tuple[str, int]] = []
    minute = 0
    for i in range(2000):
        minute += rng.choice((0, 1, 2, 90))
        repeat = rng.random() < 0.03 and i > 0  # of a recent id (most within the horizon)
        tid = stream[max(0, i - rng.randrange(1, 60))][0] if repeat else str(i)
        stream.append((tid, minute))
    txs = [at(tx(0).model_copy(update={"transaction_id": t}), m) for t, m in stream]
    fast, slow = DedupeIndex(600 * 60), _PerRow(600 * 60)
    calls = 0
    each = DedupeIndex._check_each

    def counted(self: DedupeIndex, *args: Any) -> list[int | None]:
        nonlocal calls
        calls += 1
        return each(self, *args)

    monkeypatch.setattr(DedupeIndex, "_check_each", counted)
    got: list[int | None] = []
    expected: list[int | None] = []
    lo, batches = 0, 0
    while lo < len(txs):
        n = rng.choice((1, 2, 25, 60))
        offsets = list(range(lo, min(lo + n, len(txs))))
        got += fast.check(txs[lo:lo + n], offsets)
        expected += slow.check(txs[lo:lo + n], offsets)
        fast.maintain()
        slow.maintain()
        if batches % 7 == 0:
            assert fast.checkpoint_parts() == slow.checkpoint_parts()
        lo, batches = lo + n, batches + 1
    assert got == expected
    assert fast.dump() == slow.dump()
    assert sum(g is not None for g in got) > 0
    assert 0 < calls - batches < batches  # both paths taken (slow's own calls: `batches`)


@pytest.mark.parametrize("ids", [[], ["1"], ["1", "1", "abc", "é" * 40]])
def test_id_hashes_are_id_hash_of_each(ids: list[str]) -> None:
    got = id_hashes(ids)
    assert got.dtype == np.uint64 and got.tolist() == [id_hash(i) for i in ids]


def test_the_rows_noted_ahead_survive_a_checkpoint_and_an_older_one_has_none() -> None:
    """A restart must go on exactly as the process would have: the rows noted ahead are in
    both the dump and the incremental parts; a dump or head written before them has none."""
    index = DedupeIndex(DAY)
    # in one first batch: its first row sets the watermark, as row by row
    index.check([at(tx(1), 0), at(tx(2), 5 * 1440), at(tx(3), 6 * 1440)], [0, 1, 2])
    m0 = event_minute(at(tx(1), 0))
    assert index._ahead == [m0 + 5 * 1440, m0 + 6 * 1440] and index._watermark == m0
    again = DedupeIndex.load(index.dump(), DAY)
    full = {k: v for k, v in index.checkpoint_parts(full=True).items() if v is not None}
    parts = DedupeIndex.from_parts(full, DAY)
    assert again._ahead == parts._ahead == [m0 + 5 * 1440, m0 + 6 * 1440]
    assert again._watermark == parts._watermark == m0
    # without the count and the two minutes, and the first rows written after them
    old_dump = index.dump()[: -(8 + 8 * 2) - (8 + 8 * 3)]
    assert DedupeIndex.load(old_dump, DAY)._ahead == []
    head = {k: v for k, v in index.checkpoint_parts(full=True).items() if v is not None}
    body = json.loads(head[dedupe.HEAD][4:])
    del body["ahead"]
    head[dedupe.HEAD] = head[dedupe.HEAD][:4] + json.dumps(body).encode()
    assert DedupeIndex.from_parts(head, DAY)._ahead == []


def test_the_first_rows_survive_a_checkpoint_and_an_older_one_has_them_settled() -> None:
    """While the first `CONFIRM` rows come, they are in the dump and the head; a dump or
    head written before them restores as before: the watermark as it was, settled."""
    index = DedupeIndex(DAY)
    index.check([at(tx(1), 9000), at(tx(2), 0), at(tx(3), 9001)], [0, 1, 2])
    m0 = event_minute(at(tx(2), 0))
    # the row at m0 ended the run ahead that 9000 began
    assert index._watermark == m0 and index._ahead == [m0 + 9001]
    assert index._first == [m0 + 9000, m0, m0 + 9001]
    again = DedupeIndex.load(index.dump(), DAY)
    full = {k: v for k, v in index.checkpoint_parts(full=True).items() if v is not None}
    parts = DedupeIndex.from_parts(full, DAY)
    for restored in (again, parts):
        assert restored._first == [m0 + 9000, m0, m0 + 9001] and restored._watermark == m0
    old_dump = index.dump()[: -(8 + 8 * 3)]  # without the first rows' count and minutes
    assert DedupeIndex.load(old_dump, DAY)._first is None
    assert DedupeIndex.load(old_dump, DAY)._ahead == [m0 + 9001]
    body = json.loads(full[dedupe.HEAD][4:])
    del body["first"]
    full[dedupe.HEAD] = full[dedupe.HEAD][:4] + json.dumps(body).encode()
    assert DedupeIndex.from_parts(full, DAY)._first is None


def test_a_partition_whose_first_row_is_dated_years_ahead_dead_letters_a_replay() -> None:
    """The probe's case through the shell's batch: the stray row first."""
    stray = at(tx(999), 400 * 24 * 60)  # 400 days ahead
    first = [at(tx(i), 10 * i) for i in range(40)]
    out = RecordingOutput()
    proc = processor(out)
    proc.process(messages(0, 0, [stray, *first]))
    proc.process(messages(0, 41, first))
    assert len(out.scored_rows) == 41
    assert [int(dict(h)["duplicate.first_offset"]) for _, h in out.dead_letters] == list(
        range(1, 41))


def test_a_file_replayed_after_a_row_dated_years_ahead_is_dead_lettered_whole() -> None:
    """The probe's case through the shell's batch: rows, one row with a mistyped year, the
    same rows again: every second copy dead-lettered, none scored twice."""
    first = [at(tx(i), 10 * i) for i in range(40)]
    stray = at(tx(999), 400 * 24 * 60)  # 400 days ahead
    out = RecordingOutput()
    proc = processor(out)
    proc.process(messages(0, 0, [*first, stray]))
    proc.process(messages(0, 41, first))
    assert len(out.scored_rows) == 41
    assert [int(dict(h)["duplicate.first_offset"]) for _, h in out.dead_letters] == list(
        range(40))


class _Watermarks:
    """The restore's consumer: only the input's watermarks (0, 60)."""

    def get_watermark_offsets(self, tp: Any, timeout: float = 0) -> tuple[int, int]:
        return 0, 60

    def close(self) -> None:
        pass


def _damaged_head(parts: dict[str, bytes]) -> None:
    head = json.loads(parts["dedupe"][len(dedupe._SEGMENT):])
    head["watermark"] = "x"
    parts["dedupe"] = dedupe._SEGMENT + json.dumps(head).encode()


def _watermark_in_2200(parts: dict[str, bytes]) -> None:
    """A head whose watermark no row of 1970-2100 gives: restored, every id was behind it."""
    head = json.loads(parts["dedupe"][len(dedupe._SEGMENT):])
    head["watermark"] = 230 * 365 * 1440
    parts["dedupe"] = dedupe._SEGMENT + json.dumps(head).encode()


def _overcounted_segment(parts: dict[str, bytes]) -> None:
    name = next(k for k in parts if k.startswith("dedupe."))
    data = parts[name]
    at = len(dedupe._SEGMENT)
    n = int.from_bytes(data[at:at + 8], "little")
    parts[name] = data[:at] + (n + 1).to_bytes(8, "little") + data[at + 8:]


def streamed_checkpoint(txs: Sequence[Transaction]) -> tuple[BatchProcessor, Any]:
    """`txs` (60 rows) streamed through partition 0 in batches of 7, and the checkpoint the
    stream wrote last (covering some of them)."""
    out = RecordingOutput()
    proc = processor(out)
    for lo in range(0, 60, 7):
        proc.process(messages(0, lo, list(txs[lo:lo + 7])))
    asm = CheckpointAssembler("g/t/0")
    for r in out.state_records:
        asm.feed(r.key, r.value, r.headers)
    snap = asm.result()
    assert snap is not None and 0 < snap.next_offset < 60
    return proc, snap


@pytest.mark.parametrize("damage", [_damaged_head, _overcounted_segment, _watermark_in_2200])
def test_a_checkpoint_whose_duplicate_index_cannot_be_read_is_rebuilt_from_history(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, damage: Any,
) -> None:
    """A duplicate index no release writes (a bug's; the part's checksum agrees) is refused
    like any unusable part: the partition is rebuilt from its input history. Before, the
    segment's ValueError came out of the restore (outside the check that makes a checkpoint
    unusable), and a head's `watermark` of "x" was taken, to fail in the replay."""
    import detector.kafka_io as kafka_io
    from detector.settings import DetectorSettings

    txs = [tx(i % 25) for i in range(60)]
    proc, snap = streamed_checkpoint(txs)
    damage(snap.parts)
    monkeypatch.setattr(kafka_io, "make_consumer", lambda *a, **k: _Watermarks())
    restorer = kafka_io.Restorer(DetectorSettings(instance_id="t", dedupe_horizon_s=DAY),
                                 CountingFactory(), 1)
    monkeypatch.setattr(restorer, "_load_checkpoint", lambda p: (snap, [], None))
    monkeypatch.setattr(restorer, "_read", lambda topic, p, start, until:
                        iter(messages(0, start, txs[start:until])))
    state, plan = restorer.restore(0, 60)
    assert "unusable" in caplog.text and plan.replay_from == 0
    assert state.snapshot() == proc.parts[0].snapshot()  # the index as the stream made it


def _dump_reordered(index: DedupeIndex, order: Any) -> bytes:
    """`index.dump()` with its entries in another order (another writer's dump)."""
    data = index.dump()
    *_, n = dedupe._HEADER.unpack_from(data)
    at = dedupe._HEADER.size
    arrays = [np.frombuffer(data, t, n, at + off * n)[order]
              for t, off in ((np.uint64, 0), (np.int64, 8), (np.int32, 16))]
    return data[:at] + b"".join(a.tobytes() for a in arrays) + data[at + 20 * n:]


@pytest.mark.parametrize("order", [slice(None), slice(None, None, -1), [1, 0, *range(2, 40)]])
def test_an_older_dump_in_any_order_finds_every_duplicate(order: Any) -> None:
    """The whole-snapshot layout's dump (read on the upgrade) is sorted as read: a lookup
    bisects the hashes, so one in another order missed every duplicate (all 40 scored
    twice)."""
    index = DedupeIndex(DAY)
    txs = [at(tx(i), i) for i in range(40)]
    index.check(txs, list(range(40)))
    again = DedupeIndex.load(_dump_reordered(index, order), DAY)
    assert again.check(txs, list(range(100, 140))) == list(range(40))


@pytest.mark.parametrize(("count", "at_"), [(-1, 0), (39, 0), (41, 0), (-1, 1), (1, 1),
                                            (10 ** 6, 1), (-2, 2), (39, 2), (41, 2)])
def test_an_older_dump_whose_counts_do_not_fit_its_bytes_is_refused(count: int, at_: int
                                                                     ) -> None:
    """A count of ids, of rows noted ahead (0 here) or of first rows (40 here) other than
    the bytes hold, or negative (numpy read -1 as "all that is left"), is `ValueError`
    (the checkpoint unusable), not an index of other ids."""
    index = DedupeIndex(DAY)
    index.check([at(tx(i), i) for i in range(40)], list(range(40)))
    data = bytearray(index.dump())
    magic, horizon, watermark, _ = dedupe._HEADER.unpack_from(data)
    if at_ == 0:
        dedupe._HEADER.pack_into(data, 0, magic, horizon, watermark, count)
    else:  # the count of rows ahead (none), then of first rows (-1: settled)
        where = dedupe._HEADER.size + 20 * 40 + (0 if at_ == 1 else 8)
        struct.pack_into("<q", data, where, count)
    with pytest.raises(ValueError, match=r"^dedupe index counts -?\d+ (ids|minutes) in \d+ "
                                         r"bytes$"):
        DedupeIndex.load(bytes(data), DAY)
