"""One root exception for the project and small typed subclasses."""

from __future__ import annotations


class AuditstreamError(Exception):
    """Root of every error auditstream raises on purpose."""


class SchemaError(AuditstreamError):
    """A message or row does not match the transaction schema."""


class KafkaWiringError(AuditstreamError):
    """Kafka could not be reached or configured; keeps librdkafka's error code when there is one."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class BrokerError(AuditstreamError):
    """The local broker could not be fetched, started or stopped."""
