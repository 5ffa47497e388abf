"""An engine's state as separate records, for incremental checkpoints (detector.snapshots).

Each customer is one record (`encode_customer`): `CUSTOMER_MAGIC` then the JSON object
`{"seq": q, "fields": {name: value}}`, fields by name with the codecs of format 3
(detector.core.stateformat), `seq` the order of the customer's last change. The partition's
other objects are records of their own (`encode_parts`), each `PART_MAGIC` then zlib'd JSON:

    meta         {"partition", "processed", "fits", "evicted", "seq", "customers"}
    population   {field: value}         calibration  {field: value}
    sample       {"count", "shape", "rows"}   model  null | {"version", "number", "training", ...}
    pending      [{"number", "effective", "shape", "rows"}, ...]  (fits not yet in effect)

A field added later reads as its default from an older record, one removed is ignored; the
magic's last byte is the version (3, as the whole-state format), and any other is refused:
a later one as `NewerStateError` (a newer release wrote it: the detector stops rather than
rebuild over it), an earlier one as unusable.
"""

from __future__ import annotations

import copy
import zlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from operator import attrgetter
from typing import Any, Protocol

import msgspec
import orjson

from detector.core import inflate, partcheck
from detector.core import stateformat as sf
from detector.core.config import CoreConfig
from detector.core.model import FeatureSample, FittedModel
from detector.core.packed import (
    CUSTOMER_CODECS,
    DEFAULTS,
    FIELD_TYPES,
    check_held,
    field_error,
    pack_fields,
    unpack,
)
from detector.core.refit import PendingFit
from detector.core.state import CustomerState, Population
from detector.core.surprise import Recalibration
from detector.core.table import CustomerTable

CUSTOMER_MAGIC = b"ASC\x03"
PART_MAGIC = b"ASP\x03"
PARTS = ("meta", "population", "calibration", "sample", "model")


class NewerStateError(ValueError):
    """A state record of a later version than this release reads: written by a newer
    release (a rollback), so neither read nor rebuilt over (docs/detector.md, "Upgrades
    and rollbacks")."""


def version_error(what: str, found: int, known: int) -> ValueError:
    """The error of a record of `what` whose version is `found`, not `known`."""
    if found > known:
        return NewerStateError(f"{what} version {found}; this release reads version {known}")
    return ValueError(f"unsupported {what} version {found}")


