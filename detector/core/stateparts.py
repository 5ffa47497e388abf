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
magic's last byte is the version (3, as the whole-state format), and any other is refused.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from detector.core import stateformat as sf
from detector.core.config import CoreConfig
from detector.core.model import FeatureSample, FittedModel
from detector.core.packed import CUSTOMER_CODECS, pack_fields, unpack
from detector.core.refit import PendingFit
from detector.core.state import CustomerState, Population
from detector.core.surprise import Recalibration
from detector.core.table import CustomerTable, Held

CUSTOMER_MAGIC = b"ASC\x03"
PART_MAGIC = b"ASP\x03"
PARTS = ("meta", "population", "calibration", "sample", "model")


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
        raise ValueError(f"unsupported customer record version {data[3]}")
    doc = orjson.loads(data[4:])
    return int(doc["seq"]), doc["fields"]


def decode_customer(data: bytes) -> tuple[int, CustomerState]:
    """(seq, state) of a customer record (`ValueError` if it is not one of version 3)."""
    seq, fields = _record(data)
    return seq, unpack(pack_fields(fields))


def _packed_record(cid: str, data: bytes) -> tuple[int, bytes, str]:
    seq, fields = _record(data)
    return seq, sf.packed_customer(cid, fields), cid


def _part(obj: Any) -> bytes:
    return PART_MAGIC + zlib.compress(orjson.dumps(obj), 1)


def _unpart(name: str, data: bytes) -> Any:
    if data[:4] != PART_MAGIC:
        raise ValueError(f"state part {name!r} is not a version-3 part record")
    return orjson.loads(zlib.decompress(data[4:]))


class Counts(Protocol):
    """What the parts record of the customer table: `CustomerTable`, or the kernel's."""

    evicted: int
    seq: int

    def __len__(self) -> int: ...


def encode_parts(*, partition: int | None, processed: int, fits: int,
                 customers: Counts, population: Population,
                 calibration: Recalibration, sample: FeatureSample,
                 model: FittedModel | None, pending: list[PendingFit] | None = None,
                 ) -> dict[str, bytes | None]:
    """Every record of the partition's state but the customers'."""
    meta = {"partition": partition, "processed": processed, "fits": fits,
            "evicted": customers.evicted, "seq": customers.seq, "customers": len(customers)}
    return {
        "meta": _part(meta),
        "population": _part(sf._fields_of(population, sf.POPULATION_CODECS)),
        "calibration": _part(sf._fields_of(calibration, {})),
        "sample": _part(sf._sample_doc(sample)),
        "model": _part(sf._model_doc(model)),
        "pending": _part(sf._pending_doc(pending or [])),
    }


def decode(parts: dict[str, bytes], customers: Iterable[tuple[str, bytes]],
           config: CoreConfig) -> dict[str, Any]:
    """The engine's parts (as `stateformat.decode` gives them) from a checkpoint's records:
    the parts by name and (customer id, record) pairs in any order."""
    missing = [name for name in PARTS if name not in parts]
    if missing:
        raise ValueError(f"state parts missing: {', '.join(missing)}")
    meta = _unpart("meta", parts["meta"])
    # packed as read: a restore makes no object per customer (the shell pauses the cyclic
    # GC around it: `detector.partition.CoreEngineFactory.resume`)
    numbered = [_packed_record(cid, data) for cid, data in customers]
    if len(numbered) != meta["customers"]:
        raise ValueError(f"{len(numbered)} customer records, the checkpoint has "
                         f"{meta['customers']}")
    numbered.sort(key=lambda x: x[0])
    table = CustomerTable(config)
    held: OrderedDict[str, Held] = OrderedDict((cid, packed) for _, packed, cid in numbered)
    table.replace_items(held)
    table.evicted, table.seq = meta["evicted"], meta["seq"]
    population = Population()
    sf._set_fields(population, _unpart("population", parts["population"]),
                   sf.POPULATION_CODECS)
    calibration = Recalibration(config.surprise_cap)
    sf._set_fields(calibration, _unpart("calibration", parts["calibration"]), {})
    sample = sf._sample(_unpart("sample", parts["sample"]))
    model = sf._model(_unpart("model", parts["model"]), sample, config)
    pending = sf._pending(_unpart("pending", parts["pending"]) if "pending" in parts else None,
                          config)
    return {"partition": meta["partition"], "processed": meta["processed"],
            "fits": meta["fits"], "customers": table, "population": population,
            "calibration": calibration, "sample": sample, "model": model, "pending": pending}
