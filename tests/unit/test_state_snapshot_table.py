"""A whole snapshot's table fields (`customer_fields`, `customers`, `touched`, `gone`) and
its sample's shape, hostile (anyone who can write one record to the state topic): refused
as read by `stateformat.decode` with a one-line `ValueError` naming the field, on either
core, so the partition is rebuilt from its input history (docs/detector.md "State format").

Found: `touched` naming customers other than the table's most recently seen (an unknown
id, an int, the oldest customer, or a text, read as its letters) restored, and the first
checkpoint after it failed (`AssertionError: 32 customers changed, 30 in the table`, at
every retry of the batch); a customer id not text, empty or longer than any transaction's,
or listed twice, a field name listed twice (every other field then its default), and ids
gone that are still in the table restored; a document not an object, or lacking a field,
raised `AttributeError`/`KeyError` ("checkpoint unusable ('customer_fields')"); a sample
of shape [2^40, 14] allocated its ring before its rows were checked (`MemoryError`)."""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.core import stateformat
from detector.core.engine import PartitionEngine
from shared.schemas import MAX_ID_CHARS
from tests.unit import cores
from tests.unit.state_stream import CONFIG, JSON_VALUES, stream

ROWS = stream(420)


def _doc() -> dict[str, Any]:
    """A snapshot taken 20 rows after a checkpoint: some customers touched since."""
    engine = PartitionEngine(CONFIG, 2)
    engine.process(ROWS[:300])
    engine.checkpoint()
    engine.process(ROWS[300:320])
    doc: dict[str, Any] = orjson.loads(zlib.decompress(engine.snapshot()[len(
        stateformat.MAGIC):]))
    return doc


DOC = _doc()
IDS = [cid for cid, _ in DOC["customers"]]  # least recently seen first
assert 0 < len(DOC["touched"]) < len(IDS) and sorted(DOC["touched"]) == sorted(
    IDS[-len(DOC["touched"]):])


