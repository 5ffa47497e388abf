"""A format-2 snapshot (detector.core.legacy, read once on the upgrade) holding what no
release wrote is refused as read, as a format-3 one is: the same checks (`packed.FIELD_TYPES`
for customers, `partcheck` for the partition's parts), the same `ValueError` naming the part
and field (the restore then logs the partition's checkpoint unusable and rebuilds it from
its input history: detector.kafka_io.Restorer). Hostile probe, docs/reliability.md.

Found (each refused now): format 2 set every value it unpickled straight into the engine,
unchecked: a customer's hour profile of 23 hours or a population's, a histogram of no bins
(the kernel read and wrote past its arrays), negative or oversized counts, NaN amounts,
windows longer than the kernel's tables, rows of another width, a forest whose trees point
past their nodes (scikit-learn walks them unchecked); and its class allowlist took any
name of a numpy or scikit-learn module: `numpy.testing`'s `runstring` ran a crafted
snapshot's code at restore."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from detector.core import legacy
from detector.core.engine import PartitionEngine
from detector.core.habits import MAX_WINDOW
from detector.core.packed import MAX_COUNT
from detector.core.partcheck import MAX_TOTAL
from tests.ci import IN_CI
from tests.cores import core_switch
from tests.unit import legacy_snapshots as old
from tests.unit.state_stream import CONFIG, stream

ROOT = Path(__file__).resolve().parents[2]
REST = stream(600)[450:]
CID = "c15"  # the table's least recently seen customer: seen again in the rest
_DOC = old.fixture_doc()


def _forest(edit: Any) -> old.Edit:
    """An edit of the pickled forest (scikit-learn's own object)."""
    def apply(doc: dict[str, Any]) -> None:
        edit(old.slots(doc["model"])["forest"])
    return apply


def _feature_width(forest: Any) -> None:
    forest.n_features_in_ = 13


def _child_past_end(forest: Any) -> None:
    tree = forest.estimators_[0].tree_
    state = tree.__getstate__()
    state["nodes"]["left_child"][0] = 10 ** 9
    tree.__setstate__(state)


def _feature_past_end(forest: Any) -> None:
    tree = forest.estimators_[0].tree_
    state = tree.__getstate__()
    state["nodes"]["feature"][0] = 10 ** 6
    tree.__setstate__(state)


def _window(n: int) -> list[tuple[float, float, str, str]]:
    return [(1741600000.0 + i, 10.0, "food", "web") for i in range(n)]


def _drop_customer_field(doc: dict[str, Any]) -> None:
    stand = old.customers(doc)[CID]
    stand.state = stand.state[:-1]


def _no_part(part: str) -> old.Edit:
    def edit(doc: dict[str, Any]) -> None:
        del doc[part]
    return edit


class _Marker:
    """A crafted pickle's call of `numpy.testing._private.utils.runstring` (an `exec`)."""

    def __reduce__(self) -> Any:
        from numpy.testing._private.utils import runstring
        return runstring, ("import os; os.environ['LEGACY_PROBE_RAN'] = '1'", {})


def _code(doc: dict[str, Any]) -> None:
    doc["fits"] = _Marker()


_HOURS = bytearray(24)

#: (what, an edit of the fixture's document, the refusal's message)
CASES: list[tuple[str, old.Edit, str]] = [
    ("customer hours 23", old.set_customer(CID, "hours", bytearray(23)),
     r"customer 'c15': field 'hours' holds a value of another kind: Expected `array` of "
     r"length >= 24"),
    ("customer hours 25", old.set_customer(CID, "hours", bytearray(25)),
     r"customer 'c15': field 'hours' holds a value of another kind: Expected `array` of "
     r"length <= 24"),
    ("context hour 24", old.set_customer(CID, "context", [
        ("FR", "d01", "10.15.2", "app", "travel", 24, 6.4)]),
     r"customer 'c15': field 'context' holds a value of another kind at \[0\]\[5\]: "
     r"Expected `int` <= 23"),
    ("negative n", old.set_customer(CID, "n", -1),
     r"customer 'c15': field 'n' holds a value of another kind: Expected `int` >= 0"),
    ("count past bound", old.set_customer(CID, "categories", {"food": MAX_COUNT + 1}),
     r"customer 'c15': field 'categories' holds a value of another kind at \[\.\.\.\]: "
     r"Expected `int` <= 1073741824"),
    ("NaN amount", old.set_customer(CID, "amounts", [float("nan")]),
     r"customer 'c15': field 'amounts' holds a value of another kind at \[0\]: Expected "
     r"`float`, got `null`"),
    ("infinite amount", old.set_customer(CID, "amounts", [float("inf")]),
     r"customer 'c15': field 'amounts' holds a value of another kind at \[0\]: "),
    ("NaN last_t", old.set_customer(CID, "last_t", float("nan")),
     r"customer 'c15': field 'last_t' holds a value of another kind: nan"),
    ("window too long", old.set_customer(CID, "window", _window(MAX_WINDOW + 1)),
     r"customer 'c15': field 'window' holds a value of another kind: Expected `array` of "
     rf"length <= {MAX_WINDOW}"),
    ("negative gap_log", old.set_customer(CID, "gap_log", -1.0),
     r"customer 'c15': field 'gap_log' holds a value of another kind: "),
    ("customer of 22 values", _drop_customer_field,
     r"customer 'c15': 22 values for 23 fields"),
    ("customer of another class", old.set_customer(CID, "devices", {1, 2}),
     r"customer 'c15': fields hold another kind of value: "),
    ("population hours 23", old.set_part("population", "hours", [1] * 23),
     r"state part 'population': field 'hours' holds a value of another kind: Expected "
     r"`array` of length >= 24"),
    ("population total -1", old.set_part("population", "total", -1),
     r"state part 'population': field 'total' holds a value of another kind: Expected "
     r"`int` >= 0"),
    ("population ring NaN", old.set_part("population", "amount_ring", [float("nan")]),
     r"state part 'population': field 'amount_ring' holds a value of another kind at "
     r"\[0\]: Expected `float`, got `null`"),
    ("population table count 0", old.set_part("population", "tables", {
        "country": {"CH": 0}, "category": {}, "channel": {}, "device": {}, "ipnet": {}}),
     r"state part 'population': field 'tables' holds a value of another kind at "
     r"\[\.\.\.\]\[\.\.\.\]: Expected `int` >= 1"),
    ("histogram of no bins", old.set_part("calibration", "hist", [[]] * 12),
     r"state part 'calibration': field 'hist' holds a value of another kind at \[0\]: "
     r"Expected `array` of length >= 1"),
    ("11 slopes", old.set_part("calibration", "scales", [1.0] * 11),
     r"state part 'calibration': field 'scales' holds a value of another kind: Expected "
     r"`array` of length >= 12"),
    ("calibration total past bound", old.set_part("calibration", "total", MAX_TOTAL + 1),
     r"state part 'calibration': field 'total' holds a value of another kind: Expected "
     r"`int` <= 4503599627370496"),
    ("processed -1", old.set_top("processed", -1),
     r"state part 'meta': field 'processed' holds a value of another kind: Expected `int` "
     r">= 0"),
    ("partition of text", old.set_top("partition", "2"),
     r"state part 'meta': field 'partition' holds a value of another kind: Expected "
     r"`int \| null`, got `str`"),
    ("evicted 1.5", old.set_part("customers", "evicted", 1.5),
     r"state part 'meta': field 'evicted' holds a value of another kind: Expected `int`, "
     r"got `float`"),
    ("sample float64", old.set_part("sample", "rows", np.zeros((300, 14))),
     r"state part 'sample': field 'rows' holds no rows of float32 features: an array of "
     r"float64 in 2 dimensions"),
    ("sample of 13 features", old.set_part("sample", "rows", np.zeros((300, 13), "f4")),
     r"state part 'sample': field 'shape' holds a value of another kind at \[1\]: "
     r"Expected `int` >= 14"),
    ("sample count 1.5", old.set_part("sample", "count", 1.5),
     r"state part 'sample': field 'count' holds a value of another kind: Expected `int`, "
     r"got `float`"),
    ("sample of 2^40 rows of nothing", old.set_part("sample", "rows", np.zeros(
        (1 << 40, 14), "V0")),
     r"state part 'sample': field 'rows' holds no rows of float32 features: an array of "
     r"\|V0 in 2 dimensions"),
    ("forest of 13 features", _forest(_feature_width),
     r"state part 'model': field 'forest' holds no forest of 14 features"),
    ("tree child past its nodes", _forest(_child_past_end),
     r"state part 'model': field 'forest' holds tree 0 with a node out of range"),
    ("tree feature past the row", _forest(_feature_past_end),
     r"state part 'model': field 'forest' holds tree 0 with a node out of range"),
    ("no isolation scores", old.set_part("model", "ranked", np.zeros(0)),
     r"state part 'model': field 'ranked' holds no ascending finite isolation scores"),
    ("NaN isolation score", old.set_part("model", "ranked", np.array([0.3, np.nan])),
     r"state part 'model': field 'ranked' holds no ascending finite isolation scores"),
    ("version of another kind", old.set_part("model", "version", 2),
     r"state part 'model': field 'version' holds a value of another kind: 2"),
    ("no sample", _no_part("sample"), r"state part 'sample' is not an object of fields"),
    ("code run at restore", _code,
     r"not a readable engine snapshot: a format-2 snapshot does not hold "
     r"numpy\.testing\._private\.utils\.runstring"),
]
_IDS = [what for what, _, _ in CASES]


def _outcome(data: bytes, core: str) -> tuple[str, str]:
    """("refused", message) or ("ran", a digest of the verdicts and the next snapshot)."""
    with core_switch(core):
        try:
            engine = PartitionEngine.restore(data, CONFIG)
        except ValueError as exc:
            return "refused", str(exc)
        verdicts = engine.process(REST)
        return "ran", repr((verdicts, engine.snapshot()))[-200:]


_CHILD = """
import json, os, sys
from pathlib import Path
from tests.unit.test_legacy_restore_checks import _outcome
for path in sys.argv[2:]:
    got = _outcome(Path(path).read_bytes(), sys.argv[1])
    print(json.dumps([*got, os.environ.pop("LEGACY_PROBE_RAN", None)]), flush=True)
"""


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    """Each case's `_outcome` on each core, in processes of their own (past the kernel's
    or scikit-learn's arrays a process dies): one process for every case, another for the
    cases after one that killed it; for a case that killed it, (return code, stderr)."""
    folder = tmp_path_factory.mktemp("legacy")
    paths = []
    for i, (_, edit, _) in enumerate(CASES):
        paths.append(folder / f"{i}.bin")
        paths[-1].write_bytes(old.edited(edit))
    env = {k: v for k, v in os.environ.items() if k != "LEGACY_PROBE_RAN"}
    env["PYTHONPATH"] = str(ROOT)
    out: dict[tuple[str, str], Any] = {}
    for core in ("kernel", "python"):
        at = 0
        while at < len(CASES):
            todo = paths[at:]
            done = subprocess.run([sys.executable, "-c", _CHILD, core, *map(str, todo)],
                                  cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=900, check=False)
            lines = done.stdout.splitlines()
            for line in lines:
                out[core, CASES[at][0]] = json.loads(line)
                at += 1
            if len(lines) < len(todo):
                out[core, CASES[at][0]] = (done.returncode, done.stderr[-300:])
                at += 1
    return out


@pytest.mark.parametrize("case", CASES, ids=_IDS)
@pytest.mark.parametrize("core", ["kernel", "python"])
def test_a_format_2_snapshot_no_release_wrote_is_refused_naming_part_and_field(
        case: tuple[str, old.Edit, str], core: str,
        outcomes: dict[tuple[str, str], Any]) -> None:
    """Refused as read, naming the part and field, in one line: no heap corruption, no
    code run, no restore that scores on."""
    what, _, message = case
    got = outcomes[core, what]
    assert got[0] == "refused" and got[2] is None, got
    assert re.match(message, got[1]) and "\n" not in got[1], got[1]


def _refusal(data: bytes) -> str | None:
    try:
        PartitionEngine.restore(data, CONFIG)
    except ValueError as exc:
        return str(exc)
    return None


def test_the_refusal_is_the_format_3_refusal_of_the_same_value() -> None:
    """Word for word what a format-3 snapshot holding the same value is refused with."""
    from detector.core import stateformat

    data = (ROOT / "tests" / "data" / "state" / "engine-format3.bin").read_bytes()
    doc = json.loads(zlib.decompress(data[len(stateformat.MAGIC):]))
    doc["population"]["hours"] = [1] * 23
    three = stateformat.MAGIC + zlib.compress(json.dumps(doc).encode())
    two = old.edited(old.set_part("population", "hours", [1] * 23))
    assert _refusal(two) == _refusal(three) == (
        "state part 'population': field 'hours' holds a value of another kind: Expected "
        "`array` of length >= 24")


@pytest.mark.parametrize("core", ["python", "kernel"])
def test_the_format_2_fixture_restores_as_format_3_s_checks_take_it(core: str) -> None:
    """The fixture, written again unchanged (this module's writer), restores to the same
    snapshot and verdicts as the fixture itself, on each core: the checks refuse nothing
    a release wrote."""
    a = _outcome(old.FIXTURE.read_bytes(), core)
    b = _outcome(old.encode(copy.deepcopy(_DOC)), core)
    assert a[0] == "ran" and a == b


# --- arbitrary input: a refusal or a restore, nothing else ---------------------------------

_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=8)
_FIELDS = ([("customer", n) for n in legacy.V2_CUSTOMER]
           + [("population", n) for n in legacy.V2_POPULATION]
           + [("calibration", n) for n in legacy.V2_CALIBRATION]
           + [("sample", "count"), ("sample", "rows"), ("model", "ranked"),
              ("model", "version"), ("top", "processed"), ("top", "fits"),
              ("top", "partition"), ("customers", "evicted")])
