"""Idempotence on `transaction_id`: a per-partition index of the ids already scored.

An id is kept as a 64-bit BLAKE2b hash with the offset where it was first seen and its event
minute. A transaction whose id was seen in the same partition at an event time within the
horizon of the partition's event-time watermark (the latest event time seen) is a duplicate.
Entries behind the horizon are dropped when the index is compacted; a lookup checks the age
explicitly, so answers never depend on when compaction ran (replays rebuild it identically).

A row dated more than the horizon past the watermark does not move it by itself: one row with
a mistyped year (2026 for 2025, or 2100) would put every id seen before behind the horizon,
and a second replay of the file would be scored again (found by a hostile probe: a whole
partition exported twice). Such rows are noted (`ahead`); once `CONFIRM` have come in a
run, the stream has moved on, and the watermark goes to the earliest of them (never back).
A row within the horizon of the watermark ends the run (the noted rows are forgotten): stray
rows scattered over a long stream no longer add up to a jump (hostile probe, 2026-12-06);
a row behind the horizon (1970) is a stray itself and does not end it. Below
that jump, the watermark is the latest event time seen, as before. The very first row has
no watermark to be measured against: until `CONFIRM` rows have come (`first`), the watermark
is what that rule gives from the earliest of them, so a first row dated years ahead is only
noted ahead too; meanwhile nothing is dropped, as the watermark may still go back.

Memory: sorted numpy arrays, 20 bytes per id (hash 8, offset 8, minute 4), plus the ids
added since the last compaction in a dict (at most max(64k, 1/8 of the arrays)) and those
added since the last checkpoint in another.

Checkpoints write it in segments (`checkpoint_parts`): the ids first seen at offsets
[lo, hi], once; every `MERGE` segments of one level become one of the next (up to
`MAX_LEVEL`), so each id is written at most `MAX_LEVEL + 1` times, and a segment whose
newest id is behind the horizon is deleted. A small head part lists the live segments.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import chain
from operator import attrgetter
from typing import Any

import numpy as np
import orjson

from shared.schemas import MAX_TIMESTAMP
from shared.schemas import TransactionView as Transaction

_MAGIC = b"DDX1"
_SEGMENT = b"DDS1"
HEAD = "dedupe"
MERGE = 4
MAX_LEVEL = 3
_HEADER = struct.Struct("<4sqqq")  # magic, horizon minutes, watermark minute, entries
_NO_WATERMARK = -(1 << 62)
_EPOCH = datetime(1970, 1, 1)
_MINUTE = timedelta(minutes=1)
_I32 = (-(1 << 31), (1 << 31) - 1)
#: The event minutes a row the schema takes can have (1970-2100): a checkpoint's watermark or
#: noted rows outside them came from no row (a restored watermark in 2200 forgot every id).
_ROW_MINUTES = (0, (MAX_TIMESTAMP - datetime(1970, 1, 1)) // timedelta(minutes=1) - 1)
#: Compaction threshold: the pending dict never exceeds max(this, len(arrays) / 8).
MIN_PENDING = 65_536
#: Rows more than the horizon past the watermark that move it (to the earliest of them).
CONFIRM = 64
_AHEAD = struct.Struct("<q")  # after a dump's arrays: how many minutes `ahead` holds


def id_hash(transaction_id: str) -> int:
    """A stable 64-bit hash of an id (the same in every process, unlike `hash`): `id_hashes`
    of one id."""
    return int(id_hashes([transaction_id])[0])


def id_hashes(transaction_ids: Sequence[str], _blake2b: Any = hashlib.blake2b) -> np.ndarray[
        Any, Any]:
    """The stable 64-bit hash of each id (8 bytes of BLAKE2b, little-endian), as uint64: one
    array for a batch, no int per id on the way."""
    digests = b"".join([_blake2b(i.encode(), digest_size=8).digest() for i in transaction_ids])
    return np.frombuffer(digests, "<u8").astype(np.uint64)


def event_minute(tx: Transaction) -> int:
    """Minutes since 1970 of the event time (naive UTC), clamped to 32 bits."""
    ts = tx.timestamp
    if ts.tzinfo is not None:
        ts = ts.replace(tzinfo=None)
    minute: int = (ts - _EPOCH) // _MINUTE
    return minute if _I32[0] <= minute <= _I32[1] else min(max(minute, _I32[0]), _I32[1])


_EPOCH_DAY = _EPOCH.toordinal()
_TIMESTAMP = attrgetter("timestamp")


def event_minutes(txs: Sequence[Transaction]) -> list[int]:
    """`event_minute` of each transaction, from the day's ordinal and the clock's hour and
    minute: the same floor (the seconds are under a minute, a zone is dropped either way),
    without two timedeltas a row (~0.15 us a row against ~0.33)."""
    minutes = [(ts.toordinal() - _EPOCH_DAY) * 1440 + ts.hour * 60 + ts.minute
               for ts in map(_TIMESTAMP, txs)]
    low, high = _I32
    if minutes and (min(minutes) < low or max(minutes) > high):
        return [min(max(m, low), high) for m in minutes]
    return minutes


class DedupeIndex:
    """The ids scored in one partition within `horizon_s` of event time."""

    def __init__(self, horizon_s: float) -> None:
        self.horizon_min = math.ceil(horizon_s / 60)
        self._hashes = np.empty(0, np.uint64)
        self._offsets = np.empty(0, np.int64)
        self._minutes = np.empty(0, np.int32)
        self._pending: dict[int, tuple[int, int]] = {}
        self._watermark = _NO_WATERMARK
        #: Event minutes of the rows seen more than the horizon past the watermark, in
        #: arrival order, until `CONFIRM` of them move it.
        self._ahead: list[int] = []
        #: Event minutes of the first rows, in arrival order, until `CONFIRM` have come
        #: (then None: the watermark is settled; also for an index of an older checkpoint).
        self._first: list[int] | None = []
        #: Ids added since the last checkpoint (hash -> (offset, minute)).
        self._fresh: dict[int, tuple[int, int]] = {}
        #: The segments on the state topic, oldest first: [name, level, lo, hi, newest minute].
        self._segments: list[list[Any]] = []

    def __len__(self) -> int:
        return len(self._hashes) + len(self._pending)

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (the pending dict is bounded, see the module doc)."""
        return self._hashes.nbytes + self._offsets.nbytes + self._minutes.nbytes

    def check(self, txs: Sequence[Transaction], offsets: Sequence[int]) -> list[int | None]:
        """For each transaction in order: the offset where its id was first seen when it is a
        duplicate, else None (and it is added)."""
        keys = id_hashes([t.transaction_id for t in txs])
        hashes: list[int] = keys.tolist()
        minutes = event_minutes(txs)
        found = self._lookup_arrays(keys)
        if found is None and len(set(hashes)) == len(hashes) \
                and self._pending.keys().isdisjoint(hashes):
            # The usual batch: every id new (none known, none twice): all added at once,
            # exactly as the loop below would add them.
            added = dict(zip(hashes, zip(offsets, minutes, strict=True), strict=True))
            self._pending.update(added)
            self._fresh.update(added)
            if minutes:
                latest = max(minutes)
                start = self._watermark
                if self._first is None and not self._ahead \
                        and latest <= start + self.horizon_min:
                    # settled, no row far ahead: `_advance`'s end
                    self._watermark = max(self._watermark, latest)
                else:
                    for minute in minutes:
                        self._advance(minute)
            return [None] * len(hashes)
        return self._check_each(hashes, offsets, minutes, found or [-1] * len(hashes))

    def _advance(self, minute: int) -> None:
        """The watermark after a row of event `minute` (see the module doc)."""
        first = self._first
        if first is None:
            self._follow(minute)
            return
        first.append(minute)  # the first rows: as if the stream began at their earliest
        self._watermark, self._ahead = min(first), []
        for m in first:
            self._follow(m)
        if len(first) >= CONFIRM:
            self._first = None

    def _follow(self, minute: int) -> None:
        if minute <= self._watermark:
            if self._ahead and minute >= self._watermark - self.horizon_min:
                self._ahead = []  # within the horizon: the stream has not moved on
            return
        if self._watermark == _NO_WATERMARK or minute <= self._watermark + self.horizon_min:
            self._watermark, self._ahead = minute, []
            return
        self._ahead.append(minute)
        if len(self._ahead) >= CONFIRM:  # never back: compaction dropped what it passed
            self._watermark = max(self._watermark, min(self._ahead))
            self._ahead = []

    def _check_each(self, hashes: list[int], offsets: Sequence[int], minutes: list[int],
                    found: list[int]) -> list[int | None]:
        out: list[int | None] = []
        pending = self._pending
        for h, off, minute, pos in zip(hashes, offsets, minutes, found, strict=True):
            self._advance(minute)
            cutoff = self._watermark - self.horizon_min
            seen = pending.get(h)
            if seen is not None and seen[1] >= cutoff:
                out.append(seen[0])
                continue
            if pos >= 0 and int(self._minutes[pos]) >= cutoff:
                out.append(int(self._offsets[pos]))
                continue
            pending[h] = self._fresh[h] = (off, minute)
            out.append(None)
        return out

    def forget(self, transaction_id: str) -> None:
        """Undo the addition of an id in the current batch (its record was not scored)."""
        h = id_hash(transaction_id)
        self._pending.pop(h, None)
        self._fresh.pop(h, None)

    def maintain(self) -> None:
        """Compact when the pending ids are many (call between batches)."""
        if len(self._pending) >= max(MIN_PENDING, len(self._hashes) // 8):
            self._compact()

    def _lookup_arrays(self, keys: np.ndarray[Any, Any]) -> list[int] | None:
        """Each hash's position in the arrays, -1 when absent; None when none is there."""
        if not len(self._hashes) or not len(keys):
            return None
        pos = np.searchsorted(self._hashes, keys)
        clipped = np.minimum(pos, len(self._hashes) - 1)
        hit = self._hashes[clipped] == keys
        if not hit.any():
            return None
        return np.where(hit, clipped, -1).tolist()  # type: ignore[no-any-return]

    def _dropped_before(self) -> int:
        """Entries older than this minute may be dropped: none while the watermark is not
        settled (it may still go back)."""
        return _NO_WATERMARK if self._first is not None else self._watermark - self.horizon_min

    def _compact(self) -> None:
        """The pending ids merged into the arrays, those behind the horizon dropped.

        The arrays are sorted by hash, each hash once; the pending ids are distinct (dict
        keys). A pending id replaces an entry with the same hash (an id seen again once its
        entry expired): the entry is taken out and the pending ids, sorted, are inserted at
        their places. Only the pending ids are sorted and the arrays copied in order, not
        the whole index sorted again at each checkpoint (that grew with the ids within the
        horizon, docs/benchmarks.md); the arrays are those of sorting all of them by hash,
        the newer of two equal hashes kept (tests/unit/test_dedupe_compact.py)."""
        cutoff = self._dropped_before()
        n = len(self._pending)
        hashes = np.fromiter(self._pending.keys(), np.uint64, n)
        pairs = np.fromiter(chain.from_iterable(self._pending.values()), np.int64, 2 * n)
        offsets, minutes = pairs[0::2], pairs[1::2].astype(np.int32)  # minutes fit int32
        live = minutes >= cutoff
        order = np.argsort(hashes[live])
        hashes, offsets, minutes = hashes[live][order], offsets[live][order], minutes[live][order]
        keep = self._minutes >= cutoff
        old_h = self._hashes
        if len(old_h) and len(hashes):
            at = np.searchsorted(old_h, hashes)
            inside = at < len(old_h)
            replaced = at[inside][old_h[at[inside]] == hashes[inside]]
            keep[replaced] = False
        old_h, old_o, old_m = old_h[keep], self._offsets[keep], self._minutes[keep]
        at = np.searchsorted(old_h, hashes)
        self._hashes = np.insert(old_h, at, hashes)
        self._offsets = np.insert(old_o, at, offsets)
        self._minutes = np.insert(old_m, at, minutes)
        self._pending = {}

    def _sort_arrays(self) -> None:
        """Arrays as read (a dump of any writer, in any order; segments, older first, a
        hash in several of them): sorted by hash, the later of equal hashes kept, those
        behind the horizon dropped, as `_compact` keeps them."""
        cutoff = self._dropped_before()
        live = self._minutes >= cutoff
        h, o, m = self._hashes[live], self._offsets[live], self._minutes[live]
        order = np.argsort(h, kind="stable")
        h, o, m = h[order], o[order], m[order]
        last = np.ones(len(h), bool)
        last[:-1] = h[1:] != h[:-1]
        self._hashes, self._offsets, self._minutes = h[last], o[last], m[last]

    def dump(self) -> bytes:
        """The whole index as bytes (compacts first)."""
        self._compact()
        head = _HEADER.pack(_MAGIC, self.horizon_min, self._watermark, len(self._hashes))
        ahead = np.array(self._ahead, np.int64)
        first = np.array(self._first or [], np.int64)
        return b"".join([head, self._hashes.tobytes(), self._offsets.tobytes(),
                         self._minutes.tobytes(), _AHEAD.pack(len(ahead)), ahead.tobytes(),
                         _AHEAD.pack(-1 if self._first is None else len(first)),
                         first.tobytes()])

    @classmethod
    def load(cls, data: bytes, horizon_s: float) -> DedupeIndex:
        """An index from `dump()` bytes (the whole-snapshot layout's, read on the upgrade);
        the current horizon applies from now on. Sorted by hash as read, as `from_parts`
        does: a lookup bisects, so a dump of another writer in another order missed every
        duplicate (hostile probe, 2026-12-05); counts that do not fit the bytes are
        `ValueError`."""
        magic, _, watermark, n = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise ValueError(f"not a dedupe index (magic {magic!r})")
        if n < 0 or _HEADER.size + 20 * n > len(data):
            raise ValueError(f"dedupe index counts {n} ids in {len(data)} bytes")
        index = cls(horizon_s)
        at = _HEADER.size
        index._hashes = np.frombuffer(data, np.uint64, n, at).copy()
        index._offsets = np.frombuffer(data, np.int64, n, at + 8 * n).copy()
        index._minutes = np.frombuffer(data, np.int32, n, at + 16 * n).copy()
        _check_watermark(watermark)
        index._watermark = watermark
        at += 20 * n
        index._first = [] if watermark == _NO_WATERMARK else None  # unless the dump says
        if len(data) > at:  # written since `ahead` (an older dump has none)
            (k,) = _AHEAD.unpack_from(data, at)
            _fits(k, data, at)
            index._ahead = np.frombuffer(data, np.int64, k, at + _AHEAD.size).tolist()
            at += _AHEAD.size + 8 * k
        if len(data) > at:  # written since `first` (-1: settled)
            (k,) = _AHEAD.unpack_from(data, at)
            if k != -1:
                _fits(k, data, at)
                index._first = np.frombuffer(data, np.int64, k, at + _AHEAD.size).tolist()
            at += _AHEAD.size + 8 * max(k, 0)
        if at != len(data):
            raise ValueError(f"dedupe index counts {n} ids in {len(data)} bytes")
        _check_noted(index._ahead, index._first)
        index._sort_arrays()
        return index

    # --- incremental checkpoints ------------------------------------------------------

    def _entries(self, lo: int, hi: int) -> tuple[np.ndarray[Any, Any], ...]:
        """Live ids first seen at offsets [lo, hi], as (hashes, offsets, minutes)."""
        if self._pending:
            self._compact()
        cutoff = self._dropped_before()
        keep = (self._offsets >= lo) & (self._offsets <= hi) & (self._minutes >= cutoff)
        return self._hashes[keep], self._offsets[keep], self._minutes[keep]

    def _segment(self, level: int, lo: int, hi: int) -> tuple[list[Any], bytes]:
        h, o, m = self._entries(lo, hi)
        newest = int(m.max()) if len(m) else _NO_WATERMARK
        data = b"".join([_SEGMENT, struct.pack("<q", len(h)), h.tobytes(), o.tobytes(),
                         m.tobytes()])
        return [f"{HEAD}.{lo}", level, lo, hi, newest], data

    def checkpoint_parts(self, full: bool = False) -> dict[str, bytes | None]:
        """The records of the index for the next checkpoint, by part name: new or merged
        segments' bytes, None for a segment already written, and the head. `full`: one
        segment of every live id (a new epoch)."""
        out: dict[str, bytes | None] = {}
        cutoff = self._dropped_before()
        if full:
            self._segments = []
            self._compact()
            if len(self._offsets):
                # Top level: never merged again (it holds the whole history in horizon).
                info, data = self._segment(MAX_LEVEL, int(self._offsets.min()),
                                           int(self._offsets.max()))
                self._segments.append(info)
                out[info[0]] = data
        elif self._fresh:
            offsets = [v[0] for v in self._fresh.values()]
            info, data = self._segment(0, min(offsets), max(offsets))
            self._segments.append(info)
            out[info[0]] = data
        self._fresh = {}
        segs = self._segments
        while (len(segs) >= MERGE and segs[-1][1] < MAX_LEVEL
               and all(s[1] == segs[-1][1] for s in segs[-MERGE:])):
            merged = segs[-MERGE:]
            for s in merged:
                out.pop(s[0], None)
            info, data = self._segment(merged[0][1] + 1, merged[0][2], merged[-1][3])
            segs[-MERGE:] = [info]
            out[info[0]] = data
        self._segments = [s for s in segs if s[4] >= cutoff]
        for s in self._segments:
            out.setdefault(s[0], None)
        head = {"horizon_min": self.horizon_min, "watermark": self._watermark,
                "segments": self._segments, "ahead": self._ahead, "first": self._first}
        out[HEAD] = _SEGMENT + orjson.dumps(head)
        return {k: v for k, v in out.items() if k == HEAD or any(
            s[0] == k for s in self._segments)}

    @classmethod
    def from_parts(cls, parts: dict[str, bytes], horizon_s: float) -> DedupeIndex:
        """An index from a checkpoint's parts (head and segments); the current horizon
        applies from now on."""
        head_data = parts[HEAD]
        if not head_data.startswith(_SEGMENT):
            raise ValueError("not a dedupe index head")
        head = orjson.loads(head_data[len(_SEGMENT):])
        _check_head(head)
        index = cls(horizon_s)
        index._watermark = head["watermark"]
        index._ahead = [int(m) for m in head.get("ahead", [])]  # none in an older head
        first = head.get("first", [] if index._watermark == _NO_WATERMARK else None)
        index._first = None if first is None else [int(m) for m in first]  # None: settled
        _check_watermark(index._watermark)
        _check_noted(index._ahead, index._first)
        index._segments = head["segments"]
        arrays: list[list[np.ndarray[Any, Any]]] = [[], [], []]
        for name, *_ in head["segments"]:
            data = parts.get(name)
            if data is None or not data.startswith(_SEGMENT):
                raise ValueError(f"dedupe segment {name} missing or not a segment")
            (n,) = struct.unpack_from("<q", data, len(_SEGMENT))
            at = len(_SEGMENT) + 8
            if n < 0 or at + 20 * n != len(data):  # hash, offset, minute: 8 + 8 + 4
                raise ValueError(f"dedupe segment {name} counts {n} ids in {len(data)} bytes")
            arrays[0].append(np.frombuffer(data, np.uint64, n, at))
            arrays[1].append(np.frombuffer(data, np.int64, n, at + 8 * n))
            arrays[2].append(np.frombuffer(data, np.int32, n, at + 16 * n))
        if head["segments"]:
            # Older segments first: for an id in two of them the newer entry wins.
            index._hashes = np.concatenate(arrays[0])
            index._offsets = np.concatenate(arrays[1])
            index._minutes = np.concatenate(arrays[2])
            index._pending = {}
            index._sort_arrays()
        return index


def _fits(k: int, data: bytes, at: int) -> None:
    """A dump's count of minutes at `at`, `ValueError` unless its minutes follow it."""
    if k < 0 or at + _AHEAD.size + 8 * k > len(data):
        raise ValueError(f"dedupe index counts {k} minutes in {len(data) - at} bytes")


def _check_watermark(watermark: int) -> None:
    if watermark != _NO_WATERMARK and not _ROW_MINUTES[0] <= watermark <= _ROW_MINUTES[1]:
        raise ValueError(f"a dedupe watermark (minute {watermark}) no row of 1970-2100 has")


def _check_noted(ahead: list[int], first: list[int] | None) -> None:
    """`ValueError` unless the rows noted are fewer than `CONFIRM` (that many move the
    watermark, so no writer keeps them: the next row ahead jumped at once), in 1970-2100."""
    for rows in (ahead, first or []):
        if len(rows) >= CONFIRM or any(
                not _ROW_MINUTES[0] <= m <= _ROW_MINUTES[1] for m in rows):
            raise ValueError(f"a dedupe checkpoint noting {len(rows)} rows (under {CONFIRM}, "
                             "in 1970-2100, expected)")


def _ints(value: object) -> bool:
    return isinstance(value, list) and all(type(v) is int for v in value)


def _check_head(head: object) -> None:
    """A head as `checkpoint_parts` writes it, else ValueError: a checkpoint holding another
    (a bug's, or another writer's whose checksums agree) is unusable, and the partition is
    rebuilt from its input history, not stopped later by a `watermark` of "x"."""
    ok = (isinstance(head, dict) and type(head.get("watermark")) is int
          and isinstance(head.get("segments"), list)
          and all(isinstance(seg, list) and len(seg) == 5 and isinstance(seg[0], str)
                  and _ints(seg[1:]) for seg in head["segments"])
          and _ints(head.get("ahead", []))
          and (head.get("first") is None or _ints(head["first"])))
    if not ok:
        raise ValueError("a dedupe index head of another shape than this version writes")
