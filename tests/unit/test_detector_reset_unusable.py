"""The group's offsets reset behind a checkpoint that cannot be restored are refused too.

Randomized soak seed 877 (2026-12-07, twenty-second session): poison on the state topic made
every partition's checkpoint unusable, the operator then reset the group's offsets to the
earliest, and the next start rebuilt "from the input history" up to offset 0 and scored
every row a second time (26,562 scored messages for 13,281 transactions). A checkpoint
whose manifest still says how far it covered now holds the offsets to it, as a usable one
does (`detector.recovery`); one whose manifest is unreadable says nothing (still open)."""

from __future__ import annotations

from typing import Any

import pytest

import detector.kafka_io as kafka_io
from detector.recovery import RecoveryError
from detector.settings import DetectorSettings
from tests.unit.detector_fakes import CountingFactory, messages, tx
from tests.unit.test_detector_dedupe import DAY, _damaged_head, _Watermarks, streamed_checkpoint

TXS = [tx(i % 25) for i in range(60)]


def _restorer(monkeypatch: pytest.MonkeyPatch, loaded: Any) -> Any:
    monkeypatch.setattr(kafka_io, "make_consumer", lambda *a, **k: _Watermarks())
    restorer = kafka_io.Restorer(DetectorSettings(instance_id="t", dedupe_horizon_s=DAY),
                                 CountingFactory(), 1)
    monkeypatch.setattr(restorer, "_load_checkpoint", lambda p: loaded)
    monkeypatch.setattr(restorer, "_read", lambda topic, p, start, until:
                        iter(messages(0, start, TXS[start:until])))
    return restorer


def _damaged_checkpoint() -> Any:
    """A checkpoint of the first rows whose duplicate index cannot be read (its engine
    restore fails: unusable), with its offset."""
    _, snap = streamed_checkpoint(TXS)
    _damaged_head(snap.parts)
    return snap


def test_offsets_behind_a_checkpoint_that_fails_its_restore_are_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    snap = _damaged_checkpoint()
    at = snap.next_offset
    for committed in (0, at - 1):
        with pytest.raises(RecoveryError, match=rf"committed offset {committed} is behind the "
                                                rf"checkpoint at offset {at} \(unusable\)"):
            _restorer(monkeypatch, (snap, [], None)).restore(0, committed)
    for committed in (at, 60):  # at it or past it: rebuilt from the history, as before
        _, plan = _restorer(monkeypatch, (snap, [], None)).restore(0, committed)
        assert (plan.use_snapshot, plan.replay_from, plan.resume_at) == (False, 0, committed)


def test_offsets_behind_a_checkpoint_that_fails_its_read_are_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # `_load_checkpoint`: no checkpoint, but its manifest said it covered 40 rows
    with pytest.raises(RecoveryError, match=r"committed offset 39 is behind the checkpoint "
                                            r"at offset 40 \(unusable\)"):
        _restorer(monkeypatch, (None, [], 40)).restore(0, 39)
    with pytest.raises(RecoveryError, match=r"offset 40, unusable\) but the group has no "
                                            r"committed offset"):
        _restorer(monkeypatch, (None, [], 40)).restore(0, None)
    _, plan = _restorer(monkeypatch, (None, [], 40)).restore(0, 40)
    assert (plan.use_snapshot, plan.replay_from, plan.resume_at) == (False, 0, 40)


def test_an_unusable_checkpoint_ahead_of_the_offset_read_asks_the_group_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # another member committed both while the partition moved (a rewind): read again, the
    # offsets have reached it, so no refusal
    asked: list[int] = []

    def reread() -> int:
        asked.append(45)
        return 45
    _, plan = _restorer(monkeypatch, (None, [], 40)).restore(0, 30, reread)
    assert asked == [45] and (plan.replay_from, plan.resume_at) == (0, 45)
