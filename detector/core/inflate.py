"""A state record's zlib'd bytes inflated no further than what a real one holds.

Anyone who can write one record to the state topic chooses its bytes, and zlib expands up
to about 1,000 times: a 1 MB part inflated to a gigabyte, which the JSON read then made
several (the detector killed for memory at each restore: a crash loop). Each kind is
inflated only up to its bound here, derived from the knobs that bound what a real one
holds, with `HEADROOM` over it (a state written under knobs up to that many times larger
still restores); past it, or truncated, or with bytes after its stream, the record is a
`ValueError` naming it, and the partition is rebuilt from its input history, as for any
unusable checkpoint (docs/detector.md "State format").
"""

from __future__ import annotations

import math
import zlib
from typing import Final

from detector.core.calibration import TERMS, Recalibration
from detector.core.config import MAX_PENDING_FITS, CoreConfig
from detector.core.rowloop import MODEL_FEATURES
from detector.core.state import Population
from shared.schemas import MAX_LABEL_CHARS

#: Over each bound computed from the configured knobs.
HEADROOM: Final = 4
#: The JSON of a number as written (orjson's longest: "-2.2250738585072014e-308").
NUMBER_BYTES: Final = 24
#: The JSON of a population-table entry: a key of `MAX_LABEL_CHARS` 4-byte UTF-8
#: characters, quoted, then its count or its [count, mean].
KEY_BYTES: Final = 4 * MAX_LABEL_CHARS + 4 + 2 * (NUMBER_BYTES + 2)
#: Everything of a part but its bounded lists (names, small fields, the novelty rates).
SLACK_BYTES: Final = 64 * 1024
#: The population's tables keyed by value: the five counted, and the category offsets.
POPULATION_TABLES: Final = 6
#: `meta`: six counters.
META_BYTES: Final = 4 * 1024
#: `calibration` at the widest histograms (`surprise_cap` at most 1000, 10 bins a unit),
#: whatever cap wrote it (a checkpoint keeps its own width).
CALIBRATION_BYTES: Final = len(TERMS) * (
    (int(1000 * Recalibration.BINS_PER_UNIT) + 1) * (NUMBER_BYTES + 1)
    + 2 * len(Recalibration.LEVELS) * (NUMBER_BYTES + 2)) + SLACK_BYTES
#: A whole snapshot's customers (format 3's JSON, format 2's pickle): at most this many
#: times their compressed bytes (real ones: 3-5; zlib's most: about 1,030).
WHOLE_RATIO: Final = 64


def rows_bytes(rows: int) -> int:
    """The base64 of `rows` feature rows of float32, as a part holds them."""
    return 4 * math.ceil(rows * len(MODEL_FEATURES) * 4 / 3)


def part_bound(name: str, config: CoreConfig) -> int:
    """The most a checkpoint's part `name` inflates to under `config` (with headroom)."""
    block = rows_bytes(config.sample_size) + SLACK_BYTES
    if name == "meta":
        return META_BYTES
    if name == "calibration":
        return CALIBRATION_BYTES
    if name == "population":
        return HEADROOM * (POPULATION_TABLES * config.max_population_keys * KEY_BYTES
                           + Population.RING * (NUMBER_BYTES + 1) + SLACK_BYTES)
    if name in ("sample", "model"):
        return HEADROOM * block
    if name == "pending":  # at most one fit per refit point of the longest delay
        return HEADROOM * (MAX_PENDING_FITS + 1) * block
    raise ValueError(f"no state part {name!r}")


PARTS: Final = ("meta", "population", "calibration", "sample", "model", "pending")


def whole_bound(stored: int, config: CoreConfig) -> int:
    """The most a whole snapshot of `stored` compressed bytes inflates to under `config`:
    every part at its bound, and its customers at `WHOLE_RATIO`."""
    return sum(part_bound(name, config) for name in PARTS) + WHOLE_RATIO * stored


def inflate(data: bytes | memoryview, bound: int, what: str) -> bytes:
    """`data`'s one zlib stream inflated, `ValueError` naming `what` if it holds more than
    `bound` bytes (refused having inflated at most `bound` + 1, held twice for a moment as
    any inflation's), is not whole, or is followed by other bytes."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, bound + 1)  # in one call: as fast as zlib.decompress
    except zlib.error as exc:
        raise ValueError(f"{what} is not zlib data: {exc}") from None
    if len(out) > bound:
        raise ValueError(f"{what} inflates past its bound of {bound:,} bytes")
    if not inflater.eof:
        raise ValueError(f"{what} is a truncated zlib stream")
    if inflater.unused_data:
        raise ValueError(f"{what} continues past its zlib stream "
                         f"({len(inflater.unused_data):,} more bytes)")
    return out
