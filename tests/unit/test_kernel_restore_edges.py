"""A customer record restored into the compiled kernel, which keeps it in fixed-width arrays
and indexes tables without bounds checks: every record the restore accepts scores as on the
Python core, to the bit, and a record no release writes, which the kernel cannot honour, is
refused as read (hostile probe of the state format: docs/detector.md "State format").

Found (each refused now): a context hour beyond 0-23 (the core's IndexError mid-stream, the
kernel reading past its 24-hour profile: `near[h]`), `explore` not of 5 values (a crash
mid-stream in either core, or only in the kernel), a day's or week's window beyond
`MAX_WINDOW` (the kernel's tables of lgamma and binomial coefficients end at 64), a count
beyond the kernel's widths (int32 table counts, int64 counters: an OverflowError at that
customer's next transaction, or a count that wraps), a log amount no amount gives or a
negative mean log gap or a wake's surprise beyond any term's (the core's OverflowError
mid-stream where the kernel went on)."""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from detector.core.engine import PartitionEngine
from detector.core.features import event_seconds
from detector.core.habits import MAX_WINDOW
from detector.core.packed import LAST_T_END, LOG_AMOUNT_MAX, LOG_AMOUNT_MIN, MAX_COUNT
from detector.core.surprise import MAX_BITS, ROUND_WINDOW_S
from tests.ci import IN_CI
from tests.cores import core_switch
from tests.unit.state_stream import CONFIG, stream

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency")

_ROWS = stream(360)


def _checkpoint() -> tuple[dict[str, bytes], list[tuple[str, bytes]]]:
    with core_switch("python"):
        engine = PartitionEngine(CONFIG, 2)
        engine.process(_ROWS[:300])
        changes = engine.checkpoint(full=True)
    return {k: v for k, v in changes.parts.items() if v is not None}, changes.customers


PARTS, CUSTOMERS = _checkpoint()
#: The customer whose record is edited: the first of the next rows.
CID = _ROWS[300].customer_id
FIELDS: dict[str, Any] = orjson.loads(dict(CUSTOMERS)[CID][4:])["fields"]
_NEXT = next(r for r in _ROWS[300:] if r.customer_id == CID)
T0 = event_seconds(_NEXT)


def _next_rows() -> list[Any]:
    """The customer's next purchases, made to reach what a record holds: round amounts
    and exact repeats within the window, a night, a trip, a new device; then the stream."""
    def at(s: float, **kw: Any) -> Any:
        return _NEXT.model_copy(update={"transaction_id": f"x{s}", "timestamp":
                                        _NEXT.timestamp + dt.timedelta(seconds=s), **kw})
    night = _NEXT.timestamp.replace(hour=3) + dt.timedelta(days=1)
    return [at(0, amount=100.0), at(1, amount=100.0), at(2, amount=1000.0),
            at(3, amount=19.99, country="US", device="other"),
            at((night - _NEXT.timestamp).total_seconds(), amount=100.0),
            *_ROWS[301:330]]


NEXT = _next_rows()


def _edited(fields: dict[str, Any]) -> list[tuple[str, bytes]]:
    out = []
    for cid, data in CUSTOMERS:
        if cid == CID:
            doc = orjson.loads(data[4:])
            doc["fields"].update(fields)
            data = data[:4] + orjson.dumps(doc)
        out.append((cid, data))
    return out


def _run(core: str, customers: list[tuple[str, bytes]]) -> tuple[Any, ...]:
    """What `core` makes of the checkpoint: ("refused", message), or the verdicts of the
    next rows and the records of the checkpoint after them."""
    with core_switch(core):
        try:
            engine = PartitionEngine.resume(PARTS, customers, CONFIG)
        except ValueError as exc:
            return "refused", str(exc)
        verdicts = engine.process(NEXT)
        return "ran", verdicts, sorted(engine.checkpoint(full=True).customers)


