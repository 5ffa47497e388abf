"""A rewind racing the partition's new owner: a detector that lost its partitions (paused past
its session, its send_offsets refused with UNKNOWN_MEMBER_ID) rewinds them while the member
that took them over commits. The committed offset it read before loading the checkpoint is
then older than the checkpoint (offsets and checkpoints commit together): the offset is read
again, not taken for a reset topic. Found by bench/chaos_soak.py, seed 17: "partition 1:
committed offset 2172, snapshot offset 4222 and input log [0, 4323) are inconsistent (topic
recreated or offsets reset?). Refusing to guess", exit 2 (a code systemd does not restart)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition

import detector.kafka_io as kafka_io
from detector.checkpoints import CheckpointAssembler
from detector.dedupe import DedupeIndex
from detector.loop import BatchProcessor
from detector.partition import PartitionState
from detector.recovery import RecoveryError
from tests.unit.detector_fakes import (
    CountingEngine,
    CountingFactory,
    FakeCluster,
    RecordingOutput,
    fake_detector,
    messages,
    tx,
)

DAY = 86400.0
N = 60


class _Watermarks:
    """The restore's consumer: only the input's watermarks (0, N)."""

    def get_watermark_offsets(self, tp: Any, timeout: float = 0) -> tuple[int, int]:
        return 0, N

    def close(self) -> None:
        pass


def rewinding(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, read: Callable[[int], int],
              meanwhile: Callable[[int], int | None]) -> tuple[Any, int]:
    """A detector about to restore partition 0, whose group offset reads `read(at)` (-1:
    none) for a checkpoint at `at`; as it loads that checkpoint, the new owner has committed
    offset `meanwhile(at)` (None: nobody) with it. Returns the detector and `at`."""
    txs = [tx(i % 25) for i in range(N)]
    out = RecordingOutput()
    proc = BatchProcessor(out, 10)
    proc.parts[0] = PartitionState(CountingEngine(), 0, dedupe=DedupeIndex(DAY))
    for lo in range(0, N, 7):
        proc.process(messages(0, lo, txs[lo:lo + 7]))
    asm = CheckpointAssembler("g/t/0")
    for r in out.state_records:
        asm.feed(r.key, r.value, r.headers)
    snap = asm.result()
    assert snap is not None and 0 < snap.next_offset < N
    at = snap.next_offset
    cluster = FakeCluster(partitions=1)
    cluster.append(0, [m.value() for m in messages(0, 0, txs)])
    if read(at) >= 0:
        cluster.committed_offsets[0] = read(at)
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path, dedupe_horizon_s=DAY)
    monkeypatch.setattr(kafka_io, "make_consumer", lambda *a, **k: _Watermarks())
    restorer = kafka_io.Restorer(detector.settings, CountingFactory(), 1)

    def load(p: int) -> tuple[Any, list[bytes], None]:
        if (offset := meanwhile(at)) is not None:
            cluster.committed_offsets[0] = offset  # committed with this checkpoint
        return snap, [], None

    monkeypatch.setattr(restorer, "_load_checkpoint", load)
    monkeypatch.setattr(restorer, "_read", lambda topic, p, start, until:
                        iter(messages(0, start, txs[start:until])))
    detector._restorer = restorer
    detector._consumer = cluster.consumer()
    return detector, at


@pytest.mark.parametrize("read", ["older", "none yet"])
def test_a_checkpoint_committed_by_the_new_owner_during_a_rewind_is_restored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, read: str
) -> None:
    detector, _ = rewinding(monkeypatch, tmp_path,
                             (lambda at: at - 20) if read == "older" else (lambda at: -1),
                             lambda at: N - 1)
    out = detector._restore([TopicPartition("transactions", 0)], 5.0)
    assert [(tp.partition, tp.offset) for tp in out] == [(0, N - 1)]
    state = detector.processor.parts[0]
    reference = BatchProcessor(RecordingOutput(), 10)
    reference.parts[0] = PartitionState(CountingEngine(), 0, dedupe=DedupeIndex(DAY))
    txs = [tx(i % 25) for i in range(N)]
    for lo in range(0, N - 1, 5):
        reference.process(messages(0, lo, txs[lo:min(lo + 5, N - 1)]))
    assert state.snapshot() == reference.parts[0].snapshot()  # as the stream made it


@pytest.mark.parametrize("read", [-20, -1])
def test_a_checkpoint_ahead_of_the_committed_offset_for_good_is_still_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, read: int
) -> None:
    # Read again, the offset is still behind the checkpoint (one unit, and 20): a topic
    # recreated or offsets reset, as before.
    detector, _ = rewinding(monkeypatch, tmp_path, lambda at: at + read, lambda at: None)
    with pytest.raises(RecoveryError, match="offsets were reset"):
        detector._restore([TopicPartition("transactions", 0)], 5.0)
