"""The core's row loop (`rowloop.score_rows` without the model), row by row, for the
kernel's parity tests: each row's observation, raw terms, reasons and wake, and the
customer's state and the population right after the row was learnt (live objects: read
them before the next row)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from detector.core.calibration import Recalibration
from detector.core.config import CoreConfig
from detector.core.features import Observation, event_seconds, observe
from detector.core.habits import learn, release
from detector.core.knobs import Knobs
from detector.core.lowtail import amount_z
from detector.core.state import CustomerState, Population
from detector.core.surprise import combine, fold_round, terms
from detector.core.table import CustomerTable
from producer.generator import GeneratorConfig, generate


@dataclass
class Row:
    tx: Any
    t: float
    obs: Observation
    raw: list[float]
    reasons: dict[str, str]
    wake: float
    values: list[float]
    total: float
    state: CustomerState
    pop: Population
    calibration: Recalibration


def exact(x: Any) -> Any:
    """`x` for an exact comparison: floats by their bits, dicts as their items in order,
    bytes and bytearrays alike, lists, tuples and arrays as lists."""
    if isinstance(x, float):
        return x.hex()
    if isinstance(x, dict):
        return [(k, exact(v)) for k, v in x.items()]
    if isinstance(x, bytearray | bytes):
        return bytes(x)
    if isinstance(x, list | tuple) or type(x).__name__ == "array":
        return [exact(v) for v in x]
    return x


def generated(seed: int, customers: int, days: int, late_every: int = 0) -> list[Any]:
    """The generator's default mix in time order; with `late_every`, one row in that many
    arrives after the next one."""
    txs = sorted(generate(GeneratorConfig(seed=seed, customers=customers, days=days)),
                 key=lambda t: t.timestamp)
    if late_every:
        for i in range(0, len(txs) - 1, late_every):
            txs[i], txs[i + 1] = txs[i + 1], txs[i]
    return txs


def core_rows(txs: list[Any], config: CoreConfig, pop: Population | None = None,
              before_terms: Callable[[Any, CustomerState, Population], None] | None = None
              ) -> Iterator[Row]:
    """`score_rows`' steps for each row of `txs` in order (one partition), from `pop` (a
    fresh population if none; it is learnt in place). `before_terms(tx, state, pop)` is
    called where the terms read the state (after the due held events were learnt)."""
    cfg = Knobs(config)
    table = CustomerTable(config)
    pop = Population() if pop is None else pop
    calibration = Recalibration(cfg.surprise_cap)
    for tx in txs:
        t = event_seconds(tx)
        st = table.get(tx.customer_id, t)
        release(st, pop, cfg, t)
        obs = observe(tx, t, st, pop, cfg)
        if before_terms is not None:
            before_terms(tx, st, pop)
        raw, reasons, wake = terms(t, st, pop, obs, cfg)
        values = calibration.apply(raw)
        fold_round(values, obs.round_extra, cfg)
        total = combine(values, cfg)
        if st.learnt >= cfg.min_history:
            calibration.learn(raw)
        if st.n and total - combine(values[:2], cfg) < cfg.quarantine_above:
            pop.learn_low(amount_z(st, obs, cfg)[0])
        learn(t, st, pop, cfg, obs, total, wake, values)
        yield Row(tx, t, obs, raw, reasons, wake, values, total, st, pop, calibration)
