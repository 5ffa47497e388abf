"""A checkpoint's partition-level parts (`meta`, `population`, `calibration`, `sample`,
`model`, `pending`) restored into either core: every part the restore accepts scores as on
the other core, to the bit, and a part no release writes is refused as read, naming the part
and field (hostile probe of the state format, as tests/unit/test_kernel_restore_edges.py
for customer records: docs/detector.md "State format").

Found (each refused now; before, restored with no check at all): a population hour profile
of 23 hours, a low-amount table of no bins, a recalibration histogram of no bins (the
kernel read and wrote past its arrays: the process died of heap corruption, "munmap_chunk():
invalid pointer"); a count beyond 64 bits (the kernel refused what the core took) or near it
(wrapped in the kernel: other verdicts), negative (a division by zero at a later row on
both), or a float where a count is (other verdicts); a log amount, a scale or a category
offset no data gives (the core's OverflowError mid-stream where the kernel went on);
lists not of their length (`fast`, a gap band, an offset, a novelty rate, the terms'
histograms, slopes and maps: an IndexError in one core, the kernel refusing, or another
checkpoint written back); keys the core never writes (a table, a rate, a single); feature
rows not of the model's width, or none, a fractional sample count, fit number or takeover
row (raised at the next refit or row)."""

from __future__ import annotations

import base64
import copy
import math
import os
import re
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.core.engine import PartitionEngine
from detector.core.packed import LOG_AMOUNT_MAX, LOG_AMOUNT_MIN
from detector.core.partcheck import MAX_TOTAL, SCALE_MAX
from tests.ci import IN_CI
from tests.cores import core_switch
from tests.unit.state_stream import CONFIG
from tests.unit.test_kernel_restore_edges import CUSTOMERS, NEXT, PARTS

DOCS: dict[str, Any] = {k: orjson.loads(zlib.decompress(v[4:])) for k, v in PARTS.items()}
Edit = Callable[[dict[str, Any]], None]


def _parts(edit: Edit) -> dict[str, bytes]:
    docs = copy.deepcopy(DOCS)
    edit(docs)
    return {k: b"ASP\x03" + zlib.compress(orjson.dumps(v), 1) for k, v in docs.items()}


def _run(core: str, parts: dict[str, bytes]) -> tuple[Any, ...]:
    """What `core` makes of the checkpoint: ("refused", message), or the verdicts of the
    next rows and the records of the checkpoint after them."""
    with core_switch(core):
        try:
            engine = PartitionEngine.resume(parts, CUSTOMERS, CONFIG)
        except ValueError as exc:
            return "refused", str(exc)
        try:
            verdicts = engine.process(NEXT)
            changes = engine.checkpoint(full=True)
        finally:
            engine.close()
        return "ran", verdicts, sorted(changes.customers), changes.parts


def _set(part: str, *path: Any) -> Callable[[Any], Edit]:
    """An edit setting `docs[part][path...]` to a value."""
    def value(v: Any) -> Edit:
        def edit(docs: dict[str, Any]) -> None:
            at = docs[part]
            for key in path[:-1]:
                at = at[key]
            at[path[-1]] = v
        return edit
    return value


def _rows(part: str, field: str, fn: Callable[[Any], Any], index: int | None = None
          ) -> Edit:
    """An edit of the feature rows of a part (of its `index`th fit for `pending`)."""
    def edit(docs: dict[str, Any]) -> None:
        doc = docs[part] if index is None else docs[part][index]
        a = np.frombuffer(base64.b64decode(doc[field]), "<f4").reshape(doc["shape"])
        a = np.ascontiguousarray(fn(a.copy()), "<f4")
        doc[field], doc["shape"] = base64.b64encode(a.tobytes()).decode(), list(a.shape)
    return edit


