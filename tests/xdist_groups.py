"""Which pytest-xdist worker runs what under `make test` (`pytest -n 2 --dist loadgroup`).

The tests of one module stay on one worker (their module fixtures are built once); the slow
integration tests (fault injection, kill -9, broker restarts, whole pipelines) form one group,
run on one worker one at a time as in a serial run, so their liveness waits and kill timings
never race each other. Each worker has its own session broker, so a test that restarts it
disturbs only its own worker's tests.

xdist 3.8's own loadgroup extends each node id with its group, which pytest 9 no longer lets
a plugin do; so the workers write the groups of what they collected into a file and the
controller's scheduler reads them from there.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

SERIAL_GROUP = "slow-integration"
#: The key of the groups file's path in each worker's input.
WORKER_KEY = "auditstream_groups_file"


def group_of(item: pytest.Item) -> str:
    """The serial group for a slow integration test, else the test's module."""
    if item.get_closest_marker("slow") and item.get_closest_marker("integration"):
        return SERIAL_GROUP
    return item.nodeid.split("::", 1)[0]


def slow_groups_first(items: list[pytest.Item]) -> None:
    """Groups holding a slow test first (xdist hands groups out in collection order): the
    long serial group starts at once and no long test is left for the end."""
    slow = {group_of(item) for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: group_of(item) not in slow)


def write_groups(path: str, items: list[pytest.Item]) -> None:
    """On a worker: every collected test's group, for the controller (written whole)."""
    tmp = f"{path}.{os.getpid()}"
    Path(tmp).write_text(json.dumps({item.nodeid: group_of(item) for item in items}))
    os.replace(tmp, path)


@functools.cache
def groups_file() -> Path:
    """The controller's file the workers write the groups into (one per run)."""
    return Path(tempfile.mkdtemp(prefix="auditstream-xdist-")) / "groups.json"


def remove_groups_file() -> None:
    if groups_file.cache_info().currsize:
        shutil.rmtree(groups_file().parent, ignore_errors=True)


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's scope scheduler with a test's scope being its group from the groups file."""
    scheduler: Any = importlib.import_module("xdist.scheduler").LoadScopeScheduling(config, log)
    groups: dict[str, str] = {}

    def scope_of(nodeid: str) -> str:
        if not groups:  # read once every worker has collected (xdist schedules only then)
            groups.update(json.loads(groups_file().read_text()))
        return groups.get(nodeid, nodeid)

    scheduler._split_scope = scope_of
    return scheduler
