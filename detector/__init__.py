"""auditstream detector service."""

from __future__ import annotations
