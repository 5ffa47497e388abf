"""Reading a format-2 snapshot (a zlib'd pickle, before the explicit format) on an upgrade.

Only the classes and functions such a snapshot holds are allowed, by exact name (numpy
arrays, the scikit-learn forest, `array`, `OrderedDict` and the engine's own objects, read
into stand-ins by the field names format 2 had); anything else is refused, so a crafted
state record cannot run code. The values are then checked as format 3's are, as format 3
holds them (`packed.pack_fields` per customer, `partcheck` per part, the forest's trees
walkable): a snapshot holding what no release wrote is refused with format 3's `ValueError`
naming the part and field, before any core reads it (docs/detector.md "State format"). The
restored model keeps its unpickled forest (it needs the scikit-learn that wrote it, as
format 2 always did) but not its training rows, which format 2 did not keep: the first
format-3 snapshot after the upgrade stores no training rows for it, and a restore from that
snapshot refits it on the sample held then, until the next refit replaces it. Written never.
"""

from __future__ import annotations

import copyreg
import io
import math
import pickle
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import orjson
from sklearn.ensemble import IsolationForest
from sklearn.tree import ExtraTreeRegressor
from sklearn.tree._tree import Tree

from detector.core import inflate, partcheck, stateformat
from detector.core.config import CoreConfig
from detector.core.model import FeatureSample, FittedModel
from detector.core.packed import CUSTOMER_CODECS
from detector.core.rowloop import MODEL_FEATURES
from detector.core.table import CustomerTable, Held

FORMAT = 2
#: The field order of format 2's tuples (its classes' `__slots__` then).
V2_CUSTOMER = (
    "amounts", "categories", "channels", "context", "countries", "devices", "exact", "fast",
    "gap_log", "gap_mean", "gaps", "hops", "hours", "ipnets", "last_country", "last_t",
    "learnt", "n", "novel", "pending", "recent", "wake", "window",
)
V2_POPULATION = (
    "amount_center", "amount_ring", "amount_scale", "gap_log", "gap_mean", "gaps", "hours",
    "novelty", "offsets", "tables", "total",
)
V2_CALIBRATION = ("hist", "scales", "total")


class _Stand:
    """Holds whatever state pickle gives it."""

    state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _Customer(_Stand): ...
class _Population(_Stand): ...
class _Calibration(_Stand): ...
class _Table(_Stand): ...
class _Config(_Stand): ...
class _Sample(_Stand): ...
class _Model(_Stand): ...


_STANDS: dict[tuple[str, str], type] = {
    ("detector.core.state", "CustomerState"): _Customer,
    ("detector.core.state", "Population"): _Population,
    ("detector.core.state", "CustomerTable"): _Table,
    ("detector.core.surprise", "Recalibration"): _Calibration,
    ("detector.core.config", "CoreConfig"): _Config,
    ("detector.core.model", "FeatureSample"): _Sample,
    ("detector.core.model", "FittedModel"): _Model,
}
#: Every other class or function a format-2 snapshot refers to (scikit-learn's forest and
#: numpy's arrays as pickled by numpy 1 and 2). Exactly these: a module's every name (numpy's
#: or scikit-learn's) let a crafted snapshot call `numpy.testing`'s `runstring`, an `exec`.
_ALLOWED = {("array", "array"), ("array", "_array_reconstructor"),
            ("collections", "OrderedDict"), ("copyreg", "_reconstructor"),
            ("builtins", "object"), ("builtins", "bytearray"),
            ("numpy", "dtype"), ("numpy", "ndarray"),
            *((core, name) for core in ("numpy.core.multiarray", "numpy._core.multiarray",
                                        "numpy.core.numeric", "numpy._core.numeric")
              for name in ("_reconstruct", "_frombuffer", "scalar")),
            ("sklearn.ensemble._iforest", "IsolationForest"),
            ("sklearn.tree._classes", "ExtraTreeRegressor"), ("sklearn.tree._tree", "Tree")}


def _bytearray(*args: Any) -> bytearray:
    """`bytearray` as pickle calls it, from bytes: not from a count, which makes that many
    zero bytes (`bytearray(2**34)`: 16 GiB written, a detector killed for memory)."""
    if any(isinstance(a, int) for a in args):
        raise pickle.UnpicklingError("a format-2 snapshot makes no bytearray from a count")
    return bytearray(*args)


