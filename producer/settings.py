"""Producer settings (prefix `PRODUCER_`)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field
from pydantic_settings import SettingsConfigDict

from producer.naming import as_option
from shared.schemas import Seed
from shared.settings import (
    LIBRDKAFKA_INT_MAX,
    MAX_WAIT_S,
    FileName,
    InputName,
    KafkaSettings,
    NamedPath,
    Settings,
    TopicSettings,
    env_name,
)

#: The fastest pace, `--rate` (messages/s) or `--speed` (x event time): a billion, beyond
#: any broker (a faster one is as fast as possible; 1e308 was taken).
MAX_PACE = 1e9
#: The slowest `--rate` (messages/s): one message an hour, the longest the pacing waits for
#: one row (`producer.pacing.MAX_WAIT_S`, not imported here: its module loads tqdm). Any
#: positive rate was taken, and 1e-300 waited for ever between two messages.
MIN_RATE = 1 / 3600

_PLAIN_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def plain_date(text: str) -> date:
    """A plain YYYY-MM-DD, for `--start` and `PRODUCER_START`: a clock time or zone shifted
    every generated time, silently, and pydantic read a number as Unix seconds (86400:
    1970-01-02)."""
    try:
        if _PLAIN_DATE.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise ValueError(f"not a date: {text!r} (use YYYY-MM-DD)")


#: `plain_date` as a setting's type (a `date` given in code is taken as it is).
PlainDate = Annotated[date, BeforeValidator(
    lambda value: value if isinstance(value, date) else plain_date(str(value)))]


class ProducerSettings(Settings):
    """What `generate` and `replay` need to publish to `transactions`.

    The `mode` fields drive `python -m producer` in containers; the CLI passes its own flags.
    """

    model_config = SettingsConfigDict(env_prefix="PRODUCER_", frozen=True, extra="ignore",
                                      allow_inf_nan=False)

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)

    # Delivery
    queue_max_messages: int = Field(default=500_000, ge=1000, le=LIBRDKAFKA_INT_MAX)
    # at most a day: 1e308 flushed undelivered messages for ever instead of exit 3
    flush_timeout_s: float = Field(default=60.0, gt=0, le=MAX_WAIT_S)

    # `python -m producer`
    mode: Literal["generate", "replay"] = "generate"
    files: list[InputName] = Field(default_factory=list, description="replay input (JSON list)")
    rate: float | None = Field(default=None, ge=MIN_RATE, le=MAX_PACE)
    speed: float | None = Field(default=None, gt=0, le=MAX_PACE)
    strict: bool = False
    # empty (`PRODUCER_REJECTS_DIR=`) was the working folder, as `--rejects-dir ''` was
    rejects_dir: NamedPath | None = None
    recipe: Literal["realistic", "reference"] = "realistic"
    mix: Literal["default", "extended"] = "default"
    seed: Seed = 42
    customers: int | None = Field(default=None, ge=1)
    days: int = Field(default=90, ge=1)
    start: PlainDate = date(2025, 1, 1)
    out: FileName | None = None
    publish: bool = True


#: The options of `auditstream generate` and `replay` that the container reads as settings
#: (a name that is no setting of `ProducerSettings` fails at import); the others
#: (`--transactions`, `--tx-per-day`) are fixed there, never the cause.
SETTING_OF_OPTION = {f"--{name}": env_name(ProducerSettings, name.replace("-", "_"))
                     for name in ("out", "publish", "recipe", "mix", "seed", "customers",
                                  "days", "start", "rate", "speed", "strict", "rejects-dir")}
#: The settings only `PRODUCER_MODE=replay` reads: one set in generate mode is refused, not
#: ignored (the compose file sets none of them; it sets the generator's, so those are not
#: refused in replay mode).
REPLAY_ONLY = ("files", "rate", "speed", "strict", "rejects_dir")
#: The container's switches, named as set where the command line names the option alone.
SWITCH_ON = {"--publish": "true"}


def as_setting(option: str, value: str | None = None) -> str:
    """The container's words for the checks of `auditstream generate`
    (`producer.naming.Naming`): an option it has a setting for named by that setting, with
    the value quoted (`PRODUCER_START=1969-12-31`, `PRODUCER_OUT=FILE.csv`,
    `PRODUCER_PUBLISH=true`); a fixed one as the command line's."""
    setting = SETTING_OF_OPTION.get(option)
    if setting is None:
        return as_option(option, value)
    value = SWITCH_ON.get(option) if value is None else value
    return setting if value is None else f"{setting}={value}"
