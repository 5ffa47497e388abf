"""The Docker Compose stack on a real Docker engine: only under `make compose-test`.

Tests here are marked `compose` and skipped unless AUDITSTREAM_COMPOSE_TEST=1 (set by
docker/compose-test.sh, which also provides the engine, base images, wheelhouse and jars),
so a plain `pytest` never needs Docker.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _only_when_asked() -> None:
    # Session scope: set up before the module's `stack`, so nothing touches Docker first.
    if os.environ.get("AUDITSTREAM_COMPOSE_TEST") != "1":
        pytest.skip("needs a Docker engine: run `make compose-test`")
