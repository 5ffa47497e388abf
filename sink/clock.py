"""What closes days in the sink: a watermark per partition of the scored topic.

A partition's rows come in its own order, and a sink reading a backlog takes one
partition's rows ahead of another's: one watermark for the whole topic followed the
partition read furthest and made most of the others' rows "late" (71% of the demo's).
Here each partition keeps its own `Watermark` (the latest time `quorum` of its customers
reached), and the stream's watermark (`StreamClock.key`, run.json's `event_watermark`) is
the smallest of how far each partition with rows still to read has got (its watermark, or
its latest time while it has fewer customers), never above the whole topic's (`whole`: a
stray row needs `quorum` customers to move it, as before), never going back. Which
partitions hold it back the loop says (`sink.app.holding`): those with rows waiting, and
those at their end (Kafka's end-of-partition event) for less than `SINK_IDLE_PARTITION_S`;
with none holding, the stream's watermark is the whole topic's, as `score` gives.

A row is late when its day is closed by its own partition's watermark or by the stream's,
as they stood before it. While every partition has rows waiting (a backlog) the stream's
is never past the partition's own, so a row's lateness is its partition's alone: the same
whatever the batch cuts, the order the partitions are read in, worker slices or restarts.
What depends on timing: a partition at its end longer than `SINK_IDLE_PARTITION_S` while
the others moved the stream's watermark on, whose later rows are for days it closed (late:
a reader may have refreshed that day); and, in a partition of fewer than `quorum`
customers, a row more than `CLOSE_AFTER` behind the partition's latest time (late once the
stream's watermark is past its day, which depends on how far the other partitions were
read).
"""

from __future__ import annotations

from collections.abc import Collection, KeysView, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from sink.watermark import Watermark, time_key

#: A row as the clock takes it: customer id and timestamp cells.
EventTime = tuple[str, str]


def _text(key: str) -> str:
    return key[:19] if key.endswith(".000000") else key


def reach(mark: Watermark) -> str:
    """How far a partition has read (`time_key`, "" for nothing yet): its watermark, or its
    latest time while it has fewer than `quorum` customers."""
    if len(mark.kept) >= mark.quorum:
        return mark.key
    return max(mark.kept.values(), default=mark.key)


class StreamClock:
    """The partitions' watermarks and the stream's (see the module docstring)."""

    __slots__ = ("key", "parts", "whole")

    def __init__(self, whole: Watermark, floor: str = "") -> None:
        #: Every row's watermark: the stream's once no partition has rows waiting.
        self.whole = whole
        self.parts: dict[int, Watermark] = {}
        #: The stream's watermark (`time_key`, "" for none): what has closed days.
        self.key = time_key(floor) if floor else ""

    @property
    def value(self) -> str:
        """The stream's watermark as ISO text, "" while there is none."""
        return _text(self.key) if self.key else ""

    def _mark(self, partition: int) -> Watermark:
        mark = self.parts.get(partition)
        if mark is None:
            mark = self.parts[partition] = Watermark(self.whole.quorum)
        return mark

    def settle(self, waiting: Collection[int]) -> None:
        """Move the stream's watermark as far as the partitions in `waiting` (rows still to
        read; one never seen holds it where it is) and the whole topic's allow."""
        low = self.whole.key
        for p in waiting:
            mark = self.parts.get(p)
            low = min(low, reach(mark) if mark is not None else "")
        if low > self.key:
            self.key = low

    def take(self, times: Sequence[EventTime], partitions: Sequence[int],
             closes: Mapping[str, str], waiting: Collection[int] = ()) -> dict[str, int]:
        """Take a batch's rows in stream order (`partitions[i]` the partition of
        `times[i]`); return the rows per day that were late (`closes`: each day's closing
        `time_key`, `sink.days.close_key`). `waiting`: the partitions with rows still to
        read after the batch. A run of rows of one partition and one day is late or not as
        a whole: none of its rows can move a watermark past its own day's close."""
        if not times:
            return {}
        last = {p: i for i, p in enumerate(partitions)}  # each partition's last row here
        waiting = set(waiting)
        counts: dict[str, int] = {}
        days = [ts[:10] for _c, ts in times]
        cuts = [i for i, (p, q, d, e) in enumerate(
            zip(partitions, partitions[1:], days, days[1:], strict=False), 1) if p != q or d != e]
        for i, j in zip([0, *cuts], [*cuts, len(times)], strict=True):
            p, day = partitions[i], days[i]
            run = times[i:j]
            mark = self._mark(p)
            if max(self.key, mark.key) >= closes[day]:
                counts[day] = counts.get(day, 0) + j - i
            mark.see_all(run)
            self.whole.see_all(run)
            self.settle(waiting.union(q for q, k in last.items() if k >= j))
        return counts

    def to_json(self) -> dict[str, Any]:
        """The stream's watermark and each partition's (the whole topic's is saved apart,
        as before: `day_watermark`)."""
        return {"value": self.value,
                "partitions": {str(p): m.to_json() for p, m in sorted(self.parts.items())}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None, whole: Watermark) -> StreamClock:
        """The clock `to_json` saved, over `whole`; `None` (a checkpoint of a version with
        one watermark for the topic): that one's value as the stream's, so nothing it closed
        reopens (every partition's rows are late against it), the partitions starting
        afresh."""
        if data is None:
            return cls(whole, whole.value)
        value = str(data["value"])
        if value:
            datetime.fromisoformat(value)  # a ValueError for what no sink wrote
        clock = cls(whole, value)
        for p, saved in dict(data["partitions"]).items():
            part = int(p)
            if part < 0 or str(part) != p:
                raise ValueError(f"{p!r} is no partition")
            mark = Watermark.from_json(saved, whole.quorum)
            if mark.quorum != whole.quorum or mark.floor:
                raise ValueError(f"partition {part}'s watermark is not of the topic's quorum "
                                 f"{whole.quorum} without a floor")
            clock.parts[part] = mark
        return clock


