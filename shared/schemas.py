"""Message contracts: one transaction per Kafka message, JSON (UTF-8), versioned.

`Transaction` mirrors the historic CSV layout; `is_anomaly` and `anomaly_type` are ground
truth for measuring only and are `None` when unknown. The detector never reads them.

Input limits (docs/producer.md, "Input rules"): every text field has a maximum length and
holds no control character, line separator or bidirectional control (`CONTROL_RANGES`,
`CONTROL_RULE`), amounts are finite with |amount| < 1e12 (negative amounts are refunds),
timestamps are RFC 3339 date-times in 1970-2100 (UTC), and amount text is a plain
decimal number (no `1_000`, no `inf`). The functions `parse_amount`, `check_amount` and
`parse_timestamp` are the single statement of those rules: the schema and the fast CSV
reader (`shared.csv_io`) both call them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    StringConstraints,
    create_model,
    field_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from shared.columns import INPUT_FIELDS, SCORED_ROW, VERDICT_FIELDS
from shared.columns import Field as ColumnField
from shared.seeds import SEED_MAX

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = frozenset({1})

_In = TypeVar("_In")
_Out = TypeVar("_Out")

#: Longest text per field, in characters (code points), after stripping where stripped.
MAX_ID_CHARS = 128
MAX_COUNTRY_CHARS = 64
MAX_LABEL_CHARS = 128  # channel, device, merchant_category
MAX_IP_CHARS = 64
MAX_ANOMALY_TYPE_CHARS = 64
MAX_ATTRIBUTES = 32
MAX_ATTRIBUTE_KEY_CHARS = 64
MAX_ATTRIBUTE_VALUE_CHARS = 256
#: The verdict's text (a reason, a rule name, the model version, a rule flag's key) and its
#: lists: far above what the detector writes (reasons quote input values of at most 256), a
#: bound for another writer of the scored topic (an Excel cell holds at most 32,767).
MAX_VERDICT_TEXT_CHARS = 1_000
MAX_VERDICT_ITEMS = 64
#: The text limit of each field (attributes aside), for readers that check before pydantic.
TEXT_LIMITS: dict[str, int] = {
    "transaction_id": MAX_ID_CHARS,
    "customer_id": MAX_ID_CHARS,
    "country": MAX_COUNTRY_CHARS,
    "channel": MAX_LABEL_CHARS,
    "device": MAX_LABEL_CHARS,
    "merchant_category": MAX_LABEL_CHARS,
    "ip": MAX_IP_CHARS,
    "anomaly_type": MAX_ANOMALY_TYPE_CHARS,
}

#: |amount| must stay below this (a refund is a negative amount).
AMOUNT_LIMIT = 1e12
#: Event times allowed, as naive UTC: [MIN_TIMESTAMP, MAX_TIMESTAMP).
MIN_TIMESTAMP = datetime(1970, 1, 1)
MAX_TIMESTAMP = datetime(2101, 1, 1)
#: How much of a bad value a rejection reason quotes.
QUOTE_CHARS = 40
#: The characters no text field holds, by kind: (name, inclusive code-point ranges). The
#: one statement of the rule: the regular expression, the pydantic pattern, the message,
#: the fast decoder's byte test, the CSV reader and the rejects report's escaping all
#: derive from it (docs/producer.md, "Input rules", gives the reasons).
#: - C0, DEL and C1: they cut or break an export opened in Excel or Power BI (a NUL ends
#:   the cell, U+0085 NEXT LINE is a line break to many readers).
#: - U+2028, U+2029: line breaks to many tools (JavaScript, `str.splitlines`, editors).
#: - the bidirectional embeddings, overrides (U+202A-U+202E) and isolates (U+2066-U+2069):
#:   invisible, they make an id display as another string ("Trojan Source"). The marks
#:   LRM, RLM and ALM (U+200E, U+200F, U+061C) stay: they reorder no run on their own.
#: Checked after stripping where a field strips (ids and country), so a tab, newline or
#: U+2028 around an id is still taken.
CONTROL_RANGES: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = (
    ("control characters", ((0x00, 0x1F), (0x7F, 0x9F))),
    ("line or paragraph separators", ((0x2028, 0x2029),)),
    ("bidirectional controls", ((0x202A, 0x202E), (0x2066, 0x2069))),
)
_SPANS = [span for _kind, spans in CONTROL_RANGES for span in spans]
#: The code points of the rule, for readers that test characters or bytes themselves.
CONTROL_CODE_POINTS = frozenset(c for lo, hi in _SPANS for c in range(lo, hi + 1))
_CLASS = "".join(f"\\u{lo:04x}-\\u{hi:04x}" for lo, hi in _SPANS)  # Python and Rust syntax
CONTROL_CHARACTERS = re.compile(f"[{_CLASS}]")
CONTROL_FREE_PATTERN = f"^[^{_CLASS}]*$"
_KINDS = [f"{kind} ({', '.join(f'U+{lo:04X}-U+{hi:04X}' for lo, hi in spans)})"
          for kind, spans in CONTROL_RANGES]
CONTROL_RULE = f"must not contain {', '.join(_KINDS[:-1])} or {_KINDS[-1]}"

#: A seed setting (PRODUCER_SEED, DETECTOR_CORE__SEED): 0 to 2^32 - 1 (`shared.seeds`).
Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]

#: A plain decimal number. Each text matches one way only (`[0-9]+\.?[0-9]*` could split a
#: run of digits at any point: refusing 8,000 digits and a letter took 1 s, quadratic)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE = re.compile(r"[+-]?(?:inf|infinity|nan)", re.IGNORECASE)
#: The timestamp's shape: RFC 3339's date-time (section 5.6, its note's space for `T`
#: included), the zone optional (none: UTC). `datetime.fromisoformat` reads it, and more
#: (week dates, `20250101T0000`, any separator, `,` fractions, `+01`, `+05:99`), refused.
RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}"
                     r"(?:\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?")
_RFC3339_RULE = ("expected YYYY-MM-DD HH:MM:SS, `T` or a space between, an optional "
                 ".fraction and an optional Z or +HH:MM")


def quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """`repr` of `text`, cut to `limit` characters with an ellipsis (reasons stay short)."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _escaped(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


