"""Shared contracts of auditstream: message schemas, settings, Kafka wiring and the local broker."""

from __future__ import annotations

__version__ = "0.1.0"
