"""What a test does when something it needs is missing: skip, or fail with CI set (a CI
run never passes by skipping silently)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

#: Whether this run is CI's (`.ci/run` sets CI=true).
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> NoReturn:
    """Skip the test for `reason`, or fail it when `IN_CI`."""
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)
