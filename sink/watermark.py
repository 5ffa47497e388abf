"""How far a stream's event time has got: the latest time at least `quorum` customers reached.

Days close by one per partition of the scored topic (`sink.clock`) and cases age out of
cases.csv's recent ones (`sink.cases`) by one over the flagged rows. The latest event
time seen would let one row move it: a row dated 2100 (the schema takes 1970-2100: a
device clock off by decades, a mistyped year) would close every day before it. Here one
customer (one stray row, or a device wrong on all its rows) can never move it alone: it
is the `quorum`-th largest of the customers' latest times, kept exactly by holding only
the `quorum` customers with the latest ones (a customer outside them can only enter by
beating the smallest), so it does not depend on how the stream is cut into batches.
`quorum = 1` is the latest time seen. A stream with fewer customers than `quorum` has no
watermark (nothing closes). `floor`: a time it never goes below (what a checkpoint from
before the quorum recorded: its latest time seen, so nothing it closed reopens), dropped
once the quorum's time passes it.

Times are ISO text compared by `time_key`, the one comparison of event times in the sink.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from heapq import heapify, heappop, heappush, heapreplace
from itertools import islice
from operator import le
from typing import Any

#: `EXPORTS_WATERMARK_CUSTOMERS`' default.
DEFAULT_QUORUM = 8


def time_key(iso: str) -> str:
    """ISO text padded to microseconds: `isoformat()` omits zero ones, and with them padded
    lexical order is time order."""
    return iso if len(iso) > 19 else iso + ".000000"


def _text(key: str) -> str:
    """The ISO text of a key as `isoformat()` writes it (no zero microseconds)."""
    return key[:19] if key.endswith(".000000") else key


class Watermark:
    """The latest event time at least `quorum` distinct customers have reached (see the
    module docstring); `see` each row's customer and time in stream order."""

    __slots__ = ("_heap", "_low", "floor", "kept", "key", "quorum")

    def __init__(self, quorum: int = DEFAULT_QUORUM, floor: str = "") -> None:
        if quorum < 1:
            raise ValueError(f"a watermark needs a quorum of at least 1 customer, not {quorum}")
        self.quorum = quorum
        self.floor = time_key(floor) if floor else ""
        #: The `quorum` customers with the latest times (fewer until that many were seen):
        #: customer -> its latest time (`time_key`).
        self.kept: dict[str, str] = {}
        #: (time, customer) of the kept customers, smallest first; an entry whose customer
        #: has moved on since is stale, skipped when it comes to the top.
        self._heap: list[tuple[str, str]] = []
        self._low = ""  # the smallest kept time once `quorum` customers are kept, else ""
        self.key = self.floor  # the watermark's `time_key` ("" for none yet)

    @property
    def value(self) -> str:
        """The watermark as ISO text, "" while there is none."""
        return _text(self.key) if self.key else ""

    def see(self, customer: str, ts: str) -> None:
        """Take one row (its customer id and timestamp cell)."""
        k = ts if len(ts) > 19 else ts + ".000000"  # time_key, inlined: once per row
        kept = self.kept
        held = kept.get(customer)
        if held is None:
            if len(kept) < self.quorum:
                kept[customer] = k
                heappush(self._heap, (k, customer))
                if len(kept) == self.quorum:
                    self._settle()
            elif k > self._low:  # it replaces the customer holding the smallest kept time
                heap = self._heap
                del kept[heapreplace(heap, (k, customer))[1]]
                kept[customer] = k
                while kept.get(heap[0][1]) != heap[0][0]:  # left by a customer moved on
                    heappop(heap)
                low = self._low = heap[0][0]
                if low >= self.floor:
                    self.key, self.floor = low, ""  # passed: it can no longer matter
                else:
                    self.key = self.floor
        elif k > held:  # a kept customer's time only moves forward
            kept[customer] = k
            heappush(self._heap, (k, customer))
            if held == self._low or len(self._heap) > 4 * self.quorum + 64:
                self._settle()

    def see_all(self, rows: Iterable[tuple[str, str]]) -> None:
        see = self.see
        for customer, ts in rows:
            see(customer, ts)

    def see_latest(self, customers: Sequence[str], times: Sequence[str]) -> None:
        """The watermark (`key`, `value`) `see_all` of these rows gives, for a caller that
        reads nothing else (`score`'s run.json): it is the `quorum`-th largest of the
        customers' latest times, so a customer's earlier rows of a batch cannot matter.
        When the batch's times never go back, each customer's latest is its last row,
        taken by a dict in C and seen alone (~0.3 us a row less); otherwise every row is
        seen. Which of two customers with equal times is kept may differ from `see_all`."""
        keys = list(map(time_key, times))
        if all(map(le, keys, islice(keys, 1, None))):
            self.see_all(dict(zip(customers, keys, strict=True)).items())
        else:
            self.see_all(zip(customers, times, strict=True))

    def _settle(self) -> None:
        """Drop stale entries off the top (rebuild the heap when they pile up); the top is
        then the smallest kept time."""
        heap, kept = self._heap, self.kept
        if len(heap) > 4 * self.quorum + 64:
            heap[:] = [(k, c) for c, k in kept.items()]
            heapify(heap)
        while heap and kept.get(heap[0][1]) != heap[0][0]:
            heappop(heap)
        self._low = heap[0][0] if len(kept) >= self.quorum else ""
        if self._low and self._low >= self.floor:
            self.floor = ""  # passed: it can no longer matter (a state as without it)
        self.key = max(self.floor, self._low)

    def to_json(self) -> dict[str, Any]:
        return {"quorum": self.quorum, "floor": _text(self.floor) if self.floor else "",
                "kept": {c: _text(k) for c, k in sorted(self.kept.items())}}

    @classmethod
    def from_json(cls, data: dict[str, Any] | str | None, quorum: int) -> Watermark:
        """A watermark saved by `to_json`, or one from a checkpoint written before the quorum:
        its latest event time seen (ISO text, or nothing) as the floor, with `quorum`."""
        if data is None or isinstance(data, str):
            return cls(quorum, data or "")
        mark = cls(int(data["quorum"]), str(data["floor"]))
        mark.kept = {str(c): time_key(str(t)) for c, t in data["kept"].items()}
        if len(mark.kept) > mark.quorum:
            raise ValueError(f"a watermark keeps {len(mark.kept)} customers, "
                             f"more than its quorum {mark.quorum}")
        mark._heap = sorted((k, c) for c, k in mark.kept.items())  # sorted: a heap
        mark._settle()
        return mark


