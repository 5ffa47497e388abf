"""Bounded aggregates of `transactions_scored.csv` for the HTML report.

The report must redraw its charts for any grid threshold without shipping every row, so the
scored rows are reduced to counts keyed by (dimension value, rule flag, label, score bin),
where bin k holds scores in [k/100, (k+1)/100). A row is ML-flagged at threshold k/100 iff
its bin >= k, hybrid-flagged iff also or its rule flag is set. The cubes are bounded by
(days + channels + types) x 2 x 2 x 101 cells whatever the row count.

Only six columns are read, in chunks, and the result is memoised on the file's
(mtime, size), so a sink that refreshes the report often re-reads the file only after it
changed. A caller that already holds these counts can pass them to `write_report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

USECOLS = ("timestamp", "channel", "anomaly_type", "is_anomaly", "score", "is_rule_flag")
DIMENSIONS = ("day", "channel", "anomaly_type")
CHUNK_ROWS = 250_000

#: One cube row: [dimension value, rule flag 0/1, label 0/1/-1 (unknown), bin 0..100, count].
CubeRow = tuple[str, int, int, int, int]


@dataclass(frozen=True)
class VolumeCubes:
    """Counts per dimension (day, channel, anomaly_type), rule flag, label and score bin."""

    rows: int
    cubes: dict[str, list[CubeRow]] = field(default_factory=dict)


_CACHE: dict[Path, tuple[tuple[int, int], VolumeCubes]] = {}


def score_bin(score: pd.Series) -> np.ndarray:
    """Bin k such that `score >= k/100` iff `bin >= k` on the 0.01 grid (float-safe)."""
    values: np.ndarray = pd.to_numeric(score, errors="coerce").fillna(0.0).to_numpy(float)
    return np.clip(np.floor(values * 100 + 1e-9), 0, 100).astype(int)


def _as_bool(series: pd.Series) -> np.ndarray:
    text = series.astype(str).str.strip().str.lower()
    return np.where(text.isin(("true", "1")), 1, np.where(text.isin(("false", "0")), 0, -1))


def _chunk_counts(chunk: pd.DataFrame) -> dict[str, pd.Series]:
    keys = pd.DataFrame({
        "day": chunk["timestamp"].astype(str).str.slice(0, 10),
        "channel": chunk["channel"].fillna("").astype(str),
        "anomaly_type": chunk["anomaly_type"].fillna("unknown").astype(str),
        "rule": _as_bool(chunk["is_rule_flag"]).clip(0, 1),
        "label": _as_bool(chunk["is_anomaly"]),
        "bin": score_bin(chunk["score"]),
    })
    return {dim: keys.groupby([dim, "rule", "label", "bin"]).size() for dim in DIMENSIONS}


def compute_cubes(scored_csv: Path) -> VolumeCubes:
    """Read the six needed columns of `transactions_scored.csv` in chunks and count."""
    totals: dict[str, pd.Series] = {}
    rows = 0
    reader = pd.read_csv(scored_csv, usecols=list(USECOLS), dtype=str, chunksize=CHUNK_ROWS,
                         keep_default_na=False)
    for chunk in reader:
        rows += len(chunk)
        for dim, counts in _chunk_counts(chunk).items():
            totals[dim] = counts if dim not in totals else totals[dim].add(counts, fill_value=0)
    cubes = {
        dim: [(str(k[0]), int(k[1]), int(k[2]), int(k[3]), int(v))
              for k, v in totals[dim].items()] if dim in totals else []
        for dim in DIMENSIONS
    }
    return VolumeCubes(rows=rows, cubes=cubes)


def cached_cubes(scored_csv: Path) -> VolumeCubes | None:
    """`compute_cubes`, memoised on the file's (mtime_ns, size); None when there is no file."""
    try:
        stat = scored_csv.stat()
    except FileNotFoundError:
        return None
    key = (stat.st_mtime_ns, stat.st_size)
    hit = _CACHE.get(scored_csv.resolve())
    if hit is not None and hit[0] == key:
        return hit[1]
    cubes = compute_cubes(scored_csv)
    _CACHE.clear()
    _CACHE[scored_csv.resolve()] = (key, cubes)
    return cubes
