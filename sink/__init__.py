"""auditstream sink service."""

from __future__ import annotations
