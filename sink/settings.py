"""Sink settings (prefix `SINK_`) and the export settings shared with `score` (`EXPORTS_`)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, SecretStr, TypeAdapter, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict

from shared.columns import RecommendMode
from shared.schemas import AMOUNT_LIMIT
from shared.settings import (
    MAX_WAIT_S,
    KafkaId,
    KafkaSettings,
    NamedPath,
    Settings,
    TopicSettings,
)
from sink.watermark import DEFAULT_QUORUM

#: The audit sample's key when `EXPORTS_SAMPLE_KEY` is unset: public (it is in the repository).
DEFAULT_SAMPLE_KEY = "auditstream-audit-sample"
#: Characters below which a sample key draws a warning: 16 random ones resist an offline
#: guess from the draws the checkpoint keeps.
MIN_SAMPLE_KEY = 16
#: The most a false alarm or a miss may cost: the amounts' bound (a currency amount too).
MAX_COST = AMOUNT_LIMIT
#: The most cases a day a team can review, as a setting: a billion, more than any stream's
#: rows in a day (a larger capacity limits nothing).
MAX_DAILY_CASES = 1e9
#: The most rows between two checkpoints: 10 million, the scale run's whole stream (past it
#: only `SINK_CHECKPOINT_INTERVAL_S` ever checkpoints).
MAX_CHECKPOINT_ROWS = 10_000_000


class ExportSettings(Settings):
    """How rollups are computed; the same for the streaming sink and offline `score`."""

    # infinity passed `ge=0` and broke the run manifest (not JSON) and the report after it
    model_config = SettingsConfigDict(env_prefix="EXPORTS_", frozen=True, extra="ignore",
                                      allow_inf_nan=False)

    # at most the amounts' bound: 1e308 each was finite, their expected cost (`fp * cost_fp
    # + fn * cost_fn`) infinite: `Infinity` in run.json and the report's traceback, exit 70
    cost_fp: float = Field(default=1.0, ge=0, le=MAX_COST,
                           description="cost of reviewing a false alarm")
    cost_fn: float = Field(default=10.0, ge=0, le=MAX_COST,
                           description="cost of missing an anomaly")
    review_budget_pct: float | None = Field(
        default=None, gt=0, le=100,
        description="recommend only thresholds flagging at most this % of rows",
    )
    recommend_for: RecommendMode = "combined"
    top_cases: int = Field(default=100, ge=1, le=100_000,
                           description="cases.csv: the top N cases by score (plus recent ones)")
    case_gap_s: float = Field(default=7200.0, gt=0, le=30 * 86400,
                              description="flagged rows of a customer this close form one case")
    case_days: float = Field(default=7.0, gt=0, le=3660,
                             description="cases.csv also lists every case of the last N days")
    watermark_customers: int = Field(
        default=DEFAULT_QUORUM, ge=1, le=100_000,
        description="days close, and cases.csv's recent cases age, by the latest event time "
        "at least N customers reached (one stray future row moves nothing)")
    sample_per_band: int = Field(default=10, ge=0, le=10_000,
                                 description="audit sample: rows per day and amount band")
    # A secret: shown masked in run.json and logs, never written to the exports folder.
    sample_key: SecretStr = Field(default=SecretStr(DEFAULT_SAMPLE_KEY), min_length=1,
                            description="key of the audit sample's hash: set a secret one")
    daily_capacity: float | None = Field(
        default=None, gt=0, le=MAX_DAILY_CASES, description="cases per day the team can review")
    single_file: bool = Field(
        default=False,
        description="also write transactions_scored.csv, a copy of the day files in stream "
        "order (the reference project's layout): every row is written twice",
    )

    @field_validator("sample_key")
    @classmethod
    def _not_blank(cls, key: SecretStr) -> SecretStr:
        # ' ' was taken (an empty key was refused): a sample anyone can predict; blank has no
        # meaning (docs/assurance.md: any length works). Never the key itself in the text.
        if not key.get_secret_value().strip():
            raise ValueError("only blank space; give a secret key of visible characters, or "
                             "unset it for the public default (docs/assurance.md)")
        return key

    def sample_key_warning(self) -> str | None:
        """What to warn of when the audit sample's key is the public default or short enough
        to guess (else None). The key is never part of the text."""
        key = self.sample_key.get_secret_value()
        if key == DEFAULT_SAMPLE_KEY:
            return ("EXPORTS_SAMPLE_KEY is not set: the audit sample is drawn with the public "
                    "default key, so anyone with the transaction ids can predict it; set a "
                    "secret one (docs/assurance.md)")
        if len(key) < MIN_SAMPLE_KEY:
            return (f"EXPORTS_SAMPLE_KEY has fewer than {MIN_SAMPLE_KEY} characters: whoever "
                    "can read the exports folder's checkpoint (it keeps each sampled row's "
                    "draw) could guess it offline and then predict the sample; use at least "
                    f"{MIN_SAMPLE_KEY} random characters (docs/assurance.md)")
        return None

    @classmethod
    def check_restored(cls, values: Mapping[str, Any]) -> None:
        """Hold values a checkpoint restored (`sink.state`) to these fields' own types and
        bounds, strictly (JSON's: no bool or text for a number): a hand-edited or damaged
        `case_days` of 1e12 was an OverflowError traceback, 0 or -1 a run the settings
        refuse. A ValueError naming the first refused one."""
        for name, value in values.items():
            try:
                _restored_field(name).validate_python(value)
            except ValidationError as exc:
                raise ValueError(f"{name} {value!r}: {exc.errors()[0]['msg']}") from None


@cache
def _restored_field(name: str) -> TypeAdapter[Any]:
    """`ExportSettings.<name>`'s type and constraints, strict, as one validator."""
    nan = ExportSettings.model_config.get("allow_inf_nan", True)
    return TypeAdapter(ExportSettings.model_fields[name].rebuild_annotation(),
                       config=ConfigDict(strict=True, allow_inf_nan=nan))


class SinkSettings(Settings):
    """What the sink needs to turn `transactions.scored` into exports."""

    model_config = SettingsConfigDict(env_prefix="SINK_", frozen=True, extra="ignore",
                                      allow_inf_nan=False)

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    exports: ExportSettings = Field(default_factory=ExportSettings)
    # empty: librdkafka's consumer aborts in C (SIGABRT, exit 134, no message)
    group_id: KafkaId = "auditstream-sink"
    exports_dir: NamedPath = Path("exports")
    # above 1M: confluent-kafka's consume() raises ValueError (a traceback once connected)
    batch_size: int = Field(default=10_000, ge=1, le=1_000_000,
                            description="messages per consume() call")
    decode_workers: int = Field(
        default=0, ge=0, le=64, description="processes that validate and format (0: in-process)"
    )
    checkpoint_rows: int = Field(default=100_000, ge=1, le=MAX_CHECKPOINT_ROWS,
                                 description="fsync + state every N rows")
    # every interval at most a day (`MAX_WAIT_S`): 1e308 was a timer that never fired
    # (`SINK_IDLE_PARTITION_S`: days held open for ever)
    checkpoint_interval_s: float = Field(default=1.0, gt=0, le=MAX_WAIT_S,
                                         description="... or every N seconds")
    rollup_interval_s: float = Field(default=5.0, ge=0, le=MAX_WAIT_S,
                                     description="rewrite rollups every N s")
    idle_partition_s: float = Field(
        default=30.0, ge=0, le=MAX_WAIT_S,
        description="a partition at its end holds the days open this "
        "many seconds more, then nothing (sink.clock: rows the detector still writes to it)",
    )
    report_interval_s: float = Field(
        default=0.0, ge=0, le=MAX_WAIT_S,
        description="report.html at most every N s (0: every rollup refresh)"
    )
    # The detector's DETECTOR_STARTUP_WAIT_S, for the sink: a sink (re)started while the
    # broker is down or still starting (compose starts them together; a restart on a loaded
    # machine took 42-58 s) waits for it, saying every KAFKA_LOG_INTERVAL_S how long it
    # still will; exit 4 after. Was KAFKA_STARTUP_WAIT_S (30 s), which such a restart outlasts.
    startup_wait_s: float = Field(
        default=180.0, gt=0, le=MAX_WAIT_S,
        description="how long the start-up waits for a broker it cannot "
        "reach (the broker and the topics; as long again for the assignment), then exit 4; "
        "as DETECTOR_STARTUP_WAIT_S",
    )
