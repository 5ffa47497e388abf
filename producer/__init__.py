"""auditstream producer service."""

from __future__ import annotations
