"""pytest plugin for mutmut runs only: run the selected tests fastest first.

mutmut runs a mutant's tests with `-x` in the order of its (unordered) set of test ids, so a
mutant that a 10 ms test kills may first wait for seconds of engine tests. This plugin
sorts the collected tests by the durations mutmut recorded (`mutmut-stats.json` in the
current directory, which is `mutants/` during a run); tests without a record go first. It
changes the order only, never which tests run. Loaded by `[tool.mutmut]
pytest_add_cli_args` (`-p tests.unit.mutmut_fast_first`); plain pytest runs never load it.

It also makes engines run the core's own loop as Python (`AUDITSTREAM_CORE=python`, unless
set otherwise): the mutants are the core's sources, which the default, the compiled
kernel, would not run (and its cache, keyed by a digest that covers them, would compile).

And it lifts Hypothesis's per-example deadline (200 ms): every call of mutated code goes
through mutmut's trampoline, on a shared machine, so a property test's example over it is a
timing, not a verdict (2026-12-07: `test_an_id_is_taken_exactly_when_the_rule_takes_it`
failed mutmut's clean run at 277 ms, load 21); the examples and their assertions are as in
any run. For the same reason it lifts the too-slow health check: generating a property test's
examples through the trampolines at load 25-35 took over Hypothesis's 1 s for 3 inputs
(2026-12-07, `test_the_sample_takes_each_non_flagged_row_in_its_band`: `FailedHealthCheck`,
which a mutation run counts as a kill).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings

os.environ.setdefault("AUDITSTREAM_CORE", "python")

settings.register_profile("mutmut", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("mutmut")


def _durations() -> dict[str, float]:
    path = Path("mutmut-stats.json")
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    durations = data.get("duration_by_test", {}) if isinstance(data, dict) else {}
    return {str(k): float(v) for k, v in durations.items()}


def pytest_collection_modifyitems(items: list[Any]) -> None:
    durations = _durations()
    if durations:
        items.sort(key=lambda item: durations.get(item.nodeid, 0.0))