def _reconstructor(cls: type, base: type, state: Any) -> Any:
    """`copyreg._reconstructor` as pickle writes it for a plain object (`base` is `object`);
    another base is called with the snapshot's value (`bytearray`, a count: the same bomb)."""
    if base is not object:
        raise pickle.UnpicklingError("a format-2 snapshot reconstructs plain objects only")
    return copyreg._reconstructor(cls, base, state)  # type: ignore[attr-defined]


#: numpy's own `_reconstruct` (in `numpy._core` or `numpy.core` by its release).
_NUMPY_RECONSTRUCT: Callable[..., Any] = np.empty(0).__reduce__()[0]  # type: ignore[assignment]


def _array(subtype: type, shape: Any, dtype: Any) -> Any:
    """numpy's `_reconstruct` as numpy pickles an array: empty, of shape (0,), its contents
    set by the state that follows. Another shape is an array of that many elements not in
    the snapshot's bytes (2**24 float64s unset: a list of them, +642 MiB at a customer's
    `hours`, a ranking of 16 million zeros restored as the model's)."""
    if shape != (0,):
        raise pickle.UnpicklingError("a format-2 snapshot reconstructs empty arrays only")
    return _NUMPY_RECONSTRUCT(subtype, shape, dtype)


#: The allowed callables that could allocate what the snapshot's bytes ask, checked first.
_CHECKED: dict[tuple[str, str], Callable[..., Any]] = {
    ("builtins", "bytearray"): _bytearray, ("copyreg", "_reconstructor"): _reconstructor,
    **{(core, "_reconstruct"): _array for core in ("numpy.core.multiarray",
                                                   "numpy._core.multiarray")}}


def _array_state(state: Any) -> None:
    """An array's pickled state refused if it holds Python objects: numpy sets an object
    array from a list without checking its length against the shape (a crafted snapshot of
    shape (2,) and an empty list: a segmentation fault). Format 2 held numbers only."""
    dtype = state[-3] if isinstance(state, tuple) and len(state) in (4, 5) else None
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("a format-2 snapshot holds arrays of numbers only")


class _Unpickler(pickle._Unpickler):
    """pickle's own Python reader: the C one grows its memo to twice the largest index a
    PUT names, so one damaged byte of an index (`LONG_BINPUT` 2**31) wrote 32 GiB of zeros
    before any check (a hypothesis draw killed the test's worker for memory, 2026-12-06); this
    one keeps the memo in a dict. Read once, on the upgrade: its slower pace does not matter.
    An array's state is checked before numpy sets it (`_array_state`)."""

    def _build(self) -> None:
        stack: list[Any] = self.stack  # type: ignore[attr-defined]
        if len(stack) >= 2 and isinstance(stack[-2], np.ndarray):
            _array_state(stack[-1])
        self.load_build()  # type: ignore[attr-defined]

    dispatch: ClassVar[dict[int, Callable[[Any], None]]] = {
        **pickle._Unpickler.dispatch, pickle.BUILD[0]: _build}

    def find_class(self, module: str, name: str) -> Any:
        stand = _STANDS.get((module, name)) or _CHECKED.get((module, name))
        if stand is not None:
            return stand
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"a format-2 snapshot does not hold {module}.{name}")


def _fail(part: str, name: str, what: str) -> ValueError:
    return partcheck.fail(part, name, what)


def _stand(doc: dict[str, Any], part: str, kind: type[_Stand]) -> _Stand:
    stand = doc.get(part)
    if not isinstance(stand, kind):
        raise ValueError(f"state part {part!r} is not an object of fields")
    return stand


def _slots(part: str, stand: _Stand, names: tuple[str, ...]) -> dict[str, Any]:
    """The fields of a default-pickled slotted object: state is (None, {slot: value})."""
    state = stand.state
    fields = state[1] if isinstance(state, tuple) and len(state) == 2 else state
    if not isinstance(fields, dict):
        raise ValueError(f"state part {part!r} is not an object of fields")
    for name in names:
        if name not in fields:
            raise ValueError(f"state part {part!r} lacks field {name!r}")
    return fields


