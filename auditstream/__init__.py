"""The composition root: the only package that wires producer, detector, sink and dashboard.

The `auditstream` command, `demo`, the offline `score`, the dashboard sample run, the
report fed by the sink's rollups, and the local broker launcher live here. The services
(`python -m producer|detector|sink`) and `shared/` never import this package.
"""

from __future__ import annotations

from shared import __version__

__all__ = ["__version__"]
