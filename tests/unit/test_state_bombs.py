"""Hostile records on the state topic (anyone who can write one record to it): zlib'd bytes
that inflate far beyond what a real state holds, or carry bytes after their stream, and
fit numbers no release wrote, refused as read by every reader (`stateparts.decode`,
`stateformat.decode`, `legacy.read`) with their one-line `ValueError`, so the partition is
rebuilt from its input history (docs/detector.md "State format").

Found: no reader bounded what it inflated (a record of about 1 MB inflated to a gigabyte,
then read as JSON or a pickle: the detector killed for memory at each restore), bytes
after a zlib stream were ignored, and a truncated stream raised `zlib.error`, not the
readers' `ValueError`; a model's or pending fit's number was any integer (-2^63 and
2^64 - 1 restored, refitting the model with another seed than its writer's and putting
`if-v-9223372036854775808` on every row it scored), and a format-2 model's version any
text with a digit, put on every scored row as it was (a line break, a megabyte)."""

from __future__ import annotations

import base64
import os
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.core import inflate, stateformat
from detector.core.config import MAX_PENDING_FITS, CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.partcheck import MAX_TOTAL
from detector.core.rowloop import MODEL_FEATURES
from detector.core.state import Population
from detector.core.stateparts import PART_MAGIC
from tests.unit import legacy_snapshots as old
from tests.unit.state_stream import CONFIG as WRITER
from tests.unit.state_stream import JSON_VALUES, stream

NAMES = ("meta", "population", "calibration", "sample", "model", "pending")


#: The restores' knobs: the fewest population keys, for bounds quick to reach in a test.
CONFIG = WRITER.model_copy(update={"max_population_keys": 16})


def _checkpoint() -> tuple[dict[str, bytes], list[tuple[str, bytes]], bytes]:
    engine = PartitionEngine(WRITER, 2)
    engine.process(stream(300))
    changes = engine.checkpoint(full=True)
    parts = {k: v for k, v in changes.parts.items() if v is not None}
    return parts, changes.customers, engine.snapshot()


PARTS, CUSTOMERS, SNAPSHOT = _checkpoint()
DOCS: dict[str, Any] = {k: orjson.loads(zlib.decompress(v[4:])) for k, v in PARTS.items()}
SNAPSHOT_DOC: dict[str, Any] = orjson.loads(zlib.decompress(SNAPSHOT[len(stateformat.MAGIC):]))
LEGACY = old.FIXTURE.read_bytes()
NEXT = stream(400)[300:]
#: The fits the checkpoint counts (one at 300 rows: fit points 128, 320, ...).
FITS = DOCS["meta"]["fits"]
#: Inflated by the bombs: far past every bound under `CONFIG`.
BOMB = 64 << 20


def _deflate(head: bytes, size: int) -> bytes:
    """zlib of `head` then spaces to `size` bytes, a MiB at a time (never held whole)."""
    z = zlib.compressobj(9)
    out, left, block = [z.compress(head)], size - len(head), b" " * (1 << 20)
    while left > 0:
        out.append(z.compress(block[:left]))
        left -= len(block)
    out.append(z.flush())
    return b"".join(out)


def _part(name: str, size: int) -> bytes:
    """Part `name` as written, its JSON followed by spaces to `size` bytes."""
    return PART_MAGIC + _deflate(orjson.dumps(DOCS[name]), size)


def _resume(parts: dict[str, bytes]) -> list[Any]:
    engine = PartitionEngine.resume(parts, CUSTOMERS, CONFIG)
    try:
        return engine.process(NEXT)
    finally:
        engine.close()


EXPECTED = _resume(PARTS)