_PARTITION = itemgetter(0)


class PartitionEnds:
    """Which partitions hold the stream's watermark back, from when each reached its end
    (end-of-partition events, `reached`; a row of its own clears it, `row`; the loop gives
    a batch's of both at once, `took`; `at_end` is the one record of which are at their end):
    those with rows waiting, and those at their end for less than `idle_s`
    (`SINK_IDLE_PARTITION_S`: a detector working through a backlog writes one partition's
    rows days behind another's while the sink keeps up). One at its end longer holds nothing,
    so no partition holds a day open for ever. The idle time counts while rows flow: rows
    that come after the whole topic was at its end for `idle_s` or more (a sink started on
    an empty topic, a pause in the stream) give every partition still at its end `idle_s`
    from then."""

    def __init__(self, parts: Collection[int], idle_s: float) -> None:
        self.parts, self.idle_s = set(parts), idle_s
        self.ended: dict[int, float] = {}

    def reached(self, partition: int, now: float) -> None:
        self.ended.setdefault(partition, now)

    def quiet(self, now: float) -> bool:
        """Whether the whole topic has been at its end for `idle_s` or more."""
        return self.parts <= self.ended.keys() and now - max(self.ended.values()) >= self.idle_s

    def row(self, partition: int) -> None:
        self.ended.pop(partition, None)

    @property
    def at_end(self) -> KeysView[int]:
        """The partitions at their end (no row since their last end-of-partition event)."""
        return self.ended.keys()

    def took(self, rows: Sequence[tuple[int, Any, Any]],
             eofs: Sequence[tuple[int, int, float]]) -> None:
        """A batch's events, as `row` and `reached` taken one by one in its order: `rows`
        its rows (partition first), `eofs` its end-of-partition events (partition, how
        many of `rows` came before it, when). Only partitions at their end look at rows,
        so a backlog (none at its end) costs nothing a row."""
        start = 0
        for partition, at, now in eofs:
            self._rows(rows, start, at)
            self.reached(partition, now)
            start = at
        self._rows(rows, start, len(rows))

    def _rows(self, rows: Sequence[tuple[int, Any, Any]], start: int, stop: int) -> None:
        if self.ended and start < stop:
            for partition in set(map(_PARTITION, rows[start:stop])):
                self.ended.pop(partition, None)

    def resumed(self, now: float) -> None:
        """Rows came after a `quiet` topic: the idle time starts again for the rest."""
        for p in self.ended:
            self.ended[p] = now

    def holding(self, now: float) -> set[int]:
        return {p for p in self.parts
                if p not in self.ended or now - self.ended[p] < self.idle_s}
