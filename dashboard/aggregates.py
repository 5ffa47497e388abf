"""Bounded aggregates of `transactions_scored.csv` for the HTML report.

The report must redraw its charts for any grid threshold without shipping every row, so the
scored rows are reduced to counts keyed by (dimension value, rule flag, label, model_score
bin), where bin k holds model scores in [k/100, (k+1)/100) and bin -1 rows without one
(before the first fit). A row is ML-flagged at threshold k/100 iff its bin >= k,
hybrid-flagged iff also or its rule flag is set (thresholds.csv's `ml_*` and `hybrid_*`).
The cubes are bounded by (days + channels + types) x 2 x 3 x 102 cells whatever the rows.

Reading is bounded too: six columns, in blocks of complete lines, and the counts are kept
per file. The streaming sink only appends to the file, so a later call reads just the bytes
added since the last one (same inode, larger size, unchanged bytes before the old end);
anything else (a file replaced by `auditstream score`, a truncated tail) is counted afresh.
A caller that already holds these counts can pass them to `write_report` instead.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

#: The model's own score: the report's "ML" and "hybrid" are thresholds.csv's ml/hybrid.
USECOLS = ("timestamp", "channel", "anomaly_type", "is_anomaly", "model_score", "is_rule_flag")
DIMENSIONS = ("day", "channel", "anomaly_type")
BLOCK_BYTES = 16 << 20
_TAIL = 4096

#: One cube row: [dimension value, rule flag 0/1, label 0/1/-1 (unknown), bin 0..100, count].
CubeRow = tuple[str, int, int, int, int]


@dataclass(frozen=True)
class VolumeCubes:
    """Counts per dimension (day, channel, anomaly_type), rule flag, label and score bin."""

    rows: int
    cubes: dict[str, list[CubeRow]] = field(default_factory=dict)


@dataclass
class _Scan:
    """What was counted of one file, and how to tell whether it only grew since."""

    ident: tuple[int, int]
    header: bytes
    offset: int
    tail: bytes
    rows: int = 0
    totals: dict[str, pd.Series] = field(default_factory=dict)


_CACHE: dict[Path, _Scan] = {}


def score_bin(score: pd.Series) -> np.ndarray:
    """Bin k such that `score >= k/100` iff `bin >= k` on the 0.01 grid (float-safe);
    -1 for a missing score, which no threshold reaches."""
    values: np.ndarray = pd.to_numeric(score, errors="coerce").fillna(-1.0).to_numpy(float)
    return np.clip(np.floor(values * 100 + 1e-9), -1, 100).astype(int)


def _as_bool(series: pd.Series) -> np.ndarray:
    text = series.astype(str).str.strip().str.lower()
    return np.where(text.isin(("true", "1")), 1, np.where(text.isin(("false", "0")), 0, -1))


def _chunk_counts(chunk: pd.DataFrame) -> dict[str, pd.Series]:
    keys = pd.DataFrame({
        "day": chunk["timestamp"].astype(str).str.slice(0, 10),
        "channel": chunk["channel"].fillna("").astype(str),
        "anomaly_type": chunk["anomaly_type"].replace("", "unknown").astype(str),
        "rule": _as_bool(chunk["is_rule_flag"]).clip(0, 1),
        "label": _as_bool(chunk["is_anomaly"]),
        "bin": score_bin(chunk["model_score"]),
    })
    return {dim: keys.groupby([dim, "rule", "label", "bin"]).size() for dim in DIMENSIONS}


def _record_end(block: bytes) -> int:
    """Length of the longest prefix of `block` that ends a CSV record (quotes balanced)."""
    cut = block.rfind(b"\n") + 1
    while cut and block.count(b'"', 0, cut) % 2:
        cut = block.rfind(b"\n", 0, cut - 1) + 1
    return cut


def _blocks(fh: BinaryIO, start: int, header: bytes) -> Iterator[tuple[pd.DataFrame, int]]:
    """(rows, end offset) for each block of complete records from `start` on."""
    fh.seek(start)
    pending, offset = b"", start
    while True:
        data = fh.read(BLOCK_BYTES)
        block = pending + data
        cut = _record_end(block) if data else 0
        if cut == 0 and data:
            pending = block
            continue
        if cut:
            offset += cut
            frame = pd.read_csv(io.BytesIO(header + block[:cut]), usecols=list(USECOLS),
                                dtype=str, keep_default_na=False)
            yield frame, offset
        pending = block[cut:]
        if not data:
            return


def _tail(fh: BinaryIO, offset: int) -> bytes:
    fh.seek(max(0, offset - _TAIL))
    return hashlib.sha256(fh.read(min(offset, _TAIL))).digest()


def _count(fh: BinaryIO, scan: _Scan) -> _Scan:
    for frame, offset in _blocks(fh, scan.offset, scan.header):
        scan.rows += len(frame)
        for dim, counts in _chunk_counts(frame).items():
            old = scan.totals.get(dim)
            scan.totals[dim] = counts if old is None else old.add(counts, fill_value=0)
        scan.offset = offset
    scan.tail = _tail(fh, scan.offset)
    return scan


def _cubes(scan: _Scan) -> VolumeCubes:
    cubes = {dim: [(str(k[0]), int(k[1]), int(k[2]), int(k[3]), int(v))
                   for k, v in scan.totals[dim].items()] if dim in scan.totals else []
             for dim in DIMENSIONS}
    return VolumeCubes(rows=scan.rows, cubes=cubes)


def _fresh_scan(fh: BinaryIO, ident: tuple[int, int]) -> _Scan:
    header = fh.readline()
    return _Scan(ident=ident, header=header, offset=len(header), tail=b"")


def compute_cubes(scored_csv: Path) -> VolumeCubes:
    """Count the whole of `transactions_scored.csv` (complete records only)."""
    with open(scored_csv, "rb") as fh:
        stat = scored_csv.stat()
        return _cubes(_count(fh, _fresh_scan(fh, (stat.st_dev, stat.st_ino))))


def cached_cubes(scored_csv: Path) -> VolumeCubes | None:
    """`compute_cubes`, reading only what was appended since the last call; None if no file."""
    key = scored_csv.resolve()
    try:
        fh = open(scored_csv, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        _CACHE.pop(key, None)
        return None
    with fh:
        stat = scored_csv.stat()
        ident = (stat.st_dev, stat.st_ino)
        scan = _CACHE.get(key)
        grew = (scan is not None and scan.ident == ident and stat.st_size >= scan.offset
                and _tail(fh, scan.offset) == scan.tail)
        if scan is None or not grew:
            scan = _fresh_scan(fh, ident)
        elif stat.st_size == scan.offset:
            return _cubes(scan)
        _CACHE.clear()  # one exports folder per process: keep one file's counts
        _CACHE[key] = _count(fh, scan)
        return _cubes(_CACHE[key])
