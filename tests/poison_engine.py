"""An engine that raises on one record (`POISON` as its amount) after scoring the rows before
it, a half-applied batch: careful isolation's test and bench (tests/unit/test_engine_clone.py,
bench/careful_bench.py). `Picky.counts` counts its snapshots and clones; `SnapshotsOnly`
cannot clone itself, so isolation falls back to snapshots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from shared.schemas import TransactionView

POISON = 13_131.0


class Picky(PartitionEngine):
    """Raises on one amount after scoring the rows before it."""

    counts: ClassVar[dict[str, int]] = {}

    def verdicts(self, txs: Sequence[TransactionView]) -> list[Any]:
        for i, tx in enumerate(txs):
            if tx.amount == POISON:
                super().verdicts(txs[:i])
                raise OverflowError("cannot score this one")
        return super().verdicts(txs)

    def snapshot(self) -> bytes:
        Picky.counts["snapshots"] = Picky.counts.get("snapshots", 0) + 1
        return super().snapshot()

    def clone(self) -> PartitionEngine:
        Picky.counts["clones"] = Picky.counts.get("clones", 0) + 1
        other = super().clone()
        other.__class__ = type(self)
        return other


class SnapshotsOnly(Picky):
    """The same engine without `clone`."""

    clone = None  # type: ignore[assignment]


def restorer(kind: type[Picky], config: CoreConfig) -> Any:
    """`Careful`'s `restore` for engines of `kind`."""
    def restore(data: bytes) -> Picky:
        back = PartitionEngine.restore(data, config)
        back.__class__ = kind
        return back  # type: ignore[return-value]
    return restore