#: Digits reversed: for the fixed-width ISO text `time_key` gives, reversed digits order
#: times backwards, so a `Watermark` over them holds the earliest times.
_BACKWARDS = str.maketrans("0123456789", "9876543210")


class EarliestMark:
    """The earliest event time at least `quorum` customers have reached (the `quorum`-th
    smallest of the customers' first times): a `Watermark` on time run backwards, so one
    stray row dated 1970 cannot move it alone either. `floor`: a time it never goes above
    (a state saved before it existed: its earliest time seen). `value` "" while fewer than
    `quorum` customers were seen (and no floor)."""

    __slots__ = ("mark",)

    def __init__(self, quorum: int = DEFAULT_QUORUM, floor: str = "") -> None:
        self.mark = Watermark(quorum, time_key(floor).translate(_BACKWARDS) if floor else "")

    @property
    def value(self) -> str:
        key = self.mark.key
        return _text(key.translate(_BACKWARDS)) if key else ""

    def see(self, customer: str, ts: str) -> None:
        """Take one row (its customer id and timestamp cell)."""
        self.mark.see(customer, time_key(ts).translate(_BACKWARDS))

    def needs(self, earliest: str) -> bool:
        """Whether rows whose earliest time is `earliest` can change it: not once `quorum`
        customers are kept and it is no earlier than all their first times."""
        low = self.mark._low  # the kept customers' latest first time
        return not low or time_key(earliest).translate(_BACKWARDS) > low

    def absorb(self, other: EarliestMark) -> None:
        """Take what `other` saw (rows counted elsewhere): its kept customers' first times
        are all that can move this one (a customer outside them has `quorum` earlier)."""
        for customer, key in other.mark.kept.items():
            self.mark.see(customer, key)
        if other.mark.floor > self.mark.floor:
            self.mark.floor = other.mark.floor
            self.mark.key = max(self.mark.key, self.mark.floor)

    def to_json(self) -> dict[str, Any]:
        return {"quorum": self.mark.quorum,
                "floor": self._real(self.mark.floor),
                "kept": {c: self._real(k) for c, k in sorted(self.mark.kept.items())}}

    @staticmethod
    def _real(key: str) -> str:
        return _text(key.translate(_BACKWARDS)) if key else ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EarliestMark:
        out = cls(int(data["quorum"]), str(data["floor"]))
        saved = {"quorum": out.mark.quorum, "floor": out.mark.floor,
                 "kept": {str(c): time_key(str(t)).translate(_BACKWARDS)
                          for c, t in data["kept"].items()}}
        out.mark = Watermark.from_json(saved, out.mark.quorum)
        return out


class RowQuorum:
    """The earliest and the latest event time at least `quorum` rows reached (the
    `quorum`-th smallest and largest row time): the dashboards' date range while fewer than
    `quorum` customers were seen (`shared.date_range`), so with few customers one stray row
    dated 1970 or 2100 cannot move it alone either. Keeps the `quorum` smallest and largest
    times (`time_key`) seen, so it does not depend on how the rows are cut into batches;
    `values` ("", "") while fewer than `quorum` rows were seen."""

    __slots__ = ("high", "low", "quorum")

    def __init__(self, quorum: int = DEFAULT_QUORUM) -> None:
        if quorum < 1:
            raise ValueError(f"a row quorum needs at least 1 row, not {quorum}")
        self.quorum = quorum
        self.low: list[str] = []  # the smallest keys, ascending
        self.high: list[str] = []  # the largest keys, ascending

    @property
    def values(self) -> tuple[str, str]:
        if len(self.high) < self.quorum:
            return "", ""
        return _text(self.low[-1]), _text(self.high[0])

    def see_keys(self, keys: Iterable[str]) -> None:
        """Take a batch's row times, as `time_key`s."""
        got = sorted(keys)
        self._join(got[:self.quorum], got[-self.quorum:])

    def absorb(self, other: RowQuorum) -> None:
        """Take what `other` saw (rows counted elsewhere): its kept times are all that can
        move this one."""
        self._join(other.low, other.high)

    def _join(self, low: list[str], high: list[str]) -> None:
        q = self.quorum
        self.low = sorted(self.low + low)[:q]
        self.high = sorted(self.high + high)[-q:]

    def to_json(self) -> dict[str, Any]:
        return {"quorum": self.quorum, "low": [_text(k) for k in self.low],
                "high": [_text(k) for k in self.high]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RowQuorum:
        out = cls(int(data["quorum"]))
        low, high = ([time_key(str(t)) for t in data[side]] for side in ("low", "high"))
        if len(low) > out.quorum or len(high) > out.quorum or len(low) != len(high):
            raise ValueError(f"a row quorum of {out.quorum} keeps {len(low)} and {len(high)} "
                             "times")
        out.low, out.high = sorted(low), sorted(high)
        return out