def _pending(**kw: Any) -> Edit:
    """A fit not yet in effect, on the sample's first rows, taking over at row 305, of a
    state that started 8 fits (a fit's number is at most that)."""
    def edit(docs: dict[str, Any]) -> None:
        docs["meta"]["fits"] = 8
        s = docs["sample"]
        rows = np.frombuffer(base64.b64decode(s["rows"]), "<f4").reshape(s["shape"])[:200]
        docs["pending"] = [{"number": 2, "effective": 305, "shape": list(rows.shape),
                            "rows": base64.b64encode(rows.tobytes()).decode(), **kw}]
    return edit


def _ulp_up(x: float) -> float:
    return math.nextafter(x, math.inf)


def _ulp_down(x: float) -> float:
    return math.nextafter(x, -math.inf)


def _hists(width: int, rows: int = 12) -> list[list[int]]:
    return [[0] * (width - 1) + [1] for _ in range(rows)]


_POP = DOCS["population"]
_LOW = [0] * len(_POP["low"])

#: (part, field, an edit refused, the same edit at the bound: accepted)
REFUSED: list[tuple[str, str, Edit, Edit]] = [
    ("population", "hours", _set("population", "hours")([1] * 23),
     _set("population", "hours")([1] * 24)),
    ("population", "hours", _set("population", "hours")([1] * 25),
     _set("population", "hours")([0] * 24)),
    ("population", "hours", _set("population", "hours", 5)(-1),
     _set("population", "hours", 5)(0)),
    ("population", "hours", _set("population", "hours", 5)(MAX_TOTAL + 1),
     _set("population", "hours", 5)(MAX_TOTAL)),
    ("population", "low", _set("population", "low")([]),
     _set("population", "low")(_LOW)),
    ("population", "low", _set("population", "low")([*_LOW, 0]),
     _set("population", "low")([*_LOW[:-1], MAX_TOTAL])),
    ("population", "rounds", _set("population", "rounds")([1] * 4),
     _set("population", "rounds")([1] * 5)),
    ("population", "total", _set("population", "total")(-1),
     _set("population", "total")(0)),
    ("population", "total", _set("population", "total")(MAX_TOTAL + 1),
     _set("population", "total")(MAX_TOTAL)),
    ("population", "total", _set("population", "total")(300.5),
     _set("population", "total")(300)),
    ("population", "gaps", _set("population", "gaps")(-1), _set("population", "gaps")(0)),
    ("population", "low_n", _set("population", "low_n")(-1),
     _set("population", "low_n")(0)),
    ("population", "amount_center", _set("population", "amount_center")(_ulp_up(LOG_AMOUNT_MAX)),
     _set("population", "amount_center")(LOG_AMOUNT_MAX)),
    ("population", "amount_center",
     _set("population", "amount_center")(_ulp_down(LOG_AMOUNT_MIN)),
     _set("population", "amount_center")(LOG_AMOUNT_MIN)),
    ("population", "amount_ring", _set("population", "amount_ring", 0)(_ulp_up(LOG_AMOUNT_MAX)),
     _set("population", "amount_ring", 0)(LOG_AMOUNT_MAX)),
    ("population", "amount_ring", _set("population", "amount_ring")([4.0] * 2049),
     _set("population", "amount_ring")([4.0] * 2048)),
    ("population", "amount_scale", _set("population", "amount_scale")(_ulp_up(SCALE_MAX)),
     _set("population", "amount_scale")(SCALE_MAX)),
    ("population", "amount_scale", _set("population", "amount_scale")(_ulp_down(0.05)),
     _set("population", "amount_scale")(0.05)),
    ("population", "gap_bands", _set("population", "gap_bands")([[1.0, 100.0]] * 9),
     _set("population", "gap_bands")([[1.0, 100.0]] * 8)),
    ("population", "gap_bands", _set("population", "gap_bands", 0)([1.0]),
     _set("population", "gap_bands", 0)([1.0, 2.0])),
    ("population", "gap_bands", _set("population", "gap_bands", 0)([-5e-324, 2.0]),
     _set("population", "gap_bands", 0)([0.0, 2.0])),
    ("population", "fast", _set("population", "fast")([1.0]),
     _set("population", "fast")([1.0, 2.0])),
    ("population", "fast", _set("population", "fast")([0.0, -5e-324]),
     _set("population", "fast")([0.0, 0.0])),
    ("population", "singles", _set("population", "singles", "zzz")(3),
     _set("population", "singles", "ipnet")(3)),
    ("population", "singles", _set("population", "singles", "ipnet")(-1),
     _set("population", "singles", "ipnet")(0)),
    ("population", "novelty", _set("population", "novelty", "country@8")([1.0, 2.0]),
     _set("population", "novelty", "country@7")([1.0, 2.0])),
    ("population", "novelty", _set("population", "novelty", "country")([1.0]),
     _set("population", "novelty", "country")([1.0, 2.0])),
    ("population", "novelty", _set("population", "novelty", "first:country")([1.0, 2.0]),
     _set("population", "novelty", "first:country")([1.0, 2.0, 3.0])),
    ("population", "novelty", _set("population", "novelty", "country")([-5e-324, 5.0]),
     _set("population", "novelty", "country")([0.0, 5.0])),
    ("population", "offsets", _set("population", "offsets", "food")([1.0]),
     _set("population", "offsets", "food")([1.0, 0.5])),
    ("population", "offsets", _set("population", "offsets", "food")([-5e-324, 0.5]),
     _set("population", "offsets", "food")([0.0, 0.5])),
    ("population", "offsets", _set("population", "offsets", "food")([_ulp_up(5000.0), 0.5]),
     _set("population", "offsets", "food")([5000.0, 0.5])),
    ("population", "offsets", _set("population", "offsets", "food")([50.0, _ulp_up(3.0)]),
     _set("population", "offsets", "food")([50.0, 3.0])),
    ("population", "offsets", _set("population", "offsets", "food")([50.0, _ulp_down(-3.0)]),
     _set("population", "offsets", "food")([50.0, -3.0])),
    ("population", "tables", _set("population", "tables", "country", "CH")(0),
     _set("population", "tables", "country", "CH")(1)),
    ("population", "tables", _set("population", "tables", "zzz")({"a": 1}),
     _set("population", "tables", "country")({"a": 1})),
    ("population", "tables", _set("population", "tables", "country")(
        {"CH": MAX_TOTAL, "FR": 1}),
     _set("population", "tables", "country")({"CH": MAX_TOTAL - 1, "FR": 1})),
    ("calibration", "hist", _set("calibration", "hist")(_hists(121, 11)),
     _set("calibration", "hist")(_hists(121))),
    ("calibration", "hist", _set("calibration", "hist")(_hists(121, 13)),
     _set("calibration", "hist")(_hists(200))),
    ("calibration", "hist", _set("calibration", "hist")([[]] * 12),
     _set("calibration", "hist")(_hists(1))),
    ("calibration", "hist", _set("calibration", "hist")([*_hists(121, 11), [1] * 120]),
     _set("calibration", "hist")(_hists(120))),
    ("calibration", "hist", _set("calibration", "hist", 0, 0)(-1),
     _set("calibration", "hist", 0, 0)(0)),
    ("calibration", "scales", _set("calibration", "scales")([1.0] * 11),
     _set("calibration", "scales")([1.0] * 12)),
    ("calibration", "shapes", _set("calibration", "shapes")([[]] * 11),
     _set("calibration", "shapes")([[[5.0, 3.0], [7.0, 4.0]]] * 12)),
    ("calibration", "shapes", _set("calibration", "shapes", 0)([[3.0, 3.0], [4.0, 4.0],
                                                                 [5.0, 5.0]]),
     _set("calibration", "shapes", 0)([[3.0, 3.0], [4.0, 4.0]])),
    ("calibration", "shapes", _set("calibration", "shapes", 0)([[3.0]]),
     _set("calibration", "shapes", 0)([[3.0, 3.0]])),
    ("calibration", "total", _set("calibration", "total")(-1),
     _set("calibration", "total")(0)),
    ("calibration", "total", _set("calibration", "total")(MAX_TOTAL + 1),
     _set("calibration", "total")(511)),
    ("meta", "processed", _set("meta", "processed")(300.5), _set("meta", "processed")(300)),
    ("meta", "fits", _set("meta", "fits")(1.5), _set("meta", "fits")(5)),
    ("meta", "seq", _set("meta", "seq")(MAX_TOTAL + 1), _set("meta", "seq")(MAX_TOTAL)),
    ("sample", "count", _set("sample", "count")(300.5), _set("sample", "count")(0)),
    ("sample", "shape", _rows("sample", "rows", lambda a: a[:, :13]),
     _rows("sample", "rows", lambda a: a[:1])),
    ("sample", "shape", _rows("sample", "rows", lambda a: a[:0]),
     _rows("sample", "rows", lambda a: np.vstack([a] * 16))),
    ("sample", "rows", _set("sample", "shape")([255, 14]),
     _rows("sample", "rows", lambda a: np.where(a > 1, np.float32(3e38), a))),
    ("model", "shape", _rows("model", "training", lambda a: np.hstack([a, a[:, :1]])),
     _rows("model", "training", lambda a: a[:1])),
    ("model", "shape", _rows("model", "training", lambda a: a[:0]),
     _set("model", "number")(1)),
    ("pending", "effective", _pending(effective=305.5), _pending(effective=-0)),
    ("pending", "shape", _pending(shape=[200, 13]), _pending()),
    ("pending", "number", _pending(number=2.5), _pending(number=7)),
]
_IDS = [f"{p}.{f}-{i}" for i, (p, f, _, _) in enumerate(REFUSED)]


