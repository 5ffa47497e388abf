"""`make test`'s worker groups: a module together, every slow integration test in one group."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from tests import xdist_groups


@dataclass
class FakeItem:
    """What the grouping reads of a collected test: its node id and its markers."""

    nodeid: str
    marks: tuple[str, ...] = ()

    def get_closest_marker(self, name: str) -> object | None:
        return name if name in self.marks else None


class FakeConfig:
    """What xdist's scheduler reads of the configuration: two local workers."""

    def getvalue(self, name: str) -> Any:
        return ["2*popen"] if name == "tx" else None


def items(*fakes: FakeItem) -> list[pytest.Item]:
    return cast(list[pytest.Item], list(fakes))


FAULTS = FakeItem("tests/integration/test_faults.py::test_kill", ("integration", "slow"))
E2E = FakeItem("tests/integration/test_e2e.py::test_pipeline", ("integration", "slow"))
QUICK = FakeItem("tests/integration/test_faults.py::test_quick", ("integration",))
SCALE = FakeItem("tests/unit/test_scale.py::test_big", ("slow",))
UNIT_A = FakeItem("tests/unit/test_a.py::test_one")
UNIT_A2 = FakeItem("tests/unit/test_a.py::test_two")


def test_slow_integration_tests_of_any_module_share_the_one_serial_group() -> None:
    [faults, e2e] = items(FAULTS, E2E)
    assert xdist_groups.group_of(faults) == xdist_groups.group_of(e2e) == \
        xdist_groups.SERIAL_GROUP


def test_every_other_test_is_grouped_with_its_module() -> None:
    [quick, scale, a, a2] = items(QUICK, SCALE, UNIT_A, UNIT_A2)
    assert xdist_groups.group_of(quick) == "tests/integration/test_faults.py"
    assert xdist_groups.group_of(scale) == "tests/unit/test_scale.py"  # slow, not integration
    assert xdist_groups.group_of(a) == xdist_groups.group_of(a2) == "tests/unit/test_a.py"


def test_groups_holding_a_slow_test_go_first_in_their_collection_order() -> None:
    collected = items(UNIT_A, QUICK, FAULTS, UNIT_A2, SCALE, E2E)
    xdist_groups.slow_groups_first(collected)
    assert [cast(FakeItem, i).nodeid for i in collected] == [
        FAULTS.nodeid, SCALE.nodeid, E2E.nodeid, UNIT_A.nodeid, QUICK.nodeid, UNIT_A2.nodeid]


def test_the_scheduler_scopes_each_test_by_the_group_a_worker_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("xdist")  # a dev dependency: `make test` installs it
    groups = tmp_path / "groups.json"
    monkeypatch.setattr(xdist_groups, "groups_file", lambda: groups)
    xdist_groups.write_groups(str(groups), items(FAULTS, E2E, UNIT_A))
    scheduler = xdist_groups.make_scheduler(cast(pytest.Config, FakeConfig()), None)
    assert scheduler._split_scope(FAULTS.nodeid) == scheduler._split_scope(E2E.nodeid) == \
        xdist_groups.SERIAL_GROUP
    assert scheduler._split_scope(UNIT_A.nodeid) == "tests/unit/test_a.py"
    assert scheduler._split_scope("tests/unit/test_new.py::t") == "tests/unit/test_new.py::t"
