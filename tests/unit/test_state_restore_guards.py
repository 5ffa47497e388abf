"""Restoring an engine from a whole snapshot (`stateformat.decode`) or from a checkpoint's
records (`stateparts.decode`), which keep every customer packed as read: what they refuse
and what they must carry over. Written for the survivors of the mutation run of the packed
customers (docs/mutation.md)."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from detector.core import stateformat
from detector.core.engine import PartitionEngine
from detector.core.stateparts import PARTS
from tests.unit.state_stream import CONFIG, stream

DATA = Path(__file__).resolve().parents[1] / "data" / "state"


def _checkpoint(rows: int = 300) -> tuple[dict[str, bytes], list[tuple[str, bytes]]]:
    engine = PartitionEngine(CONFIG, 2)
    engine.process(stream(rows))
    changes = engine.checkpoint(full=True)
    return {k: v for k, v in changes.parts.items() if v is not None}, changes.customers


def _snapshot_doc(data: bytes) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(zlib.decompress(data[len(stateformat.MAGIC):]))
    return doc


def _snapshot(doc: dict[str, Any]) -> bytes:
    return stateformat.MAGIC + zlib.compress(orjson.dumps(doc))


@pytest.mark.parametrize("names", [*((n,) for n in PARTS), ("population", "model")])
def test_a_checkpoint_missing_parts_is_refused_naming_them(names: tuple[str, ...]) -> None:
    parts, customers = _checkpoint()
    for name in names:
        del parts[name]
    with pytest.raises(ValueError, match=rf"^state parts missing: {', '.join(names)}$"):
        PartitionEngine.resume(parts, customers, CONFIG)


def test_a_checkpoint_missing_a_customer_record_is_refused_with_both_counts() -> None:
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
    with pytest.raises(ValueError):
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
        ) -> None:
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
