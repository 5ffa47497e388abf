"""Snapshot chunks and manifests: the latest whole snapshot comes back byte for byte."""

from __future__ import annotations

import os

import pytest

from detector.snapshots import (
    SnapshotAssembler,
    SnapshotError,
    SnapshotRecord,
    encode_snapshot,
    snapshot_prefix,
)


def feed(asm: SnapshotAssembler, records: list[SnapshotRecord]) -> None:
    for r in records:
        asm.feed(r.key, r.value, r.headers)


def test_large_snapshot_round_trips_through_chunks() -> None:
    data = os.urandom(10_000)
    records = encode_snapshot("g/t/3", 1234, data, chunk_bytes=1024)
    assert len(records) == 11 and all(len(r.value or b"") <= 1024 for r in records[:-1])
    asm = SnapshotAssembler("g/t/3")
    feed(asm, records)
    assert asm.result() == (1234, data)


def test_latest_snapshot_wins_and_other_partitions_are_ignored() -> None:
    asm = SnapshotAssembler(snapshot_prefix("g", "t", 1))
    feed(asm, encode_snapshot("g/t/1", 100, b"a" * 3000, 1024))
    feed(asm, encode_snapshot("g/t/11", 999, b"other", 1024))
    feed(asm, encode_snapshot("g/t/1", 200, b"b" * 1500, 1024))
    assert asm.result() == (200, b"b" * 1500)


def test_no_manifest_means_no_snapshot() -> None:
    asm = SnapshotAssembler("g/t/0")
    feed(asm, encode_snapshot("g/t/0", 5, b"xyz", 1024)[:-1])
    assert asm.result() is None


def test_missing_chunk_is_reported_not_guessed() -> None:
    records = encode_snapshot("g/t/0", 5, b"x" * 3000, 1024)
    asm = SnapshotAssembler("g/t/0")
    feed(asm, [r for r in records if r.key != b"g/t/0#1"])
    with pytest.raises(SnapshotError, match="chunk 1"):
        asm.result()


def test_stale_chunk_from_an_older_snapshot_is_detected() -> None:
    old = encode_snapshot("g/t/0", 5, b"x" * 3000, 1024)
    new = encode_snapshot("g/t/0", 9, b"y" * 3000, 1024)
    asm = SnapshotAssembler("g/t/0")
    feed(asm, old)
    feed(asm, [r for r in new if r.key != b"g/t/0#2"])
    with pytest.raises(SnapshotError, match="chunk 2 of snapshot @9"):
        asm.result()


def test_empty_snapshot_round_trips() -> None:
    asm = SnapshotAssembler("p")
    feed(asm, encode_snapshot("p", 0, b"", 1024))
    assert asm.result() == (0, b"")