def _both(fields: dict[str, Any]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    customers = _edited(fields)
    return _run("python", customers), _run("kernel", customers)


# --- what the restore refuses -------------------------------------------------------------

def _context(**at: Any) -> list[list[Any]]:
    entry = list(FIELDS["context"][0])
    for i, v in at.items():
        entry[int(i[1:])] = v
    return [entry] * 3


def _held(hour: int = 3, la: float = 4.0) -> list[list[Any]]:
    return [[T0 + 100.0, ["CH", "d", "10.0.0", "web", "food", hour, la, 0.5, 0.5]]]


def _events(n: int) -> list[list[Any]]:
    return [[T0 - 100.0 + i, 100.0, "food", "web"] for i in range(n)]


def _table(count: int) -> dict[str, int]:
    return {"food": count, "tech": 1}


_LOW, _HIGH = LOG_AMOUNT_MIN, LOG_AMOUNT_MAX
_BELOW, _ABOVE = math.nextafter(_LOW, -math.inf), math.nextafter(_HIGH, math.inf)

#: (field, value refused, where msgspec says it failed, a value at the bound accepted)
REFUSED: list[tuple[str, Any, str, Any]] = [
    ("context", _context(i5=24), "[0][5]", _context(i5=23)),
    ("context", _context(i5=-1), "[0][5]", _context(i5=0)),
    ("context", _context(i6=_ABOVE), "[0][6]", _context(i6=_HIGH)),
    ("context", _context(i6=_BELOW), "[0][6]", _context(i6=_LOW)),
    ("amounts", [4.0, _ABOVE], "[1]", [4.0, _HIGH]),
    ("amounts", [_BELOW], "[0]", [_LOW]),
    ("explore", [0.0] * 4, "", [0.0] * 5),
    ("explore", [0.0] * 6, "", [0.0] * 5),
    ("window", _events(MAX_WINDOW + 1), "", _events(MAX_WINDOW)),
    ("days", _events(MAX_WINDOW + 1), "", _events(MAX_WINDOW)),
    ("categories", _table(MAX_COUNT + 1), "[...]", _table(MAX_COUNT)),
    ("countries", _table(-1), "[...]", _table(0)),
    *((name, MAX_COUNT + 1, "", MAX_COUNT)
      for name in ("n", "gaps", "hops", "novel", "learnt", "exact", "fast")),
    ("n", -1, "", 0),
    ("gap_log", -5e-324, "", 0.0),
    ("gap_log", -907.0, "", 26.5),
    ("wake", [T0 - 10.0, math.nextafter(MAX_BITS, math.inf)], "[1]", [T0 - 10.0, MAX_BITS]),
    ("wake", [T0 - 10.0, 1.7e308], "[1]", [T0 - 10.0, 0.0]),
    ("wake", [T0 - 10.0, -5e-324], "[1]", [None, 0.0]),
    ("rounds", [MAX_COUNT + 1, 0, 0, 0, 0], "[0]", [MAX_COUNT, 0, 0, 0, 0]),
    # no event's time (2101-01-01 and after, before 1970): restored, it held the idle
    # expiry of every customer seen after it (twelfth hostile probe, 2026-12-06)
    ("last_t", LAST_T_END, "", math.nextafter(LAST_T_END, 0.0)),
    ("last_t", 7.3e9, "", None),
    ("last_t", -5e-324, "", 0.0),
]


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: f"{c[0]}{c[2]}")
@pytest.mark.parametrize("core", ["python", "kernel"])
def test_a_record_no_release_writes_is_refused_at_restore_naming_where(
        case: tuple[str, Any, str, Any], core: str) -> None:
    """Refused as the checkpoint is read (the partition is then rebuilt from its input
    history), by either core, not at that customer's next transaction mid-stream (where
    the kernel raised, or read beyond its tables, or the core raised)."""
    name, value, where, _ = case
    got = _run(core, _edited({name: value}))
    at = rf" at {re.escape(where)}" if where else ""
    assert got[0] == "refused", got[:1]
    assert re.match(rf"^customer {CID!r}: field {name!r} holds a value of another kind{at}: "
                    r"Expected ", got[1]), got[1]


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: f"{c[0]}{c[2]}")
def test_a_record_at_the_bound_restores_and_scores_alike_on_both_cores(
        case: tuple[str, Any, str, Any]) -> None:
    name, _, _, value = case
    mine, theirs = _both({name: value})
    assert mine[0] == "ran"
    assert mine == theirs


@pytest.mark.parametrize(("place", "value", "ok"), [
    (6, _ABOVE, False), (6, _HIGH, True), (6, _BELOW, False), (6, _LOW, True)])
@pytest.mark.parametrize("core", ["python", "kernel"])
def test_a_held_log_amount_no_amount_gives_is_refused_at_restore(
        place: int, value: float, ok: bool, core: str) -> None:
    held = _held(la=value)
    got = _run(core, _edited({"pending": held}))
    if ok:
        assert got[0] == "ran"
        assert got == _run("kernel" if core == "python" else "python", _edited({"pending": held}))
    else:
        assert got == ("refused", f"customer {CID!r}: field 'pending' holds a value of another "
                                  f"kind at held event 0, place {place}: {value!r}")


# --- what the restore accepts: the same outputs on both cores -----------------------------

_HOURS = st.sampled_from([0, 1, 12, 22, 23])
_LA = st.sampled_from([_LOW, 0.0, 4.6, 27.6, _HIGH]) | st.floats(_LOW, _HIGH)
_COUNT = st.sampled_from([0, 1, 2, MAX_COUNT - 1, MAX_COUNT]) | st.integers(0, MAX_COUNT)
_TIME = st.sampled_from([T0 - ROUND_WINDOW_S, T0 - 100.0, T0 - 1.0, T0, T0 + 5.0,
                         -1.7e308, 1.7e308]) | st.floats(T0 - 10 * ROUND_WINDOW_S, T0 + 10.0)
