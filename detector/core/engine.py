"""One partition's detector: features, rules, model and reasons, in arrival order.

`PartitionEngine.process` is a pure function of everything the engine has seen: how the
stream is cut into batches never changes an output (features are updated row by row; the
model is called once per batch segment between fit and takeover points, detector.core.refit),
and `restore(snapshot())` carries on exactly where the snapshotted engine stood.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import orjson

from detector.core import compiled, stateformat, stateparts
from detector.core.config import CoreConfig
from detector.core.knobs import Knobs
from detector.core.model import RULES_ONLY, FeatureSample, FittedModel
from detector.core.refit import Refits
from detector.core.rowloop import MODEL_FEATURES, Pending, Tap, score_rows, verdicts
from detector.core.state import Population
from detector.core.surprise import Recalibration
from detector.core.table import CustomerTable
from detector.core.verdict import scored_fields
from shared.schemas import ScoredTransaction, TransactionView

#: Shared by every output row: frozen rows never change it (model_copy copies it).
_FIELDS_SET = set(ScoredTransaction.model_fields)


def scored_row(data: dict[str, Any]) -> ScoredTransaction:
    """`ScoredTransaction.model_construct` for a complete field dict, without its overhead
    (every value here is already valid: the input was validated, the rest we computed)."""
    row = ScoredTransaction.__new__(ScoredTransaction)
    object.__setattr__(row, "__dict__", data)
    object.__setattr__(row, "__pydantic_fields_set__", _FIELDS_SET)
    object.__setattr__(row, "__pydantic_extra__", None)
    object.__setattr__(row, "__pydantic_private__", None)
    return row


#: Row loops other than the core's own, by name: each registers itself when its module is
#: imported (`ROW_LOOP_MODULES`), which `row_loop` does when first asked. The detector
#: package imported the kernel itself before: before any command had checked its
#: environment or set up its signals (a traceback for a bad SOURCE_DATE_EPOCH, which
#: scipy reads, or a SIGTERM while it loaded).
ROW_LOOPS: dict[str, Any] = {}
ROW_LOOP_MODULES: dict[str, str] = {"kernel": "detector.kernel.rows"}


def row_loop(name: str) -> Any:
    """The row loop `name` (`ROW_LOOPS`), its module imported the first time;
    `compiled.KernelMissing` saying what to do when numba is missing."""
    loop = ROW_LOOPS.get(name)
    if loop is None and importlib.util.find_spec("numba") is not None:
        importlib.import_module(ROW_LOOP_MODULES[name])
        loop = ROW_LOOPS.get(name)
    if loop is None:
        raise compiled.KernelMissing(f"{compiled.SWITCH}={name} needs numba and detector.kernel "
                           "(numba is a dependency of auditstream: reinstall it, or "
                           f"set {compiled.SWITCH}=compiled to run the core's own loop)")
    return loop


def load_core() -> None:
    """`AUDITSTREAM_CORE` checked, and the kernel loaded when it is the core that runs, ahead
    of any engine (a command refuses before its work starts): `compiled.CoreUnavailable`
    when that core cannot run here."""
    if compiled.kernel_wanted():
        row_loop("kernel")


def _kernel_rows(config: CoreConfig,
                 table: CustomerTable | stateparts.CustomerRecords | None = None,
                 pop: Population | None = None, cal: Recalibration | None = None) -> Any:
    loop = row_loop("kernel")
    if table is None or pop is None or cal is None:
        return loop(config)
    return loop.of(config, table, pop, cal)


class PartitionEngine:
    """Detector state and logic for one partition (one engine per partition)."""

    def __init__(self, config: CoreConfig, partition: int | None = None) -> None:
        """`partition`, when given, is stamped on every output with the row's 0-based
        position in it as `source_offset` (offline scoring; the streaming shell stamps the
        real Kafka offsets instead)."""
        self.config = config
        # what the per-row code reads: native fields, not the pydantic model (never stored)
        self._knobs = Knobs(config)
        self.partition = partition
        self._customers = CustomerTable(config)
        self._population = Population()
        self._calibration = Recalibration(config.surprise_cap)
        self._sample = FeatureSample(config.sample_size, len(MODEL_FEATURES))
        self._model: FittedModel | None = None
        self._refits = Refits(config)
        self._processed = 0
        #: When a list, every row's terms are appended to it as scored (`rowloop.Tap`):
        #: for measuring (bench/term_calibration.py) and tests; None in service.
        self.tap: Tap | None = None
        #: The kernel's row loop and state (`AUDITSTREAM_CORE=kernel`), which then holds
        #: the customers, population and recalibration in place of the three above.
        self._kernel = _kernel_rows(config) if compiled.kernel_wanted() else None
        #: The model and its checkpoint record (`stateparts.model_part`), encoded once a
        #: model: it was written anew at every checkpoint (docs/benchmarks.md).
        self._model_record: tuple[FittedModel | None, bytes] | None = None

    @property
    def processed(self) -> int:
        """Transactions processed so far (the next row's 0-based position)."""
        return self._processed

    @property
    def model_version(self) -> str:
        return self._model.version if self._model else RULES_ONLY

    @property
    def customers(self) -> int:
        return len(self._kernel if self._kernel is not None else self._customers)

    def close(self) -> None:
        """Wait for a model still being fitted in the background (detector.core.refit)."""
        self._refits.close()

    def process(self, txs: Sequence[TransactionView]) -> list[ScoredTransaction]:
        """Score `txs` in order (each against earlier rows only); one scored row per input."""
        return [scored_row(scored_fields(tx, v))
                for tx, v in zip(txs, self.verdicts(txs), strict=True)]

    def verdicts(self, txs: Sequence[TransactionView]) -> list[Any]:
        """`process` without building the rows: each input's `Verdict`, in order."""
        cfg = self._knobs
        table, pop, sample = self._customers, self._population, self._sample
        calibration = self._calibration
        pending: list[Pending] = []
        # the model's input rows: the kernel writes them straight into the batch's matrix;
        # the core's row loop appends a tuple per row
        vectors: Any = (np.empty((len(txs), len(MODEL_FEATURES))) if self._kernel is not None
                        else [])
        segments: list[tuple[int, int, FittedModel | None]] = []
        start = added = 0
        first = self._processed
        refits = self._refits
        kernel = self._kernel
        event = refits.next_event(first)
        n = len(txs)
        i = 0
        while i < n:
            if first + i == event:  # a fit starts and/or a model takes over (detector.core.refit)
                segments.append((start, i, self._model))
                sample.extend(vectors[added:i])
                added = start = i
                self._model = refits.step(first + i, sample) or self._model
                event = refits.next_event(first + i + 1)
            # the rows before the next event (an event behind never comes: as row by row)
            stop = min(n, event - first) if event > first + i else n
            if kernel is not None:
                kernel.score_rows(txs, i, stop, first, pending, vectors, self.tap)
            else:
                score_rows(txs, i, stop, first, table, pop, calibration, cfg, pending,
                           vectors, self.tap)
            i = stop
        self._processed = first + len(txs)
        segments.append((start, len(txs), self._model))
        if added < n:
            sample.extend(vectors[added:n])
        strengths = np.zeros(len(txs))
        walk = None if kernel is None else kernel.walk
        if n:
            matrix = np.asarray(vectors, dtype=np.float64)
            for a, b, model in segments:
                if model is not None and b > a:
                    strengths[a:b] = model.strength(matrix[a:b], walk)
        return verdicts(pending, strengths, segments, self.partition, self._knobs)

    def _state(self) -> tuple[CustomerTable, Population, Recalibration]:
        """The customers, population and recalibration as the core's objects (the
        kernel's exported)."""
        if self._kernel is not None:
            return self._kernel.export()  # type: ignore[no-any-return]
        return self._customers, self._population, self._calibration

    def snapshot(self) -> bytes:
        """The engine's whole state in the explicit, versioned format (`stateformat`)."""
        customers, population, calibration = self._state()
        return stateformat.encode(
            partition=self.partition, processed=self._processed, fits=self._refits.fits,
            customers=customers, population=population,
            calibration=calibration, sample=self._sample, model=self._model,
            pending=self._refits.pending)

    def clone(self) -> PartitionEngine:
        """An independent copy in memory that carries on exactly as this engine would:
        careful isolation's savepoint (detector.isolation). `restore(snapshot())` gives the
        same engine, but encodes every customer known and refits the model: ~14 s at
        100,000 customers on the kernel, against a copy of its arrays (bench/careful_bench.py).
        The model and the fits under way are shared (neither changes once made)."""
        other = copy.copy(self)
        if self._kernel is not None:
            other._kernel = self._kernel.clone()
        else:
            other._customers = self._customers.clone()
            other._population = Population()
            stateformat._set_fields(other._population, orjson.loads(orjson.dumps(
                stateformat._fields_of(self._population, stateformat.POPULATION_CODECS))),
                stateformat.POPULATION_CODECS)
            other._calibration = Recalibration(self.config.surprise_cap)
            stateformat._set_fields(other._calibration, orjson.loads(orjson.dumps(
                stateformat._fields_of(self._calibration, {}))), {})
        other._sample = FeatureSample(*self._sample.rows.shape)
        other._sample.rows, other._sample.count = self._sample.rows.copy(), self._sample.count
        other._refits = copy.copy(self._refits)
        other._refits.pending = list(self._refits.pending)
        return other

    def checkpoint(self, full: bool = False) -> stateparts.Changes:
        """The records of an incremental checkpoint: customers changed since the previous
        one (every customer if `full`), those gone since, and the other parts whole."""
        kernel = self._kernel
        customers: stateparts.Counts
        if kernel is None:
            if full:
                self._customers.touch_all()
            changed, gone = self._customers.take_changes(stateparts.encode_customer)
            customers, population, calibration = (self._customers, self._population,
                                                  self._calibration)
        else:
            if full:
                kernel.touch_all()
            changed, gone = kernel.take_records()
            customers, population, calibration = (kernel, kernel.population(),
                                                  kernel.calibration())
        return stateparts.Changes(
            customers=changed,
            removed=gone,
            parts=stateparts.encode_parts(
                partition=self.partition, processed=self._processed, fits=self._refits.fits,
                customers=customers, population=population,
                calibration=calibration, sample=self._sample, model=self._model,
                pending=self._refits.pending, model_record=self._model_part()),
            count=len(customers))

    def _model_part(self) -> bytes:
        """The model's checkpoint record, made again only when the model is another."""
        made = self._model_record
        if made is None or made[0] is not self._model:
            made = self._model_record = (self._model, stateparts.model_part(self._model))
        return made[1]

    @classmethod
    def resume(cls, parts: dict[str, bytes], customers: Iterable[tuple[str, bytes]],
               config: CoreConfig) -> PartitionEngine:
        """An engine that continues exactly where the one checkpointed stood: its latest
        parts and the latest record of each customer (`stateparts`)."""
        return cls._from(stateparts.decode(parts, customers, config,
                                           records=compiled.kernel_wanted()), config)

    @classmethod
    def restore(cls, data: bytes, config: CoreConfig) -> PartitionEngine:
        """An engine that continues exactly where the snapshotted one stood (format 3, or
        format 2 written before it, read once on the upgrade)."""
        if data.startswith(stateformat.MAGIC):
            parts = stateformat.decode(data, config)
        else:  # read once on an upgrade: its scikit-learn only then, not at every start
            from detector.core import legacy

            parts = legacy.read(data, config)
        return cls._from(parts, config)

    @classmethod
    def _from(cls, parts: dict[str, Any], config: CoreConfig) -> PartitionEngine:
        engine = cls(config, parts["partition"])
        engine._customers = parts["customers"]
        engine._population = parts["population"]
        engine._calibration = parts["calibration"]
        engine._sample = parts["sample"]
        engine._model = parts["model"]
        engine._refits = Refits(config, parts["fits"], parts.get("pending"), parts["processed"])
        engine._processed = parts["processed"]
        if engine._kernel is not None:
            engine._kernel = _kernel_rows(config, engine._customers, engine._population,
                                          engine._calibration)
            engine._customers = CustomerTable(config)
            engine._population = Population()
            engine._calibration = Recalibration(config.surprise_cap)
        return engine
