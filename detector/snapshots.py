"""Whole state snapshots on a compacted topic: the previous layout, read once on the upgrade.

Partitions' state is now written as incremental checkpoints (detector.checkpoints); this is
how it was written before, and a restore still reads it when a partition has no checkpoint
yet (`encode_snapshot` stays for the tests that write state as the previous release did).

A snapshot of input partition p taken before input offset S is written as chunks keyed
`<prefix>#<i>` (each under the broker's message size limit) and a manifest keyed `<prefix>`
that names S, the chunk count and a SHA-256 of the whole. All of them travel in the same
transaction as the input offsets, so a reader with read_committed sees whole snapshots only.
Compaction keeps the latest record per key, hence the latest snapshot.

The snapshot bytes are a versioned container of the partition's state: the engine's own
snapshot and the dedupe index (`pack_state`). Bytes without the container's magic are a
snapshot written before it existed: the engine's bytes alone (the index then starts empty
and the replay from the snapshot's offset refills it).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.errors import AuditstreamError

FORMAT = 1
H_NEXT_OFFSET = "next_offset"

Headers = list[tuple[str, bytes]]
#: Headers as a consumer reads them: a header may have no value (None).
ReadHeaders = Sequence[tuple[str, bytes | None]]

#: Container of a partition's state, version 1: magic, two lengths, engine bytes, index bytes.
STATE_MAGIC = b"ASTATE\x00\x01"
_STATE_LENGTHS = struct.Struct("<qq")


class SnapshotError(AuditstreamError):
    """A stored snapshot is incomplete or corrupt."""

    #: How far the unusable checkpoint covered, when its manifest still says so (None: not
    #: known): the group's offsets must have reached it (`detector.recovery`).
    next_offset: int | None = None


def manifest_of(prefix: str, raw: bytes) -> dict[str, Any]:
    """A manifest's JSON object. Anyone able to write the state topic chooses its bytes
    (a copying tool, a truncated restore of the topic): bytes that are no JSON object are
    a `SnapshotError`, so the partition is rebuilt from its input, not a crash at every
    restore."""
    try:
        doc = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
        raise SnapshotError(f"{prefix}: the manifest is unreadable ({exc})") from None
    if not isinstance(doc, dict):
        raise SnapshotError(f"{prefix}: the manifest is no JSON object")
    return doc


def count_of(where: str, doc: Mapping[str, Any], name: str, what: str = "the manifest's") -> int:
    """`doc[name]`, a whole number (`SnapshotError` naming `where` when it is none)."""
    value = doc.get(name)
    if type(value) is not int or value < 0:
        raise SnapshotError(f"{where}: {what} {name!r} is {str(value)[:40]!r}, "
                            "no whole number")
    return value


@dataclass(frozen=True)
class SnapshotRecord:
    key: bytes
    value: bytes | None  # None: a tombstone (incremental checkpoints delete keys)
    headers: Headers


def snapshot_prefix(group_id: str, topic: str, partition: int) -> str:
    """Key prefix of one partition's snapshot (groups sharing the topic never collide)."""
    return f"{group_id}/{topic}/{partition}"


def encode_snapshot(prefix: str, next_offset: int, data: bytes, chunk_bytes: int) -> list[
    SnapshotRecord
]:
    """The records of one snapshot, chunks first, manifest last."""
    chunks = [data[i : i + chunk_bytes] for i in range(0, len(data), chunk_bytes)] or [b""]
    header: Headers = [(H_NEXT_OFFSET, str(next_offset).encode())]
    records = [
        SnapshotRecord(f"{prefix}#{i}".encode(), chunk, header) for i, chunk in enumerate(chunks)
    ]
    manifest = {
        "format": FORMAT,
        "next_offset": next_offset,
        "chunks": len(chunks),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    records.append(SnapshotRecord(prefix.encode(), json.dumps(manifest).encode(), header))
    return records


@dataclass
class SnapshotAssembler:
    """Feed it the snapshot partition in offset order; it returns the latest whole snapshot."""

    prefix: str
    #: The latest manifest's bytes, read in `result` (None: none, or a tombstone).
    _manifest: bytes | None = None
    #: Chunk index -> (its `next_offset` header, None when it has none or no number; its
    #: bytes).
    _chunks: dict[int, tuple[int | None, bytes]] = field(default_factory=dict)

    def feed(self, key: bytes | None, value: bytes | None,
             headers: ReadHeaders | None) -> None:
        if key is None:
            return
        name = key.decode(errors="replace")
        if name == self.prefix:
            self._manifest = value
            return
        base, sep, index = name.rpartition("#")
        if not sep or base != self.prefix or not index.isdigit():
            return
        if value is None:
            self._chunks.pop(int(index), None)
            return
        raw = next((v for k, v in headers or [] if k == H_NEXT_OFFSET), None)
        offset = int(raw) if isinstance(raw, bytes) and raw.isdigit() else None
        self._chunks[int(index)] = (offset, value)

    def result(self) -> tuple[int, bytes] | None:
        """(next input offset, engine snapshot bytes) of the latest snapshot, or None."""
        if self._manifest is None:
            return None
        m = manifest_of(self.prefix, self._manifest)
        if m.get("format") != FORMAT:
            raise SnapshotError(f"{self.prefix}: unknown snapshot format {m.get('format')}")
        next_offset = count_of(self.prefix, m, "next_offset")
        count, size = count_of(self.prefix, m, "chunks"), count_of(self.prefix, m, "size")
        parts = []
        for i in range(count):
            chunk = self._chunks.get(i)
            if chunk is None or chunk[0] != next_offset:
                raise SnapshotError(f"{self.prefix}: chunk {i} of snapshot @{next_offset} missing")
            parts.append(chunk[1])
        data = b"".join(parts)
        if len(data) != size or hashlib.sha256(data).hexdigest() != m.get("sha256"):
            raise SnapshotError(f"{self.prefix}: snapshot @{next_offset} fails its checksum")
        return next_offset, data


def pack_state(engine: bytes, index: bytes | None) -> bytes:
    """One partition's state: the engine's snapshot and the dedupe index (None: no index)."""
    lengths = _STATE_LENGTHS.pack(len(engine), -1 if index is None else len(index))
    return b"".join([STATE_MAGIC, lengths, engine, index or b""])


def unpack_state(data: bytes) -> tuple[bytes, bytes | None]:
    """(engine bytes, index bytes or None); a pre-container snapshot is all engine bytes."""
    if not data.startswith(STATE_MAGIC):
        return data, None
    at = len(STATE_MAGIC)
    n_engine, n_index = _STATE_LENGTHS.unpack_from(data, at)
    at += _STATE_LENGTHS.size
    if at + n_engine + max(n_index, 0) != len(data):
        raise SnapshotError(f"state container of {len(data)} bytes does not add up "
                            f"(engine {n_engine}, index {n_index})")
    engine = data[at : at + n_engine]
    return engine, None if n_index < 0 else data[at + n_engine :]
