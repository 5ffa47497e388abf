"""A partition with many customers, built through the detection core from a generated
stream, and what its incremental checkpoints cost (the scale test and bench/state_bench.py).

No broker: the engine is fed directly (the broker path would take hours at 1,000,000
customers on a CI machine) and a checkpoint's records are counted and kept as the compacted
state topic would keep them (latest record per key)."""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from detector.checkpoints import CheckpointAssembler, encode_checkpoint, state_prefix
from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.stateparts import encode_customer
from detector.core.table import as_state
from detector.dedupe import DedupeIndex
from detector.partition import CoreEngineFactory, PartitionState
from detector.resume import partition_state
from detector.snapshots import SnapshotRecord
from shared.gcpause import gc_paused
from shared.schemas import Transaction

START = datetime(2025, 1, 1)
PREFIX = state_prefix("scale", "transactions", 0)
CHUNK = 512 * 1024
COUNTRIES = ("CH", "CH", "CH", "DE", "FR", "IT", "US")
CATEGORIES = ("grocery", "fuel", "travel", "electronics", "restaurants", "pharmacy")


def config(customers: int) -> CoreConfig:
    """The core's defaults, with room for `customers` in one partition."""
    return CoreConfig(max_customers=max(customers, 200_000))


def transactions(customers: list[int], first: int, seed: int) -> list[Transaction]:
    """One transaction per entry of `customers`, `first` numbering them, one second apart
    in event time from `START + first` seconds (a stream of `first + len` rows so far)."""
    rng = random.Random(seed)
    out = []
    for i, c in enumerate(customers):
        n = first + i
        out.append(Transaction.model_construct(
            transaction_id=f"t{n}", customer_id=f"c{c:07d}",
            timestamp=START + timedelta(seconds=n),
            amount=round(rng.lognormvariate(3.5 + c % 5 * 0.4, 0.7), 2),
            country=COUNTRIES[c % 7] if rng.random() < 0.95 else rng.choice(COUNTRIES),
            channel=("app", "web", "pos")[c % 3], device=f"d{c % 50}",
            merchant_category=rng.choice(CATEGORIES), ip=f"10.{c % 200}.{c % 7}.{c % 250}"))
    return out


@dataclass
class Partition:
    """One partition's state and what its checkpoints wrote."""

    state: PartitionState
    rows: int = 0
    topic: dict[bytes, SnapshotRecord] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)  # bytes per kind of record

    def feed(self, customers: list[int], seed: int, batch: int = 5_000) -> None:
        for lo in range(0, len(customers), batch):
            txs = transactions(customers[lo:lo + batch], self.rows, seed + lo)
            offsets = list(range(self.rows, self.rows + len(txs)))
            if self.state.dedupe is not None:
                self.state.dedupe.check(txs, offsets)
                self.state.dedupe.maintain()
            cast(PartitionEngine, self.state.engine).process(txs)
            self.rows += len(txs)
            self.state.next_offset = self.rows

    def checkpoint(self) -> int:
        """Write a checkpoint; return its bytes (keys, values and headers)."""
        records = encode_checkpoint(PREFIX, self.rows, self.state.changes(), self.state.ledger,
                                    CHUNK)
        total = 0
        for r in records:
            size = len(r.key) + len(r.value or b"") + sum(len(k) + len(v) for k, v in r.headers)
            kind = r.key.decode().split("/")[3]
            kind = "dedupe" if "/p/dedupe" in r.key.decode() else kind
            self.written[kind] = self.written.get(kind, 0) + size
            total += size
            if r.value is None:
                self.topic.pop(r.key, None)
            else:
                self.topic[r.key] = r
        return total

    def restore(self) -> PartitionState:
        """The state a restore rebuilds from the compacted records."""
        asm = CheckpointAssembler(PREFIX)
        with gc_paused():  # as detector.kafka_io.Restorer reads them
            for r in self.topic.values():
                asm.feed(r.key, r.value, r.headers)
        snap = asm.result()
        assert snap is not None
        factory = CoreEngineFactory(self.state.engine.config)  # type: ignore[attr-defined]
        return partition_state(0, snap, factory, horizon(self.state), snap.next_offset, [])


def horizon(state: PartitionState) -> float:
    return 0.0 if state.dedupe is None else state.dedupe.horizon_min * 60.0


def build(customers: int, dedupe_horizon_s: float, seed: int = 1) -> Partition:
    """A partition whose table holds `customers` (one transaction each, in id order),
    checkpointed once (the first checkpoint writes every customer)."""
    cfg = config(customers)
    index = DedupeIndex(dedupe_horizon_s) if dedupe_horizon_s > 0 else None
    part = Partition(PartitionState(PartitionEngine(cfg, 0), 0, dedupe=index))
    part.feed(list(range(customers)), seed)
    part.checkpoint()
    part.written.clear()
    return part


def traffic(part: Partition, records: int, active: int, every: int, seed: int = 2
            ) -> tuple[int, float]:
    """`records` transactions of customers drawn from the first `active` ids, checkpointed
    every `every` records as the detector does; (bytes written, seconds in checkpoints)."""
    rng = random.Random(seed)
    total, took = 0, 0.0
    for lo in range(0, records, every):
        part.feed([rng.randrange(active) for _ in range(min(every, records - lo))], seed + lo)
        start = time.perf_counter()
        total += part.checkpoint()
        took += time.perf_counter() - start
    return total, took


def deep_size(obj: Any, seen: set[int] | None = None) -> int:
    """Bytes of `obj` and everything it references (shared objects counted once)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, list | tuple | set | frozenset):
        size += sum(deep_size(v, seen) for v in obj)
    elif hasattr(obj, "FIELDS") or hasattr(obj, "__slots__"):  # FIELDS: a compiled class
        names = getattr(obj, "FIELDS", None) or obj.__slots__
        size += sum(deep_size(getattr(obj, s), seen) for s in names if hasattr(obj, s))
    return size


def bytes_per_customer(engine: PartitionEngine, sample: int = 10_000) -> float:
    """Deep in-memory size per customer of the engine's table as it holds it (objects and
    packed customers, ids included), on a sample of it; on the kernel, of its own
    structures: the slots' and the table's arrays, the parked customers' bytes and the
    maps of ids, entries and parked bytes, all of them."""
    kernel = engine._kernel
    if kernel is not None:
        arrays = [*kernel._slots, *kernel.table.arrays, kernel._slot_of, kernel._entry_of,
                  kernel._used]
        table = kernel.table
        size = (sum(a.nbytes for a in arrays) + deep_size(kernel._parked)
                + deep_size(table.slot_of) + deep_size(table.id_of) + deep_size(table.free)
                + deep_size(kernel._free))
        return float(size) / max(1, len(table))
    held = engine._state()[0].held()
    picked = random.Random(0).sample(held, min(sample, len(held)))
    return deep_size(picked) / len(picked)


def same_customers(a: PartitionEngine, b: PartitionEngine, sample: int) -> bool:
    """The same customers in the same (eviction) order, and a sample of them equal field
    for field (unpacked one at a time: never a whole table of objects)."""
    x, y = a._state()[0].held(), b._state()[0].held()
    if [cid for cid, _ in x] != [cid for cid, _ in y]:
        return False
    pairs = random.Random(1).sample(range(len(x)), min(sample, len(x)))
    return all(encode_customer(0, as_state(x[i][1])) == encode_customer(0, as_state(y[i][1]))
               for i in pairs)
