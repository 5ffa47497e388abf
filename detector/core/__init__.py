"""The detection core: pure Python and numpy, no Kafka (see docs/detection.md).

`CoreConfig` holds every knob; `PartitionEngine` scores one partition's stream.
"""

from __future__ import annotations

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine

__all__ = ["CoreConfig", "PartitionEngine"]
