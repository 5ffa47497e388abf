"""Contracts of auditstream: message schemas, the exported columns, settings, the codec, Kafka
wiring, errors and exit codes (the local broker lives in the composition root, `auditstream`)."""

from __future__ import annotations

__version__ = "0.1.0"
