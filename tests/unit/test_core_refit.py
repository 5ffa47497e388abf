"""Background refits (detector/core/refit.py): a model fitted at fit point F takes over at
F + D exactly, whatever the batches, the timing or a checkpoint/restore in between."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detector.core import refit
from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.model import FittedModel, fit_rows
from shared.schemas import ScoredTransaction, Transaction
from tests.unit.test_core_engine import FAST, run, stream, verdicts

#: Fit points 300, 800, 1300; with D = 120 the models take over at 300 (the first fit is
#: synchronous: there is no model before it), 920, 1420.
D = 120
DELAYED = FAST.model_copy(update={"refit_delay": D})
DATA = Path(__file__).resolve().parents[1] / "data" / "state"


@pytest.fixture(scope="module")
def rows() -> list[Transaction]:
    return stream()


@pytest.fixture(scope="module")
def delayed(rows: list[Transaction]) -> list[ScoredTransaction]:
    return run(rows, DELAYED)


@pytest.fixture(scope="module")
def synchronous(rows: list[Transaction]) -> list[ScoredTransaction]:
    return run(rows, FAST)


def _refit_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("refit-")]


def test_each_model_takes_over_exactly_d_rows_after_its_fit_point(
        delayed: list[ScoredTransaction]) -> None:
    versions = [r.model_version for r in delayed]
    assert versions[299:301] == ["rules-only", "if-v1"]  # the first fit: at once
    assert delayed[299].model_score is None and delayed[300].model_score is not None
    assert versions[799:801] == ["if-v1"] * 2  # refit point 800: nothing changes yet
    assert (versions[800 + D - 1], versions[800 + D]) == ("if-v1", "if-v2")
    assert (versions[1300 + D - 1], versions[1300 + D]) == ("if-v2", "if-v3")


def test_the_delayed_model_is_the_forest_a_synchronous_fit_gives(
        rows: list[Transaction], delayed: list[ScoredTransaction],
        synchronous: list[ScoredTransaction]) -> None:
    # Rows both score with the same version: the same forest (same rows, same seed).
    assert verdicts(delayed[920:1300]) == verdicts(synchronous[920:1300])
    assert verdicts(delayed[:800]) == verdicts(synchronous[:800])  # the first: synchronous
    # Rows between F and F + D are scored by the previous model, as if it were never refit.
    never = run(rows, FAST.model_copy(update={"refit_every": 10**9}))
    assert verdicts(delayed[800:920]) == verdicts(never[800:920])
    # The combined score never depends on the model (model_weight 0).
    assert [r.score for r in delayed] == [r.score for r in synchronous]


@pytest.mark.parametrize("batch", [1, 7, D - 1, D, D + 1, 500, 1500])
def test_outputs_do_not_depend_on_how_the_stream_is_cut(
        rows: list[Transaction], delayed: list[ScoredTransaction], batch: int) -> None:
    assert verdicts(run(rows, DELAYED, batch=batch)) == verdicts(delayed)


@pytest.mark.parametrize("cut", [799, 800, 801, 800 + D - 1, 800 + D, 800 + D + 1])
@pytest.mark.parametrize("how", ["snapshot", "checkpoint"])
def test_a_restore_between_fit_and_takeover_carries_on_like_the_uninterrupted_engine(
        rows: list[Transaction], delayed: list[ScoredTransaction], cut: int, how: str) -> None:
    first = PartitionEngine(DELAYED)
    head = first.process(rows[:cut])
    if how == "snapshot":
        again = PartitionEngine.restore(first.snapshot(), DELAYED)
    else:
        changes = first.checkpoint(full=True)
        parts = {k: v for k, v in changes.parts.items() if v is not None}
        again = PartitionEngine.resume(parts, changes.customers, DELAYED)
    pending = [(p.number, p.effective) for p in again._refits.pending]
    assert pending == ([(2, 800 + D)] if 800 < cut <= 800 + D else [])
    assert again.snapshot() == first.snapshot()
    assert verdicts(head + again.process(rows[cut:])) == verdicts(delayed)
    first.close()


def test_a_checkpoint_while_the_fit_runs_does_not_wait_for_it(
        rows: list[Transaction], monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    real = fit_rows

    def held(rows_: Any, number: int, cfg: CoreConfig) -> FittedModel:
        if number > 1:  # the first fit is synchronous: hold the refit only
            assert release.wait(60), "the test never released the fit"
        return real(rows_, number, cfg)

    monkeypatch.setattr(refit, "fit_rows", held)
    engine = PartitionEngine(DELAYED)
    engine.process(rows[:800 + D])  # the refit started at 800 is held all along
    assert engine.model_version == "if-v1" and _refit_threads()
    saved = engine.snapshot()
    release.set()
    # the row at F + D waits for the fit: the model takes over there all the same
    out = engine.process(rows[800 + D:800 + D + 1])
    assert out[0].model_version == "if-v2"
    monkeypatch.setattr(refit, "fit_rows", real)
    again = PartitionEngine.restore(saved, DELAYED)
    assert again.process(rows[800 + D:800 + D + 1]) == out


def test_d_0_fits_synchronously_at_the_fit_point_without_a_thread(
        rows: list[Transaction], synchronous: list[ScoredTransaction]) -> None:
    assert FAST.refit_delay == 0
    engine = PartitionEngine(FAST)
    before = set(threading.enumerate())
    engine.process(rows[:301])
    assert set(threading.enumerate()) <= before
    assert engine._refits.pending == []
    assert [r.model_version for r in synchronous[299:301]] == ["rules-only", "if-v1"]


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("delay", [0, D])
def test_a_failing_fit_raises_its_own_error_where_its_model_would_take_over(
        rows: list[Transaction], monkeypatch: pytest.MonkeyPatch, delay: int) -> None:
    error = Boom("fit 2 failed")
    real = fit_rows

    def failing(rows_: Any, number: int, cfg: CoreConfig) -> FittedModel:
        if number == 2:
            raise error
        return real(rows_, number, cfg)

    monkeypatch.setattr(refit, "fit_rows", failing)
    engine = PartitionEngine(FAST.model_copy(update={"refit_delay": delay}))
    engine.process(rows[:800 + delay])  # the row before the takeover: no error yet
    with pytest.raises(Boom) as caught:
        engine.process(rows[800 + delay:800 + delay + 1])
    assert caught.value is error
    assert not _refit_threads()


def test_close_leaves_no_fit_thread_and_fit_threads_are_not_daemons(
        rows: list[Transaction], monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    real = fit_rows

    def held(rows_: Any, number: int, cfg: CoreConfig) -> FittedModel:
        if number > 1:  # the refit runs until the test lets it finish
            assert release.wait(60), "the test never released the fit"
        return real(rows_, number, cfg)

    monkeypatch.setattr(refit, "fit_rows", held)
    engine = PartitionEngine(DELAYED)
    engine.process(rows[:801])
    threads = _refit_threads()
    assert threads and not any(t.daemon for t in threads)
    release.set()
    engine.close()  # waits for the fit: no thread outlives it
    assert not any(t.is_alive() for t in threads)


def test_state_written_before_background_refits_restores_with_nothing_pending() -> None:
    from tests.unit.state_stream import CONFIG
    from tests.unit.state_stream import stream as state_rows
    old = PartitionEngine.restore((DATA / "engine-format3.bin").read_bytes(), CONFIG)
    assert old._refits.pending == [] and old.model_version == "if-v2"
    delayed = PartitionEngine.restore((DATA / "engine-format3.bin").read_bytes(),
                                      CONFIG.model_copy(update={"refit_delay": 50}))
    rest = state_rows(600)[450:]
    out = delayed.process(rest)
    # the next fit point is 512: its model takes over at 562 under the new setting
    assert [r.model_version for r in out[561 - 450:563 - 450]] == ["if-v2", "if-v3"]
    # and a checkpoint without the part (written before it existed) reads as nothing pending
    changes = old.checkpoint(full=True)
    parts = {k: v for k, v in changes.parts.items() if v is not None and k != "pending"}
    back = PartitionEngine.resume(parts, changes.customers, CONFIG)
    assert back._refits.pending == [] and back.snapshot() == old.snapshot()


def test_the_pending_fit_keeps_its_own_copy_of_the_training_rows(
        rows: list[Transaction]) -> None:
    engine = PartitionEngine(DELAYED)
    engine.process(rows[:800])
    sample_then = engine._sample.view()
    engine.process(rows[800:800 + D - 1])
    (pending,) = engine._refits.pending
    assert np.array_equal(pending.rows, sample_then)
    assert not np.array_equal(engine._sample.view(), sample_then)
    engine.close()


def test_a_process_exiting_with_a_fit_still_running_ends_cleanly(tmp_path: Path) -> None:
    """No thread is left behind: the interpreter waits for the fit (not a daemon), then
    exits with its own status."""
    import subprocess
    import sys
    script = (
        "import time\n"
        "from detector.core import refit\n"
        "from detector.core.engine import PartitionEngine\n"
        "from detector.core.model import fit_rows\n"
        "from tests.unit.test_core_refit import DELAYED\n"
        "from tests.unit.test_core_engine import stream\n"
        "def slow(rows, number, cfg):\n"
        "    time.sleep(2.0)\n"
        "    model = fit_rows(rows, number, cfg)\n"
        "    print('fitted', number, flush=True)\n"
        "    return model\n"
        "refit.fit_rows = slow\n"
        "e = PartitionEngine(DELAYED)\n"
        "e.process(stream()[:801])\n"
        "assert e._refits.pending[0]._thread.is_alive()\n"
        "print('pending', e._refits.pending[0].number, flush=True)\n")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(root)})
    assert (done.returncode, done.stdout, done.stderr) == (0, "fitted 1\npending 2\nfitted 2\n", "")


def test_a_delay_longer_than_the_refit_interval_queues_the_fits_in_order(
        rows: list[Transaction]) -> None:
    """D = 1,050 with a fit every 500 rows: refits 2 and 3 (800, 1300) are pending together
    at row 1,300; each takes over D rows after its own fit point, whatever the restore."""
    cfg = FAST.model_copy(update={"refit_delay": 1050})
    whole = run(rows, cfg)
    versions = [r.model_version for r in whole]
    assert (versions[299], versions[300], versions[-1]) == ("rules-only", "if-v1", "if-v1")
    first = PartitionEngine(cfg)
    head = first.process(rows[:1301])
    assert [(p.number, p.effective) for p in first._refits.pending] == [(2, 1850), (3, 2350)]
    again = PartitionEngine.restore(first.snapshot(), cfg)
    assert verdicts(head + again.process(rows[1301:])) == verdicts(whole)
    assert verdicts(run(rows, cfg, batch=7)) == verdicts(whole)
    first.close()
    again.close()


def record_fit_threads(monkeypatch: pytest.MonkeyPatch) -> dict[int, str]:
    """Make every fit record the name of the thread it ran in, by fit number."""
    where: dict[int, str] = {}
    real = fit_rows

    def recording(rows_: Any, number: int, cfg: CoreConfig) -> FittedModel:
        where[number] = threading.current_thread().name
        return real(rows_, number, cfg)

    monkeypatch.setattr(refit, "fit_rows", recording)
    return where


@pytest.mark.parametrize("how", ["snapshot", "checkpoint"])
def test_a_restored_pending_fit_runs_in_the_background_again(
        rows: list[Transaction], monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """A restore between fit and takeover starts the fit again in its thread, as the
    engine that wrote the state did (a restore does not wait for a forest)."""
    first = PartitionEngine(DELAYED)
    first.process(rows[:801])
    if how == "snapshot":
        saved = first.snapshot()
    else:
        changes = first.checkpoint(full=True)
    first.close()
    where = record_fit_threads(monkeypatch)
    if how == "snapshot":
        again = PartitionEngine.restore(saved, DELAYED)
    else:
        parts = {k: v for k, v in changes.parts.items() if v is not None}
        again = PartitionEngine.resume(parts, changes.customers, DELAYED)
    again.close()
    assert where[2] == "refit-2"


@pytest.mark.parametrize("delay", [0, 1, D])
def test_only_delayed_refits_run_in_a_thread_of_their_own(
        rows: list[Transaction], monkeypatch: pytest.MonkeyPatch, delay: int) -> None:
    """The first fit, and every fit with D = 0, runs in the caller's thread; a refit with
    D > 0 in its own."""
    where = record_fit_threads(monkeypatch)
    engine = PartitionEngine(FAST.model_copy(update={"refit_delay": delay}))
    engine.process(rows[:801])
    engine.close()
    caller = threading.current_thread().name
    assert where == {1: caller, 2: caller if delay == 0 else "refit-2"}


@pytest.fixture(scope="module")
def long_rows() -> list[Transaction]:
    return stream(3000)


def test_a_lowered_refit_delay_after_a_restore_keeps_the_fits_coming(
        long_rows: list[Transaction]) -> None:
    """State written with D = 1,050 (fits 2 and 3 pending, taking over at 1,850 and 2,350)
    restored with D = 0: fit 4 at 1,800 takes over at once and supersedes both (an older
    forest never replaces a newer one), and every later fit point still fits and takes
    over (the engine used to stop refitting for good after 2,350)."""
    first = PartitionEngine(FAST.model_copy(update={"refit_delay": 1050}))
    head = first.process(long_rows[:1301])
    again = PartitionEngine.restore(first.snapshot(), FAST)
    first.close()
    out = head + again.process(long_rows[1301:])
    versions = [r.model_version for r in out]
    changes = [(i, v) for i, v in enumerate(versions) if i == 0 or versions[i - 1] != v]
    assert changes == [(0, "rules-only"), (300, "if-v1"), (1800, "if-v4"), (2300, "if-v5"),
                       (2800, "if-v6")]
    assert again._refits.pending == [] and again._refits.fits == 6
    # the forests are those of the same rows and numbers: as an engine with D = 0 throughout
    # from row 1,800 on (its fits 4, 5, 6 at 1,800, 2,300, 2,800 too)
    assert verdicts(out[1800:]) == verdicts(run(long_rows, FAST)[1800:])
    again.close()


@pytest.mark.parametrize("new", [{"refit_delay": 120}, {"refit_every": 100},
                                 {"refit_every": 100, "refit_delay": 0},
                                 {"first_fit_after": 64, "refit_every": 64, "refit_delay": 7}])
def test_any_setting_changed_across_a_restore_never_leaves_a_takeover_behind(
        long_rows: list[Transaction], new: dict[str, int]) -> None:
    """Whatever the change of fit points or delay between two runs, the pending fits stay in
    takeover order, none behind the stream, and fits go on at every new fit point."""
    cfg = FAST.model_copy(update={"refit_delay": 1050})
    first = PartitionEngine(cfg)
    first.process(long_rows[:1301])
    changed = cfg.model_copy(update=new)
    again = PartitionEngine.restore(first.snapshot(), changed)
    first.close()
    for lo in range(1301, len(long_rows), 37):
        again.process(long_rows[lo:lo + 37])
        effective = [p.effective for p in again._refits.pending]
        assert effective == sorted(set(effective))
        assert all(e >= again.processed for e in effective)
        numbers = [p.number for p in again._refits.pending]
        assert numbers == sorted(numbers)
    assert again._refits.next_event(again.processed) >= again.processed
    again.close()


def test_state_written_stuck_by_the_earlier_queue_refits_again_on_restore(
        long_rows: list[Transaction], monkeypatch: pytest.MonkeyPatch) -> None:
    """A state written while the partition had stopped refitting (pending fits out of
    takeover order, behind the stream: what the engine did before superseding) restores
    with its newest pending forest taking over at the next row, and fits go on."""
    monkeypatch.setattr(refit.Refits, "_supersede", lambda self, effective: None)
    first = PartitionEngine(FAST.model_copy(update={"refit_delay": 1050}))
    first.process(long_rows[:1301])
    stuck = PartitionEngine.restore(first.snapshot(), FAST)
    first.close()
    stuck.process(long_rows[1301:2500])
    assert [(p.number, p.effective) for p in stuck._refits.pending] == [(4, 1800), (5, 2300)]
    saved = stuck.snapshot()
    stuck.close()
    monkeypatch.undo()
    again = PartitionEngine.restore(saved, FAST)
    assert [(p.number, p.effective) for p in again._refits.pending] == [(5, 2500)]
    out = again.process(long_rows[2500:])
    versions = [r.model_version for r in out]
    assert (versions[0], versions[299], versions[300]) == ("if-v5", "if-v5", "if-v6")
    assert again._refits.pending == []
    again.close()