@dataclass
class Changes:
    """What an engine's checkpoint writes: changed customers' records (oldest first), the
    ids of customers gone since the last one, every other part (None: as last written;
    a part left out is deleted), and how many customers."""

    customers: list[tuple[str, bytes]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    parts: dict[str, bytes | None] = field(default_factory=dict)
    count: int = 0


def encode_customer(seq: int, state: CustomerState) -> bytes:
    fields = sf._fields_of(state, CUSTOMER_CODECS)
    return CUSTOMER_MAGIC + orjson.dumps({"seq": seq, "fields": fields})


def encode_fields(seq: int, values: list[Any]) -> bytes:
    """`encode_customer` of the state whose encoded fields are `values`
    (`packed.field_values`' list, `CustomerState.FIELDS` order): the same bytes."""
    return CUSTOMER_MAGIC + orjson.dumps(
        {"seq": seq, "fields": dict(zip(CustomerState.FIELDS, values, strict=True))})


def _record(data: bytes) -> tuple[int, dict[str, Any]]:
    if data[:3] != CUSTOMER_MAGIC[:3]:
        raise ValueError("not a customer state record")
    if data[:4] != CUSTOMER_MAGIC:
        raise version_error("customer record", data[3], CUSTOMER_MAGIC[3])
    doc = orjson.loads(data[4:])
    return int(doc["seq"]), doc["fields"]


def decode_customer(data: bytes) -> tuple[int, CustomerState]:
    """(seq, state) of a customer record (`ValueError` if it is not one of version 3)."""
    seq, fields = _record(data)
    return seq, unpack(pack_fields(fields))


def _packed_record(cid: str, data: bytes) -> tuple[int, bytes, str]:
    seq, fields = _record(data)
    return seq, sf.packed_customer(cid, fields), cid


def _default(value: Any) -> Any:
    """A field's default in the record type: lists and dicts copied for each record."""
    if isinstance(value, (list, dict)):
        return msgspec.field(default_factory=partial(copy.deepcopy, value))
    return value


_NAMES = CustomerState.FIELDS
#: A customer record typed to the last list item (`packed.FIELD_TYPES`): a field it lacks is
#: the default, one unknown here is ignored, as `pack_fields` reads them.
_FIELDS = msgspec.defstruct("CustomerFields", [(n, FIELD_TYPES[n], _default(DEFAULTS[n]))
                                                for n in _NAMES])
_RECORD: Any = msgspec.json.Decoder(msgspec.defstruct(
    "CustomerRecord", [("seq", int), ("fields", _FIELDS)])).decode
_SEQ: Any = msgspec.json.Decoder(msgspec.defstruct("CustomerSeq", [("seq", int)])).decode
_FIELD_VALUES = attrgetter(*_NAMES)


def _body(cid: str, data: bytes) -> memoryview:
    if data[:3] != CUSTOMER_MAGIC[:3]:
        raise ValueError(f"customer {cid!r}: not a customer state record")
    if data[:4] != CUSTOMER_MAGIC:
        error = version_error("customer record", data[3], CUSTOMER_MAGIC[3])
        if isinstance(error, NewerStateError):
            raise error  # the state's, not this customer's
        raise ValueError(f"customer {cid!r}: {error}")
    return memoryview(data)[4:]


def record_seq(cid: str, data: bytes) -> int:
    """A customer record's `seq` (its fields skipped, not checked)."""
    try:
        return int(_SEQ(_body(cid, data)).seq)
    except msgspec.DecodeError as exc:
        raise ValueError(f"customer {cid!r}: {exc}") from None


_PENDING = _NAMES.index("pending")


def record_values(cid: str, data: bytes) -> tuple[Any, ...]:
    """A customer record's fields in `CustomerState.FIELDS` order, checked as `pack_fields`
    checks them (the same `ValueError`s, naming the customer) and equal to what
    `packed.field_values` gives of its packed bytes (but tuples where those are lists):
    one typed decode in C instead of a JSON read, a write and two more reads."""
    try:
        values = _FIELD_VALUES(_RECORD(_body(cid, data)).fields)
    except msgspec.ValidationError as exc:
        raise ValueError(f"customer {cid!r}: {field_error(str(exc))}") from None
    except msgspec.DecodeError as exc:
        raise ValueError(f"customer {cid!r}: {exc}") from None
    try:
        check_held(values[_PENDING])
    except ValueError as exc:
        raise ValueError(f"customer {cid!r}: {exc}") from None
    return values


@dataclass
class CustomerRecords:
    """A checkpoint's customers as their records, least recently changed first, with the
    table's counters: what the kernel restores from (detector.kernel.rows.KernelRows.of,
    which checks each with `record_values` and parks it packed)."""

    records: list[tuple[str, bytes]]
    evicted: int = 0
    seq: int = 0


def _part(obj: Any) -> bytes:
    return PART_MAGIC + zlib.compress(orjson.dumps(obj), 1)


def _unpart(name: str, data: bytes, config: CoreConfig) -> Any:
    if data[:3] == PART_MAGIC[:3] and data[3:4] > PART_MAGIC[3:4]:
        raise version_error("state part record", data[3], PART_MAGIC[3])
    if data[:4] != PART_MAGIC:
        raise ValueError(f"state part {name!r} is not a version-3 part record")
    return orjson.loads(inflate.inflate(memoryview(data)[4:], inflate.part_bound(name, config),
                                        f"state part {name!r}"))


class Counts(Protocol):
    """What the parts record of the customer table: `CustomerTable`, or the kernel's."""

    evicted: int
    seq: int

    def __len__(self) -> int: ...


def encode_parts(*, partition: int | None, processed: int, fits: int,
                 customers: Counts, population: Population,
                 calibration: Recalibration, sample: FeatureSample,
                 model: FittedModel | None, pending: list[PendingFit] | None = None,
                 model_record: bytes | None = None) -> dict[str, bytes | None]:
    """Every record of the partition's state but the customers'. `model_record`: the
    model's, `model_part(model)` as made before (a fitted model never changes)."""
    meta = {"partition": partition, "processed": processed, "fits": fits,
            "evicted": customers.evicted, "seq": customers.seq, "customers": len(customers)}
    return {
        "meta": _part(meta),
        "population": _part(sf._fields_of(population, sf.POPULATION_CODECS)),
        "calibration": _part(sf._fields_of(calibration, {})),
        "sample": _part(sf._sample_doc(sample)),
        "model": model_part(model) if model_record is None else model_record,
        "pending": _part(sf._pending_doc(pending or [])),
    }


def model_part(model: FittedModel | None) -> bytes:
    """The model's record of a checkpoint: its training rows and number (~300 KB of JSON
    compressed at the default sample size, the same at every checkpoint until a refit)."""
    return _part(sf._model_doc(model))


def _id(cid: str) -> str:
    """A record's id (its key's tail) bounded as the live path bounds it."""
    return sf.checked_id(cid, "checkpoint", "customers")


def decode(parts: dict[str, bytes], customers: Iterable[tuple[str, bytes]],
           config: CoreConfig, records: bool = False) -> dict[str, Any]:
    """The engine's parts (as `stateformat.decode` gives them) from a checkpoint's records:
    the parts by name and (customer id, record) pairs in any order. `records`: the
    customers as `CustomerRecords` (for the kernel), not a `CustomerTable`."""
    missing = [name for name in PARTS if name not in parts]
    if missing:
        raise ValueError(f"state parts missing: {', '.join(missing)}")
    meta = partcheck.fields("meta", _unpart("meta", parts["meta"], config), partcheck.META,
                            tuple(partcheck.META))
    table: CustomerTable | CustomerRecords
    if records:
        ordered = [(record_seq(_id(cid), data), cid, data) for cid, data in customers]
        count = len(ordered)
        ordered.sort(key=lambda x: x[0])
        table = CustomerRecords([(cid, data) for _, cid, data in ordered])
    else:
        # packed as read: a restore makes no object per customer (the shell pauses the
        # cyclic GC around it: `detector.partition.CoreEngineFactory.resume`)
        numbered = [_packed_record(_id(cid), data) for cid, data in customers]
        count = len(numbered)
        numbered.sort(key=lambda x: x[0])
        table = CustomerTable(config)
        table.replace_items(OrderedDict((cid, packed) for _, packed, cid in numbered))
    if count != meta["customers"]:
        raise ValueError(f"{count} customer records, the checkpoint has {meta['customers']}")
    table.evicted, table.seq = meta["evicted"], meta["seq"]
    population = sf._population(_unpart("population", parts["population"], config))
    calibration = sf._calibration(_unpart("calibration", parts["calibration"], config),
                                  config)
    sample = sf._sample(_unpart("sample", parts["sample"], config))
    model = sf._model(_unpart("model", parts["model"], config), sample, config, meta["fits"])
    pending = sf._pending(_unpart("pending", parts["pending"], config)
                          if "pending" in parts else None, config, meta["fits"])
    return {"partition": meta["partition"], "processed": meta["processed"],
            "fits": meta["fits"], "customers": table, "population": population,
            "calibration": calibration, "sample": sample, "model": model, "pending": pending}
