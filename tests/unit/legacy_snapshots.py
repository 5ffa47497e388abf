"""Format-2 snapshots (detector.core.legacy) written as that release wrote them, with edits:
the fixture `engine-format2.bin` read into plain values, changed, and pickled again (protocol
4, as the fixture) under the class names format 2 used."""

from __future__ import annotations

import copy
import io
import pickle
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from detector.core import legacy

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "state" / "engine-format2.bin"

#: Format 2's classes: (module, name), each pickled as this module's stand-in of that name.
CLASSES = {
    "CustomerState": "detector.core.state", "Population": "detector.core.state",
    "CustomerTable": "detector.core.state", "Recalibration": "detector.core.surprise",
    "CoreConfig": "detector.core.config", "FeatureSample": "detector.core.model",
    "FittedModel": "detector.core.model",
}


class Old:
    """An object of a format-2 class: `state` is what its `__getstate__` gave."""

    name = ""

    def __init__(self, state: Any) -> None:
        self.state = state

    def __getstate__(self) -> Any:
        return self.state

    def __setstate__(self, state: Any) -> None:
        self.state = state


_OLD = {name: type(name, (Old,), {"name": name, "__module__": __name__})
        for name in CLASSES}
globals().update(_OLD)
_STAND_NAMES = {stand: name for (_, name), stand in legacy._STANDS.items()}


def _plain(value: Any) -> Any:
    """The fixture's stand-ins as `Old` objects, containers walked."""
    if isinstance(value, legacy._Stand):
        return _OLD[_STAND_NAMES[type(value)]](_plain(value.state))
    if isinstance(value, dict):
        return type(value)((k, _plain(v)) for k, v in value.items())
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


def fixture_doc() -> dict[str, Any]:
    """The fixture's document: the engine's parts, each class's state as pickled."""
    data = zlib.decompress(FIXTURE.read_bytes())
    doc: dict[str, Any] = _plain(legacy._Unpickler(io.BytesIO(data)).load())
    return doc


_DOC = fixture_doc()


#: The Python pickler: its `save_global` can be told to write another class's name
#: (typeshed does not describe its internals).
_PythonPickler: Any = pickle._Pickler


class _Pickler(_PythonPickler):  # type: ignore[misc]
    def save_global(self, obj: Any, name: str | None = None) -> None:
        if isinstance(obj, type) and issubclass(obj, Old) and obj is not Old:
            self.save(CLASSES[obj.name])
            self.save(obj.name)
            self.write(pickle.STACK_GLOBAL)
            self.memoize(obj)
            return
        super().save_global(obj, name)


def encode(doc: Any) -> bytes:
    """Format-2 bytes of `doc` (zlib'd pickle, the classes under format 2's names)."""
    out = io.BytesIO()
    _Pickler(out, protocol=4).dump(doc)
    return zlib.compress(out.getvalue())


Edit = Callable[[dict[str, Any]], None]


def edited(edit: Edit) -> bytes:
    """The fixture with `edit` applied to a copy of its document."""
    doc = copy.deepcopy(_DOC)
    edit(doc)
    return encode(doc)


def customers(doc: dict[str, Any]) -> dict[str, Any]:
    """The table's customers by id (each an `Old` of a tuple in `legacy.V2_CUSTOMER` order)."""
    items: dict[str, Any] = slots(doc["customers"])["_items"]
    return items


def set_customer(cid: str, field: str, value: Any) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        st = customers(doc)[cid]
        values = list(st.state)
        values[legacy.V2_CUSTOMER.index(field)] = value
        st.state = tuple(values)
    return edit


def set_part(part: str, field: str, value: Any) -> Edit:
    """Population or calibration (a tuple of fields) or a slotted part (a dict)."""
    names = {"population": legacy.V2_POPULATION, "calibration": legacy.V2_CALIBRATION}

    def edit(doc: dict[str, Any]) -> None:
        obj = doc[part]
        if part in names:
            values = list(obj.state)
            values[names[part].index(field)] = value
            obj.state = tuple(values)
        else:
            slots(obj)[field] = value
    return edit


def slots(obj: Old) -> dict[str, Any]:
    """A slotted object's fields: its state is (None, {slot: value}) or the dict alone."""
    fields: dict[str, Any] = obj.state[1] if isinstance(obj.state, tuple) else obj.state
    return fields


def set_top(key: str, value: Any) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        doc[key] = value
    return edit