#: A cell starting with one of these is run as a formula by Excel: exported text that does
#: gets a leading `'` (the exports' and the rejects reports' guard). Their full-width forms
#: U+FF1D, U+FF0B, U+FF0D, U+FF20 too: Excel in a Japanese environment reads them as the
#: ASCII ones (OWASP www-community issue #1088; docs/reliability.md).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def unguarded(cell: str) -> str:
    """The text a guarded cell was made from (its leading `'` before one of `FORMULA_START`
    removed): what a review names, as sent."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] in FORMULA_START else cell


def escape_controls(text: str, keep: str = "") -> str:
    """`text` with every character of the rule but those in `keep` written as an escape
    (`\\x00`, `\\x85`, `\\u2028`): safe to show in a report, a log or a reason."""
    if text.isprintable():  # none of the rule's characters is printable (a test checks)
        return text
    return CONTROL_CHARACTERS.sub(
        lambda m: m.group() if m.group() in keep else _escaped(m), text)


def check_amount(value: float, text: str | None = None) -> float:
    """`value` if finite with |value| < 1e12, else `ValueError` naming the rule (and quoting
    `text`, the value as written, when there is one)."""
    if -AMOUNT_LIMIT < value < AMOUNT_LIMIT:
        return value
    shown = repr(value) if text is None else quote(text)
    if not math.isfinite(value):
        raise ValueError(f"{shown} is not a finite number" if text else "must be a finite number")
    raise ValueError(f"{shown} is out of range (|amount| must be below 1e12)")


def parse_amount(text: str) -> float:
    """An amount from text: a plain decimal number (`-12.5`, `1e3`), surrounding whitespace
    allowed; no `_`, no thousands separators, no non-ASCII digits, no `inf`/`nan`."""
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        # ASCII text without `_` that `float` reads as a finite number is exactly `_NUMBER`
        # (inf and nan fail the range test): the regular expression is only for the rest.
        if -AMOUNT_LIMIT < value < AMOUNT_LIMIT and text.isascii() and "_" not in text:
            return value
    t = text.strip()
    if not _NUMBER.fullmatch(t):
        if _NON_FINITE.fullmatch(t):
            raise ValueError(f"{quote(t)} is not a finite number")
        raise ValueError(f"{quote(t)} is not a number" if t else "missing")
    return check_amount(float(t), t)


def check_timestamp(value: datetime) -> datetime:
    """`value` as naive UTC (aware values converted) if in 1970-2100, else `ValueError`."""
    if value.tzinfo is not None:
        # Offsets are under a day, so a year outside 1969..2101 is out of range either way,
        # and checking it first keeps `astimezone` away from year 1 and 9999 (OverflowError).
        if not 1969 <= value.year <= 2101:
            raise ValueError(_out_of_range(value))
        value = value.astimezone(UTC).replace(tzinfo=None)
    if not MIN_TIMESTAMP <= value < MAX_TIMESTAMP:
        raise ValueError(_out_of_range(value))
    return value


def _out_of_range(value: datetime) -> str:
    return f"{value.isoformat()} is out of range (years 1970-2100, UTC)"


def parse_timestamp(text: str) -> datetime:
    """An event time from RFC 3339 text (`2025-01-01 00:00:00`, `T`, zones), naive UTC; a
    fraction finer than a microsecond (.NET's 7 digits) truncated to it, never rounded."""
    t = text.strip()
    shaped = RFC3339.fullmatch(t) is not None
    try:
        value = datetime.fromisoformat(t if t[-1:] != "z" else t[:-1] + "Z")
    except ValueError:
        if shaped and t[17:19] == "60":
            return _leap_second(t)
        raise ValueError(
            f"{quote(t)} is not a date-time (expected YYYY-MM-DD HH:MM:SS)" if t else "missing"
        ) from None
    if not shaped:
        raise ValueError(f"{quote(t)} is not an RFC 3339 date-time ({_RFC3339_RULE})")
    if value.tzinfo is None and MIN_TIMESTAMP <= value < MAX_TIMESTAMP:
        return value  # the usual case, without a call
    return check_timestamp(value)


def _leap_second(t: str) -> datetime:
    """A leap second (`t` shaped as RFC 3339 with second 60) as the last microsecond of its
    second 59, naive UTC: RFC 3339 (5.7) allows second 60 only at 23:59:60 UTC on a month's
    last day, which a system keeping true UTC writes and Python's datetime cannot hold
    (Java's ISO instant reads it so too). Any other second 60 is no date-time."""
    try:
        read: datetime | None = datetime.fromisoformat(
            t[:17] + "59" + (t[19:] if t[-1:] != "z" else t[19:-1] + "Z"))
    except ValueError:  # no date at all (2016-02-30)
        read = None
    value = None if read is None else check_timestamp(read)  # out of range: that reason
    if value is None or (value.hour, value.minute) != (23, 59) or \
            (value + timedelta(days=1)).day != 1:
        raise ValueError(f"{quote(t)} is not a date-time (second 60 is a leap second only "
                         "at 23:59:60 UTC on a month's last day)")
    return value.replace(microsecond=999999)


def _checked(check: Callable[[_In], _Out], value: _In) -> _Out:
    """`check(value)`, its `ValueError` as a pydantic error with exactly its message (no
    "Value error, " prefix)."""
    try:
        return check(value)
    except ValueError as exc:
        raise PydanticCustomError("value_error", str(exc)) from None


class _NoControl:
    """`Annotated` marker: after its other constraints (stripping first, where stripped),
    the text holds no control character, else the error `CONTROL_RULE`. A regular
    expression checked in Rust (pydantic-core), so valid text costs little."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.chain_schema([handler(source), _CONTROL_FREE])


_CONTROL_FREE = core_schema.custom_error_schema(
    core_schema.str_schema(pattern=CONTROL_FREE_PATTERN), "control_character",
    custom_error_message=CONTROL_RULE)
NO_CONTROL = _NoControl()

IdText = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS, strip_whitespace=True),
    NO_CONTROL,
]
CountryText = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_COUNTRY_CHARS, strip_whitespace=True),
    NO_CONTROL,
]
LabelText = Annotated[str, StringConstraints(max_length=MAX_LABEL_CHARS), NO_CONTROL]
IpText = Annotated[str, StringConstraints(max_length=MAX_IP_CHARS), NO_CONTROL]
AnomalyTypeText = Annotated[
    str, StringConstraints(max_length=MAX_ANOMALY_TYPE_CHARS), NO_CONTROL]
AttributeKey = Annotated[
    str, StringConstraints(max_length=MAX_ATTRIBUTE_KEY_CHARS), NO_CONTROL]
AttributeValue = Annotated[
    str, StringConstraints(max_length=MAX_ATTRIBUTE_VALUE_CHARS), NO_CONTROL]
VerdictText = Annotated[
    str, StringConstraints(max_length=MAX_VERDICT_TEXT_CHARS), NO_CONTROL]

#: The historic CSV layout, in order (label columns last): the scored row's input fields.
CSV_FIELDS: tuple[str, ...] = INPUT_FIELDS
LABEL_FIELDS: tuple[str, ...] = tuple(f.name for f in SCORED_ROW if f.role == "label")
REQUIRED_CSV_FIELDS: tuple[str, ...] = tuple(f for f in CSV_FIELDS if f not in LABEL_FIELDS)
#: Each verdict field's declared default: what the core's verdict holds until it sets it
#: (a required field's too, `is_flag`, which a scored message must carry).
VERDICT_DEFAULTS: dict[str, object] = {
    f.name: f.default for f in SCORED_ROW if f.name in VERDICT_FIELDS}


class Transaction(BaseModel):
    """One payment as it travels on the `transactions` topic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION
    transaction_id: IdText
    customer_id: IdText
    timestamp: datetime
    amount: float
    country: CountryText
    channel: LabelText
    device: LabelText
    merchant_category: LabelText
    ip: IpText = ""
    is_anomaly: bool | None = None
    anomaly_type: AnomalyTypeText | None = None
    attributes: Annotated[
        dict[AttributeKey, AttributeValue], Field(max_length=MAX_ATTRIBUTES)
    ] = Field(default_factory=dict)

    @field_validator("schema_version", "amount", mode="before")
    @classmethod
    def _not_a_boolean(cls, v: object) -> object:
        # pydantic's lax mode reads true as 1 (a number field's `true` was scored as an
        # amount of 1.0: a hostile probe); the fast decoder refuses it, so must the schema
        if isinstance(v, bool):
            raise PydanticCustomError("value_error", f"a number, not {str(v).lower()}")
        return v

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v not in SUPPORTED_SCHEMA_VERSIONS:
            raise ValueError(
                f"unsupported schema_version {v}; supported: {sorted(SUPPORTED_SCHEMA_VERSIONS)}"
            )
        return v

    @field_validator("amount", mode="before")
    @classmethod
    def _amount_text(cls, v: object) -> object:
        # Text goes through the one number syntax (pydantic's own would take `1_000`, `inf`).
        return _checked(parse_amount, v) if isinstance(v, str) else v

    @field_validator("amount")
    @classmethod
    def _amount_range(cls, v: float) -> float:
        if -AMOUNT_LIMIT < v < AMOUNT_LIMIT:
            return v  # the usual case, without a call
        return _checked(check_amount, v)

    @field_validator("timestamp", mode="before")
    @classmethod
    def _timestamp_text(cls, v: object) -> object:
        # Text is read as the CSV reader reads it (`parse_timestamp`), so both agree.
        return _checked(parse_timestamp, v) if isinstance(v, str) else v

    @field_validator("timestamp")
    @classmethod
    def _naive_utc(cls, v: datetime) -> datetime:
        # Event time is naive, as in the historic layout; aware values are converted to UTC
        # and made naive so every comparison is between naive values.
        if v.tzinfo is None and MIN_TIMESTAMP <= v < MAX_TIMESTAMP:
            return v
        return _checked(check_timestamp, v)


class TransactionView(Protocol):
    """What the detector reads of a transaction: a `Transaction`, or the light record the
    fast decoder makes (`shared.fastcodec.TxRecord`), with the same names and values. A unit
    test holds its attributes equal to `Transaction`'s fields."""

    @property
    def schema_version(self) -> int: ...
    @property
    def transaction_id(self) -> str: ...
    @property
    def customer_id(self) -> str: ...
    @property
    def timestamp(self) -> datetime: ...
    @property
    def amount(self) -> float: ...
    @property
    def country(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def device(self) -> str: ...
    @property
    def merchant_category(self) -> str: ...
    @property
    def ip(self) -> str: ...
    @property
    def is_anomaly(self) -> bool | None: ...
    @property
    def anomaly_type(self) -> str | None: ...
    @property
    def attributes(self) -> dict[str, str]: ...


_PYTHON_TYPES: dict[str, Any] = {
    "text": str, "time": datetime, "number": float, "int": int, "bool": bool,
    "list": list[str], "flags": dict[str, bool],
}


def _no_text(v: object) -> object:
    """A yes/no field's JSON is true or false: pydantic's lax mode took "yes", "on", "1"
    (a hostile probe wrote `"is_flag": "yes"` to the scored topic; the sink exported it; a
    rule's flag in `rule_flags` took "yes" too until 2026-12-06)."""
    if isinstance(v, str):
        raise PydanticCustomError("value_error", "true or false, not text")
    return v


def _verdict_field(f: ColumnField) -> tuple[Any, Any]:
    """(annotation, pydantic field) of a declared verdict or provenance field: its bounds
    (NaN is outside any), a yes/no one (a rule's flag too) never from text, text under the
    input's text rule (no control character; a NUL, U+2028 or a bidi override from another
    writer of the scored topic was exported as it came) and bounded."""
    annotation = _PYTHON_TYPES[f.kind]
    yes_no = Annotated[bool, BeforeValidator(_no_text)]
    if f.kind == "bool":
        annotation = yes_no
    elif f.kind == "text":
        annotation = VerdictText
    elif f.kind == "list":
        annotation = Annotated[list[VerdictText], Field(max_length=MAX_VERDICT_ITEMS)]
    elif f.kind == "flags":
        annotation = Annotated[dict[VerdictText, yes_no], Field(max_length=MAX_VERDICT_ITEMS)]
    lo, hi = f.bounds
    if f.required:
        return annotation, Field(description=f.doc, ge=lo, le=hi)
    if f.nullable:
        return annotation | None, Field(default=None, description=f.doc, ge=lo, le=hi)
    if isinstance(f.default, list | dict):
        factory = type(f.default)
        return annotation, Field(default_factory=factory, description=f.doc)
    return annotation, Field(default=f.default, description=f.doc, ge=lo, le=hi)


class _TolerantReader(Transaction):
    """A scored message may hold fields this release does not know (a newer detector's,
    written during a rolling upgrade): they are ignored, never kept, and the row is read
    with the fields it knows, each as exact as before (`shared.fastcodec.unknown_scored_fields`
    names them; docs/sink.md, "Upgrades"). The input (`Transaction`) stays exact: there an
    unknown field could change the verdict the detector computes from it."""

    model_config = ConfigDict(extra="ignore")


if TYPE_CHECKING:  # what mypy sees; a unit test holds it equal to `SCORED_ROW`

    class ScoredTransaction(_TolerantReader):
        """A transaction with the detector's verdict, as published on `transactions.scored`."""

        score: float | None = None
        model_score: float | None = None
        is_ml_flag: bool = False
        rule_flags: dict[str, bool] = Field(default_factory=dict)
        is_rule_flag: bool = False
        is_flag: bool
        reasons_top3: list[str] = Field(default_factory=list)
        triggered_rules: list[str] = Field(default_factory=list)
        model_version: str = ""
        source_partition: int | None = None
        source_offset: int | None = None

else:
    ScoredTransaction = create_model(
        "ScoredTransaction",
        __base__=_TolerantReader,
        __module__=__name__,
        __doc__="A transaction with the detector's verdict, as published on "
        "`transactions.scored` (fields from `shared.columns.SCORED_ROW`).",
        **{f.name: _verdict_field(f) for f in SCORED_ROW if f.name in VERDICT_FIELDS},
    )