_WHOLE = [("customers", "_items"), *(("top", part) for part in (
    "customers", "population", "calibration", "sample", "model"))]
_FIELDS += _WHOLE


def _edit(where: tuple[str, str], value: Any) -> old.Edit:
    kind, name = where
    if kind == "customer":
        return old.set_customer(CID, name, value)
    if kind == "top":
        return old.set_top(name, value)
    return old.set_part(kind, name, value)


def _order(edit: tuple[tuple[str, str], Any]) -> int:
    """Fields first, then parts, then `top`'s wholes (which hold the parts)."""
    where = edit[0]
    return 0 if where not in _WHOLE else 1 if where[0] != "top" else 2


@settings(max_examples=int(os.environ.get("PROBE_N", 60 if IN_CI else 30)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_FIELDS), _VALUES), min_size=1, max_size=3))
@example(edits=[(("top", "customers"), None), (("customers", "_items"), None)])
def test_any_values_are_refused_or_restored_never_another_error(
        edits: list[tuple[tuple[str, str], Any]]) -> None:
    """Any values in any fields: the documented refusal (`ValueError`), or a state every
    check took (then it scores on, on the Python core: the kernel runs a state of the same
    checks in tests/unit/test_kernel_restore_parts.py)."""
    doc = copy.deepcopy(_DOC)
    # a part's fields before the part itself (the customers' table: `_items`), and a part
    # (`_items`) before the whole it is in (`top`'s `customers`): replaced first, the whole
    # left nothing to edit a field of (an AttributeError of the test's own, not the code's)
    for where, value in sorted(edits, key=_order):
        _edit(where, value)(doc)
    try:
        got = _outcome(old.encode(doc), "python")
    except Exception as exc:  # anything else is the failure looked for
        pytest.fail(f"{type(exc).__name__}: {exc}")
    assert got[0] in ("refused", "ran")