@pytest.mark.parametrize("name", NAMES)
def test_a_part_inflating_to_its_bound_restores_and_one_byte_more_is_refused(
        name: str) -> None:
    bound = inflate.part_bound(name, CONFIG)
    assert _resume({**PARTS, name: _part(name, bound - 1)}) == EXPECTED
    assert _resume({**PARTS, name: _part(name, bound)}) == EXPECTED
    with pytest.raises(ValueError, match=rf"^state part {name!r} inflates past its bound of "
                                         rf"{bound:,} bytes$"):
        PartitionEngine.resume({**PARTS, name: _part(name, bound + 1)}, CUSTOMERS, CONFIG)


def _whole(size: int) -> bytes:
    return stateformat.MAGIC + _deflate(orjson.dumps(SNAPSHOT_DOC), size)


def _legacy(size: int) -> bytes:
    """The format-2 fixture's pickle followed by spaces (pickle stops at its end)."""
    return _deflate(zlib.decompress(LEGACY), size)


#: (what, the bomb's bytes, how they are read, the bound of what they may inflate to)
Read = Callable[[bytes], Any]
BOMBS: list[tuple[str, Callable[[], bytes], Read, Callable[[bytes], int]]] = [
    ("checkpoint part", lambda: _part("population", BOMB),
     lambda b: PartitionEngine.resume({**PARTS, "population": b}, CUSTOMERS, CONFIG),
     lambda b: inflate.part_bound("population", CONFIG)),
    ("format-3 snapshot", lambda: _whole(BOMB),
     lambda b: PartitionEngine.restore(b, CONFIG),
     lambda b: inflate.whole_bound(len(b) - len(stateformat.MAGIC), CONFIG)),
    ("format-2 snapshot", lambda: _legacy(BOMB),
     lambda b: PartitionEngine.restore(b, CONFIG),
     lambda b: inflate.whole_bound(len(b), CONFIG)),
]


