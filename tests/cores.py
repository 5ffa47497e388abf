"""Switching the detection core for engines made inside a block (tests and benches)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def core_switch(value: str) -> Iterator[None]:
    """Engines made inside run the detection core `value` names (`AUDITSTREAM_CORE`)."""
    before = os.environ.get("AUDITSTREAM_CORE")
    os.environ["AUDITSTREAM_CORE"] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ["AUDITSTREAM_CORE"]
        else:
            os.environ["AUDITSTREAM_CORE"] = before
