"""Message contracts: one transaction per Kafka message, JSON (UTF-8), versioned.

`Transaction` mirrors the historic CSV layout; `is_anomaly` and `anomaly_type` are ground
truth for measuring only and are `None` when unknown. The detector never reads them.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = frozenset({1})

NonEmpty = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]

#: The historic CSV layout, in order (label columns last).
CSV_FIELDS: tuple[str, ...] = (
    "transaction_id",
    "customer_id",
    "timestamp",
    "amount",
    "country",
    "channel",
    "device",
    "merchant_category",
    "ip",
    "is_anomaly",
    "anomaly_type",
)
LABEL_FIELDS: tuple[str, ...] = ("is_anomaly", "anomaly_type")
REQUIRED_CSV_FIELDS: tuple[str, ...] = tuple(f for f in CSV_FIELDS if f not in LABEL_FIELDS)


class Transaction(BaseModel):
    """One payment as it travels on the `transactions` topic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION
    transaction_id: NonEmpty
    customer_id: NonEmpty
    timestamp: datetime
    amount: float
    country: NonEmpty
    channel: str
    device: str
    merchant_category: str
    ip: str = ""
    is_anomaly: bool | None = None
    anomaly_type: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict)

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v not in SUPPORTED_SCHEMA_VERSIONS:
            raise ValueError(
                f"unsupported schema_version {v}; supported: {sorted(SUPPORTED_SCHEMA_VERSIONS)}"
            )
        return v

    @field_validator("amount")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("amount must be a finite number")
        return v

    @field_validator("timestamp")
    @classmethod
    def _naive(cls, v: datetime) -> datetime:
        # Event time is naive local time, as in the historic layout; aware values are
        # converted to UTC and made naive so every comparison is between naive values.
        if v.tzinfo is not None:
            from datetime import UTC

            return v.astimezone(UTC).replace(tzinfo=None)
        return v


class ScoredTransaction(Transaction):
    """A transaction with the detector's verdict, as published on `transactions.scored`."""

    score: float | None = Field(
        default=None, description="0..1, higher is more anomalous; None before the first model fit"
    )
    model_score: float | None = Field(
        default=None, description="the Isolation Forest alone, 0..1; None before its first fit"
    )
    is_ml_flag: bool = False
    rule_flags: dict[str, bool] = Field(default_factory=dict)
    is_rule_flag: bool = False
    is_flag: bool = False
    reasons_top3: list[str] = Field(default_factory=list)
    triggered_rules: list[str] = Field(default_factory=list)
    model_version: str = ""
    source_partition: int | None = None
    source_offset: int | None = None