@pytest.mark.parametrize("case", BOMBS, ids=[c[0] for c in BOMBS])
def test_a_bomb_is_refused_without_inflating_it_past_its_bound(
        case: tuple[str, Callable[[], bytes], Read, Callable[[bytes], int]]) -> None:
    """64 MiB in a record of about 64 KB: refused, having held at most twice its bound
    (before, inflated whole and restored: the JSON and the pickle end before the spaces)."""
    _, make, read, bound_of = case
    data = make()
    assert len(data) < BOMB // 500
    bound = bound_of(data)
    assert bound < BOMB // 2
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=rf"^the engine snapshot inflates past its bound "
                                             rf"of {bound:,} bytes$|^state part 'population' "
                                             rf"inflates past its bound of {bound:,} bytes$"):
            read(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # inflated to one byte past the bound, held twice as its pieces are put together
    assert peak < 2 * bound + (16 << 20), f"{peak:,} bytes held for a bound of {bound:,}"


def _at_bound(make: Callable[[int], bytes], magic: int) -> int:
    """The most `make` may inflate to within the bound its bytes are given (the bound grows
    with the compressed bytes, 64 a byte, they with the size, a byte in about 1,000)."""
    def within(size: int) -> bool:
        return size <= inflate.whole_bound(len(make(size)) - magic, CONFIG)
    lo, hi = 1 << 20, 1 << 26
    assert within(lo) and not within(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if within(mid) else (lo, mid)
    return lo


@pytest.mark.parametrize("kind", ["format-3", "format-2"])
def test_a_whole_snapshot_within_its_bound_restores_and_past_it_is_refused(
        kind: str) -> None:
    """At the most its bytes may inflate to, and one byte more (whose bytes compress a
    little otherwise: their bound moves by a few bytes)."""
    make, magic = (_whole, len(stateformat.MAGIC)) if kind == "format-3" else (_legacy, 0)
    size = _at_bound(make, magic)
    PartitionEngine.restore(make(size), CONFIG).close()
    data = make(size + 1)
    bound = inflate.whole_bound(len(data) - magic, CONFIG)
    assert size - 64 * 8 < bound < size + 1
    with pytest.raises(ValueError, match=rf"^the engine snapshot inflates past its bound of "
                                         rf"{bound:,} bytes$"):
        PartitionEngine.restore(data, CONFIG)


#: Each reader and its record with `edit` applied to its zlib'd bytes.
READERS: dict[str, Callable[[Callable[[bytes], bytes]], Callable[[], Any]]] = {
    "checkpoint part": lambda edit: lambda: PartitionEngine.resume(
        {**PARTS, "sample": PART_MAGIC + edit(PARTS["sample"][4:])}, CUSTOMERS, CONFIG),
    "format-3 snapshot": lambda edit: lambda: PartitionEngine.restore(
        stateformat.MAGIC + edit(SNAPSHOT[len(stateformat.MAGIC):]), CONFIG),
    "format-2 snapshot": lambda edit: lambda: PartitionEngine.restore(edit(LEGACY), CONFIG),
}
WHAT = {"checkpoint part": "state part 'sample'", "format-3 snapshot": "the engine snapshot",
        "format-2 snapshot": "the engine snapshot"}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("extra", [b"\x00", b"x" * 1000, zlib.compress(b"{}")])
def test_bytes_after_the_zlib_stream_are_refused(reader: str, extra: bytes) -> None:
    """Before, ignored: a record could carry anything after its stream."""
    READERS[reader](lambda z: z)().close()  # as written: restores
    with pytest.raises(ValueError, match=rf"^{WHAT[reader]} continues past its zlib stream "
                                         rf"\({len(extra):,} more bytes\)$"):
        READERS[reader](lambda z: z + extra)()


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("cut", [1, 4, 100])
def test_a_truncated_zlib_stream_is_refused_with_the_readers_valueerror(
        reader: str, cut: int) -> None:
    """Before, `zlib.error` (or, for format 2, "not a readable engine snapshot: Error -5
    ..."): not the `ValueError` every other bad record is."""
    with pytest.raises(ValueError, match=rf"^{WHAT[reader]} is a truncated zlib stream$"):
        READERS[reader](lambda z: z[:-cut])()


def test_bytes_not_zlib_are_refused_naming_the_record() -> None:
    with pytest.raises(ValueError, match=r"^state part 'sample' is not zlib data: Error -3 "):
        PartitionEngine.resume({**PARTS, "sample": PART_MAGIC + b"not zlib"}, CUSTOMERS,
                               CONFIG)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=3000) | st.integers(0, 3000).map(lambda n: b"a" * n),
       st.integers(0, 3000))
def test_inflate_gives_the_bytes_up_to_the_bound_and_refuses_past_it(
        data: bytes, bound: int) -> None:
    packed = zlib.compress(data)
    if len(data) <= bound:
        assert inflate.inflate(packed, bound, "x") == data
    else:
        with pytest.raises(ValueError, match=rf"^x inflates past its bound of {bound:,} "):
            inflate.inflate(packed, bound, "x")


# --- the bounds themselves --------------------------------------------------------------
# The tests above take each bound from `inflate` itself, so a bound computed otherwise
# (another multiplier, a term dropped) passed them all (mutmut, 2026-12-06): here each is
# held to what its docstring says it covers.

@pytest.mark.parametrize("rows", [0, 1, 2, 3, 4, 64, 4096])
def test_rows_bytes_is_the_base64_length_of_that_many_feature_rows(rows: int) -> None:
    block = np.zeros((rows, len(MODEL_FEATURES)), np.float32)
    assert inflate.rows_bytes(rows) == len(base64.b64encode(block.tobytes()))


