"""Poison isolation: which record of a batch makes the detection core raise.

The core scores a batch in one call (fast). When that call raises, the batch's effect on the
engine is unknown, so the shell rewinds the partition to a known state and runs the records
again *carefully*: a copy of the engine (its snapshot) is taken before each sub-batch; a
failing sub-batch is restored and split in halves until the failing records stand alone.
A lone record that fails twice in a row is poison (dead-lettered); the others are scored
exactly as one uninterrupted call would have scored them (the core's output does not depend
on how the stream is cut into batches), so live processing and a restore's replay agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from shared.schemas import TransactionView

#: One row's verdict (`detector.core.verdict.Verdict`: the values of `VERDICT_FIELDS` by name).
Verdict = Any


class CoreEngine(Protocol):
    """What the shell needs of a partition's detection core (`PartitionEngine` fits)."""

    def verdicts(self, txs: Sequence[TransactionView]) -> list[Verdict]: ...
    def snapshot(self) -> bytes: ...


class CoreFailure(Exception):
    """The core raised on partition `partition`'s records [first, last] (the shell rewinds and
    processes that range carefully)."""

    def __init__(self, partition: int, first: int, last: int, cause: BaseException) -> None:
        super().__init__(f"partition {partition} offsets {first}..{last}: "
                         f"{type(cause).__name__}: {cause}")
        self.partition, self.first, self.last, self.cause = partition, first, last, cause


Ranges = dict[int, list[tuple[int, int]]]


def is_careful(ranges: Ranges, partition: int, first: int, last: int) -> bool:
    """Does [first, last] overlap a range of `partition` known to hold poison?"""
    return any(a <= last and first <= b for a, b in ranges.get(partition, ()))


Result = Verdict | Exception


class Careful:
    """Runs records through an engine one sub-batch at a time, restoring it after a failure.

    `engine` is read and replaced through the holder's `engine` attribute, so the caller's
    partition state always holds the engine as of the last successful record."""

    def __init__(self, holder: _Holder, restore: Callable[[bytes], CoreEngine],
                 before: Callable[[], None] | None = None) -> None:
        self._holder = holder
        self._restore = restore
        self._before = before

    def run(self, txs: Sequence[TransactionView]) -> list[Result]:
        if not txs:
            return []
        saved = _Saved(self._holder.engine, self._restore)
        results, failure = self._try(txs, first=True)
        if failure is None:
            return results
        self._holder.engine = saved.back()
        if len(txs) > 1:
            del saved, failure  # the halves save their own: one copy alive at a time
            mid = len(txs) // 2
            return self.run(txs[:mid]) + self.run(txs[mid:])
        # once more: a transient failure must not turn a good record into a dead letter
        saved = _Saved(self._holder.engine, self._restore)
        results, failure = self._try(txs, first=False)
        if failure is None:
            return results
        self._holder.engine = saved.back()
        return [failure]

    def _try(self, txs: Sequence[TransactionView], first: bool
             ) -> tuple[list[Result], Exception | None]:
        """The engine's verdicts, or the failure (without frames: they hold the engine that
        failed, a partition's whole state, for as long as the failure is kept)."""
        try:
            if first and self._before is not None:
                self._before()
            return list(self._holder.engine.verdicts(txs)), None
        except Exception as exc:
            return [], _without_frames(exc)


class _Saved:
    """An engine as it stood before a sub-batch: an independent copy in memory when the
    engine can make one (`clone`: a copy of its arrays, no encoding), else its snapshot.
    Both cost in proportion to the customers known, the copy far less (measured:
    bench/careful_bench.py); the copy holds about as much memory as the engine."""

    def __init__(self, engine: CoreEngine, restore: Callable[[bytes], CoreEngine]) -> None:
        clone = getattr(engine, "clone", None)
        self._copy: CoreEngine | None = clone() if clone is not None else None
        self._data = engine.snapshot() if clone is None else b""
        self._restore = restore

    def back(self) -> CoreEngine:
        """The engine as saved (a copy is handed over: once)."""
        if self._copy is None:
            return self._restore(self._data)
        copy, self._copy = self._copy, None
        return copy


def _without_frames(exc: Exception) -> Exception:
    """`exc` with no traceback, nor any exception it chains: their frames hold the engines
    replaced since (each a partition's whole state) for as long as the result is kept, the
    batch being written; a dead letter reports only the class and the message."""
    todo: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while todo:
        e = todo.pop()
        if e is not None and id(e) not in seen:
            seen.add(id(e))
            e.__traceback__ = None
            todo += [e.__cause__, e.__context__]
    return exc


class _Holder(Protocol):
    engine: CoreEngine
