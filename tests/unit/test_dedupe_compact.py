"""The duplicate index's compaction merges the pending ids into its sorted arrays: the same
arrays, answers and checkpoint bytes as sorting every id again (its code before the merge,
kept here as the reference), across expiries, ids seen again after they expired, full and
incremental checkpoints and restores."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.dedupe import DedupeIndex, id_hashes
from tests.unit.detector_fakes import tx
from tests.unit.test_detector_dedupe import at

HOUR = 3600.0


class SortedAgain(DedupeIndex):
    """The index as it compacted before the merge: every id sorted again."""

    def _compact(self) -> None:
        cutoff = self._dropped_before()
        n = len(self._pending)
        hashes = np.fromiter(self._pending.keys(), np.uint64, n)
        offsets = np.fromiter((v[0] for v in self._pending.values()), np.int64, n)
        minutes = np.fromiter((v[1] for v in self._pending.values()), np.int32, n)
        keep = self._minutes >= cutoff
        all_h = np.concatenate([self._hashes[keep], hashes])
        all_o = np.concatenate([self._offsets[keep], offsets])
        all_m = np.concatenate([self._minutes[keep], minutes])
        live = all_m >= cutoff
        all_h, all_o, all_m = all_h[live], all_o[live], all_m[live]
        order = np.argsort(all_h, kind="stable")
        all_h, all_o, all_m = all_h[order], all_o[order], all_m[order]
        last = np.ones(len(all_h), bool)
        last[:-1] = all_h[1:] != all_h[:-1]
        self._hashes, self._offsets, self._minutes = all_h[last], all_o[last], all_m[last]
        self._pending = {}


def arrays(index: DedupeIndex) -> list[Any]:
    return [index._hashes.dtype, index._offsets.dtype, index._minutes.dtype,
            index._hashes.tolist(), index._offsets.tolist(), index._minutes.tolist()]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 100_000), ids=st.integers(1, 80), every=st.integers(1, 30),
       steps=st.sampled_from([0, 1, 5, 20, 61]))
def test_merged_compaction_equals_sorting_every_id_again(seed: int, ids: int, every: int,
                                                         steps: int) -> None:
    rng = random.Random(seed)
    new, old = DedupeIndex(HOUR), SortedAgain(HOUR)
    minute, offset = 0.0, 0
    for _ in range(30):
        batch = []
        for _ in range(every):
            # ids repeat within the horizon (duplicates) and after it (seen again)
            minute += rng.choice((0, 1, steps))
            batch.append(at(tx(rng.randrange(ids)), minute))
        offsets = list(range(offset, offset + len(batch)))
        offset += len(batch)
        assert new.check(batch, offsets) == old.check(batch, offsets)
        action = rng.randrange(4)
        if action == 0:
            new._compact()
            old._compact()
        elif action == 1:
            full = rng.random() < 0.2
            assert new.checkpoint_parts(full) == old.checkpoint_parts(full)
        elif action == 2:
            assert new.dump() == old.dump()
        assert arrays(new) == arrays(old)
    probe = [at(tx(i), minute + rng.choice((0, 30, 61))) for i in range(ids + 5)]
    offsets = list(range(offset, offset + len(probe)))
    assert new.check(probe, offsets) == old.check(probe, offsets)


def test_an_id_seen_again_after_it_expired_replaces_its_entry() -> None:
    index = DedupeIndex(HOUR)
    index.check([at(tx(1), 0), at(tx(2), 1), at(tx(3), 50)], [0, 1, 2])
    index._compact()
    # tx 1 again at minute 61: its entry (minute 0) is behind the horizon, so it is new
    # and its entry now says offset 3; tx 2's (minute 1) is still within it
    assert index.check([at(tx(1), 61)], [3]) == [None]
    index._compact()
    assert sorted(index._offsets.tolist()) == [1, 2, 3]
    assert index.check([at(tx(1), 61), at(tx(2), 61)], [4, 5]) == [3, 1]


def test_a_pending_id_behind_the_horizon_leaves_a_live_entry_of_its_hash() -> None:
    for index in (DedupeIndex(HOUR), SortedAgain(HOUR)):
        # 70 rows settle the watermark (at minute 69): entries behind it are dropped
        index.check([at(tx(100 + i), i) for i in range(70)], list(range(70)))
        index.check([at(tx(1), 69)], [70])
        index._compact()
        # an entry of tx 1's hash pending, its minute behind the horizon: dropped at the
        # compaction, before it could replace the live one
        h = int(id_hashes(["1"])[0])
        index._pending[h] = (71, int(index._minutes.min()) - 1)  # the cutoff: minute 9
        index._compact()
        kept = index._hashes.tolist().index(h)
        assert (int(index._offsets[kept]), len(index._hashes)) == (70, 61 + 1)


def test_offsets_past_a_doubles_precision_are_kept_exactly_through_compactions() -> None:
    # Kafka's offsets are signed 64-bit: 2**53 + 1 and above have no exact double, so
    # a compaction that read the pending pairs as floats answered a duplicate with a
    # neighbouring offset
    big = [2**53 + 1, 2**62 + 3, 2**63 - 1]
    index = DedupeIndex(HOUR)
    index.check([at(tx(i), 0) for i in range(3)], big)
    index._compact()  # into empty arrays
    index.check([at(tx(3), 1)], [2**53 + 3])
    index._compact()  # merged into the arrays
    assert index.check([at(tx(i), 2) for i in range(4)], [7, 8, 9, 10]) == [*big, 2**53 + 3]
    assert sorted(index._offsets.tolist()) == sorted([*big, 2**53 + 3])
