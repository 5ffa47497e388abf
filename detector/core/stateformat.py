"""The engine's state as an explicit, versioned document (docs/detector.md, "State format").

A snapshot is `MAGIC` followed by the zlib-compressed JSON of one document:

    {"format": 3, "partition": p, "processed": n, "fits": k, "evicted": e,
     "customer_fields": [names...], "customers": [[id, [values in that order]], ...],
     "population": {field: value}, "calibration": {field: value},
     "sample": {"count": c, "shape": [rows, width], "rows": base64 float32 LE},
     "model": null | {"version": "if-v2", "number": 2, "training": base64 float32 LE},
     "pending": [{"number": 3, "effective": n, "shape": [rows, width], "rows": base64}, ...],
     "seq": q, "touched": [ids...], "gone": [ids...]}

(`seq`, `touched`, `gone`: what the next incremental checkpoint writes; a document without
them, written before checkpoints were incremental, counts every customer as changed.
`pending`: fits started but not yet in effect (detector.core.refit), absent before
background refits: none.)
The same objects, one record each, make an incremental checkpoint (`encode_parts`,
`encode_customer`; layout in detector.snapshots).

Customers are listed least recently seen first (the table's eviction order). Every object is
stored by field name, so a field added later (with its default in `__init__`) reads as that
default from an older snapshot, and a field removed is ignored. The model is stored as its
training sample and number: restore refits it with the same seed, which gives the same
forest whatever pickle format a new scikit-learn or numpy uses. No pickle is ever read
except from a format-2 snapshot (the previous version), through an allowlist, once, on the
upgrade (`detector.core.legacy`).
"""

from __future__ import annotations

import base64
import zlib
from array import array
from collections import OrderedDict
from collections.abc import Callable
from itertools import islice
from typing import Any, Final

import numpy as np
import orjson

from detector.core import inflate, partcheck
from detector.core.config import CoreConfig
from detector.core.model import FeatureSample, FittedModel, fit_rows
from detector.core.packed import fields_json, pack_fields
from detector.core.refit import PendingFit
from detector.core.state import CustomerState, Population
from detector.core.surprise import Recalibration
from detector.core.table import CustomerTable, Held
from shared.schemas import MAX_ID_CHARS

FORMAT = 3
MAGIC = b"ASENG\x00\x03\n"


POPULATION_CODECS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "amount_ring": (list, lambda v: array("d", v)),
}


def _b64(a: np.ndarray[Any, Any]) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode()


def _unb64(text: str, shape: tuple[int, int]) -> np.ndarray[Any, Any]:
    flat = np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float32)
    return flat.reshape(shape)


#: The state objects written field by field, in their class's `FIELDS` order (not
#: `__slots__`, which a compiled class does not expose: detector.core.compiled).
Fielded = CustomerState | Population | Recalibration


def _fields_of(obj: Fielded, codecs: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]]
               ) -> dict[str, Any]:
    out = {}
    for name in obj.FIELDS:
        value = getattr(obj, name)
        codec = codecs.get(name)
        out[name] = codec[0](value) if codec else value
    return out


def _set_fields(obj: Fielded, fields: dict[str, Any],
                codecs: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]]) -> None:
    known = set(obj.FIELDS)
    for name, value in fields.items():
        if name in known:
            codec = codecs.get(name)
            setattr(obj, name, codec[1](value) if codec else value)


def encode(*, partition: int | None, processed: int, fits: int, customers: CustomerTable,
           population: Population, calibration: Recalibration, sample: FeatureSample,
           model: FittedModel | None, pending: list[PendingFit] | None = None) -> bytes:
    """The snapshot bytes of an engine's parts."""
    # each customer's fields spliced in as packed (one packed is not unpacked to be written)
    rows = [[cid, orjson.Fragment(fields_json(held))] for cid, held in customers.held()]
    doc = {
        "format": FORMAT,
        "partition": partition,
        "processed": processed,
        "fits": fits,
        "evicted": customers.evicted,
        "customer_fields": list(CustomerState.FIELDS),
        "customers": rows,
        "population": _fields_of(population, POPULATION_CODECS),
        "calibration": _fields_of(calibration, {}),
        "sample": _sample_doc(sample),
        "model": _model_doc(model),
        "pending": _pending_doc(pending or []),
        "seq": customers.seq,
        "touched": sorted(customers.touched),
        "gone": sorted(customers.gone),
    }
    return MAGIC + zlib.compress(orjson.dumps(doc), 6)


