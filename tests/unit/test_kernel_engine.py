"""The engine on the compiled kernel (`AUDITSTREAM_CORE=kernel`: detector/kernel/rows.py
and segment.py) against the engine on the core: every verdict, every incremental
checkpoint's records and the final snapshot equal, byte for byte, under default and small
bounds (eviction, expiry, full tables), late rows and refits; a snapshot or checkpoint of
either restores into the other and carries on identically, the state fixtures of earlier
releases included; the codes' values never change an output."""

from __future__ import annotations

import importlib.util
import os
import random
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from detector.core import compiled
from detector.core import engine as engine_module
from detector.core.calibration import TERMS
from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.features import ipnet
from detector.kernel import rows as rows_module
from detector.kernel import slots as sl
from detector.kernel.codes import Codes
from detector.kernel.rows import KernelRows
from tests.ci import IN_CI
from tests.unit import state_stream
from tests.unit.kernel_rows import generated

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")

DATA = Path(__file__).resolve().parents[1] / "data" / "state"
_ENCODE = msgspec.json.Encoder()


def _engine(monkeypatch: pytest.MonkeyPatch, core: str, config: CoreConfig,
            snapshot: bytes | None = None) -> PartitionEngine:
    monkeypatch.setenv("AUDITSTREAM_CORE", core)
    engine = (PartitionEngine(config, 0) if snapshot is None
              else PartitionEngine.restore(snapshot, config))
    assert (engine._kernel is not None) == (core == "kernel")
    return engine


def _rows(engine: PartitionEngine) -> KernelRows:
    assert engine._kernel is not None
    return engine._kernel  # type: ignore[no-any-return]


def _widenings(monkeypatch: pytest.MonkeyPatch) -> list[sl.Dims]:
    """The capacities `slots.widen` is asked for from now on."""
    widened: list[sl.Dims] = []
    widen = sl.widen

    def spy(slots: Any, dims: sl.Dims) -> Any:
        widened.append(dims)
        return widen(slots, dims)

    monkeypatch.setattr(sl, "widen", spy)
    return widened


def _checkpoint(engine: PartitionEngine, full: bool = False) -> Any:
    c = engine.checkpoint(full)
    return (c.customers, c.removed, c.parts, c.count)


def _run(engine: PartitionEngine, txs: list[Any], batch: int,
         every: int = 0) -> tuple[list[bytes], list[Any]]:
    """Verdicts (encoded) in batches of `batch`, with an incremental checkpoint after
    every `every` batches."""
    out: list[bytes] = []
    checkpoints = []
    for n, i in enumerate(range(0, len(txs), batch)):
        out += [_ENCODE.encode(v) for v in engine.verdicts(txs[i:i + batch])]
        if every and n % every == every - 1:
            checkpoints.append(_checkpoint(engine))
    return out, checkpoints


