"""Incremental state checkpoints on the compacted state topic (pure codec).

A checkpoint of input partition p, taken before input offset S, writes under the prefix
`<group>/<topic>/<p>` (the group id percent-encoded, so no two groups' keys can meet):

    <prefix>/c/<customer id>   one customer's state, or a tombstone when it was evicted
    <prefix>/p/<name>/<i>      chunk i of a part: meta, population, calibration, sample,
                               model, dedupe (chunked only above the chunk size)
    <prefix>/m                 the manifest: epoch, checkpoint number k, S, customer count,
                               the input's partition count (since 2026-12-05) and, per part,
                               the checkpoint that wrote it, chunks, size, SHA-256

Only customers changed since checkpoint k-1 are written, and only parts whose bytes changed.
Every record carries headers `ck` (k) and `ep` (the epoch) and travels in the same Kafka
transaction as the input offsets, so a read_committed reader sees whole checkpoints only;
compaction keeps the latest record per key, which is all a restore needs: a customer written
at k and untouched since is still the latest record of its key at k+5. An epoch starts
whenever a partition's state does not come from a checkpoint (a new group, a rebuild from
the input, the upgrade from a whole snapshot): its first checkpoint writes everything and
deletes every other key left under the prefix; records of another epoch are never read.

Before this layout a partition's state was one whole snapshot (detector.snapshots), read
once on the upgrade.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from detector.core.stateparts import Changes, NewerStateError
from detector.snapshots import (
    Headers,
    ReadHeaders,
    SnapshotAssembler,
    SnapshotError,
    SnapshotRecord,
    count_of,
    manifest_of,
)

LAYOUT = 1
H_CHECKPOINT = "ck"
H_EPOCH = "ep"


def state_prefix(group_id: str, topic: str, partition: int) -> str:
    """Key prefix of one partition's checkpoint records."""
    return f"{quote(group_id, safe='')}/{topic}/{partition}"


def new_epoch() -> str:
    return os.urandom(8).hex()


@dataclass
class Ledger:
    """What the state topic holds for one partition as of the last checkpoint written."""

    epoch: str = field(default_factory=new_epoch)
    #: The last checkpoint's number (0: none yet in this epoch: the next one writes all).
    number: int = 0
    #: Per part: {"checkpoint", "chunks", "size", "sha256"} of its latest records.
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Keys under the prefix that no longer belong to the state: deleted by the next one.
    stale: list[bytes] = field(default_factory=list)


def encode_checkpoint(prefix: str, next_offset: int, changes: Changes, ledger: Ledger,
                      chunk_bytes: int, partitions: int | None = None) -> list[SnapshotRecord]:
    """The records of the next checkpoint (manifest last); `ledger` moves on to it.

    `partitions`, the input's partition count, is kept in the manifest: a restore under
    another count refuses (customers would be split: `Restored.partitions`)."""
    k = ledger.number + 1
    head: Headers = [(H_CHECKPOINT, str(k).encode()), (H_EPOCH, ledger.epoch.encode())]
    upserts = []
    for cid, value in changes.customers:
        key = f"{prefix}/c/{cid}".encode()
        if len(key) + len(value) > chunk_bytes:
            raise SnapshotError(f"{prefix}: the state of customer {cid!r} takes "
                                f"{len(value):,} bytes, over the chunk size {chunk_bytes:,} "
                                "(raise DETECTOR_SNAPSHOT_CHUNK_BYTES or lower the core's "
                                "per-customer bounds)")
        upserts.append(SnapshotRecord(key, value, head))
    records = [SnapshotRecord(f"{prefix}/c/{cid}".encode(), None, head)
               for cid in changes.removed]
    records += upserts
    parts = dict(ledger.parts)
    for name, data in changes.parts.items():
        old = ledger.parts.get(name)
        if data is None:
            if old is None:
                raise SnapshotError(f"{prefix}: part {name!r} is to be kept as written, but "
                                    "no checkpoint of this epoch wrote it")
            continue
        sha = hashlib.sha256(data).hexdigest()
        if old is not None and old["sha256"] == sha and old["size"] == len(data):
            continue  # unchanged since the checkpoint that wrote it
        chunks = [data[i: i + chunk_bytes] for i in range(0, len(data), chunk_bytes)] or [b""]
        records += [SnapshotRecord(f"{prefix}/p/{name}/{i}".encode(), chunk, head)
                    for i, chunk in enumerate(chunks)]
        records += [SnapshotRecord(f"{prefix}/p/{name}/{i}".encode(), None, head)
                    for i in range(len(chunks), old["chunks"] if old else 0)]
        parts[name] = {"checkpoint": k, "chunks": len(chunks), "size": len(data),
                       "sha256": sha}
    for name in sorted(set(ledger.parts) - set(changes.parts)):
        records += [SnapshotRecord(f"{prefix}/p/{name}/{i}".encode(), None, head)
                    for i in range(parts.pop(name)["chunks"])]
    manifest = {"layout": LAYOUT, "epoch": ledger.epoch, "checkpoint": k,
                "next_offset": next_offset, "customers": changes.count, "parts": parts}
    if partitions is not None:
        manifest["partitions"] = partitions
    records.append(SnapshotRecord(f"{prefix}/m".encode(), json.dumps(manifest).encode(), head))
    written = {r.key for r in records if r.value is not None}
    stale = [SnapshotRecord(key, None, head) for key in ledger.stale if key not in written]
    ledger.number, ledger.parts, ledger.stale = k, parts, []
    return stale + records


