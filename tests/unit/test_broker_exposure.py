"""`auditstream broker start` warns when the unauthenticated local broker would listen
beyond this machine (BROKER_HOST other than loopback)."""

from __future__ import annotations

import pytest

from auditstream.broker.process import exposure_warning


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_is_quiet(host: str) -> None:
    assert exposure_warning(host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "192.168.1.20", "kafka.example",
                                  "128.0.0.1"])
def test_anything_else_is_named_with_what_it_exposes(host: str) -> None:
    warning = exposure_warning(host)
    assert warning is not None
    assert warning.startswith(f"BROKER_HOST={host}: ")
    assert "without authentication" in warning and "every topic" in warning
