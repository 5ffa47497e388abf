"""Producer settings (prefix `PRODUCER_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import KafkaSettings, TopicSettings


class ProducerSettings(BaseSettings):
    """What `generate` and `replay` need to publish to `transactions`."""

    model_config = SettingsConfigDict(env_prefix="PRODUCER_", frozen=True, extra="ignore")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