@dataclass
class Restored:
    """A partition's latest checkpoint: parts by name and (customer id, record) pairs, or,
    read once on the upgrade, the whole snapshot of the previous layout (`whole`)."""

    next_offset: int
    ledger: Ledger
    parts: dict[str, bytes] = field(default_factory=dict)
    customers: list[tuple[str, bytes]] = field(default_factory=list)
    whole: bytes | None = None
    #: The input's partition count when it was written (None: not recorded, before
    #: 2026-12-05, or the previous layout's whole snapshot).
    partitions: int | None = None


_Entry = tuple[bytes, int, str]  # value, checkpoint, epoch


@dataclass
class CheckpointAssembler:
    """Feed it the state partition in offset order; `result()` is the latest checkpoint."""

    prefix: str
    #: The previous layout's prefix (detector.snapshots), read when no manifest exists.
    legacy_prefix: str | None = None
    #: The latest manifest's bytes, read in `result` (None: none, or a tombstone).
    _manifest: bytes | None = None
    _customers: dict[str, _Entry] = field(default_factory=dict)
    _parts: dict[tuple[str, int], _Entry] = field(default_factory=dict)
    #: Keys whose latest record's `ck` or `ep` header is unreadable, and why: such a record
    #: makes the checkpoint unusable, and its key is deleted by the new epoch.
    _unreadable: dict[bytes, str] = field(default_factory=dict)
    _legacy_keys: set[bytes] = field(default_factory=set)
    _legacy: SnapshotAssembler | None = None

    def __post_init__(self) -> None:
        if self.legacy_prefix is not None:
            self._legacy = SnapshotAssembler(self.legacy_prefix)

    def feed(self, key: bytes | None, value: bytes | None, headers: ReadHeaders | None) -> None:
        if key is None:
            return
        name = key.decode(errors="replace")
        if self._legacy is not None and self._is_legacy(name):
            self._legacy.feed(key, value, headers)
            if value is None:
                self._legacy_keys.discard(key)
            else:
                self._legacy_keys.add(key)
            return
        if not name.startswith(self.prefix + "/"):
            return
        found = dict(headers or [])
        if H_CHECKPOINT not in found or H_EPOCH not in found:
            return  # not a record of this layout
        rest = name[len(self.prefix) + 1:]
        if rest == "m":
            self._manifest = value
            return
        kind, _, what = rest.partition("/")
        if kind not in ("c", "p"):
            return
        entry = None
        self._unreadable.pop(key, None)
        if value is not None:
            stamp = _stamp(found[H_CHECKPOINT], found[H_EPOCH])
            if stamp is None:
                self._unreadable[key] = (f"its headers ck={found[H_CHECKPOINT]!r:.40} "
                                         f"ep={found[H_EPOCH]!r:.40} are unreadable")
            else:
                entry = (value, *stamp)
        if kind == "c":
            _put(self._customers, what, entry)
        elif kind == "p":
            part, _, index = what.rpartition("/")
            if index.isdigit():
                _put(self._parts, (part, int(index)), entry)

    def _is_legacy(self, name: str) -> bool:
        base, sep, index = name.rpartition("#")
        return name == self.legacy_prefix or (sep == "#" and base == self.legacy_prefix
                                              and index.isdigit())

    def keys(self) -> list[bytes]:
        """Every live key under the prefixes (what a new epoch deletes)."""
        out = sorted(self._legacy_keys)
        if self._manifest is not None:
            out.append(f"{self.prefix}/m".encode())
        out += [f"{self.prefix}/c/{cid}".encode() for cid in self._customers]
        out += [f"{self.prefix}/p/{n}/{i}".encode() for n, i in self._parts]
        return out + sorted(self._unreadable)

    def result(self) -> Restored | None:
        """The latest checkpoint, else the latest whole snapshot, else None; `SnapshotError`
        when the latest one is incomplete or corrupt, `NewerStateError` when a newer
        release wrote it (a later layout)."""
        if self._manifest is None:
            whole = self._legacy.result() if self._legacy is not None else None
            if whole is None:
                return None
            return Restored(whole[0], Ledger(stale=self.keys()), whole=whole[1])
        m = manifest_of(self.prefix, self._manifest)
        layout = m.get("layout")
        if type(layout) is int and layout > LAYOUT:
            raise NewerStateError(f"checkpoint layout {layout}; this release reads layout "
                                  f"{LAYOUT}")
        if layout != LAYOUT:
            raise SnapshotError(f"{self.prefix}: unknown checkpoint layout {m.get('layout')}")
        try:
            return self._checkpoint(m)
        except SnapshotError as exc:
            with contextlib.suppress(SnapshotError):  # as far as the manifest still says
                exc.next_offset = count_of(self.prefix, m, "next_offset")  # (`recovery`)
            raise

    def _checkpoint(self, m: dict[str, Any]) -> Restored:
        """The checkpoint of manifest `m` (of this release's layout) from its records."""
        if self._unreadable:
            key, why = next(iter(sorted(self._unreadable.items())))
            raise SnapshotError(f"{self.prefix}: the record {key.decode(errors='replace')!r}: "
                                f"{why}")
        epoch, k, offset, count, manifest_parts, partitions = _manifest_fields(self.prefix, m)
        where = f"{self.prefix}: checkpoint {k} @{offset}"
        stale = sorted(self._legacy_keys)
        parts: dict[str, bytes] = {}
        for name, info in manifest_parts.items():
            pieces = []
            for i in range(info["chunks"]):
                entry = self._parts.get((name, i))
                if entry is None or entry[2] != epoch or entry[1] != info["checkpoint"]:
                    raise SnapshotError(f"{where}: chunk {i} of part {name!r} (written by "
                                        f"checkpoint {info['checkpoint']}) missing")
                pieces.append(entry[0])
            data = b"".join(pieces)
            if len(data) != info["size"] or hashlib.sha256(data).hexdigest() != info["sha256"]:
                raise SnapshotError(f"{where}: part {name!r} fails its checksum")
            parts[name] = data
        for (name, i), entry in self._parts.items():
            known = manifest_parts.get(name)
            if known is None or i >= known["chunks"] or entry[2] != epoch:
                stale.append(f"{self.prefix}/p/{name}/{i}".encode())
        customers = []
        for cid, (value, ck, ep) in self._customers.items():
            if ep != epoch:
                stale.append(f"{self.prefix}/c/{cid}".encode())
            elif ck > k:
                raise SnapshotError(f"{where}: customer {cid!r} has a record of checkpoint "
                                    f"{ck}, after the manifest")
            else:
                customers.append((cid, value))
        if len(customers) != count:
            raise SnapshotError(f"{where}: {len(customers):,} customer records found, the "
                                f"manifest counts {count:,}")
        ledger = Ledger(epoch, k, dict(manifest_parts), stale)
        return Restored(offset, ledger, parts, customers, partitions=partitions)


