"""The engine's explicit state format (format 3) and the upgrade from format 2 (pickle).

Fixtures in tests/data/state/ were written from the same engine state (the stream of
`state_stream`, 450 rows into partition 2, two models fitted): `engine-format2.bin` by the
release before the explicit format (commit cdd4a95), `engine-format3.bin` by this one.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import pickletools
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from detector.core import stateformat
from detector.core.engine import PartitionEngine
from detector.core.state import CustomerState, Population
from detector.core.surprise import Recalibration
from tests.unit.state_stream import CONFIG, stream

DATA = Path(__file__).resolve().parents[1] / "data" / "state"
AT = 450


def _doc(data: bytes) -> dict[str, Any]:
    assert data.startswith(stateformat.MAGIC)
    doc: dict[str, Any] = orjson.loads(zlib.decompress(data[len(stateformat.MAGIC):]))
    return doc


def _pack(doc: dict[str, Any]) -> bytes:
    return stateformat.MAGIC + zlib.compress(orjson.dumps(doc))


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types all the way down (a tuple is not a list here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return bool(a == b)


def _engine(rows: int = AT) -> PartitionEngine:
    engine = PartitionEngine(CONFIG, partition=2)
    engine.process(stream(600)[:rows])
    return engine


def test_every_field_of_every_state_object_comes_back_as_it_was() -> None:
    engine = _engine()
    back = PartitionEngine.restore(engine.snapshot(), CONFIG)
    pairs = list(zip(engine._state()[0].items(), back._state()[0].items(), strict=True))
    assert [a[0] for a, _ in pairs] == [b[0] for _, b in pairs]  # LRU order kept
    objects: list[tuple[object, object]] = [(a[1], b[1]) for a, b in pairs]
    objects += [(engine._state()[1], back._state()[1]),
                (engine._state()[2], back._state()[2])]
    for before, after in objects:
        for name in type(before).FIELDS:  # type: ignore[attr-defined]
            x, y = getattr(before, name), getattr(after, name)
            assert _same(x, y) or (type(x).__name__ == "array" and x == y), (
                f"{type(before).__name__}.{name}: {x!r} came back as {y!r}; give it a codec "
                "in detector/core/stateformat.py")
    assert (engine._sample.rows == back._sample.rows).all()
    # float32 as the sample keeps them: wider rows would hold later rows unrounded and the
    # next refit would differ from the engine that was never restored
    assert back._sample.rows.dtype == engine._sample.rows.dtype == "float32"
    assert engine._sample.count == back._sample.count
    assert back.snapshot() == engine.snapshot()


def test_the_model_is_refitted_from_its_training_rows_to_the_same_forest() -> None:
    engine = _engine()
    back = PartitionEngine.restore(engine.snapshot(), CONFIG)
    assert back.model_version == engine.model_version == "if-v2"
    rest = stream(600)[AT:]
    assert back.process(rest) == engine.process(rest)


def test_the_format_3_fixture_restores_every_stored_field() -> None:
    data = (DATA / "engine-format3.bin").read_bytes()
    restored = PartitionEngine.restore(data, CONFIG)
    assert (restored.processed, restored.model_version, restored.customers) == (AT, "if-v2", 30)
    stored, again = _doc(data), _doc(restored.snapshot())
    # Fields added since the fixture was written may appear; every stored one comes back.
    at = [again["customer_fields"].index(n) for n in stored["customer_fields"]]
    for (cid, values), (cid2, values2) in zip(stored["customers"], again["customers"],
                                              strict=True):
        assert cid == cid2 and [values2[i] for i in at] == values, cid
    for part in ("population", "calibration"):
        assert {k: again[part][k] for k in stored[part]} == stored[part], part
    for key in ("partition", "processed", "fits", "evicted", "sample", "model"):
        assert again[key] == stored[key], key
    rest = stream(600)[AT:]
    assert restored.process(rest) == PartitionEngine.restore(data, CONFIG).process(rest)


def test_the_format_2_fixture_reads_into_the_same_state_on_an_upgrade() -> None:
    old = PartitionEngine.restore((DATA / "engine-format2.bin").read_bytes(), CONFIG)
    new = PartitionEngine.restore((DATA / "engine-format3.bin").read_bytes(), CONFIG)
    a, b = _doc(old.snapshot()), _doc(new.snapshot())
    assert a.keys() == b.keys()
    for key in a:
        if key != "model":
            assert a[key] == b[key], key
    # Format 2 kept no training rows: the forest itself came back, the rows stay unknown.
    assert a["model"] | {"training": None, "shape": None} == b["model"] | {
        "training": None, "shape": None}
    assert a["model"]["training"] is None
    rest = stream(600)[AT:]
    assert old.process(rest) == new.process(rest)


def test_the_first_snapshot_after_an_upgrade_restores_with_the_model_refitted_on_the_sample(
        ) -> None:
    upgraded = PartitionEngine.restore((DATA / "engine-format2.bin").read_bytes(), CONFIG)
    data = upgraded.snapshot()
    assert _doc(data)["model"]["training"] is None  # format 2 kept no training rows
    again = PartitionEngine.restore(data, CONFIG)
    assert again.model_version == "if-v2"
    assert again._model is not None and again._model.training is not None
    assert (again._model.training == upgraded._sample.view()).all()
    rest = stream(600)[AT:]
    assert again.process(rest) == PartitionEngine.restore(data, CONFIG).process(rest)


def _format_2_without_model() -> bytes:
    """The format-2 fixture as a snapshot taken before the first fit: its pickled model (the
    value after the "model" key, up to the next key, "fits") replaced by `None`. Its frames
    (protocol 4's length prefixes, 9 bytes each) are dropped first so the body can be cut."""
    framed = zlib.decompress((DATA / "engine-format2.bin").read_bytes())
    cuts = [pos or 0 for op, _, pos in pickletools.genops(framed) if op.name == "FRAME"]
    body, last = b"", 0
    for pos in cuts:
        body, last = body + framed[last:pos], pos + 9
    body += framed[last:]
    ops = [(op.name, arg, pos) for op, arg, pos in pickletools.genops(body)]
    key = next(i for i, (name, arg, _) in enumerate(ops) if "UNICODE" in name and arg == "model")
    assert ops[key + 1][0] == "MEMOIZE"
    start = ops[key + 2][2]
    end = next(pos for name, arg, pos in ops[key:] if "UNICODE" in name and arg == "fits")
    assert start is not None and end is not None
    return zlib.compress(body[:start] + pickle.NONE + body[end:])


def test_a_format_2_snapshot_taken_before_the_first_fit_upgrades_with_no_model() -> None:
    old = PartitionEngine.restore(_format_2_without_model(), CONFIG)
    doc = _doc((DATA / "engine-format3.bin").read_bytes())
    doc["model"] = None
    new = PartitionEngine.restore(_pack(doc), CONFIG)
    assert old._model is None and old.model_version == "rules-only"
    assert _doc(old.snapshot())["model"] is None
    rest = stream(600)[AT:]
    assert old.process(rest) == new.process(rest)


def test_a_snapshot_older_than_a_field_restores_it_at_its_default() -> None:
    doc = _doc((DATA / "engine-format3.bin").read_bytes())
    at = doc["customer_fields"].index("wake")
    doc["customer_fields"].pop(at)
    for _, values in doc["customers"]:
        values.pop(at)
    del doc["population"]["novelty"]
    restored = PartitionEngine.restore(_pack(doc), CONFIG)
    fresh_customer, fresh_population = CustomerState(), Population()
    assert all(st.wake == fresh_customer.wake for _, st in restored._state()[0].items())
    assert restored._state()[1].novelty == fresh_population.novelty
    restored.process(stream(600)[AT:])  # and it carries on


def test_the_history_bands_priors_come_back_and_an_older_snapshot_restores_without_them(
        ) -> None:
    """The population's priors per band of history (`CoreConfig.prior_bands`): the gap
    means (`gap_bands`) and the novelty rates (`novelty` keys "attribute@band") come back
    from a snapshot; the format-3 fixture, written before them, restores with none (the
    pooled priors stand in until the bands are counted) and carries on counting them."""
    engine = _engine()
    assert engine._state()[1].gap_bands and any("@" in k for k in engine._state()[1].novelty)
    back = PartitionEngine.restore(engine.snapshot(), CONFIG)
    assert back._state()[1].gap_bands == engine._state()[1].gap_bands
    assert back._state()[1].novelty == engine._state()[1].novelty
    stored = _doc((DATA / "engine-format3.bin").read_bytes())
    assert "gap_bands" not in stored["population"]
    old = PartitionEngine.restore((DATA / "engine-format3.bin").read_bytes(), CONFIG)
    population = old._state()[1]
    assert population.gap_bands == [] and not any("@" in k for k in population.novelty)
    assert population.gap_prior(0) == population.gap_mean
    assert population.new_rate("category", 0) == population.new_rate("category")
    old.process(stream(600)[AT:])
    assert old._state()[1].gap_bands


def test_a_field_that_no_longer_exists_is_ignored() -> None:
    doc = _doc((DATA / "engine-format3.bin").read_bytes())
    doc["customer_fields"].append("retired_field")
    for _, values in doc["customers"]:
        values.append([1, 2, 3])
    doc["population"]["retired_table"] = {"x": 1}
    doc["calibration"]["retired"] = 0
    restored = PartitionEngine.restore(_pack(doc), CONFIG)
    assert not hasattr(next(iter(restored._state()[0].items()))[1], "retired_field")
    assert isinstance(restored._state()[2], Recalibration)


def test_an_unknown_format_number_is_refused() -> None:
    doc = _doc((DATA / "engine-format3.bin").read_bytes())
    doc["format"] = 4
    with pytest.raises(ValueError, match="unsupported snapshot format 4"):
        PartitionEngine.restore(_pack(doc), CONFIG)


class _Boom:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo pwned > /dev/null",))


def test_a_crafted_pickle_is_refused_without_running_it() -> None:
    buf = io.BytesIO()
    pickle.dump({"format": 2, "customers": _Boom()}, buf)
    with pytest.raises(ValueError, match=r"does not hold (posix|os)\.system"):
        PartitionEngine.restore(zlib.compress(buf.getvalue()), CONFIG)


def test_the_snapshot_holds_no_pickle_and_is_smaller_than_format_2() -> None:
    data = _engine().snapshot()
    body = zlib.decompress(data[len(stateformat.MAGIC):])
    assert body.startswith(b"{") and orjson.loads(body)["format"] == 3
    assert len(data) < len((DATA / "engine-format2.bin").read_bytes())
