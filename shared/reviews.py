"""The review contract: an auditor's outcome for a case or a transaction, on `transactions.reviews`.

One message per review decision (issue 16 item 2):

- **key**: `review_key(target, id)` = `"<target>:<id>"` as UTF-8 (`case:C-0001`,
  `transaction:T123`). The target is part of the key because case ids and transaction ids
  are separate name spaces (a transaction id is free text from the input and may look like
  a case id); under compaction two reviews with one key would erase each other.
- **value**: JSON (UTF-8) `Review`: `schema_version`, `target` (`case` | `transaction`),
  `id`, `outcome` (`confirmed` = a true anomaly, `dismissed` = a false alarm, `unclear`),
  `reviewer`, `reviewed_at` (UTC, ISO 8601 with `Z`), `note`. Unknown fields are refused;
  no text holds a character of the transactions' text rule (`shared.schemas.CONTROL_RULE`:
  control characters, line separators, bidirectional controls; a note has no line breaks),
  checked after stripping for the id and the reviewer.

The topic (`AUDITSTREAM_REVIEWS_TOPIC`, default `transactions.reviews`) is compacted: the
last outcome per key wins when the topic is read from the start, and every change stays
readable for at least `min.compaction.lag.ms` (7 days), so a sink that was down for less
than that still sees every change for its `reviews_log.csv`. Nothing here imports a Kafka
client; the caller turns `REVIEWS_TOPIC_CONFIG` into a `shared.kafka.TopicSpec`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal, get_args

import orjson
from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

from shared.codec import decode
from shared.errors import AuditstreamError, SchemaError
from shared.schemas import NO_CONTROL, IdText

REVIEW_SCHEMA_VERSION = 1

Target = Literal["case", "transaction"]
Outcome = Literal["confirmed", "dismissed", "unclear"]
TARGETS: tuple[str, ...] = get_args(Target)
OUTCOMES: tuple[str, ...] = get_args(Outcome)

MAX_REVIEWER_CHARS = 128
MAX_NOTE_CHARS = 2000

#: One partition: reviews are a human-sized stream (hundreds a day), and one partition gives
#: every reader the same total order of changes (reviews_log.csv is then the same for any
#: sink that reads the topic), at no cost in throughput that matters here.
REVIEWS_PARTITIONS = 1
#: Topic configuration, each non-default value with its reason.
REVIEWS_TOPIC_CONFIG: dict[str, str] = {
    # Last outcome wins per key, kept forever: the topic is the record of every case's
    # current outcome, not a window of recent events (the default `delete` would drop the
    # outcomes of old cases after 7 days).
    "cleanup.policy": "compact",
    # A change stays readable for 7 days before compaction may replace it, so a sink down
    # for less than a week still logs every change (not only the last) in reviews_log.csv.
    "min.compaction.lag.ms": str(7 * 24 * 3600 * 1000),
}

ReviewerText = Annotated[str, StringConstraints(max_length=MAX_REVIEWER_CHARS,
                                                strip_whitespace=True), NO_CONTROL]
NoteText = Annotated[str, StringConstraints(max_length=MAX_NOTE_CHARS), NO_CONTROL]


class Review(BaseModel):
    """One review decision as it travels on the reviews topic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = REVIEW_SCHEMA_VERSION
    target: Target
    id: IdText
    outcome: Outcome
    reviewer: ReviewerText = ""
    reviewed_at: datetime
    note: NoteText = ""

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v != REVIEW_SCHEMA_VERSION:
            raise ValueError(f"unsupported schema_version {v}; supported: [1]")
        return v

    @field_validator("reviewed_at")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        # Aware times are converted to UTC; a naive time is taken as UTC already.
        if v.tzinfo is None:
            return v.replace(tzinfo=UTC)
        try:
            return v.astimezone(UTC)
        except OverflowError:  # year 1 or 9999 moved past the calendar: a bad value, not a bug
            raise ValueError(f"{v.isoformat()} is out of range in UTC") from None

    @property
    def key(self) -> str:
        return review_key(self.target, self.id)


def review_key(target: str, id_: str) -> str:
    """The message key of a review: `"<target>:<id>"` (see the module docstring for why)."""
    return f"{target}:{id_}"


def encode_review(review: Review) -> tuple[bytes, bytes]:
    """(key, value) of a review message; `reviewed_at` is written as `...Z`."""
    return review.key.encode(), review.model_dump_json().encode()


class NewerReviewError(AuditstreamError):
    """A review of a later `schema_version` than this release's: a newer release wrote it.
    A reader holds its partition at it rather than skip it: skipped, the sink went on past
    it for good and the page showed the case open, to be decided again (docs/review.md,
    "Rollbacks")."""

    def __init__(self, version: int) -> None:
        super().__init__(f"a review of schema version {version}, written by a newer "
                         "auditstream release; this release reads version "
                         f"{REVIEW_SCHEMA_VERSION}")
        self.version = version


def decode_review(value: bytes | str) -> Review:
    """Parse and validate one review message; `SchemaError` names every bad field,
    `NewerReviewError` a later `schema_version` (whatever else the message holds)."""
    try:
        return decode(value, Review)
    except SchemaError:
        if (version := _version_of(value)) is not None and version > REVIEW_SCHEMA_VERSION:
            raise NewerReviewError(version) from None
        raise


def _version_of(value: bytes | str) -> int | None:
    """The `schema_version` a message states, if it is a JSON object stating an integer."""
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    version = data.get("schema_version") if isinstance(data, dict) else None
    return version if type(version) is int else None


def now_utc() -> datetime:
    """The current time, UTC, to the second (what a review records by default)."""
    return datetime.now(UTC).replace(microsecond=0)