@pytest.fixture(params=cores.CORES)
def core(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    return cores.use(request.param, monkeypatch)


def _bytes(doc: Any) -> bytes:
    return stateformat.MAGIC + zlib.compress(orjson.dumps(doc))


def _edit(change: Callable[[dict[str, Any]], Any]) -> bytes:
    doc = orjson.loads(orjson.dumps(DOC))
    change(doc)
    return _bytes(doc)


def _id(i: int, cid: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda d: d["customers"][i].__setitem__(0, cid)


def _field(name: str, value: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda d: d.__setitem__(name, value)


REFUSED: list[tuple[str, bytes, str]] = [
    ("a list", _bytes([]), r"the engine snapshot is not an object of fields"),
    ("no customer_fields", _edit(lambda d: d.pop("customer_fields")),
     r"the engine snapshot lacks 'customer_fields'"),
    ("touched, no gone", _edit(lambda d: d.pop("gone")), r"the engine snapshot lacks 'gone'"),
    ("touched unknown", _edit(lambda d: d["touched"].append("nobody")),
     r"state part 'snapshot': field 'touched' holds customers other than the table's \d+ "
     r"most recently seen"),
    ("touched the oldest", _edit(_field("touched", [IDS[0]])),
     r"state part 'snapshot': field 'touched' holds customers other than the table's 1 "),
    ("touched one short of the tail", _edit(lambda d: d["touched"].remove(IDS[-2])),
     r"state part 'snapshot': field 'touched' holds customers other than "),
    ("touched a text", _edit(_field("touched", "c1")),
     r"state part 'snapshot': field 'touched' holds a value of another kind: Expected "
     r"`array`, got `str`"),
    ("touched an int", _edit(_field("touched", [IDS[-1], 3])),
     r"state part 'snapshot': field 'touched' holds a value of another kind at \[1\]: "
     r"Expected `str`, got `int`"),
    ("gone in the table", _edit(_field("gone", [IDS[0]])),
     rf"state part 'snapshot': field 'gone' holds a customer in the table: {IDS[0]!r}"),
    ("gone an int", _edit(_field("gone", [3])),
     r"state part 'snapshot': field 'gone' holds a value of another kind at \[0\]"),
    ("id an int", _edit(_id(0, 5)),
     r"state part 'snapshot': field 'customers' holds an id of another kind: b'5'"),
    # shown as JSON, whatever its kind (Python's repr would say None, {'a': 1})
    ("id null", _edit(_id(0, None)),
     r"state part 'snapshot': field 'customers' holds an id of another kind: b'null'$"),
    ("id an object", _edit(_id(0, {"a": 1})),
     r"state part 'snapshot': field 'customers' holds an id of another kind: "
     r"b'\{\"a\":1\}'$"),
    ("id empty", _edit(_id(0, "")),
     r"state part 'snapshot': field 'customers' holds an id of another kind: b'\"\"'"),
    ("id too long", _edit(_id(0, "c" * (MAX_ID_CHARS + 1))),
     r"state part 'snapshot': field 'customers' holds an id of another kind: "),
    ("id twice", _edit(_id(0, IDS[1])), rf"customer {IDS[1]!r}: listed twice"),
    ("entry of 3", _edit(lambda d: d["customers"][0].append(1)),
     r"state part 'snapshot': field 'customers' holds an entry of another kind: "),
    ("values not a list", _edit(lambda d: d["customers"][0].__setitem__(1, {})),
     r"state part 'snapshot': field 'customers' holds an entry of another kind: "),
    ("customers an object", _edit(_field("customers", {})),
     r"state part 'snapshot': field 'customers' holds no list of customers"),
    ("a field name twice", _edit(lambda d: d["customer_fields"].__setitem__(1, "n")),
     r"state part 'snapshot': field 'customer_fields' holds a name twice"),
    ("sample of 2^40 rows", _edit(lambda d: d["sample"].__setitem__("shape", [1 << 40, 14])),
     r"state part 'sample': field 'rows' holds no rows of shape \[1099511627776, 14\]"),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c[0] for c in REFUSED])
def test_a_snapshot_table_no_release_wrote_is_refused_naming_the_field(
        case: tuple[str, bytes, str], core: str) -> None:
    """Refused as read, in one line: not left to fail the first checkpoint after it."""
    _, data, message = case
    with pytest.raises(ValueError, match=rf"^{message}") as caught:
        PartitionEngine.restore(data, CONFIG)
    assert "\n" not in str(caught.value)


def _goes_on(data: bytes) -> None:
    engine = PartitionEngine.restore(data, CONFIG)
    try:
        engine.process(ROWS[320:])
        engine.checkpoint()
    finally:
        engine.close()


@pytest.mark.parametrize("case", [
    ("as written", _edit(lambda d: None)),
    ("an id of the most characters", _edit(_id(0, "c" * MAX_ID_CHARS))),
    ("the newest customer touched", _edit(_field("touched", [IDS[-1]]))),
    ("none touched", _edit(_field("touched", []))),
    ("an id gone twice, not in the table", _edit(_field("gone", ["nobody", "nobody"]))),
    ("written before checkpoints", _edit(lambda d: (d.pop("touched"), d.pop("gone")))),
], ids=lambda c: c[0])
def test_a_snapshot_table_at_the_bounds_restores_and_checkpoints(
        case: tuple[str, bytes], core: str) -> None:
    _goes_on(case[1])


@settings(max_examples=int(os.environ.get("PROBE_N", 150)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(sorted(DOC)), JSON_VALUES, min_size=1, max_size=3),
       st.sets(st.sampled_from(sorted(DOC)), max_size=2))
def test_any_values_in_any_fields_restore_or_are_refused_in_one_line(
        values: dict[str, Any], dropped: set[str]) -> None:
    """Whatever a snapshot's fields hold (any JSON in any field, fields left out): it
    restores or is refused with the readers' one-line `ValueError`, never another
    exception."""
    doc = {k: v for k, v in {**DOC, **values}.items() if k not in dropped}
    try:
        PartitionEngine.restore(_bytes(doc), CONFIG).close()
    except ValueError as exc:
        assert "\n" not in str(exc)