def _model_doc(model: FittedModel | None) -> dict[str, Any] | None:
    return None if model is None else {
        "version": model.version, "number": model.number,
        "shape": None if model.training is None else list(model.training.shape),
        "training": None if model.training is None else _b64(model.training)}


def _pending_doc(pending: list[PendingFit]) -> list[dict[str, Any]]:
    return [{"number": p.number, "effective": p.effective, "shape": list(p.rows.shape),
             "rows": _b64(p.rows)} for p in pending]


def _pending(docs: Any, config: CoreConfig, fits: int) -> list[PendingFit]:
    """The fits a state had started, started again (the same rows and number: the same
    forests); none from a state written before background refits."""
    if docs is None:
        return []
    if not isinstance(docs, list):
        raise ValueError("state part 'pending' is not a list of fits")
    checked = [partcheck.fields("pending", d, partcheck.PENDING, tuple(partcheck.PENDING))
               for d in docs]
    for d in checked:
        partcheck.numbered("pending", d["number"], fits)
    rows = [_rows("pending", "rows", d["rows"], d["shape"]) for d in checked]
    return [PendingFit(r, d["number"], d["effective"], config)
            for r, d in zip(rows, checked, strict=True)]


def _sample_doc(sample: FeatureSample) -> dict[str, Any]:
    return {"count": sample.count, "shape": list(sample.rows.shape), "rows": _b64(sample.rows)}


def _rows(part: str, name: str, text: str, shape: tuple[int, int]) -> np.ndarray[Any, Any]:
    """Feature rows of a part, `ValueError` naming it unless they are `shape`'s."""
    try:
        return _unb64(text, shape)
    except ValueError as exc:  # base64's binascii.Error is one
        raise ValueError(f"state part {part!r}: field {name!r} holds no rows of shape "
                         f"{list(shape)}: {exc}") from None


def _sample(doc: Any) -> FeatureSample:
    s = partcheck.fields("sample", doc, partcheck.SAMPLE, tuple(partcheck.SAMPLE))
    rows = _rows("sample", "rows", s["rows"], s["shape"])  # before any ring of that shape
    sample = FeatureSample(1, rows.shape[1])
    sample.rows = rows
    sample.count = s["count"]
    return sample


def _model(doc: Any, sample: FeatureSample, config: CoreConfig, fits: int
           ) -> FittedModel | None:
    if doc is None:
        return None
    m = partcheck.fields("model", doc, partcheck.MODEL, ("number", "training"))
    partcheck.numbered("model", m["number"], fits)
    training = None
    if m["training"] is not None:
        if m.get("shape") is None:
            raise ValueError("state part 'model': field 'shape' holds no shape of its rows")
        training = _rows("model", "training", m["training"], m["shape"])
    return fit_rows(training if training is not None else sample.view(), m["number"], config)


def _population(doc: Any) -> Population:
    population = Population()
    _set_fields(population, partcheck.population(doc), POPULATION_CODECS)
    return population


def _calibration(doc: Any, config: CoreConfig) -> Recalibration:
    calibration = Recalibration(config.surprise_cap)
    _set_fields(calibration, partcheck.calibration(doc), {})
    return calibration


def packed_customer(cid: str, fields: dict[str, Any]) -> bytes:
    """`packed.pack_fields` of a customer's record, its `ValueError` naming the customer."""
    try:
        return pack_fields(fields)
    except ValueError as exc:
        raise ValueError(f"customer {cid!r}: {exc}") from None


def checked_id(cid: Any, part: str, name: str) -> str:
    """A restored customer id as the live path bounds it (`shared.schemas.IdText`: text of 1
    to `MAX_ID_CHARS`), else the refusal naming `part` and `name`: an id no transaction can
    name was held in the table (a 100 MB record key, all of it) until evicted."""
    if not isinstance(cid, str) or not 0 < len(cid) <= MAX_ID_CHARS:
        try:
            shown = orjson.dumps(cid[:60] if isinstance(cid, str) else cid)[:60]
        except TypeError:  # JSON cannot hold it (a lone surrogate, an object)
            shown = repr(cid)[:60].encode()
        raise partcheck.fail(part, name, f"an id of another kind: {shown!r}")
    return cid


