"""The kernel's shell: a partition's customers, population and recalibration as arrays,
and `score_rows` over them (docs/kernel.md step 7), in place of the core's
`CustomerTable`, `Population`, `Recalibration` and `rowloop.score_rows`.

`KernelRows.score_rows` gives the engine what the core's gives, to the bit: each row's
verdict inputs (`rowloop.Pending`: its rules' and terms' reasons worded here, in Python,
only for the rows that have one), its model vector, and the tap. The table's bookkeeping
for checkpoints (customers touched and gone since the last one, their numbering, the
count evicted) is kept as `CustomerTable` keeps it, so `export` gives back the core's
objects and the checkpoints keep their format and bytes; `of` builds the arrays from them
(a restore). Codes are per engine and never stored (docs/kernel.md, "Strings as codes").

The Python around `score_segment` works by column, not by row: the strings coded a column
at a time (new ones still coded in order of arrival, row by row), the reasons worded a term
at a time for the rows that have them (`terms.rows_reasons`), the rows without any sharing
one empty dict when no tap takes them. Measured (bench/core_bench.py's rows, the collector
off): ~5 us a row beside `score_segment`'s ~8.5, against ~8 before.

A checkpoint loads only the customers touched since the previous one (`take_changes`); a
whole snapshot loads every slot (`export`).
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

import numpy as np

from detector.core.calibration import TERMS, Recalibration
from detector.core.config import CoreConfig
from detector.core.engine import ROW_LOOPS
from detector.core.features import event_seconds, ipnet
from detector.core.knobs import Knobs
from detector.core.packed import field_values
from detector.core.rowloop import Pending, Tap
from detector.core.state import Population
from detector.core.stateparts import (
    CustomerRecords,
    decode_customer,
    record_last_t,
    record_values,
)
from detector.core.table import CustomerTable, T, changed_ids
from detector.kernel import amounts, forest, geo, learning, lru, variety
from detector.kernel import calibration as kc
from detector.kernel import observe as ko
from detector.kernel import population as kp
from detector.kernel import slots as sl
from detector.kernel import terms as kt
from detector.kernel.codes import Codes
from detector.kernel.hold import due_buffer
from detector.kernel.knobs import kernel_knobs
from detector.kernel.refs import as_ref
from detector.kernel.segment import score_segment
from detector.kernel.tails import LGAMMA
from shared.gcpause import gc_paused
from shared.schemas import TransactionView

A = TypeVar("A", bound=tuple[Any, ...])

#: `features.ipnet` of the addresses seen lately (a customer's come back), at most `_NETS`.
_NETWORKS: dict[str, str] = {}
_NETS = 1 << 16


def _networks(ips: list[str]) -> list[str]:
    """`features.ipnet` of each address."""
    nets = _NETWORKS
    try:
        return list(map(nets.__getitem__, ips))
    except KeyError:
        if len(nets) > _NETS:
            nets.clear()
        return [nets.get(ip) or nets.setdefault(ip, ipnet(ip)) for ip in ips]


class KernelRows:
    """One partition's per-row state as the kernel's arrays, and its row loop."""

    #: The forest's path lengths, compiled (`ForestArrays.isolation`'s `walk`).
    walk = staticmethod(forest.depths)

    def __init__(self, config: CoreConfig, dims: sl.Dims | None = None,
                 codes: Codes | None = None) -> None:
        """`codes`: an encoder to start from (tests: codes never change an output)."""
        self.config = config
        self.knobs = Knobs(config)
        self._k = as_ref(kernel_knobs(self.knobs))
        self.codes = codes or Codes()
        self._empty = self.codes.code("")
        self.table = lru.Slots(config.max_customers, config.customer_ttl_s)
        self._slots = sl.allocate(dims or sl.Dims.of(config), 0)
        self._pop = kp.to_arrays(Population(), self.codes, config.max_population_keys)
        self._cal = kc.to_arrays(Recalibration(config.surprise_cap))
        self._refs()
        self._centroids = geo.centroid_table(self.codes.values)
        #: codes seen as a category, and every code's rank among them in string order
        #: (`variety` breaks ties of age by the category strings)
        self._categories: set[int] = set()
        self._ranks = np.zeros(0, np.int64)
        self._work = kt.scratch(self._slots)
        self._keys, self._none = learning.scratch()
        self._held = np.zeros(5, np.int32)
        #: `CustomerTable`'s checkpoint bookkeeping (the ids gone are `table.gone`)
        self.touched: set[str] = set()
        self.seq = 0
        #: Restored customers not seen since, by slot: their checkpoint records, checked
        #: when read, put into their slots when the customer is next seen (`_unpark`)
        self._parked: dict[int, bytes] = {}

    def _refs(self) -> None:
        self._s = as_ref(self._slots)
        self._p = as_ref(self._pop)
        self._c = as_ref(self._cal)
        self._due = as_ref(due_buffer(self._slots.pend_r.shape[1]))

    def __len__(self) -> int:
        return len(self.table)

    def score_rows(self, txs: Sequence[TransactionView], lo: int, hi: int, first: int,
                   pending: list[Pending], vectors: np.ndarray, tap: Tap | None = None
                   ) -> None:
        """`rowloop.score_rows` over the kernel's state (the same outputs), the model's rows
        written into `vectors[lo:hi]` (the engine's matrix for the batch, not a list)."""
        n = hi - lo
        if n <= 0:
            return
        rows = txs[lo:hi]
        ids = [tx.customer_id for tx in rows]
        t = np.array([event_seconds(tx) for tx in rows], np.float64)
        hour = np.array([tx.timestamp.hour for tx in rows], np.int64)
        amount = np.array([tx.amount for tx in rows], np.float64)
        strings = self._encode(rows)
        table = self.table
        slot = table.map(ids)
        self._grow_slots(n)
        categories = strings[:, 4]
        if self._parked:
            categories = np.concatenate((categories, self._unpark(slot, n)))
        self._grow_codes(categories)
        gone = np.empty((len(table) + n, 2), np.int64)
        fresh = np.empty(n, np.bool_)
        n_gone = lru.lru_pass(table.arrays, slot, t, table.ttl, table.max_customers, gone,
                              fresh)
        obs = np.empty((n, ko.SIZE), np.float64)
        raw = np.empty((n, len(TERMS)), np.float64)
        why = np.empty((n, kt.WHY), np.float64)
        values = np.empty((n, len(TERMS)), np.float64)
        total = np.empty(n, np.float64)
        rules = np.empty(n, np.int64)
        learnt = np.empty(n, np.int64)
        vecs = vectors[lo:hi]  # the engine's matrix for the batch: written in place
        score_segment(self._s, self._p, self._c, self._k, self._due, slot, fresh, t, hour,
                      amount, strings, self._empty, self._centroids, self._ranks,
                      amounts.EXPONENTS, amounts.COMB, LGAMMA, variety.SPANS, self._work,
                      self._keys, self._none, self._held, obs, raw, why, values, total,
                      rules, learnt, vecs)
        self._settle(ids, table.settle(gone[:n_gone]))
        if self._parked:  # a parked customer dropped: its slot is free, its record gone
            id_of = table.id_of
            for c in gone[:n_gone, 0].tolist():
                if id_of[c] is None:
                    self._parked.pop(c, None)
        value_rows = values.tolist()
        fired, worded = self._reasons(obs, raw, why, rules, tap is not None)
        if tap is not None:
            for r, v, w, m in zip(raw.tolist(), value_rows, worded, learnt.tolist(),
                                  strict=True):
                tap.append((r, list(v), w, m))
        pending.extend(zip(rows, fired, value_rows, worded, total.tolist(),
                           range(first + lo, first + hi), strict=True))

    def _encode(self, rows: Sequence[TransactionView]) -> np.ndarray:
        """The rows' strings as codes (int32[n, 5]: country, device, ipnet, channel,
        category), new strings coded in order of arrival (row by row, in that order)."""
        columns = ([tx.country for tx in rows], [tx.device for tx in rows],
                   _networks([tx.ip for tx in rows]), [tx.channel for tx in rows],
                   [tx.merchant_category for tx in rows])
        known = self.codes.codes
        new = [set(column).difference(known) for column in columns]
        if any(new):  # coded in order of arrival: by row, then column
            first: dict[str, tuple[int, int]] = {}
            for j, (column, values) in enumerate(zip(columns, new, strict=True)):
                for value in values:
                    at = (column.index(value), j)
                    if value not in first or at < first[value]:
                        first[value] = at
            code = self.codes.code
            for value in sorted(first, key=first.__getitem__):
                code(value)
        strings = np.empty((len(rows), 5), np.int32)
        for j, column in enumerate(columns):
            strings[:, j] = list(map(known.__getitem__, column))
        return strings

    def _reasons(self, obs: np.ndarray, raw: np.ndarray, why: np.ndarray, rules: np.ndarray,
                 fresh: bool) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """Each row's fired rules' reasons and terms' reasons (`rowloop.Pending`'s), worded
        for the rows that have any (`observe.rule_reasons`, `terms.rows_reasons`). Without
        `fresh` (no tap: the dicts go nowhere but `rowloop.verdict`, which only reads
        them), the rows with none share one empty dict."""
        n = len(rules)
        if fresh:
            fired: list[dict[str, str]] = [{} for _ in range(n)]
            worded: list[dict[str, str]] = [{} for _ in range(n)]
        else:
            none: dict[str, str] = {}
            fired = [none] * n
            worded = [none] * n
        words = self.codes.values
        cfg = self.knobs
        for i, reasons in kt.rows_reasons(raw, why, obs, words, cfg).items():
            worded[i] = reasons
        ruled = np.flatnonzero(rules).tolist()
        for i, mask, row in zip(ruled, rules[ruled].tolist(), obs[ruled].tolist(),
                                strict=True):
            fired[i] = ko.rule_reasons(mask, row, words, cfg)
        return fired, worded

    def _unpark(self, slot: np.ndarray, rows: int) -> np.ndarray:
        """The parked customers among `slot` put into their slots from their records (as a
        restore by columns would have, `_store`), before the kernel reads them; the
        categories their events hold (for `_grow_codes`). Free blocks stay for `rows`."""
        parked, id_of = self._parked, self.table.id_of
        cs = [c for c in dict.fromkeys(slot.tolist()) if c in parked]
        if not cs:
            return np.zeros(0, np.int32)
        values = [record_values(cast("str", id_of[c]), parked.pop(c)) for c in cs]
        self._store(values, np.asarray(cs, np.int64))
        self._grow_slots(rows)
        return np.fromiter(sl.categories(self._slots, cs), np.int32)

    def _store(self, values: Sequence[Sequence[Any]], cs: np.ndarray) -> None:
        """Customers given by their encoded fields into slots `cs`, never used since made,
        the slots widened when the fields hold longer lists than their bounds (a checkpoint
        written under larger ones) and blocks in the hold pool for those holding events."""
        columns = sl.columns(values)
        dims = sl.dims_of(self._slots)
        need = dims.fitting_columns(columns)
        if need != dims:
            self._slots = sl.widen(self._slots, need)
            self._work = kt.scratch(self._slots)
        self._grow_slots(len(cs))
        sl.store_columns(columns, self._slots, cs, self.codes, fresh=True)
        self._s = as_ref(self._slots)

    def _grow_codes(self, categories: np.ndarray) -> None:
        """The arrays read by code sized to the codes known; the category ranks anew when
        a code is first used as a category."""
        values = self.codes.values
        if self._pop.off_index.shape[0] < len(values):
            self._pop = kp.grow_codes(self._pop, len(values) + 1024)
            self._p = as_ref(self._pop)
        self._centroids = geo.centroid_table(values, self._centroids)
        new = set(categories.tolist()) - self._categories
        if new or len(self._ranks) < len(values):
            self._categories |= new
            ranks = np.zeros(len(values) + 1024, np.int64)
            for rank, c in enumerate(sorted(self._categories, key=values.__getitem__)):
                ranks[c] = rank
            self._ranks = ranks

    def _grow_slots(self, holding: int = 0) -> None:
        """Slots for every customer mapped, and free blocks in the hold pool for `holding`
        more customers to start holding events (one a row at most, and no more than the
        slots without a block), grown by a quarter."""
        capacity = len(self.table.id_of)
        grown = False
        if self._slots.n.shape[0] < capacity:
            self._slots = sl.grow(self._slots, capacity)
            grown = True
        free, blocks = sl.free_blocks(self._slots), len(self._slots.pend_r)
        holding = min(holding, capacity - (blocks - free))
        if free < holding:
            more = max(holding - free, min(blocks // 4, capacity - blocks))  # <= capacity
            self._slots = sl.grow_pool(self._slots, blocks + more)
            grown = True
        if grown:
            self._s = as_ref(self._slots)

    def _settle(self, ids: list[str], dropped: list[tuple[str, int]]) -> None:
        """`CustomerTable`'s touched set after the call: every customer seen, but those
        dropped and not seen since (`get` adds, `_drop` discards)."""
        self.touched.update(ids)
        if dropped:
            self.touched.difference_update(cid for cid, _ in dropped
                                           if cid not in self.table.slot_of)

    # --- the core's objects, for checkpoints -------------------------------------------------

    @property
    def evicted(self) -> int:
        """Customers dropped so far (`CustomerTable.evicted`)."""
        return self.table.evicted

    def population(self) -> Population:
        return kp.from_arrays(self._pop, self.codes)

    def calibration(self) -> Recalibration:
        return kc.from_arrays(self._cal, self.config.surprise_cap)

    def export(self) -> tuple[CustomerTable, Population, Recalibration]:
        """The state as the core's objects (customers least recently seen first, with the
        table's checkpoint bookkeeping): every slot loaded."""
        table = CustomerTable(self.config)
        slot_of = self.table.slot_of
        parked = self._parked
        items: OrderedDict[str, Any] = OrderedDict(
            (cid, decode_customer(parked[c])[1] if c in parked
             else sl.load(self._slots, c, self.codes))
            for cid, c in ((cid, slot_of[cid]) for cid in self.table.order()))
        table.replace_items(items)
        table.evicted = self.table.evicted
        table.touched = set(self.touched)
        table.gone = set(self.table.gone)
        table.seq = self.seq
        return table, self.population(), self.calibration()

    def take_changes(self, encode: Callable[[int, list[Any]], T]
                     ) -> tuple[list[tuple[str, T]], list[str]]:
        """`CustomerTable.take_changes`: the customers changed since the last checkpoint
        (the table's tail, oldest first, numbered on from `seq`) and those gone since.
        `encode` takes a customer's number and its encoded fields (`packed.field_values`'s
        list, as `stateparts.encode_fields` does); only those slots are read,
        `RESTORE_CHUNK` at a time, a field at a time (`slots.field_rows`)."""
        ids = changed_ids(self._newest_first(), self.touched)
        slot_of = self.table.slot_of
        changed: list[tuple[str, T]] = []
        with gc_paused():  # many small lists, no cycles: a collection only rescans them
            for lo in range(0, len(ids), RESTORE_CHUNK):
                chunk = ids[lo:lo + RESTORE_CHUNK]
                rows = self._field_rows(chunk, [slot_of[cid] for cid in chunk])
                changed.extend((cid, encode(self.seq + lo + i, row))
                               for i, (cid, row) in enumerate(zip(chunk, rows, strict=True)))
        gone = sorted(self.table.gone)
        self.seq += len(changed)
        self.touched, self.table.gone = set(), set()
        return changed, gone

    def _field_rows(self, ids: list[str], cs: list[int]) -> list[Any]:
        """The encoded fields of customers `ids` in slots `cs` (`slots.field_rows`), a
        parked one's from its record."""
        parked = self._parked
        if not parked:
            return sl.field_rows(self._slots, cs, self.codes)
        out: list[Any] = [None] * len(cs)
        live = [i for i, c in enumerate(cs) if c not in parked]
        for i, row in zip(live, sl.field_rows(self._slots, [cs[i] for i in live], self.codes),
                          strict=True):
            out[i] = row
        for i, c in enumerate(cs):
            if c in parked:
                out[i] = record_values(ids[i], parked[c])
        return out

    def _newest_first(self) -> Iterator[str | None]:
        """The customers from the most recently seen, along the LRU's links."""
        a, id_of = self.table.arrays, self.table.id_of
        s = int(a.ends[lru.TAIL])
        while s >= 0:
            yield id_of[s]
            s = int(a.prev[s])

    def clone(self) -> KernelRows:
        """An independent copy (careful isolation's savepoint, detector.isolation): every
        array of the state copied (the slots, the hold pool, the population, the
        recalibration, the table), the codes shared (they only grow, and never change an
        output) and the scratch buffers too (one of the two runs at a time). In memory,
        about the slots' size: ~4.4 KB a customer, a memory copy, not an encoding."""
        other = copy.copy(self)
        other.table = self.table.clone()
        other._slots = _copied(self._slots)
        other._pop = _copied(self._pop)
        other._cal = _copied(self._cal)
        other._categories = set(self._categories)
        other._ranks = self._ranks.copy()
        other.touched = set(self.touched)
        other._parked = dict(self._parked)  # records: bytes, never changed
        other._refs()
        return other

    def touch_all(self) -> None:
        """Count every customer as changed (the next checkpoint writes them all)."""
        self.touched = set(self.table.slot_of)

    @classmethod
    def of(cls, config: CoreConfig, table: CustomerTable | CustomerRecords, pop: Population,
           cal: Recalibration) -> KernelRows:
        """The kernel's state holding the core's objects, or a checkpoint's customer records
        (a restore). Records are each checked as read (`stateparts.record_values`), then
        kept **parked**: only the table's order and times are set, and a customer goes into
        its slot when next seen (`_unpark`), so a restore's cost is the reading, not a slot
        filled for every customer of which most may not come back for days. The core's
        objects (a whole snapshot) go into their slots at once, `RESTORE_CHUNK` at a time,
        a field at a time (`_store`)."""
        rows = cls(config)
        if isinstance(table, CustomerRecords):
            ids = [cid for cid, _ in table.records]
            slots = rows.table.restore(ids, [record_last_t(cid, data)
                                              for cid, data in table.records])
            rows._grow_slots()
            rows._parked = dict(zip(slots.tolist(), (data for _, data in table.records),
                                    strict=True))
            touched: set[str] = set()
            gone: set[str] = set()
        else:
            held = table.held()
            slots = rows.table.restore([cid for cid, _ in held])
            rows._grow_slots()
            seen = rows.table.arrays.seen
            for lo in range(0, len(held), RESTORE_CHUNK):
                cs = slots[lo:lo + RESTORE_CHUNK]
                rows._store([field_values(h) for _, h in held[lo:lo + RESTORE_CHUNK]], cs)
                seen[cs] = rows._slots.last_t[cs]  # the table's own copy
            touched, gone = set(table.touched), set(table.gone)
        rows._work = kt.scratch(rows._slots)
        rows.table.evicted = table.evicted
        rows.table.gone = gone
        rows.touched = touched
        rows.seq = table.seq
        rows._pop = kp.to_arrays(pop, rows.codes, config.max_population_keys)
        rows._cal = kc.to_arrays(cal)
        rows._refs()
        rows._categories = sl.categories(rows._slots)
        rows._ranks = np.zeros(0, np.int64)
        rows._grow_codes(np.zeros(0, np.int32))
        return rows


def _copied(arrays: A) -> A:
    """A NamedTuple of arrays with each array copied."""
    return type(arrays)(*(a.copy() for a in arrays))


#: Customers put into their slots at once by a restore (`KernelRows.of`), and read out of
#: them at once by a checkpoint (`take_changes`): their fields are held meanwhile as
#: objects (~2 KB each).
RESTORE_CHUNK = 4096


ROW_LOOPS["kernel"] = KernelRows