CASES = {
    "few in slots": ({"hot_customers": 5, "max_customers": 45, "customer_ttl_s": 3 * 86400.0,
                      "refit_every": 1500, "refit_delay": 300, "first_fit_after": 1000},
                     dict(seed=6, customers=60, days=10, late_every=17)),
    "defaults, refits": ({"refit_every": 1500, "refit_delay": 0, "first_fit_after": 1000},
                         dict(seed=3, customers=80, days=10)),
    "late rows": ({"first_fit_after": 10**9}, dict(seed=4, customers=60, days=8,
                                                   late_every=7)),
    "small bounds": ({"max_customers": 25, "customer_ttl_s": 86400.0, "max_seen": 3,
                      "max_population_keys": 16, "first_fit_after": 10**9},
                     dict(seed=5, customers=60, days=8, late_every=11)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_verdicts_checkpoints_and_snapshots_equal_the_cores(
        monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    overrides, data = CASES[name]
    config = CoreConfig.model_validate(overrides)
    txs = generated(**data)
    core = _engine(monkeypatch, "python", config)
    want, want_cps = _run(core, txs, 137, every=3)
    kernel = _engine(monkeypatch, "kernel", config)
    got, got_cps = _run(kernel, txs, 137, every=3)
    assert len(got) == len(txs)
    assert [i for i, (a, b) in enumerate(zip(want, got, strict=True)) if a != b] == []
    assert got_cps == want_cps
    assert kernel.snapshot() == core.snapshot()
    assert kernel.customers == core.customers
    s = _rows(kernel)._slots  # the hold pool: a block for each customer holding events
    owned = s.pend_at[s.pend_at >= 0].tolist()
    assert len(set(owned)) == len(owned) == int((s.pend_len > 0).sum())
    assert len(owned) + sl.free_blocks(s) == len(s.pend_r) <= len(s.n)
    if name == "small bounds":  # the table really evicted and expired customers
        assert core._customers.evicted > 0 and any(cp[1] for cp in want_cps)
    if name == "few in slots":  # customers parked beyond `hot_customers`, slots reused
        rows = _rows(kernel)
        assert len(rows._parked) == kernel.customers - 5 and rows.table.evicted > 0
        in_slots = {rows.table.id_of[e] for e in rows._entry_of.tolist() if e >= 0}
        latest = list(dict.fromkeys(tx.customer_id for tx in reversed(txs)))[:5]
        assert in_slots == set(latest)  # the most recently seen
    assert _checkpoint(kernel, full=True) == _checkpoint(core, full=True)


def test_batches_never_change_an_output(monkeypatch: pytest.MonkeyPatch) -> None:
    config = CoreConfig(max_customers=30, customer_ttl_s=43200.0, first_fit_after=10**9)
    txs = generated(seed=6, customers=50, days=6, late_every=5)
    one, _ = _run(_engine(monkeypatch, "kernel", config), txs, 1)
    many, _ = _run(_engine(monkeypatch, "kernel", config), txs, 997)
    assert one == many


@pytest.mark.parametrize(("first", "then"), [("python", "kernel"), ("kernel", "python"),
                                             ("kernel", "kernel")])
def test_a_snapshot_and_a_checkpoint_carry_on_across_cores(
        monkeypatch: pytest.MonkeyPatch, first: str, then: str) -> None:
    config = CoreConfig(refit_every=1200, refit_delay=0, first_fit_after=800,
                        max_customers=40)
    txs = generated(seed=7, customers=60, days=8, late_every=13)
    half = len(txs) // 2 + 61
    whole, _ = _run(_engine(monkeypatch, "python", config), txs, 250)
    engine = _engine(monkeypatch, first, config)
    before, _ = _run(engine, txs[:half], 250)
    changes = engine.checkpoint(full=True)
    snap = engine.snapshot()
    restored = _engine(monkeypatch, then, config, snap)
    after, _ = _run(restored, txs[half:], 250)
    assert before + after == whole
    monkeypatch.setenv("AUDITSTREAM_CORE", then)
    resumed = PartitionEngine.resume(
        {k: v for k, v in changes.parts.items() if v is not None}, changes.customers, config)
    again, _ = _run(resumed, txs[half:], 250)
    assert before + again == whole
    assert resumed.snapshot() == restored.snapshot()


@pytest.mark.parametrize("fixture", ["engine-format3.bin", "engine-format2.bin"])
def test_the_state_fixtures_of_earlier_releases_carry_on_in_the_kernel(
        monkeypatch: pytest.MonkeyPatch, fixture: str) -> None:
    data = (DATA / fixture).read_bytes()
    txs = state_stream.stream(700, seed=9)
    core = _engine(monkeypatch, "python", state_stream.CONFIG, data)
    kernel = _engine(monkeypatch, "kernel", state_stream.CONFIG, data)
    assert kernel.customers == core.customers == 30
    assert _run(kernel, txs, 64) == _run(core, txs, 64)
    assert kernel.snapshot() == core.snapshot()


def test_a_restore_widens_for_a_snapshot_of_larger_bounds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A snapshot written under larger bounds, restored under smaller ones: every customer
    parked, the slots widen as customers come back with longer lists, and the kernel
    carries on as the core does with the same snapshot; a checkpoint reads its customers a
    few at a time (`CHECKPOINT_CHUNK`)."""
    wide = CoreConfig(first_fit_after=10**9, max_seen=12, amount_history=32, context_size=8)
    narrow = CoreConfig(first_fit_after=10**9, max_seen=3, amount_history=4, context_size=2)
    txs = generated(seed=10, customers=50, days=8, late_every=9)
    half = len(txs) // 2
    engine = _engine(monkeypatch, "python", wide)
    _run(engine, txs[:half], 300)
    snap = engine.snapshot()
    monkeypatch.setattr(rows_module, "CHECKPOINT_CHUNK", 7)
    widened = _widenings(monkeypatch)
    core = _engine(monkeypatch, "python", narrow, snap)
    kernel = _engine(monkeypatch, "kernel", narrow, snap)
    assert len(_rows(kernel)._parked) == kernel.customers == 50 and not widened
    assert len(kernel._customers) == 0
    assert kernel.snapshot() == core.snapshot() == snap
    assert _run(kernel, txs[half:], 7) == _run(core, txs[half:], 300)  # a few at a time
    dims = sl.dims_of(_rows(kernel)._slots)
    assert dims.a > 4 and dims.k > 3 and dims.x > 2  # widened to the snapshot's lists
    assert widened
    assert kernel.snapshot() == core.snapshot()
    # a checkpoint reads its customers in the same chunks: numbered on across them
    assert _checkpoint(kernel, full=True) == _checkpoint(core, full=True)


def test_a_resumed_checkpoint_parks_its_customers_until_each_is_seen_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint resumed into the kernel fills no slot: each customer's record waits,
    parked, until the customer is seen again, then goes into its slot (widened when the
    record was written under larger bounds); one dropped meanwhile (expired, evicted)
    leaves no record behind for the next customer of its slot. Verdicts, checkpoints and
    snapshots stay the core's throughout."""
    bounds = {"first_fit_after": 10**9, "max_customers": 40, "customer_ttl_s": 2 * 86400.0}
    wide = CoreConfig(**bounds, max_seen=12, amount_history=32, context_size=8)
    narrow = CoreConfig(**bounds, max_seen=3, amount_history=4, context_size=2)
    txs = generated(seed=10, customers=50, days=8, late_every=9)
    half = len(txs) // 2
    writer = _engine(monkeypatch, "python", wide)
    _run(writer, txs[:half], 300)
    changes = writer.checkpoint(full=True)
    parts = {k: v for k, v in changes.parts.items() if v is not None}
    engines = {}
    for name in ("python", "kernel"):
        monkeypatch.setenv("AUDITSTREAM_CORE", name)
        engines[name] = PartitionEngine.resume(parts, changes.customers, narrow)
    core, kernel = engines["python"], engines["kernel"]
    rows = _rows(kernel)
    restored = set(rows.table.slot_of)
    assert len(rows._parked) == len(restored) == core.customers == 40
    widened = _widenings(monkeypatch)
    assert kernel.snapshot() == core.snapshot()  # parked customers read from their records
    assert _checkpoint(kernel, full=True) == _checkpoint(core, full=True)  # and written
    assert not widened and len(rows._parked) == 40
    seen: set[str] = set()
    for lo in range(half, len(txs), 60):
        batch = txs[lo:lo + 60]
        assert _run(kernel, batch, 60) == _run(core, batch, 60)
        seen |= {tx.customer_id for tx in batch}
        slot_of, id_of = rows.table.slot_of, rows.table.id_of
        parked = {id_of[c] for c in rows._parked}
        assert parked == {cid for cid in restored - seen if cid in slot_of}
        if lo == half:
            assert parked and widened  # some wait, some came back with longer lists
    assert not rows._parked and rows.table.evicted > 0  # each seen again or dropped
    assert kernel.snapshot() == core.snapshot()
    assert _checkpoint(kernel) == _checkpoint(core)


def test_the_codes_values_never_change_an_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Codes are per engine and not stored: an encoder that gave every string another
    code (seeded in a shuffled order) scores the same."""
    config = CoreConfig(first_fit_after=10**9)
    txs = generated(seed=8, customers=40, days=6)
    plain = _engine(monkeypatch, "kernel", config)
    want, _ = _run(plain, txs, 300)
    strings = sorted({s for tx in txs for s in (tx.country, tx.device, tx.channel,
                                                tx.merchant_category, ipnet(tx.ip))}
                     | set(_rows(plain).codes.values))
    assert len(strings) == len(_rows(plain).codes.values)
    random.Random(1).shuffle(strings)
    codes = Codes()
    for s in strings:
        codes.code(s)
    seeded = _engine(monkeypatch, "kernel", config)
    seeded._kernel = KernelRows(config, codes=codes)
    assert codes.values != _rows(plain).codes.values
    got, _ = _run(seeded, txs, 300)
    assert got == want
    assert seeded.snapshot() == plain.snapshot()


def test_the_kernel_without_numba_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without numba the kernel's module is not imported (`engine.row_loop`): the engine
    says what is missing."""
    monkeypatch.setattr(engine_module, "ROW_LOOPS", {})
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "numba" else find_spec(name, *a))
    monkeypatch.setenv("AUDITSTREAM_CORE", "kernel")
    with pytest.raises(RuntimeError, match="AUDITSTREAM_CORE=kernel needs numba"):
        PartitionEngine(CoreConfig(), 0)
    monkeypatch.setenv("AUDITSTREAM_CORE", " Kernel ")
    assert compiled.kernel_wanted()
    # the detector service refuses at its start, in one line, before it connects
    from detector.app import run_service
    from detector.settings import DetectorSettings
    from detector.txn import DetectorError

    with pytest.raises(DetectorError, match="AUDITSTREAM_CORE=kernel needs numba"):
        run_service(DetectorSettings(instance_id="t"))
    # unset, the default falls back to the core's own loop: the same outputs, no refusal
    monkeypatch.delenv("AUDITSTREAM_CORE")
    assert not compiled.kernel_wanted()
    assert PartitionEngine(CoreConfig(), 0)._kernel is None


@pytest.mark.parametrize(("value", "kernel"), [
    (None, True), ("", True), ("  ", True), ("kernel", True), (" Kernel ", True),
    ("compiled", False), ("COMPILED", False), ("python", False)])
def test_the_switch_chooses_the_row_loop(monkeypatch: pytest.MonkeyPatch, value: str | None,
                                         kernel: bool) -> None:
    """Unset or blank: the kernel (numba is a dependency); `compiled` and `python`: the
    core's own loop, as built or as Python."""
    if value is None:
        monkeypatch.delenv("AUDITSTREAM_CORE", raising=False)
    else:
        monkeypatch.setenv("AUDITSTREAM_CORE", value)
    assert compiled.kernel_wanted() is kernel
    assert (PartitionEngine(CoreConfig(), 0)._kernel is not None) is kernel


@pytest.mark.parametrize("value", ["kernal", "mypyc", "core", "numba", "1"])
def test_any_other_switch_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                                  value: str, tmp_path: Path) -> None:
    """A typo must not run a core nobody asked for: the engine, the detector service
    (before it connects) and `score` (before any file) refuse it, exit 2."""
    from detector.app import run_service
    from detector.settings import DetectorSettings
    from detector.txn import DetectorError
    from shared.errors import ExitCode

    monkeypatch.setenv("AUDITSTREAM_CORE", value)
    said = f"AUDITSTREAM_CORE must be one of kernel, compiled, python or unset .*'{value}'"
    with pytest.raises(compiled.SwitchError, match=said):
        PartitionEngine(CoreConfig(), 0)
    with pytest.raises(DetectorError, match=said) as refused:
        run_service(DetectorSettings(instance_id="t"))
    assert refused.value.exit_code == ExitCode.USAGE
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    source = tmp_path / "in.csv"
    source.write_text("transaction_id\n")
    done = subprocess.run([sys.executable, "-m", "auditstream", "score", str(source), "--out",
                           str(tmp_path / "out")], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert "AUDITSTREAM_CORE must be one of" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_an_engine_loads_the_kernel_when_asked_and_nothing_before(tmp_path: Path) -> None:
    """A process on the kernel (asked for, or by default) runs it without importing it
    itself: the first engine loads it (`engine.row_loop`). Importing the detector package
    loads neither it nor numba (it did: before `python -m detector` had checked its
    environment or set up its signals); on the core's own loop nothing loads it."""
    code = ("import sys; import detector, detector.core.config; "
            "print(any(m in sys.modules for m in ('numba', 'detector.kernel.rows'))); "
            "from detector.core.engine import PartitionEngine; "
            "from detector.core.config import CoreConfig; "
            "e = PartitionEngine(CoreConfig(), 0); "
            "print(e._kernel is not None, 'detector.kernel.rows' in sys.modules)")
    root = str(Path(__file__).resolve().parents[2])
    for core, want in (("kernel", "False True True"), ("", "False True True"),
                       ("compiled", "False False False"), ("python", "False False False")):
        env = {**os.environ, "AUDITSTREAM_CORE": core, "PYTHONPATH": root}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True, cwd=tmp_path)
        assert out.stdout.split() == want.split()


def test_ties_of_age_are_ordered_by_category_string(monkeypatch: pytest.MonkeyPatch) -> None:
    """A late purchase as far from an earlier one as from a later one in another category:
    the core orders the two by category string ("atm" before "zoo"), whatever their
    arrival and codes; the kernel's ranks must follow new categories as they come
    (tests/unit/test_kernel_variety.py has the term alone). Compared on every raw term."""
    config = CoreConfig(first_fit_after=10**9, variety_window_s=3600.0, prior_weight=0.1)
    background = generated(seed=9, customers=30, days=3)
    start = background[-1].timestamp + timedelta(hours=1)
    tie = [background[0].model_copy(update={
        "transaction_id": f"tie{i}", "customer_id": "tie", "merchant_category": category,
        "timestamp": start + timedelta(seconds=seconds)})
        for i, (seconds, category) in enumerate(
            [(800, "zoo"), (900, "zoo"), (1100, "atm"), (1000, "zoo")])]
    taps = []
    for core in ("python", "kernel"):
        engine = _engine(monkeypatch, core, config)
        engine.verdicts(background)
        engine.tap = []
        engine.verdicts(tie)
        taps.append([[x.hex() for x in raw] for raw, _, _, _ in engine.tap])
    assert taps[0] == taps[1]
    # the shell keeps the ranks as categories come
    code = _rows(engine).codes.codes
    assert _rows(engine)._ranks[code["atm"]] < _rows(engine)._ranks[code["zoo"]]
    assert taps[0][3][TERMS.index("rate")] != (0.0).hex()  # the tie is counted
    # and after a checkpoint resumed before the tie (every customer parked): the
    # categories only a parked customer's record holds ("atm") are ranked when it comes
    # back
    writer = _engine(monkeypatch, "python", config)
    writer.verdicts([*background, *tie[:3]])
    changes = writer.checkpoint(full=True)
    parts = {k: v for k, v in changes.parts.items() if v is not None}
    resumed_taps = []
    for core in ("python", "kernel"):
        monkeypatch.setenv("AUDITSTREAM_CORE", core)
        engine = PartitionEngine.resume(parts, changes.customers, config)
        engine.tap = []
        engine.verdicts(tie[3:])
        resumed_taps.append([[x.hex() for x in raw] for raw, _, _, _ in engine.tap])
    assert resumed_taps[0] == resumed_taps[1] == taps[0][3:]
    code = _rows(engine).codes.codes
    assert _rows(engine)._ranks[code["atm"]] < _rows(engine)._ranks[code["zoo"]]