_BODY = zlib.decompress(old.FIXTURE.read_bytes())


def _one_byte_changed(at: int, value: int) -> bytes:
    return zlib.compress(_BODY[:at] + bytes([value]) + _BODY[at + 1:])


@settings(max_examples=int(os.environ.get("PROBE_N", 200 if IN_CI else 100)), deadline=None)
@given(st.binary(max_size=200) | st.builds(_one_byte_changed, st.integers(0, len(_BODY) - 1),
                                          st.integers(0, 255)))
def test_any_bytes_are_refused_or_read_never_another_error(data: bytes) -> None:
    """Arbitrary bytes, and the fixture with one byte of its pickle changed."""
    with contextlib.suppress(ValueError):
        legacy.read(data, CONFIG)


# --- the forest's and the isolation scores' exact edges (mutmut, 2026-12-06) ------------

def _off_path_child_to_itself(forest: Any) -> None:
    """An inner node of tree 0 off the path of the row the restore scores (zeros) given
    itself as its left child: a walk reaching it would never end."""
    tree = forest.estimators_[0].tree_
    on_path = set(tree.decision_path(np.zeros((1, tree.n_features), np.float32)).indices)
    node = next(i for i in range(tree.node_count)
                if tree.children_left[i] != -1 and i not in on_path)
    state = tree.__getstate__()
    state["nodes"]["left_child"][node] = node
    tree.__setstate__(state)