@pytest.mark.parametrize(("keys", "size"), [(16, 64), (4096, 4096), (4097, 4095)])
def test_each_part_s_bound_is_headroom_over_what_its_knobs_let_it_hold(
        keys: int, size: int) -> None:
    """meta and calibration: their fixed bounds; population: six tables of `keys` entries
    and the amount ring's numbers; sample and model: `size` rows and the slack; pending: one
    such block per fit that may be pending and one more; each (but the fixed two) times
    `HEADROOM`. A whole snapshot: every part's bound and `WHOLE_RATIO` x its bytes."""
    config = CoreConfig(max_population_keys=keys, sample_size=size)
    block = inflate.rows_bytes(size) + inflate.SLACK_BYTES
    population = (6 * keys * inflate.KEY_BYTES
                  + Population.RING * (inflate.NUMBER_BYTES + 1) + inflate.SLACK_BYTES)
    expected = {"meta": inflate.META_BYTES, "calibration": inflate.CALIBRATION_BYTES,
                "population": inflate.HEADROOM * population,
                "sample": inflate.HEADROOM * block, "model": inflate.HEADROOM * block,
                "pending": inflate.HEADROOM * (MAX_PENDING_FITS + 1) * block}
    assert {name: inflate.part_bound(name, config) for name in NAMES} == expected
    for stored in (0, 1, 1000):
        assert inflate.whole_bound(stored, config) == sum(expected.values()) + 64 * stored
    with pytest.raises(ValueError, match=r"^no state part 'customers'$"):
        inflate.part_bound("customers", config)


# --- fit numbers ------------------------------------------------------------------------

def _with(name: str, change: Callable[[dict[str, Any]], None]) -> dict[str, bytes]:
    doc = orjson.loads(orjson.dumps(DOCS[name]))
    change(doc)
    return {**PARTS, name: PART_MAGIC + zlib.compress(orjson.dumps(doc))}


def _pending(number: Any) -> Callable[[dict[str, Any]], None]:
    """A fit not yet in effect (`pending` of one), numbered `number`, on the sample."""
    def change(doc: Any) -> None:
        s = DOCS["sample"]
        rows = base64.b64decode(s["rows"])[: 100 * 14 * 4]
        doc.append({"number": number, "effective": 310, "shape": [100, 14],
                    "rows": base64.b64encode(rows).decode()})
    return change


NUMBERS_REFUSED = [0, -1, FITS + 1, MAX_TOTAL + 1, -(2 ** 63), 2 ** 64 - 1]


@pytest.mark.parametrize("number", NUMBERS_REFUSED)
def test_a_model_number_no_release_wrote_is_refused(number: int) -> None:
    """A fit's number is 1 for the first and at most the fits started (`meta`'s `fits`)."""
    with pytest.raises(ValueError, match=r"^state part 'model': field 'number' holds "):
        PartitionEngine.resume(_with("model", lambda d: d.update(number=number)), CUSTOMERS,
                               CONFIG)
    doc = orjson.loads(orjson.dumps(SNAPSHOT_DOC))
    doc["model"]["number"] = number
    with pytest.raises(ValueError, match=r"^state part 'model': field 'number' holds "):
        PartitionEngine.restore(stateformat.MAGIC + zlib.compress(orjson.dumps(doc)), CONFIG)


@pytest.mark.parametrize("number", NUMBERS_REFUSED)
def test_a_pending_fit_number_no_release_wrote_is_refused(number: int) -> None:
    with pytest.raises(ValueError, match=r"^state part 'pending': field 'number' holds "):
        PartitionEngine.resume(_with("pending", _pending(number)), CUSTOMERS, CONFIG)


def test_fit_numbers_at_the_bounds_restore() -> None:
    assert FITS == 1
    assert _resume(_with("model", lambda d: d.update(number=FITS))) == EXPECTED
    _resume(_with("pending", _pending(1)))
    _resume(_with("pending", _pending(FITS)))


def test_fit_numbers_past_the_fits_are_refused_with_both() -> None:
    with pytest.raises(ValueError, match=rf"^state part 'model': field 'number' holds fit "
                                         rf"{FITS + 1}, of {FITS} started$"):
        PartitionEngine.resume(_with("model", lambda d: d.update(number=FITS + 1)),
                               CUSTOMERS, CONFIG)


LEGACY_FITS = 2  # the format-2 fixture's (its model is if-v2)


