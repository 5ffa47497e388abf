"""A restored customer id is bounded as the live path bounds it: text of 1 to `MAX_ID_CHARS`
characters (`shared.schemas.IdText`, the transaction schema), in every format a restore
reads: a whole format-3 snapshot (checked since the probe of 2026-12-05), a format-3
checkpoint's customer records (the id is the record's key, `<prefix>/c/<id>`) and a format-2
snapshot (`detector.core.legacy`, the upgrade reader). Hostile probe of 2026-12-06: the
last two restored an id of any length (a 1 MB key, or an empty one) into the table, where
no transaction can ever name it, held in memory until evicted and written again at every
full checkpoint."""

from __future__ import annotations

import re
from typing import Any

import pytest

from detector.core.engine import PartitionEngine
from shared.schemas import MAX_ID_CHARS
from tests.cores import core_switch
from tests.unit import legacy_snapshots as old
from tests.unit.state_stream import CONFIG, stream

ROWS = stream(360)


def _checkpoint() -> tuple[dict[str, bytes], list[tuple[str, bytes]]]:
    with core_switch("python"):
        engine = PartitionEngine(CONFIG, 2)
        engine.process(ROWS[:300])
        changes = engine.checkpoint(full=True)
    return {k: v for k, v in changes.parts.items() if v is not None}, changes.customers


PARTS, CUSTOMERS = _checkpoint()
#: The least recently seen customer's id, renamed in each case.
RENAMED = CUSTOMERS[0][0]


def _renamed(cid: str) -> list[tuple[str, bytes]]:
    return [(cid if c == RENAMED else c, data) for c, data in CUSTOMERS]


def _refusal(run: object) -> str | None:
    try:
        run()  # type: ignore[operator]
    except ValueError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("core", ["python", "kernel"])
@pytest.mark.parametrize("length", [0, MAX_ID_CHARS + 1, 100 * 1024 * 1024])
def test_a_checkpoint_record_of_an_id_past_the_schema_s_bound_is_refused(
        core: str, length: int) -> None:
    customers = _renamed("c" * length)
    with core_switch(core):
        why = _refusal(lambda: PartitionEngine.resume(PARTS, customers, CONFIG))
    assert why is not None, f"an id of {length} characters restored"
    shown = r'b\'""\'' if length == 0 else r"b'\"c{59}'"
    assert re.fullmatch(rf"state part 'checkpoint': field 'customers' holds an id of another "
                        rf"kind: {shown}", why), why


@pytest.mark.parametrize("core", ["python", "kernel"])
@pytest.mark.parametrize("length", [1, MAX_ID_CHARS])
def test_a_checkpoint_record_of_an_id_at_the_bound_restores_and_scores(
        core: str, length: int) -> None:
    """One character over the empty id's refusal, or under the long one's: restored, and
    the id is the table's."""
    cid = "\u00e9" * length
    with core_switch(core):
        engine = PartitionEngine.resume(PARTS, _renamed(cid), CONFIG)
        engine.process(ROWS[300:320])
        held = dict(engine.checkpoint(full=True).customers)
    assert cid in held and RENAMED not in held


def _legacy_renamed(cid: str) -> old.Edit:
    def edit(doc: dict[str, Any]) -> None:
        items = old.customers(doc)
        first = next(iter(items))
        items[cid] = items.pop(first)
    return edit


@pytest.mark.parametrize("length", [0, MAX_ID_CHARS + 1, 10 * 1024 * 1024])
def test_a_format_2_snapshot_of_an_id_past_the_schema_s_bound_is_refused(length: int) -> None:
    data = old.edited(_legacy_renamed("c" * length))
    why = _refusal(lambda: PartitionEngine.restore(data, CONFIG))
    assert why is not None, f"an id of {length} characters restored"
    shown = r'b\'""\'' if length == 0 else r"b'\"c{59}'"
    assert re.fullmatch(rf"state part 'customers': field '_items' holds an id of another "
                        rf"kind: {shown}", why), why


@pytest.mark.parametrize("length", [1, MAX_ID_CHARS])
def test_a_format_2_snapshot_of_an_id_at_the_bound_restores(length: int) -> None:
    cid = "\u00e9" * length
    with core_switch("python"):
        engine = PartitionEngine.restore(old.edited(_legacy_renamed(cid)), CONFIG)
        held = dict(engine.checkpoint(full=True).customers)
    assert cid in held


#: Ids past the bound that JSON cannot hold whole: a lone surrogate (text a pickle or a
#: checkpoint's key may hold, UTF-8 may not) past the 60 characters shown, or within them.
SURROGATE_LATE = "c" * 60 + "\ud800" + "c" * MAX_ID_CHARS
SURROGATE_EARLY = "\ud800" + "c" * MAX_ID_CHARS


@pytest.mark.parametrize(("cid", "shown"), [
    # its first 60 characters are JSON: shown as JSON (quoted "...), cut at 60 bytes
    (SURROGATE_LATE, "b'\"" + "c" * 59 + "'"),
    # they are not: shown as Python writes it ('\ud800...), cut at 60 characters
    (SURROGATE_EARLY, "b\"'\\\\ud800" + "c" * 53 + '"'),
], ids=["surrogate past the 60 shown", "surrogate within them"])
@pytest.mark.parametrize("where", ["checkpoint", "format 2"])
def test_an_id_past_the_bound_that_json_cannot_hold_is_refused_showing_its_start(
        cid: str, shown: str, where: str) -> None:
    """The refusal shows the id's first 60 characters, as JSON when they are (only they are
    encoded: never a 100 MB id whole), else as Python writes them: each cut to 60."""
    with core_switch("python"):
        if where == "checkpoint":
            why = _refusal(lambda: PartitionEngine.resume(PARTS, _renamed(cid), CONFIG))
            head = "state part 'checkpoint': field 'customers'"
        else:
            data = old.edited(_legacy_renamed(cid))
            why = _refusal(lambda: PartitionEngine.restore(data, CONFIG))
            head = "state part 'customers': field '_items'"
    assert why == f"{head} holds an id of another kind: {shown}"
