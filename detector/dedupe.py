"""Idempotence on `transaction_id`: a per-partition index of the ids already scored.

An id is kept as a 64-bit BLAKE2b hash with the offset where it was first seen and its event
minute. A transaction whose id was seen in the same partition at an event time within the
horizon of the partition's event-time watermark (the latest event time seen) is a duplicate.
Entries behind the horizon are dropped when the index is compacted; a lookup checks the age
explicitly, so answers never depend on when compaction ran (replays rebuild it identically).

Memory: sorted numpy arrays, 20 bytes per id (hash 8, offset 8, minute 4), plus the ids
added since the last compaction in a dict (at most max(64k, 1/8 of the arrays)).
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from shared.schemas import TransactionView as Transaction

_MAGIC = b"DDX1"
_HEADER = struct.Struct("<4sqqq")  # magic, horizon minutes, watermark minute, entries
_NO_WATERMARK = -(1 << 62)
_EPOCH = datetime(1970, 1, 1)
_MINUTE = timedelta(minutes=1)
_I32 = (-(1 << 31), (1 << 31) - 1)
#: Compaction threshold: the pending dict never exceeds max(this, len(arrays) / 8).
MIN_PENDING = 65_536


def id_hash(transaction_id: str, _blake2b: Any = hashlib.blake2b,
            _from_bytes: Any = int.from_bytes) -> int:
    """A stable 64-bit hash of an id (the same in every process, unlike `hash`)."""
    value: int = _from_bytes(_blake2b(transaction_id.encode(), digest_size=8).digest(), "little")
    return value


def event_minute(tx: Transaction) -> int:
    """Minutes since 1970 of the event time (naive UTC), clamped to 32 bits."""
    ts = tx.timestamp
    if ts.tzinfo is not None:
        ts = ts.replace(tzinfo=None)
    minute: int = (ts - _EPOCH) // _MINUTE
    return minute if _I32[0] <= minute <= _I32[1] else min(max(minute, _I32[0]), _I32[1])


class DedupeIndex:
    """The ids scored in one partition within `horizon_s` of event time."""

    def __init__(self, horizon_s: float) -> None:
        self.horizon_min = math.ceil(horizon_s / 60)
        self._hashes = np.empty(0, np.uint64)
        self._offsets = np.empty(0, np.int64)
        self._minutes = np.empty(0, np.int32)
        self._pending: dict[int, tuple[int, int]] = {}
        self._watermark = _NO_WATERMARK

    def __len__(self) -> int:
        return len(self._hashes) + len(self._pending)

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (the pending dict is bounded, see the module doc)."""
        return self._hashes.nbytes + self._offsets.nbytes + self._minutes.nbytes

    def check(self, txs: Sequence[Transaction], offsets: Sequence[int]) -> list[int | None]:
        """For each transaction in order: the offset where its id was first seen when it is a
        duplicate, else None (and it is added)."""
        hashes = [id_hash(t.transaction_id) for t in txs]
        found = self._lookup_arrays(hashes)
        out: list[int | None] = []
        pending = self._pending
        for tx, h, off, pos in zip(txs, hashes, offsets, found, strict=True):
            minute = event_minute(tx)
            if minute > self._watermark:
                self._watermark = minute
            cutoff = self._watermark - self.horizon_min
            seen = pending.get(h)
            if seen is not None and seen[1] >= cutoff:
                out.append(seen[0])
                continue
            if pos >= 0 and int(self._minutes[pos]) >= cutoff:
                out.append(int(self._offsets[pos]))
                continue
            pending[h] = (off, minute)
            out.append(None)
        return out

    def forget(self, transaction_id: str) -> None:
        """Undo the addition of an id in the current batch (its record was not scored)."""
        self._pending.pop(id_hash(transaction_id), None)

    def maintain(self) -> None:
        """Compact when the pending ids are many (call between batches)."""
        if len(self._pending) >= max(MIN_PENDING, len(self._hashes) // 8):
            self._compact()

    def _lookup_arrays(self, hashes: list[int]) -> list[int]:
        if not len(self._hashes):
            return [-1] * len(hashes)
        keys = np.fromiter(hashes, np.uint64, len(hashes))
        pos = np.searchsorted(self._hashes, keys)
        clipped = np.minimum(pos, len(self._hashes) - 1)
        hit = self._hashes[clipped] == keys
        return np.where(hit, clipped, -1).tolist()  # type: ignore[no-any-return]

    def _compact(self) -> None:
        cutoff = self._watermark - self.horizon_min
        n = len(self._pending)
        hashes = np.fromiter(self._pending.keys(), np.uint64, n)
        offsets = np.fromiter((v[0] for v in self._pending.values()), np.int64, n)
        minutes = np.fromiter((v[1] for v in self._pending.values()), np.int32, n)
        # A pending id may replace an expired entry with the same hash: old entries first,
        # then the stable sort keeps the newer last, and expired ones are dropped anyway.
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

    def dump(self) -> bytes:
        """The whole index as bytes (compacts first)."""
        self._compact()
        head = _HEADER.pack(_MAGIC, self.horizon_min, self._watermark, len(self._hashes))
        return b"".join([head, self._hashes.tobytes(), self._offsets.tobytes(),
                         self._minutes.tobytes()])

    @classmethod
    def load(cls, data: bytes, horizon_s: float) -> DedupeIndex:
        """An index from `dump()` bytes; the current horizon applies from now on."""
        magic, _, watermark, n = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise ValueError(f"not a dedupe index (magic {magic!r})")
        index = cls(horizon_s)
        at = _HEADER.size
        index._hashes = np.frombuffer(data, np.uint64, n, at).copy()
        index._offsets = np.frombuffer(data, np.int64, n, at + 8 * n).copy()
        index._minutes = np.frombuffer(data, np.int32, n, at + 16 * n).copy()
        index._watermark = watermark
        return index