@pytest.mark.parametrize("version", ["if-v0", "if-v3", "v2", "if-v2\nERROR forged",
                                     "if-v2" + " " * 1_000_000, "if-v02x", "if-v-2",
                                     "if-v" + "9" * 30])
def test_a_format2_model_version_no_release_wrote_is_refused(version: str) -> None:
    """Every release named its model `if-v<number>`; the name is put on every row the
    model scores (before, any text with a digit was kept as it was)."""
    data = old.edited(old.set_part("model", "version", version))
    with pytest.raises(ValueError, match=r"^state part 'model': field '(version|number)' "
                                         r"holds [^\n]*$"):
        PartitionEngine.restore(data, CONFIG)


@pytest.mark.parametrize("version", ["if-v1", f"if-v{LEGACY_FITS}"])
def test_a_format2_model_named_for_a_fit_started_restores(version: str) -> None:
    engine = PartitionEngine.restore(old.edited(old.set_part("model", "version", version)),
                                     CONFIG)
    try:
        assert engine.model_version == version
    finally:
        engine.close()


_FIELDS = sorted((name, field) for name, doc in DOCS.items() if isinstance(doc, dict)
                 for field in doc)


@settings(max_examples=int(os.environ.get("PROBE_N", 150)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(NAMES), JSON_VALUES, max_size=2),
       st.dictionaries(st.sampled_from(_FIELDS), JSON_VALUES, max_size=3))
def test_any_json_in_any_part_restores_or_is_refused_in_one_line(
        whole: dict[str, Any], fields: dict[tuple[str, str], Any]) -> None:
    """A checkpoint's parts holding any JSON (a part replaced whole, or some of its
    fields): it resumes or is refused with the readers' one-line `ValueError`, never
    another exception."""
    docs = orjson.loads(orjson.dumps(DOCS))
    for (name, field), value in fields.items():
        docs[name][field] = value
    docs |= whole
    parts = {k: PART_MAGIC + zlib.compress(orjson.dumps(v)) for k, v in docs.items()}
    try:
        PartitionEngine.resume(parts, CUSTOMERS, CONFIG).close()
    except ValueError as exc:
        assert "\n" not in str(exc)


# --- refusals no test read word for word (mutmut, 2026-12-06) ---------------------------

def test_a_snapshot_s_counter_of_another_kind_is_refused_as_meta_s() -> None:
    doc = {**SNAPSHOT_DOC, "processed": -1}
    with pytest.raises(ValueError, match=r"^state part 'meta': field 'processed' holds a "
                                         r"value of another kind: Expected `int` >= 0$"):
        PartitionEngine.restore(stateformat.MAGIC + zlib.compress(orjson.dumps(doc)), CONFIG)


def test_a_model_s_training_rows_without_their_shape_are_refused() -> None:
    assert DOCS["model"]["training"] is not None

    def change(doc: Any) -> None:
        doc["shape"] = None
    with pytest.raises(ValueError, match=r"^state part 'model': field 'shape' holds no shape "
                                         r"of its rows$"):
        _resume(_with("model", change))


def test_a_pending_fit_s_rows_of_another_shape_are_refused_naming_pending() -> None:
    def change(doc: Any) -> None:
        _pending(1)(doc)
        doc[-1]["shape"] = [101, 14]
    with pytest.raises(ValueError, match=r"^state part 'pending': field 'rows' holds no rows "
                                         r"of shape \[101, 14\]: "):
        _resume(_with("pending", change))


def test_a_population_table_past_max_total_events_is_refused_naming_it() -> None:
    def change(doc: Any) -> None:
        doc["tables"]["country"] = {"CH": MAX_TOTAL, "FR": 1}
    with pytest.raises(ValueError, match=rf"^state part 'population': field 'tables' holds "
                                         rf"more than {MAX_TOTAL} events in table 'country'$"):
        _resume(_with("population", change))