@pytest.mark.parametrize("case", REFUSED, ids=_IDS)
@pytest.mark.parametrize("core", ["python", "kernel"])
def test_a_part_no_release_writes_is_refused_at_restore_naming_part_and_field(
        case: tuple[str, str, Edit, Edit], core: str) -> None:
    """Refused as the checkpoint is read (the partition is then rebuilt from its input
    history), by either core: not left to read past the kernel's arrays, or to raise at a
    later row in one core, or to score otherwise on the two."""
    part, field, edit, _ = case
    got = _run(core, _parts(edit))
    assert got[0] == "refused", got[:1]
    assert re.match(rf"^state part {part!r}: field {field!r} holds ", got[1]), got[1]
    assert "\n" not in got[1]


@pytest.mark.parametrize("case", REFUSED, ids=_IDS)
def test_a_part_at_the_bound_restores_and_scores_alike_on_both_cores(
        case: tuple[str, str, Edit, Edit]) -> None:
    *_, edit = case
    parts = _parts(edit)
    mine, theirs = _run("python", parts), _run("kernel", parts)
    assert mine[0] == "ran", mine[:2]
    assert mine == theirs


def test_a_whole_snapshot_s_parts_are_checked_alike() -> None:
    """A whole snapshot's parts pass the same checks (`stateformat.decode`)."""
    from detector.core import stateformat

    with core_switch("python"):
        data = PartitionEngine.resume(PARTS, CUSTOMERS, CONFIG).snapshot()
    doc = orjson.loads(zlib.decompress(data[len(stateformat.MAGIC):]))
    doc["population"]["hours"] = [0] * 23
    with pytest.raises(ValueError, match=r"^state part 'population': field 'hours' holds a "
                                         r"value of another kind: Expected `array` of "
                                         r"length >= 24$"):
        PartitionEngine.restore(stateformat.MAGIC + zlib.compress(orjson.dumps(doc)), CONFIG)