#: A last event's time: an event time of the schema's (others are refused, `REFUSED`).
_LAST_T = st.sampled_from([0.0, T0 - 1.0, T0, T0 + 5.0, math.nextafter(LAST_T_END, 0.0)]) \
    | st.floats(T0 - 10 * ROUND_WINDOW_S, T0 + 10.0)
_FLOAT = st.sampled_from([0.0, -1.7e308, 1.7e308, 1e-300]) | st.floats(
    allow_nan=False, allow_infinity=False)
_TEXT = st.sampled_from(["", "CH", "food", "web", "k" * 2000]) | st.text(max_size=3)
_AMOUNT = st.sampled_from([100.0, 1000.0, 19.99, 0.0, -5.0, 999_999_999_999.99])
_EVENT = st.tuples(_TIME, _AMOUNT, _TEXT, _TEXT).map(list)


def _tables(keys: int) -> st.SearchStrategy[dict[str, int]]:
    return st.dictionaries(_TEXT, _COUNT, max_size=keys)


#: Each field's accepted values, at the edges of the kernel's widths and capacities.
EDGES: dict[str, st.SearchStrategy[Any]] = {
    "amounts": st.lists(_LA, max_size=300),
    "context": st.lists(st.tuples(_TEXT, _TEXT, _TEXT, _TEXT, _TEXT, _HOURS, _LA).map(list),
                        max_size=70),
    "window": st.lists(_EVENT, max_size=MAX_WINDOW),
    "days": st.lists(_EVENT, max_size=MAX_WINDOW),
    "recent": st.lists(_EVENT, max_size=40),
    "pending": st.lists(st.tuples(_TIME, st.tuples(
        _TEXT, _TEXT, _TEXT, _TEXT, _TEXT, _HOURS, _LA,
        st.sampled_from([1.0, 0.5, 1e-300, 0.0])).map(
            lambda e: list(e[:7]) + ([] if e[7] == 0.0 else [e[7], e[7]]))).map(list),
        max_size=20),
    **{name: _tables(40) for name in ("countries", "categories", "channels", "devices",
                                      "ipnets")},
    **{name: _COUNT for name in ("n", "gaps", "hops", "novel", "learnt", "exact", "fast")},
    "rounds": st.lists(_COUNT, min_size=5, max_size=5),
    "hours": st.lists(st.sampled_from([0, 1, 254, 255]) | st.integers(0, 255),
                      min_size=24, max_size=24),
    "explore": st.lists(_FLOAT, min_size=5, max_size=5),
    "gap_log": st.sampled_from([0.0, 26.5, 709.0, 1.7e308]) | st.floats(0.0, 1e6),
    "gap_mean": _FLOAT,
    "last_t": st.none() | _LAST_T, "last_country": _TEXT,
    "wake": st.tuples(st.none() | _TIME, st.sampled_from([0.0, 2.0, 12.0, MAX_BITS])
                      | st.floats(0.0, MAX_BITS)).map(list),
}


# PROBE_N=300 (or more) for a deeper run; once under NUMBA_BOUNDSCHECK=1 with its own
# AUDITSTREAM_KERNEL_CACHE, no index was out of bounds
@settings(max_examples=int(os.environ.get("PROBE_N", 40 if IN_CI else 25)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.dictionaries(st.sampled_from(sorted(EDGES)), st.none(), min_size=1, max_size=6)
       .flatmap(lambda names: st.fixed_dictionaries({n: EDGES[n] for n in names})))
@example({"window": _events(MAX_WINDOW), "categories": {f"k{i}": MAX_COUNT for i in range(40)}})
@example({"context": [[*FIELDS["context"][0][:5], 23, _HIGH]] * 70, "amounts": [_LOW] * 300})
@example({"n": MAX_COUNT, "gaps": MAX_COUNT, "rounds": [MAX_COUNT] * 5,
          "hours": [255] * 24})
def test_every_record_the_restore_accepts_scores_alike_on_both_cores(
        fields: dict[str, Any]) -> None:
    mine, theirs = _both(fields)
    assert mine[0] == "ran"  # every value drawn is one a record may hold
    assert mine == theirs



@pytest.mark.parametrize("core", ["python", "kernel"])
def test_a_whole_snapshot_is_checked_alike(core: str) -> None:
    """A whole snapshot's customers pass the same check (`stateformat.decode`)."""
    import zlib

    from detector.core import stateformat

    with core_switch("python"):
        engine = PartitionEngine(CONFIG, 2)
        engine.process(_ROWS[:300])
        data = engine.snapshot()
    doc = orjson.loads(zlib.decompress(data[len(stateformat.MAGIC):]))
    at = doc["customer_fields"].index("context")
    cid, values = next(c for c in doc["customers"] if c[1][at])
    values[at][0][5] = 24
    with core_switch(core), pytest.raises(ValueError, match=rf"^customer {cid!r}: field 'context' "
                                                      r"holds a value of another kind at "
                                                      r"\[0\]\[5\]: Expected `int` <= 23"):
        PartitionEngine.restore(stateformat.MAGIC + zlib.compress(orjson.dumps(doc)), CONFIG)