def test_a_tree_node_that_is_its_own_child_is_refused() -> None:
    """Children must come after their node (`left > node`): the cases above point past the
    nodes; one pointing at itself (a walk that never ends) is refused as well."""
    assert _refusal(old.edited(_forest(_off_path_child_to_itself))) == (
        "state part 'model': field 'forest' holds tree 0 with a node out of range")


def test_isolation_scores_with_ties_restore() -> None:
    """Ascending, not strictly: two training rows may score alike. Only a fall is refused."""
    ranked = np.sort(old.slots(_DOC["model"])["ranked"])
    tied = ranked.copy()
    tied[1] = tied[0]
    assert _refusal(old.edited(old.set_part("model", "ranked", tied))) is None
    fall = ranked.copy()
    fall[0], fall[1] = ranked[1], ranked[0] - 1.0
    assert _refusal(old.edited(old.set_part("model", "ranked", fall))) == (
        "state part 'model': field 'ranked' holds no ascending finite isolation scores")


@pytest.mark.parametrize(("field", "value", "shown"), [
    ("last_t", float("nan"), "nan"), ("last_t", float("inf"), "inf"),
    ("wake", (float("nan"), 1.0), "nan"), ("wake", (float("inf"), 1.0), "inf")])
def test_a_customer_time_nan_or_past_every_time_is_refused(
        field: str, value: Any, shown: str) -> None:
    """Their codec writes NaN and +inf as JSON's null, read back as -inf (never seen): a
    woken customer would restore as never woken. Only `last_t`'s NaN was a case above."""
    assert _refusal(old.edited(old.set_customer(CID, field, value))) == (
        f"customer 'c15': field {field!r} holds a value of another kind: {shown}")


