"""`PartitionEngine.clone`: careful isolation's savepoint (detector.isolation), an
independent copy in memory in place of `restore(snapshot())`. On the core and on the
kernel, under eviction, expiry, packed customers, late rows and fits under way: the copy
carries on exactly as the engine would (verdicts, checkpoints, snapshots), and neither
moves when the other goes on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import pytest

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.isolation import Careful
from detector.partition import PartitionState
from tests.poison_engine import POISON, Picky, SnapshotsOnly, restorer
from tests.unit import cores
from tests.unit.kernel_rows import generated

_ENCODE = msgspec.json.Encoder()

CASES = {
    "fits under way": ({"first_fit_after": 100, "refit_every": 150, "refit_delay": 100,
                        "n_trees": 10, "sample_size": 256}, dict(seed=3, customers=50, days=6)),
    "small bounds, packed": ({"max_customers": 25, "customer_ttl_s": 86400.0, "max_seen": 3,
                              "hot_customers": 4, "max_population_keys": 16,
                              "first_fit_after": 10**9},
                             dict(seed=5, customers=60, days=8, late_every=11)),
}


@pytest.fixture(params=cores.CORES)
def core(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    return cores.use(request.param, monkeypatch)


def _go(engine: PartitionEngine, txs: Sequence[Any]) -> tuple[list[bytes], Any, bytes]:
    """Verdicts in batches of 97, then an incremental checkpoint, then a snapshot."""
    out = [_ENCODE.encode(v) for i in range(0, len(txs), 97)
           for v in engine.verdicts(txs[i:i + 97])]
    c = engine.checkpoint()
    return out, (c.customers, c.removed, c.parts, c.count), engine.snapshot()


@pytest.mark.parametrize("name", list(CASES))
def test_a_clone_carries_on_as_the_engine_and_neither_moves_the_other(
        core: str, name: str) -> None:
    overrides, data = CASES[name]
    config = CoreConfig.model_validate(overrides)
    txs = generated(**data)
    k = len(txs) // 2
    engine = PartitionEngine(config, 0)
    assert (engine._kernel is not None) == (core == "kernel")
    _go(engine, txs[:k // 2])
    engine.verdicts(txs[k // 2:k])  # customers touched since that checkpoint
    before = engine.snapshot()
    under_way = bool(engine._refits.pending)
    mine, kept = engine.clone(), engine.clone()
    theirs = _go(mine, txs[k:])
    assert engine.snapshot() == before  # the clone's work left the engine as it was
    assert _go(engine, txs[k:]) == theirs  # which then goes the same way
    assert kept.snapshot() == before  # and the engine's left the other clone as it was
    if name == "small bounds, packed":  # the table really evicted and expired customers
        assert (engine._kernel or engine._customers).evicted > 0
    else:  # a fit started before the copy took over after it, and more followed
        assert under_way and engine._refits.fits >= 4


@pytest.mark.parametrize("at", [0, 5, 63])
def test_careful_isolation_by_clones_equals_isolation_by_snapshots(core: str, at: int) -> None:
    """The same verdicts, the same record dead-lettered and the same engine after it, and
    no snapshot taken when the engine can clone itself."""
    config = CoreConfig.model_validate(CASES["small bounds, packed"][0])
    txs = generated(seed=7, customers=40, days=4)
    first, rest = txs[:200], txs[200:264]
    rest[at] = rest[at].model_copy(update={"amount": POISON})
    results = []
    for kind in (Picky, SnapshotsOnly):
        engine = kind(config, 0)
        engine.verdicts(first)
        holder = PartitionState(engine, 0)
        Picky.counts = {}
        out = Careful(holder, restorer(kind, config)).run(rest)
        assert ("snapshots" in Picky.counts) == (kind is SnapshotsOnly)
        results.append(([type(r).__name__ if isinstance(r, Exception) else _ENCODE.encode(r)
                         for r in out], holder.engine.snapshot()))
    assert results[0] == results[1]
    assert [i for i, r in enumerate(results[0][0]) if r == "OverflowError"] == [at]