def _tuple(part: str, stand: _Stand, names: tuple[str, ...]) -> dict[str, Any]:
    """A format-2 object's fields by name from its state tuple (`__slots__` order)."""
    values = stand.state
    if not isinstance(values, tuple) or len(values) != len(names):
        count = len(values) if isinstance(values, tuple) else type(values).__name__
        raise ValueError(f"{part}: {count} values for {len(names)} fields")
    return dict(zip(names, values, strict=True))


def _times(part: str, fields: dict[str, Any]) -> None:
    """A customer's times NaN or +inf refused: their codec writes them as JSON's null, which
    reads back as -inf, never seen (a format-3 record cannot hold them)."""
    for name in ("last_t", "wake"):
        value = fields.get(name)
        t = value[0] if name == "wake" and isinstance(value, (tuple, list)) and value else value
        if isinstance(t, float) and (math.isnan(t) or t == math.inf):
            raise ValueError(f"{part}: field {name!r} holds a value of another kind: {t!r}")


def _as_json(part: str, fields: dict[str, Any]) -> Any:
    """`fields` as a format-3 record holds them (JSON read back), for the same checks: a
    value JSON cannot hold (an object of another class) is refused; a NaN or an infinity
    (JSON's null) is refused by its field's type."""
    try:
        return orjson.loads(orjson.dumps(fields))
    except orjson.JSONEncodeError as exc:
        raise ValueError(f"{part}: fields hold another kind of value: {exc}") from None


Codecs = dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]]


def _encoded(part: str, fields: dict[str, Any], codecs: Codecs) -> dict[str, Any]:
    """`fields` through their format-3 codecs' encoders."""
    try:
        return {n: codecs[n][0](v) if n in codecs else v for n, v in fields.items()}
    except (TypeError, IndexError, KeyError, ValueError) as exc:  # another kind of value
        raise ValueError(f"{part}: fields hold another kind of value: {exc}") from None


def _customers(fields: dict[str, Any], config: CoreConfig) -> CustomerTable:
    """The customer table, each customer checked as a format-3 record is
    (`stateformat.packed_customer`) and held packed as one read from format 3."""
    items_ = fields.get("_items")
    if not isinstance(items_, dict):
        raise ValueError("state part 'customers' lacks field '_items'")
    items: OrderedDict[str, Held] = OrderedDict()
    for cid, stand in items_.items():
        if not isinstance(cid, str) or not isinstance(stand, _Customer):
            raise ValueError(f"state part 'customers' holds another kind of customer at {cid!r}")
        stateformat.checked_id(cid, "customers", "_items")
        part = f"customer {cid!r}"
        fields = _tuple(part, stand, V2_CUSTOMER)  # fields added since: their defaults
        _times(part, fields)
        record = _as_json(part, _encoded(part, fields, CUSTOMER_CODECS))
        items[cid] = stateformat.packed_customer(cid, record)
    table = CustomerTable(config)
    table.replace_items(items)
    return table


def _sample(fields: dict[str, Any]) -> FeatureSample:
    """The sample as format 3 reads it (`stateformat._sample`), from float32 rows only."""
    rows = fields["rows"]
    if not isinstance(rows, np.ndarray) or rows.dtype != np.float32 or rows.ndim != 2:
        what = (f"an array of {rows.dtype} in {rows.ndim} dimensions"
                if isinstance(rows, np.ndarray) else type(rows).__name__)
        raise _fail("sample", "rows", f"no rows of float32 features: {what}")
    return stateformat._sample({"count": fields["count"], "shape": list(rows.shape),
                                "rows": stateformat._b64(rows)})