@pytest.mark.parametrize(("field", "value"), [
    ("last_t", float("-inf")), ("wake", (float("-inf"), 0.0)), ("wake", (1.7416e9, 2.5))])
def test_a_customer_time_never_seen_or_finite_restores(field: str, value: Any) -> None:
    """-inf is what a customer never seen (or never woken) holds: restored."""
    assert _refusal(old.edited(old.set_customer(CID, field, value))) is None


def _no_trees(forest: Any) -> None:
    forest.estimators_, forest.estimators_features_ = [], []


def _one_feature_list_short(forest: Any) -> None:
    forest.estimators_features_ = forest.estimators_features_[:-1]


@pytest.mark.parametrize("edit", [_no_trees, _one_feature_list_short])
def test_a_forest_of_no_trees_or_trees_without_their_features_is_refused(edit: Any) -> None:
    assert _refusal(old.edited(_forest(edit))) == (
        "state part 'model': field 'forest' holds no trees, or not one feature list per tree")


@pytest.mark.parametrize("case", CASES, ids=_IDS)
def test_each_case_is_refused_in_this_process_too(case: tuple[str, old.Edit, str]) -> None:
    """The cases above, read in this process (each is refused as read, before any core
    runs): the child processes' checks are no judge for mutmut, which maps the tests that
    call a function in its own process (legacy._forest's refusals survived it)."""
    what, edit, message = case
    got = _refusal(old.edited(edit))
    assert got is not None and re.match(message, got) and "\n" not in got, (what, got)


