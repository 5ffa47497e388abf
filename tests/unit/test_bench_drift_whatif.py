"""bench/drift_whatif.py's drift terms: calibrated on a customer's own habits, past rows
only, and what each mode reads a ramp and a step as."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import drift_whatif

MODES = ("cusum", "mk", "mk2", "mk3", "min")


def stream(levels: np.ndarray, seed: int, customers: int = 1) -> tuple[list[str], np.ndarray,
                                                                      list[str]]:
    """Each customer's amounts: lognormal (sigma 0.6) around e^level, one category."""
    rng = np.random.default_rng(seed)
    n = len(levels)
    names = [f"c{j}" for _ in range(n) for j in range(customers)]
    amounts = np.exp(np.repeat(levels, customers) + rng.normal(0.0, 0.6, n * customers))
    return names, 50.0 * amounts, ["grocery"] * (n * customers)


@pytest.mark.parametrize("mode", MODES)
def test_on_a_customers_own_habits_the_share_above_s_is_at_most_about_e_minus_s(
        mode: str) -> None:
    """i.i.d. amounts of 200 customers, 200 rows each: for s = 1..4 the share of rows
    whose term exceeds s is below 1.2 e^-s (Wald's tail for k = 1/2; the ranks' bounded
    z make it lighter still), and for the CUSUM not far below (0.2 e^-s): the term is a
    surprise on the scale of the others, not a rarity."""
    names, amounts, cats = stream(np.zeros(200), seed=1, customers=200)
    term = drift_whatif.drift(names, amounts, cats, ring=32, k=0.5, min_ref=8, reset=0.0,
                              mode=mode)
    for s in (1.0, 2.0, 3.0, 4.0):
        share = float(np.mean(term > s))
        assert share < 1.2 * math.exp(-s), (s, share)
        if mode == "cusum":
            assert share > 0.2 * math.exp(-s), (s, share)


def test_a_rows_term_reads_no_later_row() -> None:
    names, amounts, cats = stream(np.linspace(0.0, 1.5, 120), seed=2, customers=3)
    full = drift_whatif.drift(names, amounts, cats, 32, 0.5, 8, 0.0, "mk")
    changed = amounts.copy()
    changed[200:] *= 7.0
    cut = drift_whatif.drift(names, changed, cats, 32, 0.5, 8, 0.0, "mk")
    assert np.array_equal(full[:200], cut[:200])
    assert not np.array_equal(full[200:], cut[200:])


def test_nothing_before_min_ref_amounts() -> None:
    names, amounts, cats = stream(np.linspace(0.0, 3.0, 20), seed=3)
    term = drift_whatif.drift(names, amounts, cats, 32, 0.5, 8, 0.0, "cusum")
    assert np.all(term[:8] == 0.0)
    assert term[8:].max() > 0.0


def test_a_ramp_builds_the_cusum_that_flat_amounts_do_not() -> None:
    """A ramp to e^1.5 over 60 rows after 40 flat ones: the CUSUM's largest value on
    the ramp's last 30 rows (median over customers) is far above the flat stream's
    over the same rows (the largest of 30 draws of its e^-s tail: about ln 30)."""
    ramp = np.concatenate([np.zeros(40), np.linspace(0.0, 1.5, 60)])
    peaks = []
    for levels in (ramp, np.zeros(100)):
        names, amounts, cats = stream(levels, seed=4, customers=50)
        term = drift_whatif.drift(names, amounts, cats, 32, 0.5, 8, 0.0, "cusum")
        peaks.append(np.median(term.reshape(100, 50)[70:].max(axis=0)))
    assert peaks[0] > 6.0 > 3.5 > peaks[1], peaks


def test_the_mk_mode_reads_a_step_after_the_runs_start_as_a_level() -> None:
    """The run's rise: a step of e^1 at the row where the run starts and flat after it
    gives little (the run's amounts are exchangeable); the same rise spread as a ramp over
    the run gives much more."""
    step = np.concatenate([np.zeros(40), np.ones(40)])
    ramp = np.concatenate([np.zeros(40), np.linspace(0.0, 2.0, 40)])
    medians = []
    for levels in (step, ramp):
        names, amounts, cats = stream(levels, seed=5, customers=50)
        term = drift_whatif.drift(names, amounts, cats, 32, 0.5, 8, 0.0, "mk")
        medians.append(np.median(term.reshape(80, 50)[60:].max(axis=0)))
    assert medians[1] > medians[0] + 2.0, medians


def test_rise_surprise_is_a_one_sided_rank_test() -> None:
    assert drift_whatif.rise_surprise([], [1.0]) == 0.0
    assert drift_whatif.rise_surprise([3.0, 4.0], [1.0, 2.0]) == 0.0  # a fall
    assert drift_whatif.rise_surprise([1.0, 2.0], [1.0, 2.0]) == 0.0  # no rise
    # every one of 5 x 5 pairs higher: U = 25, z = (25 - 12.5 - 0.5) / sqrt(275 / 12)
    z = 12.0 / math.sqrt(275.0 / 12.0)
    got = drift_whatif.rise_surprise([1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0])
    assert got == pytest.approx(-math.log(0.5 * math.erfc(z / math.sqrt(2.0))))