#: A snapshot's fields besides its parts': each present (`touched` and `gone` together).
TOP: Final = ("format", "partition", "processed", "fits", "evicted", "customer_fields",
              "customers", "population", "calibration", "sample", "model")


def _top(doc: Any) -> dict[str, Any]:
    """The snapshot's table fields checked: field names once each, ids as every release
    wrote them (text of 1 to `MAX_ID_CHARS`: a transaction's), `touched` and `gone` ids."""
    if not isinstance(doc, dict):
        raise ValueError("the engine snapshot is not an object of fields")
    missing = [k for k in (*TOP, *(("touched", "gone") if "touched" in doc or "gone" in doc
                                   else ())) if k not in doc]
    if missing:
        raise ValueError(f"the engine snapshot lacks {', '.join(map(repr, missing))}")
    out = partcheck.fields("snapshot", doc, partcheck.TABLE)
    names = out["customer_fields"]
    if len(set(names)) != len(names):
        raise partcheck.fail("snapshot", "customer_fields", "a name twice")
    if not isinstance(doc["customers"], list):
        raise partcheck.fail("snapshot", "customers", "no list of customers")
    return out


def _tail(items: OrderedDict[str, Held], touched: list[str], gone: list[str]
          ) -> tuple[set[str], set[str]]:
    """`touched` and `gone` as the table holds them, checked: the customers changed since
    the last checkpoint are the table's most recently seen (the next checkpoint writes that
    tail: any other id failed it, `AssertionError`), and those gone are not in it."""
    changed = set(touched)
    if changed != set(islice(reversed(items), len(changed))):
        raise partcheck.fail("snapshot", "touched", "customers other than the table's "
                                                    f"{len(changed)} most recently seen")
    left = next((cid for cid in gone if cid in items), None)
    if left is not None:
        raise partcheck.fail("snapshot", "gone", f"a customer in the table: {left!r}")
    return changed, set(gone)


def decode(data: bytes, config: CoreConfig) -> dict[str, Any]:
    """The engine's parts from snapshot bytes (`ValueError` if they are not format 3)."""
    if not data.startswith(MAGIC):
        raise ValueError("not a format-3 engine snapshot")
    body = memoryview(data)[len(MAGIC):]
    doc = orjson.loads(inflate.inflate(body, inflate.whole_bound(len(body), config),
                                       "the engine snapshot"))
    if isinstance(doc, dict) and doc.get("format") != FORMAT:
        raise ValueError(f"unsupported snapshot format {doc.get('format')!r}")
    top = _top(doc)
    meta = partcheck.fields("meta", {"seq": doc.get("seq", 0), **{
        k: doc[k] for k in ("partition", "processed", "fits", "evicted")}}, partcheck.META)
    table = CustomerTable(config)
    table.evicted = meta["evicted"]
    names = top["customer_fields"]
    items: OrderedDict[str, Held] = OrderedDict()
    for entry in doc["customers"]:
        if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[1], list):
            raise partcheck.fail("snapshot", "customers", f"an entry of another kind: "
                                                          f"{orjson.dumps(entry)[:60]!r}")
        cid, values = checked_id(entry[0], "snapshot", "customers"), entry[1]
        if cid in items:
            raise ValueError(f"customer {cid!r}: listed twice")
        if len(values) != len(names):
            raise ValueError(f"customer {cid!r}: {len(values)} values for {len(names)} fields")
        items[cid] = packed_customer(cid, dict(zip(names, values, strict=True)))
    changes = _tail(items, top["touched"], top["gone"]) if "touched" in top else None
    table.replace_items(items)
    table.seq = meta["seq"]
    if changes is not None:
        table.touched, table.gone = changes
    else:
        table.touch_all()
    population = _population(doc["population"])
    calibration = _calibration(doc["calibration"], config)
    sample = _sample(doc["sample"])
    model = _model(doc["model"], sample, config, meta["fits"])
    return {"partition": meta["partition"], "processed": meta["processed"], "fits": meta["fits"],
            "customers": table, "population": population, "calibration": calibration,
            "sample": sample, "model": model,
            "pending": _pending(doc.get("pending"), config, meta["fits"])}
