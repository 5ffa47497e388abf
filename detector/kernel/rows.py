"""The kernel's shell: a partition's customers, population and recalibration as arrays,
and `score_rows` over them (docs/kernel.md step 7), in place of the core's
`CustomerTable`, `Population`, `Recalibration` and `rowloop.score_rows`.

`KernelRows.score_rows` gives the engine what the core's gives, to the bit: each row's
verdict inputs (`rowloop.Pending`: its rules' and terms' reasons worded here, in Python,
only for the rows that have one), its model vector, and the tap. The table's bookkeeping
for checkpoints (customers touched and gone since the last one, their numbering, the
count evicted) is kept as `CustomerTable` keeps it, so `export` gives back the core's
objects and the checkpoints keep their format and bytes; `of` restores from them. Codes
are per engine and never stored (docs/kernel.md, "Strings as codes").

Slots hold only the `hot_customers` most recently seen customers (as the core's table
keeps only those as objects): the others are **parked**, packed (detector.core.packed),
and go into a free slot when seen again. The table (`lru.Slots`) numbers every customer
with an entry; `_slot_of` gives an entry's slot (-1: parked), `_entry_of` a slot's. A
restore parks every customer: its cost is reading the records, not filling a slot for
each (docs/kernel.md (k)). What is parked never changes an output.

The Python around `score_segment` works by column, not by row: the event times read by
column (`event_times`), the strings coded a batch at a time (one look-up each; the few new
ones coded afterwards in order of arrival, row by row), the reasons worded a term at a
time for the rows that have them (`terms.rows_reasons`), the rows without any sharing one
empty dict (and one empty list of values) when no tap takes them. Measured
(bench/core_bench.py's rows, the collector off): ~5 us a row beside `score_segment`'s
~8.5, against ~8 before.

A checkpoint writes only the customers touched since the previous one (`take_records`); a
whole snapshot loads every customer (`export`).
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from datetime import timedelta
from itertools import chain, repeat
from operator import attrgetter, floordiv, sub
from typing import Any, TypeVar

import numpy as np

from detector.core.calibration import TERMS, Recalibration
from detector.core.config import CoreConfig
from detector.core.engine import ROW_LOOPS
from detector.core.features import EPOCH, event_seconds, ipnet
from detector.core.knobs import Knobs
from detector.core.packed import field_values, last_t, pack, pack_values, unpack
from detector.core.rowloop import Pending, Tap
from detector.core.state import Population
from detector.core.stateparts import CustomerRecords, encode_fields, record_values
from detector.core.table import CustomerTable, changed_ids
from detector.kernel import amounts, forest, geo, learning, lru, parking, records, variety
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


_STAMP = attrgetter("timestamp")
_US = timedelta(microseconds=1)
#: Microseconds below which an int converts to a float exactly (`features.event_seconds`).
_EXACT_US = 1 << 53
_HOUR_US = 3_600_000_000


def event_times(rows: Sequence[TransactionView]) -> tuple[np.ndarray, np.ndarray]:
    """Each row's `features.event_seconds` and its timestamp's hour, by column: the
    microseconds since 1970 as ints (C calls, no Python frame a row: ~0.5 us a row
    against ~1.3), then the seconds as `event_seconds` divides them (both convert to
    floats exactly below 2^53, and a division is correctly rounded; any other row by
    `event_seconds` itself) and the hour of a naive time (`Transaction`'s)."""
    stamps = list(map(_STAMP, rows))
    us = np.fromiter(map(floordiv, map(sub, stamps, repeat(EPOCH)), repeat(_US)), np.int64,
                     len(stamps))
    t = us / 1_000_000
    for i in np.flatnonzero(np.abs(us) >= _EXACT_US).tolist():
        t[i] = event_seconds(rows[i])
    return t, us // _HOUR_US % 24


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
        self._iwork = kt.int_scratch(self._slots)
        self._keys, self._none = learning.scratch()
        self._held = np.zeros(5, np.int32)
        #: `CustomerTable`'s checkpoint bookkeeping (the ids gone are `table.gone`)
        self.touched: set[str] = set()
        self.seq = 0
        #: The customers not in a slot, by entry (the table's index): packed
        #: (detector.core.packed), put into a slot when seen again (`_slots_of`). A restore
        #: parks every customer; after a batch, the least recently seen beyond
        #: `hot_customers` are parked (`_park_oldest`). What is parked never changes an
        #: output, as in the core's table.
        self._parked: dict[int, bytes] = {}
        #: the JSON of each code's string, for the checkpoint records (`records`)
        self._words = records.Words()
        self._hot_max = config.hot_customers
        #: each entry's slot (-1: parked, or not yet placed), each slot's entry (-1: free),
        #: the free slots (reset: as `allocate` made them), each slot's latest row
        self._slot_of = np.full(0, -1, np.int64)
        self._entry_of = np.full(0, -1, np.int64)
        self._free: list[int] = []
        self._used = np.zeros(0, np.int64)

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
        t, hour = event_times(rows)
        amount = np.array([tx.amount for tx in rows], np.float64)
        strings = self._encode(rows)
        table = self.table
        entry = table.map(ids)
        slot, unparked = self._slots_of(entry, n)
        self._grow_codes(np.concatenate((strings[:, 4], unparked)) if len(unparked)
                         else strings[:, 4])
        gone = np.empty((len(table) + n, 2), np.int64)
        fresh = np.empty(n, np.bool_)
        n_gone = lru.lru_pass(table.arrays, entry, t, table.ttl, table.max_customers, gone,
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
                      self._iwork, self._keys, self._none, self._held, obs, raw, why, values, total,
                      rules, learnt, vecs)
        self._settle(ids, table.settle(gone[:n_gone]))
        self._used[slot] = np.arange(first + lo, first + hi)
        self._release(gone[:n_gone, 0])
        self._park_oldest()
        fired, worded, said = self._reasons(obs, raw, why, rules, tap is not None)
        value_rows: list[list[float]]
        if tap is not None:
            value_rows = values.tolist()
        else:  # only a row's term reasons read its values (`reasons.top_reasons`)
            value_rows = [[]] * n
            for i, v in zip(said, values[said].tolist(), strict=True):
                value_rows[i] = v
        if tap is not None:
            for r, v, w, m in zip(raw.tolist(), value_rows, worded, learnt.tolist(),
                                  strict=True):
                tap.append((r, list(v), w, m))
        pending.extend(zip(rows, fired, value_rows, worded, total.tolist(),
                           range(first + lo, first + hi), strict=True))

    def _encode(self, rows: Sequence[TransactionView]) -> np.ndarray:
        """The rows' strings as codes (int32[n, 5]: country, device, ipnet, channel,
        category), new strings coded in order of arrival (row by row, in that order).

        One look-up a string; a string not yet known (-1) is coded afterwards, those of
        the batch by their first row, then column: no pass over the batch for the new
        strings, which most batches have none of."""
        n = len(rows)
        columns = ([tx.country for tx in rows], [tx.device for tx in rows],
                   _networks([tx.ip for tx in rows]), [tx.channel for tx in rows],
                   [tx.merchant_category for tx in rows])
        known = self.codes.codes
        flat = np.fromiter(map(known.get, chain.from_iterable(columns), repeat(-1)), np.int32,
                           5 * n)  # column by column
        missing = np.flatnonzero(flat < 0).tolist()
        if missing:
            first: dict[str, tuple[int, int]] = {}
            for p in missing:
                at = (p % n, p // n)  # (row, column)
                value = columns[at[1]][at[0]]
                if value not in first or at < first[value]:
                    first[value] = at
            code = self.codes.code
            for value in sorted(first, key=first.__getitem__):
                code(value)
            flat[missing] = [known[columns[p // n][p % n]] for p in missing]
        strings = np.empty((n, 5), np.int32)  # C order, as the kernel takes it
        strings.T[:] = flat.reshape(5, n)
        return strings

    def _reasons(self, obs: np.ndarray, raw: np.ndarray, why: np.ndarray, rules: np.ndarray,
                 fresh: bool) -> tuple[list[dict[str, str]], list[dict[str, str]], list[int]]:
        """Each row's fired rules' reasons and terms' reasons (`rowloop.Pending`'s), worded
        for the rows that have any (`observe.rule_reasons`, `terms.rows_reasons`), and those
        rows with terms' reasons, in order. Without `fresh` (no tap: the dicts go nowhere
        but `rowloop.verdicts`, which only reads them), the rows with none share one empty
        dict."""
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
        said = kt.rows_reasons(raw, why, obs, words, cfg)
        for i, reasons in said.items():
            worded[i] = reasons
        ruled = np.flatnonzero(rules).tolist()
        for i, mask, row in zip(ruled, rules[ruled].tolist(), obs[ruled].tolist(),
                                strict=True):
            fired[i] = ko.rule_reasons(mask, row, words, cfg)
        return fired, worded, list(said)

    def _slots_of(self, entry: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """Each row's slot: a customer without one (new, or parked) gets a free slot, a
        parked one its fields from its packed bytes; the categories those hold (for
        `_grow_codes`). Free blocks stay in the hold pool for `rows` rows."""
        self._grow_entries()
        slot = self._slot_of[entry]
        unparked = np.zeros(0, np.int32)
        if (slot < 0).any():
            es = list(dict.fromkeys(entry[slot < 0].tolist()))
            cs = self._take(len(es))
            self._slot_of[es], self._entry_of[cs] = cs, es
            parked = self._parked
            back = [(e, c) for e, c in zip(es, cs, strict=True) if e in parked]
            if back:
                at = np.array([c for _, c in back], np.int64)
                self._put_back([parked.pop(e) for e, _ in back], at)
                unparked = np.fromiter(sl.categories(self._slots, at), np.int32)
            slot = self._slot_of[entry]
        self._grow_slots(rows)
        return slot, unparked

    def _grow_entries(self) -> None:
        """`_slot_of` as long as the table's entries."""
        if len(self._slot_of) < len(self.table.id_of):
            grown = np.full(len(self.table.id_of), -1, np.int64)
            grown[:len(self._slot_of)] = self._slot_of
            self._slot_of = grown

    def _take(self, n: int) -> list[int]:
        """`n` free slots (as `allocate` made them), the slots grown by a quarter if
        short."""
        short = n - len(self._free)
        if short > 0:
            have = len(self._entry_of)
            capacity = have + max(short, have // 4, 64)
            self._slots = sl.grow(self._slots, capacity)
            self._s = as_ref(self._slots)
            self._entry_of = np.concatenate(
                (self._entry_of, np.full(capacity - have, -1, np.int64)))
            self._used = np.concatenate((self._used, np.zeros(capacity - have, np.int64)))
            self._free.extend(range(capacity - 1, have - 1, -1))  # the lowest first
        return [self._free.pop() for _ in range(n)]

    def _put_back(self, held: list[bytes], cs: np.ndarray) -> None:
        """Parked customers into free slots `cs`: the kernel's bytes copied back
        (`parking`), a restored record's fields stored (`_store`)."""
        binary = [parking.is_binary(h) for h in held]
        if not all(binary):
            records = [i for i, b in enumerate(binary) if not b]
            self._store([field_values(held[i]) for i in records], cs[records])
        if any(binary):
            copied = [i for i, b in enumerate(binary) if b]
            self._grow_slots(len(copied))
            parking.unpark(self._s, cs[copied], [held[i] for i in copied])

    def _store(self, values: Sequence[Sequence[Any]], cs: np.ndarray) -> None:
        """Customers given by their encoded fields into free slots `cs`, the slots widened
        when the fields hold longer lists than their bounds (a checkpoint written under
        larger ones) and blocks in the hold pool for those holding events."""
        columns = sl.columns(values)
        dims = sl.dims_of(self._slots)
        need = dims.fitting_columns(columns)
        if need != dims:  # every reference to the slots anew (the hold's width too)
            self._slots = sl.widen(self._slots, need)
            self._work = kt.scratch(self._slots)
            self._iwork = kt.int_scratch(self._slots)
            self._refs()
        self._grow_slots(len(cs))
        sl.store_columns(columns, self._slots, cs, self.codes, fresh=True)

    def _free_slots(self, cs: np.ndarray) -> None:
        """Slots `cs` reset (their blocks freed) and free."""
        sl.reset_rows(self._slots, cs)
        self._slot_of[self._entry_of[cs]] = -1
        self._entry_of[cs] = -1
        self._free.extend(cs.tolist())

    def _release(self, dropped: np.ndarray) -> None:
        """The entries the table freed after a batch (customers dropped and not back): their
        slots freed, their packed bytes forgotten."""
        if not len(dropped):
            return
        id_of = self.table.id_of
        gone = np.array([e for e in dict.fromkeys(dropped.tolist()) if id_of[e] is None],
                        np.int64)
        for e in gone.tolist():
            self._parked.pop(e, None)
        if len(gone):
            cs = self._slot_of[gone]
            self._free_slots(cs[cs >= 0])

    def _park_oldest(self) -> None:
        """The least recently seen customers beyond `hot_customers` packed, their slots
        freed (the core's table keeps as many objects)."""
        excess = len(self._entry_of) - len(self._free) - self._hot_max  # slots in use
        if excess <= 0:
            return
        in_use = np.flatnonzero(self._entry_of >= 0)
        oldest = in_use[np.argpartition(self._used[in_use], excess - 1)[:excess]]
        held = parking.park(self._s, oldest)
        self._parked.update(zip(self._entry_of[oldest].tolist(), held, strict=True))
        self._free_slots(oldest)

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

    def _grow_slots(self, holding: int) -> None:
        """Free blocks in the hold pool for `holding` more customers to start holding
        events (one a row at most, and no more than the slots without a block), grown by
        a quarter."""
        capacity = len(self._entry_of)
        free, blocks = sl.free_blocks(self._slots), len(self._slots.pend_r)
        holding = min(holding, capacity - (blocks - free))
        if free < holding:
            more = max(holding - free, min(blocks // 4, capacity - blocks))  # <= capacity
            self._slots = sl.grow_pool(self._slots, blocks + more)
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
        parked, slot = self._parked, self._slot_of
        copied = [e for e, h in parked.items() if parking.is_binary(h)]
        states: dict[int, Any] = {}
        for lo, at in self._in_spare_slots([parked[e] for e in copied]):
            states.update((e, sl.load(self._slots, c, self.codes))
                          for e, c in zip(copied[lo:lo + len(at)], at.tolist(), strict=True))
        items: OrderedDict[str, Any] = OrderedDict(
            (cid, states[e] if e in states else unpack(parked[e]) if e in parked
             else sl.load(self._slots, int(slot[e]), self.codes))
            for cid, e in ((cid, slot_of[cid]) for cid in self.table.order()))
        table.replace_items(items)
        table.evicted = self.table.evicted
        table.touched = set(self.touched)
        table.gone = set(self.table.gone)
        table.seq = self.seq
        return table, self.population(), self.calibration()

    def take_records(self) -> tuple[list[tuple[str, bytes]], list[str]]:
        """`CustomerTable.take_changes` with `stateparts.encode_fields`: the records of the
        customers changed since the last checkpoint (the table's tail, oldest first,
        numbered on from `seq`) and the ids of those gone since. Only those slots are read,
        `CHECKPOINT_CHUNK` at a time, their records written by compiled code
        (`records.records`, docs/kernel.md (s))."""
        ids = changed_ids(self._newest_first(), self.touched)
        slot_of = self.table.slot_of
        changed: list[tuple[str, bytes]] = []
        with gc_paused():  # many small objects, no cycles: a collection only rescans them
            for lo in range(0, len(ids), CHECKPOINT_CHUNK):
                chunk = ids[lo:lo + CHECKPOINT_CHUNK]
                written = self._records([slot_of[cid] for cid in chunk], self.seq + lo)
                changed.extend(zip(chunk, written, strict=True))
        gone = sorted(self.table.gone)
        self.seq += len(changed)
        self.touched, self.table.gone = set(), set()
        return changed, gone

    def _records(self, entries: list[int], seq: int) -> list[bytes]:
        """The checkpoint records of the customers of `entries`, numbered from `seq`: those
        in a slot or parked as the kernel's bytes written from a slot, those parked as a
        restored record from its fields (`stateparts.encode_fields`)."""
        parked = self._parked
        cs = self._slot_of[entries]
        seqs = np.arange(seq, seq + len(entries), dtype=np.int64)
        out: list[bytes] = [b""] * len(entries)
        self._words.update(self.codes.values)
        live = np.flatnonzero(cs >= 0)
        for i, record in zip(live.tolist(), records.records(
                self._s, self._slots, cs[live], seqs[live], self._words), strict=True):
            out[i] = record
        copied = []
        for i in np.flatnonzero(cs < 0).tolist():
            held = parked[entries[i]]
            if parking.is_binary(held):
                copied.append(i)
            else:
                out[i] = encode_fields(seq + i, field_values(held))
        for lo, at in self._in_spare_slots([parked[entries[i]] for i in copied]):
            some = copied[lo:lo + len(at)]
            for i, record in zip(some, records.records(
                    self._s, self._slots, at, seqs[some], self._words), strict=True):
                out[i] = record
        return out

    def _in_spare_slots(self, held: list[bytes]) -> Iterator[tuple[int, np.ndarray]]:
        """Parked customers put into free slots `SPARE_CHUNK` at a time while the caller
        reads them (a checkpoint, a snapshot): each chunk's start in `held` and its slots,
        which are free again, in the order taken, when the next chunk is asked for: what
        is read never changes the state."""
        for lo in range(0, len(held), SPARE_CHUNK):
            chunk = held[lo:lo + SPARE_CHUNK]
            cs = self._take(len(chunk))
            at = np.array(cs, np.int64)
            try:
                self._put_back(chunk, at)
                yield lo, at
            finally:  # the hold pool's blocks and the free slots back in the order taken
                sl.reset_rows(self._slots, at[::-1])
                self._free.extend(reversed(cs))

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
        output) and the scratch buffers too (one of the two runs at a time); the parked
        customers' bytes shared (never changed). A memory copy, not an encoding: ~4.4 KB
        a customer in a slot (at most `hot_customers` and a batch's), a map entry for the
        others."""
        other = copy.copy(self)
        other.table = self.table.clone()
        other._slots = _copied(self._slots)
        other._pop = _copied(self._pop)
        other._cal = _copied(self._cal)
        other._categories = set(self._categories)
        other._ranks = self._ranks.copy()
        other.touched = set(self.touched)
        other._parked = dict(self._parked)
        other._slot_of, other._entry_of = self._slot_of.copy(), self._entry_of.copy()
        other._used, other._free = self._used.copy(), list(self._free)
        other._refs()
        return other

    def touch_all(self) -> None:
        """Count every customer as changed (the next checkpoint writes them all)."""
        self.touched = set(self.table.slot_of)

    @classmethod
    def of(cls, config: CoreConfig, table: CustomerTable | CustomerRecords, pop: Population,
           cal: Recalibration) -> KernelRows:
        """The kernel's state holding the core's objects, or a checkpoint's customer records
        (a restore). Every customer is **parked** (packed: records are each checked as
        read, `stateparts.record_values`): only the table's order and times are set, and a
        customer goes into a slot when next seen, so a restore's cost is the reading, not
        a slot filled for every customer, most of whom may not come back for days."""
        rows = cls(config)
        if isinstance(table, CustomerRecords):
            ids = [cid for cid, _ in table.records]
            packed = [pack_values(record_values(cid, data)) for cid, data in table.records]
            touched: set[str] = set()
            gone: set[str] = set()
        else:
            held = table.held()
            ids = [cid for cid, _ in held]
            packed = [h if isinstance(h, bytes) else pack(h) for _, h in held]
            touched, gone = set(table.touched), set(table.gone)
        entries = rows.table.restore(ids, [last_t(p) for p in packed])
        rows._parked = dict(zip(entries.tolist(), packed, strict=True))
        rows._grow_entries()
        rows.table.evicted = table.evicted
        rows.table.gone = gone
        rows.touched = touched
        rows.seq = table.seq
        rows._pop = kp.to_arrays(pop, rows.codes, config.max_population_keys)
        rows._cal = kc.to_arrays(cal)
        rows._refs()
        rows._grow_codes(np.zeros(0, np.int32))
        return rows


def _copied(arrays: A) -> A:
    """A NamedTuple of arrays with each array copied."""
    return type(arrays)(*(a.copy() for a in arrays))


#: Customers whose records a checkpoint writes at once (`take_records`): their floats'
#: text and records are held meanwhile (~2-5 KB each).
CHECKPOINT_CHUNK = 4096
#: Parked customers put into spare slots at once to be read (`_in_spare_slots`): the
#: slots grow by as many at most (~4.4 KB each), once.
SPARE_CHUNK = 512


ROW_LOOPS["kernel"] = KernelRows
