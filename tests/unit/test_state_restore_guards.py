"""Restoring an engine from a whole snapshot (`stateformat.decode`) or from a checkpoint's
records (`stateparts.decode`), which keep every customer packed as read (or, for the
kernel, decode each record once into its slots: `stateparts.record_values`): what they
refuse and what they must carry over, on the core and on the kernel (`resume_into`).
Written for the survivors of the mutation run of the packed customers (docs/mutation.md)."""

from __future__ import annotations

import datetime as dt
import re
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from detector.core import stateformat
from detector.core.engine import PartitionEngine
from detector.core.stateparts import PARTS
from tests.unit import cores
from tests.unit.state_stream import CONFIG, stream

DATA = Path(__file__).resolve().parents[1] / "data" / "state"


def _checkpoint(rows: int = 300) -> tuple[dict[str, bytes], list[tuple[str, bytes]]]:
    engine = PartitionEngine(CONFIG, 2)
    engine.process(stream(rows))
    changes = engine.checkpoint(full=True)
    return {k: v for k, v in changes.parts.items() if v is not None}, changes.customers


@pytest.fixture(params=cores.CORES)
def resume_into(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which engine a checkpoint resumes into: the core's (its customers packed as read) or
    the kernel's (each record checked by one typed decode, then parked)."""
    return cores.use(request.param, monkeypatch)


def _snapshot_doc(data: bytes) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(zlib.decompress(data[len(stateformat.MAGIC):]))
    return doc


def _snapshot(doc: dict[str, Any]) -> bytes:
    return stateformat.MAGIC + zlib.compress(orjson.dumps(doc))


@pytest.mark.parametrize("names", [*((n,) for n in PARTS), ("population", "model")])
def test_a_checkpoint_missing_parts_is_refused_naming_them(
        names: tuple[str, ...], resume_into: str) -> None:
    parts, customers = _checkpoint()
    for name in names:
        del parts[name]
    with pytest.raises(ValueError, match=rf"^state parts missing: {', '.join(names)}$"):
        PartitionEngine.resume(parts, customers, CONFIG)


def test_a_checkpoint_missing_a_customer_record_is_refused_with_both_counts(
        resume_into: str) -> None:
    parts, customers = _checkpoint()
    n = len(customers)
    with pytest.raises(ValueError, match=rf"^{n - 1} customer records, the checkpoint has {n}$"):
        PartitionEngine.resume(parts, customers[1:], CONFIG)


@pytest.mark.parametrize("change", ["short", "long"])
def test_a_snapshot_whose_customer_row_does_not_match_its_fields_is_refused(
        change: str) -> None:
    """A row with a value missing (or one too many) is corrupt: restoring it with the missing
    field at its default (or the values shifted) would silently change that customer."""
    engine = PartitionEngine(CONFIG, 2)
    engine.process(stream(300))
    doc = _snapshot_doc(engine.snapshot())
    cid, values = doc["customers"][0]
    doc["customers"][0] = [cid, values[:-1] if change == "short" else [*values, 0]]
    PartitionEngine.restore(_snapshot(_snapshot_doc(engine.snapshot())), CONFIG)  # as written
    n = len(doc["customer_fields"])
    held = n + (1 if change == "long" else -1)
    with pytest.raises(ValueError, match=rf"^customer {cid!r}: {held} values for {n} fields$"):
        PartitionEngine.restore(_snapshot(doc), CONFIG)


def test_a_snapshot_between_checkpoints_keeps_which_customers_changed_since_the_last() -> None:
    """Restored from a whole snapshot taken a few rows after a checkpoint, the engine's next
    checkpoint writes the customers the live engine's writes (those seen since), not all."""
    rows = stream(320)
    live = PartitionEngine(CONFIG, 2)
    live.process(rows[:300])
    live.checkpoint()
    live.process(rows[300:])
    back = PartitionEngine.restore(live.snapshot(), CONFIG)
    mine, theirs = back.checkpoint(), live.checkpoint()
    assert 0 < len(theirs.customers) < theirs.count
    assert (mine.customers, mine.removed, mine.parts) == (
        theirs.customers, theirs.removed, theirs.parts)


def test_the_first_checkpoint_after_an_upgrade_resumes_with_the_model_refitted_on_the_sample(
        resume_into: str) -> None:
    """Format 2 kept no training rows, so the first checkpoint after the upgrade has none
    for its model either: resuming from it refits the model on the sample held then, as a
    restore from the first snapshot after the upgrade does."""
    upgraded = PartitionEngine.restore((DATA / "engine-format2.bin").read_bytes(), CONFIG)
    changes = upgraded.checkpoint(full=True)
    parts = {k: v for k, v in changes.parts.items() if v is not None}
    back = PartitionEngine.resume(parts, changes.customers, CONFIG)
    assert back.model_version == "if-v2"
    assert back._model is not None and back._model.training is not None
    assert (back._model.training == upgraded._sample.view()).all()
    rest = stream(600)[450:]
    assert back.process(rest) == PartitionEngine.restore(upgraded.snapshot(), CONFIG).process(rest)


#: A field's value of another JSON kind than the field's (what a corrupt record, or one
#: written by a version that changed a field without a new format number, would hold).
WRONG_KIND = [("hours", "abc"), ("amounts", {}), ("n", "3"), ("n", True), ("countries", []),
              ("last_country", 0), ("last_t", "x"), ("wake", 1.0), ("recent", None)]


def _record_with(data: bytes, name: str, value: Any) -> bytes:
    magic, doc = data[:4], orjson.loads(data[4:])
    doc["fields"][name] = value
    return magic + orjson.dumps(doc)


@pytest.mark.parametrize(("name", "value"), WRONG_KIND)
def test_a_checkpoint_customer_field_of_another_kind_is_refused_at_restore(
        name: str, value: Any, resume_into: str) -> None:
    """Refused as the checkpoint is read (the detector then rebuilds the partition from its
    input history), not when that customer's next transaction unpacks it mid-stream."""
    parts, customers = _checkpoint()
    cid, data = customers[-1]
    customers[-1] = (cid, _record_with(data, name, value))
    with pytest.raises(ValueError, match=rf"customer {cid!r}: field {name!r} holds "):
        PartitionEngine.resume(parts, customers, CONFIG)


@pytest.mark.parametrize(("name", "value"), WRONG_KIND)
def test_a_snapshot_customer_field_of_another_kind_is_refused_at_restore(
        name: str, value: Any) -> None:
    engine = PartitionEngine(CONFIG, 2)
    engine.process(stream(300))
    doc = _snapshot_doc(engine.snapshot())
    cid, values = doc["customers"][-1]
    values[doc["customer_fields"].index(name)] = value
    with pytest.raises(ValueError, match=rf"customer {cid!r}: field {name!r} holds "):
        PartitionEngine.restore(_snapshot(doc), CONFIG)


def test_every_field_of_the_kind_it_has_is_restored_as_before(resume_into: str) -> None:
    """Numbers stay numbers whether JSON wrote them as integers or not (a float field that
    holds 2.0 is written `2.0`, but an older writer's 2 must still read)."""
    parts, customers = _checkpoint()
    cid, data = customers[-1]
    customers[-1] = (cid, _record_with(data, "gap_log", 2))
    resumed = PartitionEngine.resume(parts, customers, CONFIG)
    assert resumed._state()[0].get(cid, 0.0).gap_log == 2


#: Values of the right kind at the top but wrong inside (the check used to stop at the top:
#: such a customer was restored, then failed each of its transactions mid-stream, when
#: unpacked): a list item, a tuple's member, a count, the hour histogram's size or range.
WRONG_INSIDE = [
    ("amounts", ["1.0"], "[0]"), ("explore", [None], "[0]"), ("countries", {"CH": "x"}, "[...]"),
    ("hours", [0] * 23, ""), ("hours", [0] * 23 + [256], "[23]"), ("hours", [-1] * 24, "[0]"),
    ("recent", [[1.0, 2.0, "food", 3]], "[0][3]"), ("window", [[1.0, 2.0, "food"]], "[0]"),
    ("context", [["CH", "d", "n", "web", "food", "3", 1.0]], "[0][5]"),
    ("pending", [[1.0, ["CH"]]], "[0][1]"), ("wake", [None], ""), ("wake", [None, "1"], "[1]"),
    ("n", 3.0, ""),  # an integer field written as 3.0: no writer of ours does that
]


@pytest.mark.parametrize("case", WRONG_INSIDE, ids=lambda c: f"{c[0]}={c[1]!r}"[:40])
def test_a_customer_field_wrong_inside_is_refused_at_restore_naming_where(
        case: tuple[Any, ...], resume_into: str) -> None:
    name, value = case[0], case[1]
    parts, customers = _checkpoint()
    cid, data = customers[-1]
    customers[-1] = (cid, _record_with(data, name, value))
    where = rf" at {re.escape(case[2])}" if case[2] else ""
    with pytest.raises(ValueError,
                       match=rf"^customer {cid!r}: field {name!r} holds a value of another "
                             rf"kind{where}: Expected "):
        PartitionEngine.resume(parts, customers, CONFIG)


def test_every_field_of_a_busy_customer_passes_the_check(resume_into: str) -> None:
    """Quarantined events, a day's window, travel and nights: the check refuses none of
    what the engine itself writes, and the resumed engine goes on as the original."""
    engine = PartitionEngine(CONFIG, 2)
    rows = stream(600)
    odd = rows[-1].model_copy(update={  # held back from the habits (quarantined)
        "transaction_id": "odd", "amount": 99_999.0, "country": "JP", "device": "new",
        "channel": "atm", "ip": "192.0.2.1", "timestamp": rows[-1].timestamp + dt.timedelta(
            seconds=1)})
    engine.process([*rows, odd])
    changes = engine.checkpoint(full=True)
    parts = {k: v for k, v in changes.parts.items() if v is not None}
    fields = [orjson.loads(d[4:])["fields"] for _, d in changes.customers]
    assert any(f["pending"] for f in fields) and any(f["context"] for f in fields)
    assert any(f["window"] for f in fields) and any(f["wake"][0] is not None for f in fields)
    resumed = PartitionEngine.resume(parts, changes.customers, CONFIG)
    rest = stream(900)[600:]
    assert resumed.process(rest) == engine.process(rest)
