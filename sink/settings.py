"""Sink settings (prefix `SINK_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import KafkaSettings, TopicSettings


class SinkSettings(BaseSettings):
    """What the sink needs to turn `transactions.scored` into exports."""

    model_config = SettingsConfigDict(env_prefix="SINK_", frozen=True, extra="ignore")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    group_id: str = "auditstream-sink"
    exports_dir: Path = Path("exports")
