"""auditstream detector service."""
