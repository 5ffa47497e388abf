"""A checkpoint's partition-level parts checked as read (docs/detector.md "State format").

The compiled kernel keeps the population and the recalibration in fixed-width arrays and
indexes them without bounds checks (detector.kernel.population, .calibration), and both
cores divide by counts and refit the model on the stored rows: a part no release writes (an
hour profile not of 24, a low-amount table not of 121 bins, a histogram of no bins, a count
beyond 64 bits or negative, a float where a count is) read past the kernel's arrays (heap
corruption), or raised at a later row, in one core or both, or scored otherwise on the two.
Each part's fields are checked here against what every release wrote, as customer records
are (`packed.FIELD_TYPES`): a `ValueError` naming the part and field makes the checkpoint
unusable, and the partition is rebuilt from its input history. The values come back typed
(a float field's integer as a float, as the kernel would write it back).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

import msgspec

from detector.core.calibration import TERMS, Recalibration
from detector.core.packed import LOG_AMOUNT_MAX, LOG_AMOUNT_MIN
from detector.core.rowloop import MODEL_FEATURES
from detector.core.state import (
    BANDED,
    FIRST,
    LOW_BINS,
    LOW_RANGE,
    NOVELTY,
    OFFSET_CLIP,
    ROUND_STEPS,
    Population,
)

#: The most a partition's count may hold (the population's, the recalibration's, the
#: checkpoint's counters, a population table's counts summed): more events than any
#: partition sees, and half the integers a float holds exactly, so that counting on from
#: it stays exact (the core divides integers exactly where the kernel divides their
#: floats: a table summing to 2^53 scored otherwise on the two once counted on). The
#: kernel counts in int64: a count beyond 64 bits could not be stored, one near it wrapped
#: at the next event; a negative one divided by zero.
MAX_TOTAL: Final = 1 << 52
_TOTAL = Annotated[int, msgspec.Meta(ge=0, le=MAX_TOTAL)]
_SHARE = Annotated[float, msgspec.Meta(ge=0.0)]
_LOG_AMOUNT = Annotated[float, msgspec.Meta(ge=LOG_AMOUNT_MIN, le=LOG_AMOUNT_MAX)]


def _exactly(item: Any, n: int) -> Any:
    return Annotated[list[item], msgspec.Meta(min_length=n, max_length=n)]


#: `Population.amount_scale`: `max(iqr / 1.349, 0.05)` of the ring's log amounts, as every
#: release computed it (1.0 before the first); beyond, the core's z overflowed.
SCALE_MAX: Final = (LOG_AMOUNT_MAX - LOG_AMOUNT_MIN) / 1.349
#: `Population.novelty`'s keys: each attribute's rate, its first purchases', its bands'.
NOVELTY_KEYS: Final[tuple[str, ...]] = (*NOVELTY, *(FIRST[a] for a in NOVELTY),
                                        *(k for a in NOVELTY for k in BANDED[a]))
#: `Population.gap_bands`' most bands (`CoreConfig.prior_bands`: at most 7 bounds).
GAP_BANDS: Final = max(len(b) for b in BANDED.values())
#: The most points of a term's recalibration map (`Recalibration.LEVELS`).
POINTS: Final = len(Recalibration.LEVELS)

POPULATION: Final[dict[str, Any]] = {
    "amount_center": _LOG_AMOUNT,
    "amount_ring": Annotated[list[_LOG_AMOUNT], msgspec.Meta(max_length=Population.RING)],
    "amount_scale": Annotated[float, msgspec.Meta(ge=0.05, le=SCALE_MAX)],
    "fast": _exactly(_SHARE, 2),
    # [gaps counted (capped at 5,000), their mean]
    "gap_bands": Annotated[list[tuple[Annotated[float, msgspec.Meta(ge=0.0, le=5000.0)],
                                      float]], msgspec.Meta(max_length=GAP_BANDS)],
    "gap_log": float,
    "gap_mean": float,
    "gaps": _TOTAL,
    "hours": _exactly(_TOTAL, 24),
    "low": _exactly(_TOTAL, LOW_BINS * LOW_RANGE + 1),
    "low_n": _TOTAL,
    "novelty": dict[str, Annotated[list[_SHARE], msgspec.Meta(min_length=2, max_length=3)]],
    # [count (capped at 5,000), mean log excess (each clipped)]
    "offsets": dict[str, tuple[Annotated[float, msgspec.Meta(ge=0.0, le=5000.0)],
                               Annotated[float, msgspec.Meta(ge=-OFFSET_CLIP,
                                                             le=OFFSET_CLIP)]]],
    "rounds": _exactly(_TOTAL, len(ROUND_STEPS) + 1),
    "singles": dict[str, _TOTAL],
    # each value's count: at least 1 (a key is counted as it is added; the kernel takes a
    # count of 0 for a value nobody used, the core for one used: other verdicts)
    "tables": dict[str, dict[str, Annotated[int, msgspec.Meta(ge=1, le=MAX_TOTAL)]]],
    "total": _TOTAL,
}
_TERMS = len(TERMS)
CALIBRATION: Final[dict[str, Any]] = {
    "hist": _exactly(Annotated[list[_TOTAL], msgspec.Meta(min_length=1)], _TERMS),
    "scales": _exactly(float, _TERMS),
    "shapes": _exactly(Annotated[list[Annotated[list[float], msgspec.Meta(
        min_length=2, max_length=2)]], msgspec.Meta(max_length=POINTS)], _TERMS),
    "total": _TOTAL,
}
META: Final[dict[str, Any]] = {
    "partition": int | None, "processed": _TOTAL, "fits": _TOTAL, "evicted": _TOTAL,
    "seq": _TOTAL, "customers": _TOTAL,
}
#: A block of feature rows: how many (at least one: a fit needs a row, the sample's ring
#: divides by its length), each of the model's features.
_SHAPE = tuple[Annotated[int, msgspec.Meta(ge=1, le=MAX_TOTAL)],
               Annotated[int, msgspec.Meta(ge=len(MODEL_FEATURES), le=len(MODEL_FEATURES))]]
SAMPLE: Final[dict[str, Any]] = {"count": _TOTAL, "shape": _SHAPE, "rows": str}
#: A fit's number: 1 for the first, counted as `meta`'s `fits` (checked by `numbered`).
_NUMBER = Annotated[int, msgspec.Meta(ge=1, le=MAX_TOTAL)]
MODEL: Final[dict[str, Any]] = {"number": _NUMBER, "shape": _SHAPE | None,
                                "training": str | None}
PENDING: Final[dict[str, Any]] = {"number": _NUMBER, "effective": _TOTAL, "shape": _SHAPE,
                                  "rows": str}
#: A whole snapshot's table (`stateformat._top`): its field names, and the ids of the
#: customers changed since the last checkpoint and of those gone since.
TABLE: Final[dict[str, Any]] = {"customer_fields": list[str], "touched": list[str],
                                "gone": list[str]}
_AT = re.compile(r" - at `\$([^`]*)`$")


def fail(part: str, name: str, what: str) -> ValueError:
    return ValueError(f"state part {part!r}: field {name!r} holds {what}")


def _typed(part: str, name: str, value: Any, kind: Any) -> Any:
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        message = str(exc)
        at = _AT.search(message)
        where = f" at {at.group(1)}" if at and at.group(1) else ""
        raise fail(part, name, f"a value of another kind{where}: "
                               f"{message[:at.start()] if at else message}") from None


def numbered(part: str, number: int, fits: int) -> None:
    """A fit's `number` one of the `fits` started (every release numbered them so): another
    seeded a forest no writer had, and put `if-v<number>` on every row it scored."""
    if number > fits:
        raise fail(part, "number", f"fit {number}, of {fits} started")


def fields(part: str, doc: Any, types: dict[str, Any],
           required: tuple[str, ...] = ()) -> dict[str, Any]:
    """`doc`'s fields known in `types`, each checked and typed (a field unknown is left
    out, one missing is the default, but those `required`)."""
    if not isinstance(doc, dict):
        raise ValueError(f"state part {part!r} is not an object of fields")
    for name in required:
        if name not in doc:
            raise ValueError(f"state part {part!r} lacks field {name!r}")
    return {name: _typed(part, name, value, types[name])
            for name, value in doc.items() if name in types}


def population(doc: Any) -> dict[str, Any]:
    """The population part's fields, checked: each by its type, the tables exactly the
    five attributes' (each counting at most `MAX_TOTAL` events, each value at least once),
    the novelty rates and the singles only under keys the core writes (a first purchase's
    rate of 3 values, the others of 2)."""
    out = fields("population", doc, POPULATION)
    if "tables" in out:
        tables = out["tables"]
        if sorted(tables) != sorted(NOVELTY):
            raise fail("population", "tables", f"the tables {sorted(tables)}, not "
                                               f"{sorted(NOVELTY)}")
        for name, table in tables.items():
            if sum(table.values()) > MAX_TOTAL:
                raise fail("population", "tables", f"more than {MAX_TOTAL} events in "
                                                   f"table {name!r}")
        # in the order every release wrote them (the kernel writes them so)
        out["tables"] = {name: tables[name] for name in NOVELTY}
    for key in out.get("singles", ()):
        if key not in NOVELTY:
            raise fail("population", "singles", f"an unknown table {key!r}")
    for key, entry in out.get("novelty", {}).items():
        if key not in NOVELTY_KEYS:
            raise fail("population", "novelty", f"an unknown rate {key!r}")
        if len(entry) != (3 if key.startswith("first:") else 2):
            raise fail("population", "novelty", f"{len(entry)} values at {key!r}")
    # as the core holds them: lists (the state format gives tuples back as lists)
    for name in ("gap_bands", "offsets"):
        if name in out:
            value = out[name]
            out[name] = ([list(v) for v in value] if isinstance(value, list)
                         else {k: list(v) for k, v in value.items()})
    return out


def calibration(doc: Any) -> dict[str, Any]:
    """The recalibration part's fields, checked: a histogram, a slope and a map (at most
    `POINTS` points) per term, each histogram of one width (a checkpoint written under
    another `surprise_cap` keeps its own)."""
    out = fields("calibration", doc, CALIBRATION)
    widths = {len(row) for row in out.get("hist", ())}
    if len(widths) > 1:
        raise fail("calibration", "hist", f"histograms of widths {sorted(widths)}")
    return out