# --- what the restore accepts: the same outputs on both cores -----------------------------

_COUNT = st.sampled_from([0, 1, 2, MAX_TOTAL - 1, MAX_TOTAL]) | st.integers(0, MAX_TOTAL)
_SMALL = st.sampled_from([0, 1, 300, 20_000]) | st.integers(0, 1 << 31)
_SHARE = st.sampled_from([0.0, 1e-300, 1.0, 20_000.0, 1.7e308]) | st.floats(0.0, 1e9)
_LA = st.sampled_from([LOG_AMOUNT_MIN, 0.0, 4.6, LOG_AMOUNT_MAX]) | st.floats(
    LOG_AMOUNT_MIN, LOG_AMOUNT_MAX)
_KEYS = st.sampled_from(["CH", "FR", "food", "web", "d0", "", "k" * 300])

#: Each population and recalibration field's accepted values, at the edges.
EDGES: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    ("population", "hours"): st.lists(_COUNT, min_size=24, max_size=24),
    ("population", "low"): st.lists(_SMALL, min_size=len(_LOW), max_size=len(_LOW)),
    ("population", "low_n"): _SMALL,
    ("population", "rounds"): st.lists(_SMALL, min_size=5, max_size=5),
    ("population", "total"): _COUNT,
    ("population", "gaps"): _SMALL,
    ("population", "amount_center"): _LA,
    ("population", "amount_ring"): st.lists(_LA, max_size=2048),
    ("population", "amount_scale"): st.sampled_from([0.05, 1.0, SCALE_MAX]) | st.floats(
        0.05, SCALE_MAX),
    ("population", "gap_bands"): st.lists(st.tuples(st.floats(0.0, 5000.0), st.floats(
        -1e300, 1e300)).map(list), max_size=8),
    ("population", "fast"): st.lists(_SHARE, min_size=2, max_size=2),
    ("population", "offsets"): st.dictionaries(_KEYS, st.tuples(
        st.floats(0.0, 5000.0), st.floats(-3.0, 3.0)).map(list), max_size=5),
    ("population", "tables"): st.fixed_dictionaries({
        t: st.dictionaries(_KEYS, _SMALL.filter(bool), max_size=4)
        for t in ("country", "category", "channel", "device", "ipnet")}),
    ("calibration", "hist"): st.integers(1, 200).flatmap(lambda w: st.lists(st.lists(
        _SMALL, min_size=w, max_size=w), min_size=12, max_size=12)),
    ("calibration", "shapes"): st.lists(st.lists(st.tuples(st.floats(0.0, 50.0), st.floats(
        0.0, 50.0)).map(list), max_size=2), min_size=12, max_size=12),
    ("calibration", "scales"): st.lists(st.floats(-1e300, 1e300), min_size=12, max_size=12),
    ("calibration", "total"): st.sampled_from([0, 255, 511, 199_999]) | _SMALL,
}


def _many(values: dict[tuple[str, str], Any]) -> Edit:
    def edit(docs: dict[str, Any]) -> None:
        for (part, field), value in values.items():
            docs[part][field] = value
    return edit


# PROBE_N=40 (or more) for a deeper run; once under NUMBA_BOUNDSCHECK=1 with its own
# AUDITSTREAM_KERNEL_CACHE (PROBE_N=40), no index was out of bounds
@settings(max_examples=int(os.environ.get("PROBE_N", 10 if IN_CI else 6)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.dictionaries(st.sampled_from(sorted(EDGES)), st.none(), min_size=1, max_size=5)
       .flatmap(lambda names: st.fixed_dictionaries({n: EDGES[n] for n in names})))
def test_every_part_the_restore_accepts_scores_alike_on_both_cores(
        values: dict[tuple[str, str], Any]) -> None:
    parts = _parts(_many(values))
    mine, theirs = _run("python", parts), _run("kernel", parts)
    assert mine[0] == "ran", mine[:2]
    assert mine == theirs
