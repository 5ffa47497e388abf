"""The dedupe index written in segments by incremental checkpoints: a restore from the
segments on the topic answers every later check exactly as the live index does, each id is
written a bounded number of times, and segments behind the horizon are deleted."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from detector.checkpoints import CheckpointAssembler, Ledger, encode_checkpoint
from detector.core.stateparts import Changes
from detector.dedupe import HEAD, MAX_LEVEL, DedupeIndex
from detector.snapshots import SnapshotRecord
from tests.unit.detector_fakes import tx
from tests.unit.test_detector_dedupe import at

HOUR = 3600.0


def restore(records: list[SnapshotRecord], horizon: float) -> DedupeIndex:
    asm = CheckpointAssembler("g/t/0")
    for r in records:
        asm.feed(r.key, r.value, r.headers)
    snap = asm.result()
    assert snap is not None
    return DedupeIndex.from_parts({k: v for k, v in snap.parts.items()}, horizon)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), every=st.integers(1, 40), full_at=st.integers(0, 30))
def test_a_restore_from_segments_answers_like_the_live_index(seed: int, every: int,
                                                             full_at: int) -> None:
    rng = random.Random(seed)
    live, ledger = DedupeIndex(HOUR), Ledger()
    records: list[SnapshotRecord] = []
    minute, offset = 0.0, 0
    for step in range(40):
        batch = []
        for _ in range(every):
            minute += rng.choice((0, 1, 5, 20))
            batch.append(at(tx(rng.randrange(60)), minute))  # ids repeat, some after expiry
        live.check(batch, list(range(offset, offset + len(batch))))
        offset += len(batch)
        if step == full_at:  # a new epoch: one segment of every live id
            ledger = Ledger(stale=[r.key for r in records])
        parts = live.checkpoint_parts(ledger.number == 0)
        records += encode_checkpoint("g/t/0", offset, Changes(parts=parts), ledger, 256)
        back = restore(records, HOUR)
        probe = [at(tx(rng.randrange(70)), minute + rng.choice((0, 30, 61))) for _ in range(5)]
        probe_offsets = list(range(offset, offset + 5))
        assert back.check(probe, probe_offsets) == _copy(live).check(probe, probe_offsets)


def _copy(index: DedupeIndex) -> DedupeIndex:
    return DedupeIndex.load(index.dump(), index.horizon_min * 60.0)


def test_each_id_is_written_a_bounded_number_of_times_and_old_segments_are_deleted() -> None:
    live, ledger = DedupeIndex(HOUR), Ledger()
    ids_written, deleted = 0, 0
    for step in range(300):
        live.check([at(tx(step), step * 2.0)], [step])
        parts = live.checkpoint_parts(ledger.number == 0)
        for r in encode_checkpoint("g/t/0", step + 1, Changes(parts=parts), ledger, 1 << 20):
            if b"/p/dedupe." not in r.key:
                continue
            if r.value is None:
                deleted += 1
            else:
                ids_written += int.from_bytes(r.value[4:12], "little")
    # 300 ids, each rewritten at most once per level: at most (MAX_LEVEL + 1) writes each
    assert 300 <= ids_written <= 300 * (MAX_LEVEL + 1)
    assert deleted  # segments behind the one-hour horizon (30 steps) were deleted
    head = live.checkpoint_parts()[HEAD]
    assert head is not None and len(ledger.parts) < 20