def _stamp(checkpoint: bytes | None, epoch: bytes | None) -> tuple[int, str] | None:
    """A record's `ck` and `ep` headers as its checkpoint number and epoch (None: either
    is unreadable: no value, no number, no UTF-8)."""
    if not isinstance(checkpoint, bytes) or not isinstance(epoch, bytes) \
            or not checkpoint.isdigit():
        return None
    try:
        return int(checkpoint), epoch.decode()
    except UnicodeDecodeError:
        return None


def _manifest_fields(prefix: str, m: dict[str, Any]
                     ) -> tuple[str, int, int, int, dict[str, dict[str, Any]], int | None]:
    """A layout-1 manifest's epoch, checkpoint number, next offset, customer count, parts
    and partition count (None: not recorded), each of its type (`SnapshotError` naming the
    field otherwise: the manifest is anyone's bytes who can write the state topic)."""
    epoch, parts = m.get("epoch"), m.get("parts")
    if not isinstance(epoch, str):
        raise SnapshotError(f"{prefix}: the manifest's 'epoch' is {str(epoch)[:40]!r}, "
                            "no text")
    if not isinstance(parts, dict):
        raise SnapshotError(f"{prefix}: the manifest's 'parts' is {str(parts)[:40]!r}, "
                            "no object")
    for name, info in parts.items():
        if not isinstance(info, dict) or not isinstance(info.get("sha256"), str):
            raise SnapshotError(f"{prefix}: the manifest's part {name!r} is "
                                f"{str(info)[:60]!r}, no part's entry")
        for field_name in ("checkpoint", "chunks", "size"):
            count_of(prefix, info, field_name, f"the manifest's part {name!r}:")
    partitions = None if m.get("partitions") is None else count_of(prefix, m, "partitions")
    if partitions == 0:
        raise SnapshotError(f"{prefix}: the manifest's 'partitions' is 0")
    return (epoch, count_of(prefix, m, "checkpoint"), count_of(prefix, m, "next_offset"),
            count_of(prefix, m, "customers"), parts, partitions)


def _put(table: dict[Any, _Entry], key: Any, entry: _Entry | None) -> None:
    if entry is None:
        table.pop(key, None)
    else:
        table[key] = entry
