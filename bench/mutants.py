"""Boundary mutants of the detection core and the CSV reader: does a unit test kill each?

    .venv/bin/python bench/mutants.py            # every mutant, the tests that should kill it

Each mutant is one small realistic bug (a `<=` that became `<`, a lost `abs`, a zone that
is dropped instead of converted), applied to a copy of the repository; the listed unit
tests run there and the mutant is *killed* when they fail. Not mutmut's exhaustive run
(which does not fit this shared machine): a curated set at the boundaries where such bugs
hide, reported in docs/benchmarks.md with the survivors and why.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE_TESTS = ("tests/unit/test_core_boundaries.py", "tests/unit/test_core_rules.py",
              "tests/unit/test_core_surprise.py", "tests/unit/test_core_engine.py")
CSV_TESTS = ("tests/unit/test_csv_io.py", "tests/unit/test_csv_zones.py")

#: (name, file, original text, mutated text, tests)
MUTANTS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    ("burst window edge excluded", "detector/core/features.py",
     "if age <= cfg.burst_window_s:", "if age < cfg.burst_window_s:", CORE_TESTS),
    ("duplicate window edge excluded", "detector/core/features.py",
     "if age <= cfg.duplicate_window_s and", "if age < cfg.duplicate_window_s and", CORE_TESTS),
    ("burst needs one more", "detector/core/rules.py",
     "if o.burst_count >= cfg.burst_min_count:", "if o.burst_count > cfg.burst_min_count:",
     CORE_TESTS),
    ("night window end included", "detector/core/rules.py",
     "return lo <= hour < hi if lo < hi", "return lo <= hour <= hi if lo < hi", CORE_TESTS),
    ("night share at threshold excluded", "detector/core/rules.py",
     "and o.night_share <= cfg.odd_hour_max_share", "and o.night_share < cfg.odd_hour_max_share",
     CORE_TESTS),
    ("odd hour needs one more event", "detector/core/rules.py",
     "and o.night_total >= cfg.odd_hour_min_history",
     "and o.night_total > cfg.odd_hour_min_history", CORE_TESTS),
    ("new country needs one more event", "detector/core/rules.py",
     "and o.history >= cfg.new_country_min_history",
     "and o.history > cfg.new_country_min_history", CORE_TESTS),
    ("travel exactly at the flight time flagged", "detector/core/rules.py",
     "if o.travel_km <= 0 or o.travel_dt_s >= needed_seconds(o, cfg):",
     "if o.travel_km <= 0 or o.travel_dt_s > needed_seconds(o, cfg):", CORE_TESTS),
    ("late event: signed gap", "detector/core/features.py",
     "age = abs(t - rt)", "age = t - rt", CORE_TESTS),
    ("late event moves the clock back", "detector/core/habits.py",
     "    if t >= st.last_t:\n        st.last_t = t", "    if True:\n        st.last_t = t",
     CORE_TESTS),
    ("repeat window edge excluded", "detector/core/surprise.py",
     "if abs(t - rt) <= cfg.repeat_window_s", "if abs(t - rt) < cfg.repeat_window_s",
     CORE_TESTS),
    ("rate window edge excluded", "detector/core/surprise.py",
     "if abs(t - r[0]) <= span)", "if abs(t - r[0]) < span)", CORE_TESTS),
    ("attack learnt at once", "detector/core/habits.py",
     "if surprise >= cfg.quarantine_above and", "if surprise > 1e9 and", CORE_TESTS),
    ("zone dropped in the schema", "shared/schemas.py",
     "return v.astimezone(UTC).replace(tzinfo=None)", "return v.replace(tzinfo=None)",
     CORE_TESTS),
    ("zone dropped in the CSV reader", "shared/csv_io.py",
     "ts = ts.astimezone(UTC).replace(tzinfo=None)", "ts = ts.replace(tzinfo=None)",
     CSV_TESTS),
    ("high amount ratio edge", "detector/core/rules.py",
     "if o.amount_ratio < cfg.high_amount_ratio:", "if o.amount_ratio <= cfg.high_amount_ratio:",
     CORE_TESTS),
)


def run(name: str, file: str, before: str, after: str, tests: tuple[str, ...],
        python: str) -> bool:
    """Whether the tests kill the mutant (they fail on the mutated copy)."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "repo"
        shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(
            ".venv", ".git", "exports", "*.pbix", "dashboard_anomalies.*", "__pycache__"))
        target = copy / file
        text = target.read_text(encoding="utf-8")
        if text.count(before) != 1:
            raise SystemExit(f"{name}: pattern not found once in {file}")
        target.write_text(text.replace(before, after), encoding="utf-8")
        result = subprocess.run(
            [python, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
            cwd=copy, capture_output=True, text=True, env={"PYTHONPATH": str(copy)},
            check=False,
        )
        return result.returncode != 0


def main() -> int:
    python = sys.executable
    killed = 0
    for name, file, before, after, tests in MUTANTS:
        dead = run(name, file, before, after, tests, python)
        killed += dead
        print(f"{'killed  ' if dead else 'SURVIVED'} {name} ({file})", flush=True)
    print(f"{killed} of {len(MUTANTS)} mutants killed ({100 * killed / len(MUTANTS):.0f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
