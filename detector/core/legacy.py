"""Reading a format-2 snapshot (a zlib'd pickle, before the explicit format) on an upgrade.

Only the classes such a snapshot holds are allowed (numpy arrays, the scikit-learn forest,
`array`, `OrderedDict` and the engine's own objects, read into stand-ins by the field names
format 2 had); anything else is refused, so a crafted state record cannot run code. The
restored model keeps its unpickled forest (it needs the scikit-learn that wrote it, as
format 2 always did) but not its training rows, which format 2 did not keep: the first
format-3 snapshot after the upgrade stores no training rows for it, and a restore from that
snapshot refits it on the sample held then, until the next refit replaces it. Written never.
"""

from __future__ import annotations

import io
import pickle
import re
import zlib
from collections import OrderedDict
from typing import Any

from detector.core.config import CoreConfig
from detector.core.model import FeatureSample, FittedModel
from detector.core.state import CustomerState, Population
from detector.core.surprise import Recalibration
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
_ALLOWED = {("array", "array"), ("array", "_array_reconstructor"),
            ("collections", "OrderedDict"), ("copyreg", "_reconstructor"),
            ("builtins", "object"), ("builtins", "bytearray")}
_ALLOWED_PREFIXES = ("numpy.", "sklearn.")


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        stand = _STANDS.get((module, name))
        if stand is not None:
            return stand
        if (module, name) in _ALLOWED or module == "numpy" or module.startswith(
                _ALLOWED_PREFIXES):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"a format-2 snapshot does not hold {module}.{name}")


def _set(obj: object, names: tuple[str, ...], values: tuple[Any, ...]) -> None:
    for name, value in zip(names, values, strict=True):
        setattr(obj, name, value)


def _slots(stand: _Stand) -> dict[str, Any]:
    """The fields of a default-pickled slotted object: state is (None, {slot: value})."""
    state = stand.state
    return dict(state[1]) if isinstance(state, tuple) else dict(state or {})


def read(data: bytes, config: CoreConfig) -> dict[str, Any]:
    """The engine's parts from format-2 bytes (`ValueError` if they are not that)."""
    try:
        doc = _Unpickler(io.BytesIO(zlib.decompress(data))).load()
    except (zlib.error, pickle.UnpicklingError, EOFError, AttributeError, TypeError) as exc:
        raise ValueError(f"not a readable engine snapshot: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"unsupported snapshot format {found!r}")
    table = CustomerTable(config)
    fields = _slots(doc["customers"])
    table.evicted = fields["evicted"]
    items: OrderedDict[str, Held] = OrderedDict()
    for cid, stand in fields["_items"].items():
        st = CustomerState()
        _set(st, V2_CUSTOMER, stand.state)
        items[cid] = st
    table.replace_items(items)
    table.touch_all()  # the first incremental checkpoint after the upgrade writes them all
    population = Population()
    _set(population, V2_POPULATION, doc["population"].state)
    calibration = Recalibration(config.surprise_cap)
    _set(calibration, V2_CALIBRATION, doc["calibration"].state)
    sample_fields = _slots(doc["sample"])
    sample = FeatureSample(*sample_fields["rows"].shape)
    sample.rows, sample.count = sample_fields["rows"], sample_fields["count"]
    model = None
    if doc["model"] is not None:
        m = _slots(doc["model"])
        number = int(re.sub(r"\D", "", m["version"]) or 0)
        model = FittedModel(m["version"], m["forest"], m["ranked"], number, None)
    return {"partition": doc["partition"], "processed": doc["processed"], "fits": doc["fits"],
            "customers": table, "population": population, "calibration": calibration,
            "sample": sample, "model": model}
