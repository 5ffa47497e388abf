"""A real single-node Apache Kafka (KRaft) broker run from Maven Central's jars, without Docker."""

from __future__ import annotations

from auditstream.broker.process import BrokerStatus, LocalBroker
from auditstream.broker.settings import BrokerSettings

__all__ = ["BrokerSettings", "BrokerStatus", "LocalBroker"]
