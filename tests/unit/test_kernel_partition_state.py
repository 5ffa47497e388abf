"""detector/kernel/population.py and calibration.py: the partition's population and the
terms' recalibration into arrays and back are the same objects, field for field (floats to
the bit, dicts in insertion order), after realistic rows, from both state fixtures, and
with codes assigned in another order."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from detector.core.calibration import Recalibration
from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.state import Population
from detector.kernel import calibration, population
from detector.kernel.codes import Codes
from producer.generator import GeneratorConfig, generate
from tests.unit.state_stream import CONFIG

#: the engines these tests compare the kernel with run the core's own loop
pytestmark = pytest.mark.usefixtures("cores_own_loop")

DATA = Path(__file__).resolve().parents[1] / "data" / "state"


def _same(a: Any, b: Any) -> bool:
    if type(a).__name__ == "array" and type(b).__name__ == "array":
        return a.typecode == b.typecode and [x.hex() for x in a] == [x.hex() for x in b]
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return bool(a.hex() == b.hex())
    return bool(a == b)


def _check(pop: Population, cal: Recalibration, max_keys: int, cap: float,
           shuffle: int = 0) -> None:
    codes = Codes()
    if shuffle:
        words = sorted({w for t in pop.tables.values() for w in t} | set(pop.offsets))
        random.Random(shuffle).shuffle(words)
        for w in words:
            codes.code(w)
    back = population.from_arrays(population.to_arrays(pop, codes, max_keys), codes)
    for name in Population.FIELDS:
        x, y = getattr(pop, name), getattr(back, name)
        assert _same(x, y), f"Population.{name}: {x!r} came back as {y!r}"
    cal_back = calibration.from_arrays(calibration.to_arrays(cal), cap)
    for name in Recalibration.FIELDS:
        x, y = getattr(cal, name), getattr(cal_back, name)
        assert _same(x, y), f"Recalibration.{name}: {x!r} came back as {y!r}"


def test_after_realistic_rows() -> None:
    txs = sorted(generate(GeneratorConfig(seed=9, customers=200, days=14)),
                 key=lambda t: t.timestamp)
    config = CoreConfig(first_fit_after=10**9)
    engine = PartitionEngine(config, 0)
    for i in range(0, len(txs), 500):
        engine.verdicts(txs[i:i + 500])
    pop, cal = engine._population, engine._calibration
    # what makes the round trip hard is there
    assert len(pop.amount_ring) == Population.RING and pop.total > Population.RING
    assert pop.offsets and pop.gap_bands and len(pop.novelty) > 10
    assert any(len(v) == 3 for v in pop.novelty.values())
    assert cal.total >= Recalibration.MIN_ROWS
    _check(pop, cal, config.max_population_keys, config.surprise_cap)
    _check(pop, cal, config.max_population_keys, config.surprise_cap, shuffle=3)


def test_a_fresh_population_and_recalibration() -> None:
    _check(Population(), Recalibration(12.0), 16, 12.0)


def test_small_key_bounds_and_the_state_fixtures() -> None:
    for name in ("engine-format3.bin", "engine-format2.bin"):
        engine = PartitionEngine.restore((DATA / name).read_bytes(), CONFIG)
        _check(engine._population, engine._calibration, 16, CONFIG.surprise_cap)


def test_a_population_older_than_singles_keeps_it_absent() -> None:
    """A snapshot older than `singles` holds none (`_count` fills it on its first call):
    absent stays absent, and a partial one keeps its order."""
    pop = Population()
    pop.tables["device"] = {"a": 1, "b": 2}
    pop.singles = {}
    _check(pop, Recalibration(12.0), 16, 12.0)
    pop.singles = {"device": 1, "country": 0}
    _check(pop, Recalibration(12.0), 16, 12.0)


def test_a_recalibration_with_maps_and_a_halved_window() -> None:
    """Terms that surprise far too often get maps (points and slopes); past the window the
    counts are halved: both come back."""
    cal = Recalibration(12.0)
    rng = random.Random(1)
    for _ in range(1_000):
        cal.learn([rng.uniform(0.0, 9.0) if i % 3 == 0 else rng.expovariate(1.0)
                   for i in range(12)])
    assert any(len(p) == 2 for p in cal.shapes) and any(s != 1.0 for s in cal.scales)
    _check(Population(), cal, 16, 12.0)
    cal.total = Recalibration.WINDOW - 1
    cal.learn([1.0] * 12)
    _check(Population(), cal, 16, 12.0)
