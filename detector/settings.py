"""Detector settings (prefix `DETECTOR_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import KafkaSettings, TopicSettings


class DetectorSettings(BaseSettings):
    """What the streaming detector needs."""

    model_config = SettingsConfigDict(env_prefix="DETECTOR_", frozen=True, extra="ignore")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    group_id: str = "auditstream-detector"