def _forest(forest: Any) -> IsolationForest:
    """The pickled forest, its trees walkable on rows of the model's width: scikit-learn
    walks a tree's nodes unchecked (`Tree.apply`), so a child or a feature out of range
    read past its arrays."""
    width = len(MODEL_FEATURES)
    if not isinstance(forest, IsolationForest) or getattr(forest, "n_features_in_",
                                                          None) != width:
        raise _fail("model", "forest", f"no forest of {width} features")
    trees, features = (getattr(forest, n, None) for n in ("estimators_",
                                                            "estimators_features_"))
    if not isinstance(trees, list) or not trees or not isinstance(features, list) \
            or len(features) != len(trees):
        raise _fail("model", "forest", "no trees, or not one feature list per tree")
    for i, (est, used) in enumerate(zip(trees, features, strict=True)):
        tree = getattr(est, "tree_", None)
        used = np.asarray(used)
        if not isinstance(est, ExtraTreeRegressor) or not isinstance(tree, Tree) \
                or used.ndim != 1 or used.dtype.kind not in "iu" \
                or not ((used >= 0) & (used < width)).all() or tree.n_features != len(used):
            raise _fail("model", "forest", f"tree {i} of another kind or width")
        n, left, right = tree.node_count, tree.children_left, tree.children_right
        inner = left != -1
        at = np.arange(n)
        if n < 1 or len(left) != n or not (inner == (right != -1)).all() \
                or not ((left[inner] > at[inner]) & (left[inner] < n)).all() \
                or not ((right[inner] > at[inner]) & (right[inner] < n)).all() \
                or not ((tree.feature[inner] >= 0)
                        & (tree.feature[inner] < tree.n_features)).all():
            raise _fail("model", "forest", f"tree {i} with a node out of range")
    try:
        forest.score_samples(np.zeros((1, width), np.float32))
    except Exception as exc:  # whatever else a forest of another release lacks
        raise _fail("model", "forest", f"a forest that cannot score: {exc}") from None
    return forest


#: A model's version as every release named it: `if-v` and its fit's number.
_VERSION = re.compile(r"if-v([0-9]{1,16})")


def _model(fields: dict[str, Any], fits: int) -> FittedModel:
    """The model, named `if-v<number>` for one of the `fits` started (any other name was
    put on every row it scored: a line break, megabytes)."""
    version, ranked = fields["version"], fields["ranked"]
    if not isinstance(version, str):
        raise _fail("model", "version", f"a value of another kind: {version!r}")
    named = _VERSION.fullmatch(version)
    if named is None:
        raise _fail("model", "version", f"no fit's name: {version[:40]!r}")
    if not isinstance(ranked, np.ndarray) or ranked.dtype != np.float64 or ranked.ndim != 1 \
            or not len(ranked) or not np.isfinite(ranked).all() \
            or (np.diff(ranked) < 0).any():
        raise _fail("model", "ranked", "no ascending finite isolation scores")
    number = partcheck.fields("model", {"number": int(named.group(1))},
                              partcheck.MODEL)["number"]
    partcheck.numbered("model", number, fits)
    return FittedModel(version, _forest(fields["forest"]), ranked, number, None)


def read(data: bytes, config: CoreConfig) -> dict[str, Any]:
    """The engine's parts from format-2 bytes, each checked as format 3's are
    (`stateformat.decode`): `ValueError` if they are not that, or hold what no release
    wrote."""
    pickled = inflate.inflate(data, inflate.whole_bound(len(data), config),
                              "the engine snapshot")
    try:
        doc = _Unpickler(io.BytesIO(pickled)).load()
    except Exception as exc:  # whatever crafted bytes make pickle raise
        raise ValueError(f"not a readable engine snapshot: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"unsupported snapshot format {found!r}")
    table_fields = _slots("customers", _stand(doc, "customers", _Table), ("_items", "evicted"))
    meta = partcheck.fields("meta", {"partition": doc.get("partition"), **{
        k: doc.get(k) for k in ("processed", "fits")}, "evicted": table_fields["evicted"]},
        partcheck.META)
    table = _customers(table_fields, config)
    table.evicted = meta["evicted"]
    table.touch_all()  # the first incremental checkpoint after the upgrade writes them all
    population = stateformat._population(_as_json("population", _encoded(
        "state part 'population'", _tuple("state part 'population'", _stand(
            doc, "population", _Population), V2_POPULATION), stateformat.POPULATION_CODECS)))
    calibration = stateformat._calibration(_as_json("calibration", _tuple(
        "state part 'calibration'", _stand(doc, "calibration", _Calibration),
        V2_CALIBRATION)), config)
    sample = _sample(_slots("sample", _stand(doc, "sample", _Sample), ("rows", "count")))
    model = None
    if doc.get("model") is not None:
        model = _model(_slots("model", _stand(doc, "model", _Model),
                              ("version", "forest", "ranked")), meta["fits"])
    return {"partition": meta["partition"], "processed": meta["processed"], "fits": meta["fits"],
            "customers": table, "population": population, "calibration": calibration,
            "sample": sample, "model": model}
