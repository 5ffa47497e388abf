"""The per-row settings (detector.core.knobs): derived from `CoreConfig`, never declared twice,
and every setting the compiled modules read is carried with its value."""

from __future__ import annotations

import ast
import re
from typing import Any

import pytest
from pydantic import ValidationError

from detector.core import compiled
from detector.core.config import CoreConfig
from detector.core.knobs import FIELDS, Knobs, in_night, night_hours

SOURCE = compiled.HERE / "knobs.py"
#: Values `Knobs` derives from the carried fields (not `CoreConfig` fields themselves).
DERIVED = {"days_s", "night_hours", "night_mask", "rate_horizon_s"}
#: Compiled modules that may read `CoreConfig` itself: knobs builds from it; the customer
#: table reads its bounds once, when it is made.
READS_CONFIG = {"knobs", "table"}


def _changed(name: str) -> Any:
    """A valid value of setting `name` other than its default."""
    default = CoreConfig.model_fields[name].default
    if isinstance(default, bool):  # before int: a bool is an int
        candidates: list[Any] = [not default]
    elif isinstance(default, tuple):
        candidates = [(*default, default[-1] * 2)]
    elif isinstance(default, int):
        candidates = [default + 1, default - 1]
    else:
        candidates = [default * 1.5, default / 2, default + 0.5]
    for value in candidates:
        try:
            CoreConfig(**{name: value})
        except ValidationError:
            continue
        if value != default:
            return value
    raise AssertionError(f"no valid value of {name} but its default")


def _assignments() -> dict[str, str]:
    """Each attribute `Knobs.__init__` sets, and the `CoreConfig` field its value reads
    when it is one plain read (`self.x: ... = cfg.y`)."""
    tree = ast.parse(SOURCE.read_text())
    init = next(node for node in ast.walk(tree)
                if isinstance(node, ast.FunctionDef) and node.name == "__init__")
    found: dict[str, str] = {}
    for node in ast.walk(init):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Attribute):
            value = node.value
            read = (value.attr if isinstance(value, ast.Attribute)
                    and isinstance(value.value, ast.Name) and value.value.id == "cfg" else "")
            found[node.target.attr] = read
    return found


def test_the_carried_fields_are_core_config_fields_each_copied_from_its_own_name() -> None:
    assigned = _assignments()
    assert set(FIELDS) <= set(CoreConfig.model_fields)
    assert len(set(FIELDS)) == len(FIELDS)
    assert {name: assigned[name] for name in FIELDS} == {name: name for name in FIELDS}
    assert set(assigned) == set(FIELDS) | DERIVED  # nothing else: no second declaration


def test_the_defaults_are_carried_equal() -> None:
    cfg = CoreConfig()
    knobs = Knobs(cfg)
    for name in FIELDS:
        assert getattr(knobs, name) == getattr(cfg, name), name


@pytest.mark.parametrize("name", FIELDS)
def test_each_field_follows_its_own_setting_and_no_other(name: str) -> None:
    base = Knobs(CoreConfig())
    value = _changed(name)
    knobs = Knobs(CoreConfig(**{name: value}))
    assert getattr(knobs, name) == value
    assert type(getattr(knobs, name)) is type(value)
    for other in FIELDS:
        if other != name:
            assert getattr(knobs, other) == getattr(base, other), other


@pytest.mark.parametrize(("similar", "kept"), [(0.0, 0.0), (3_599.0, 0.0), (3_600.0, 0.0),
                                               (3_601.0, 3_601.0), (7 * 86_400.0, 7 * 86_400.0)])
def test_the_window_over_days_is_kept_only_when_longer_than_the_hours(similar: float,
                                                                      kept: float) -> None:
    """`CustomerState.days` keeps `similar_window_s` of events only when the test over
    days runs: a window longer than `repeat_window_s` (an hour); else none (0)."""
    assert Knobs(CoreConfig(similar_window_s=similar)).days_s == kept


def test_every_setting_a_compiled_module_reads_is_carried() -> None:
    """Every `cfg.x` in the compiled modules is carried or derived, and none of them but
    the knobs and the table imports `CoreConfig` (so no row reads the pydantic model)."""
    read: set[str] = set()
    for module in compiled.MODULES:
        text = (compiled.HERE / f"{module}.py").read_text()
        if module in READS_CONFIG:
            continue
        assert not re.search(r"^from detector.core.config import", text, re.M), module
        read |= set(re.findall(r"\bcfg\.(\w+)", text))
    assert read, "the modules read no setting: the pattern is stale"
    assert read <= set(FIELDS) | DERIVED
    engine = (compiled.HERE / "engine.py").read_text()
    verdict_reads = set(re.findall(r"\bcfg\.(\w+)", engine))
    assert verdict_reads <= set(FIELDS)  # the engine's per-row reads use the knobs too


@pytest.mark.parametrize(("start", "end", "hours"), [
    (0, 5, (0, 1, 2, 3, 4)),
    (22, 3, (22, 23, 0, 1, 2)),  # across midnight
    (23, 24, (23,)),
    (5, 5, (*range(5, 24), *range(5))),  # an empty span is the whole day
])
def test_the_night_hours_match_the_rules_night(start: int, end: int,
                                                hours: tuple[int, ...]) -> None:
    assert night_hours(start, end) == hours
    knobs = Knobs(CoreConfig(night_start_hour=start, night_end_hour=end))
    assert knobs.night_hours == hours
    assert [h for h in range(24) if in_night(h, knobs.night_mask)] == sorted(hours)
    assert [h for h in range(24) if knobs.night_mask[h]] == sorted(hours)


def test_the_rate_horizon_is_the_longest_window() -> None:
    knobs = Knobs(CoreConfig(rate_windows_s=(60.0, 7200.0, 600.0)))
    assert knobs.rate_horizon_s == 7200.0