def _right_child_past_end(forest: Any) -> None:
    tree = forest.estimators_[0].tree_
    state = tree.__getstate__()
    state["nodes"]["right_child"][0] = 10 ** 9
    tree.__setstate__(state)


def _features_past_the_row(forest: Any) -> None:
    forest.estimators_features_[0] = np.array([0, 99])


def _max_features_of_text(forest: Any) -> None:
    forest._max_features = "x"


@pytest.mark.parametrize(("edit", "what"), [
    (_right_child_past_end, "tree 0 with a node out of range"),
    (_features_past_the_row, "tree 0 of another kind or width"),
    (_max_features_of_text, "a forest that cannot score: unsupported operand type(s) for //: "
                            "'int' and 'str'")])
def test_each_of_the_forests_refusals_names_its_tree_or_why(edit: Any, what: str) -> None:
    """A right child past the nodes (the cases above break only a left one), a tree's
    features past the row, a forest scikit-learn cannot score: each refused as such."""
    assert _refusal(old.edited(_forest(edit))) == (
        f"state part 'model': field 'forest' holds {what}")


def test_a_wake_of_no_values_is_refused_as_another_kind_of_value() -> None:
    """One line, the format-3 codec's words; never an `IndexError` from the time check."""
    assert _refusal(old.edited(old.set_customer(CID, "wake", ()))) == (
        "customer 'c15': fields hold another kind of value: tuple index out of range")


def _calibration_short(doc: dict[str, Any]) -> None:
    doc["calibration"].state = doc["calibration"].state[:-1]


def _table_without_evicted(doc: dict[str, Any]) -> None:
    del old.slots(doc["customers"])["evicted"]


@pytest.mark.parametrize(("edit", "message"), [
    (_calibration_short,
     f"state part 'calibration': {len(legacy.V2_CALIBRATION) - 1} values for "
     f"{len(legacy.V2_CALIBRATION)} fields"),
    (_table_without_evicted, "state part 'customers' lacks field 'evicted'")])
def test_a_part_of_another_shape_is_refused_naming_the_part(edit: Any, message: str) -> None:
    assert _refusal(old.edited(edit)) == message


def _model_without_ranked(doc: dict[str, Any]) -> None:
    del old.slots(doc["model"])["ranked"]


def _population_as_a_list(doc: dict[str, Any]) -> None:
    doc["population"].state = list(doc["population"].state)


def _calibration_holding_a_set(doc: dict[str, Any]) -> None:
    values = list(doc["calibration"].state)
    values[legacy.V2_CALIBRATION.index("total")] = {1}
    doc["calibration"].state = tuple(values)


@pytest.mark.parametrize(("edit", "message"), [
    (_model_without_ranked, "state part 'model' lacks field 'ranked'"),
    (_population_as_a_list,
     f"state part 'population': list values for {len(legacy.V2_POPULATION)} fields"),
    (_calibration_holding_a_set,
     "calibration: fields hold another kind of value: Type is not JSON serializable: set")])
def test_a_part_of_another_kind_is_refused_naming_it(edit: Any, message: str) -> None:
    assert _refusal(old.edited(edit)) == message


@pytest.mark.parametrize(("value", "shown"), [
    ([float("nan"), 1.0], "nan"), ([float("inf"), 1.0], "inf")])
def test_a_wake_given_as_a_list_is_checked_as_a_tuple_is(value: Any, shown: str) -> None:
    """A pickle may hold `wake` as a list (the codec takes any sequence): its NaN restored a
    woken customer as never woken, where the same tuple was refused (mutation round of
    2026-12-06)."""
    assert _refusal(old.edited(old.set_customer(CID, "wake", value))) == (
        f"customer 'c15': field 'wake' holds a value of another kind: {shown}")
