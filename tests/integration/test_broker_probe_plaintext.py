"""A running local broker answers its own probe with the KAFKA_ security settings of a real
cluster in the environment (`tests/unit/test_broker_probe_plaintext.py` says why)."""

from __future__ import annotations

import pytest

from auditstream.broker.process import LocalBroker
from tests.unit.test_broker_probe_plaintext import SECURITY

pytestmark = pytest.mark.integration


def test_status_of_a_running_broker_with_sasl_settings_is_answering(
    own_broker: LocalBroker, monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert own_broker.status().answering  # without them: the control
    for name, value in SECURITY.items():
        monkeypatch.setenv(name, value)
    status = own_broker.status()
    assert status.running and status.answering, status.detail
