"""librdkafka's notice that it retries a request a freshly started broker cannot answer yet
("Coordinator load in progress: retrying") is an INFO line, not a WARNING: the first
`auditstream replay` to a new broker (the README's first steps) printed `WARNING librdkafka:
GETPID ... Failed to acquire idempotence PID ...` on a run that then sent every row (found
walking the docs, 2026-12-06). A failure that is not retried stays a warning."""

from __future__ import annotations

import logging

import pytest

from shared.kafka_log import ClientLog
from shared.settings import KafkaSettings

RETRIED = ("GETPID [auditstream#producer-2] [thrd:main]: Failed to acquire idempotence PID "
           "from broker 127.0.0.1:19892/1: Broker: Coordinator load in progress: retrying")
REFUSED_PID = ("GETPID [auditstream#producer-2] [thrd:main]: Failed to acquire idempotence "
               "PID from broker 127.0.0.1:19892/1: Broker: Cluster authorization failed")


@pytest.mark.parametrize(("text", "level"), [(RETRIED, logging.INFO),
                                             (REFUSED_PID, logging.WARNING)])
def test_a_retried_request_is_information_and_a_failure_a_warning(
        caplog: pytest.LogCaptureFixture, text: str, level: int) -> None:
    log = ClientLog(KafkaSettings(bootstrap_servers="127.0.0.1:19892"))
    caplog.set_level(logging.DEBUG, logger="librdkafka")
    log.log(logging.WARNING, "%s", text)
    assert [(r.levelno, r.getMessage()) for r in caplog.records
            if r.name == "librdkafka"] == [(level, text)]
