"""Column contracts of the exports (what Power BI and report.html read). Change with care.

Every file is UTF-8 CSV with a header row, ISO-8601 timestamps (`2025-01-01T00:00:00`),
`.` decimals, booleans as `True`/`False`, and an empty cell for unknown values.

The scored row (`transactions_scored` files, the `transactions.scored` topic) is declared
once, in `SCORED_ROW`: each field's name, kind, role and default. Everything else is
derived from it: `ScoredTransaction`'s verdict fields (`shared.schemas`), the CSV header and
cells (`sink.csvfmt`), the fields the offline workers send back (`detector.offline`), the
Power BI column types (`dashboard.spec`) and the synthetic sample frame (`dashboard.sample`).
Adding a column is: a `Field` here, the code that computes it (`detector.core.engine`), then
regenerate the dashboard (`auditstream dashboard build`). A field of kind `flags` is a dict
of named booleans, one `rule_<name>` column each. A verdict field added is `nullable`: an
older detector's messages lack it, and its cell then says unknown (empty), never a value
that detector did not give; an older sink ignores it (docs/sink.md, "Upgrades: the
detector and the sink in either order").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

#: How a field is typed, formatted in CSV and typed in Power BI.
Kind = Literal["text", "time", "number", "int", "bool", "list", "flags"]
#: input: the transaction as received; label: ground truth for measuring (never read by the
#: detector); verdict: what the detector computes; provenance: where the verdict came from.
Role = Literal["input", "label", "verdict", "provenance"]

#: Power BI (TMDL) data type of each kind's column(s).
POWER_BI_TYPES: dict[Kind, str] = {
    "text": "string",
    "time": "dateTime",
    "number": "double",
    "int": "int64",
    "bool": "boolean",
    "list": "string",
    "flags": "boolean",
}

#: The detector's rules, in column order; the keys of the `rule_flags` field.
RULE_NAMES: tuple[str, ...] = (
    "high_amount",
    "odd_hour",
    "duplicate",
    "burst",
    "impossible_travel",
    "new_country",
)
RULE_COLUMNS: tuple[str, ...] = tuple(f"rule_{name}" for name in RULE_NAMES)
#: How a `list` field's items are joined in its CSV cell.
LIST_SEPARATORS: dict[str, str] = {"reasons_top3": " | ", "triggered_rules": ";"}


@dataclass(frozen=True)
class Field:
    """One field of the scored row (one CSV column; a `flags` field one per rule)."""

    name: str
    kind: Kind
    role: Role
    doc: str
    nullable: bool = False  # an empty cell when unknown (None)
    default: object = None
    #: (least, most) a number may be, both inclusive (None: unbounded on that side)
    bounds: tuple[float | None, float | None] = (None, None)
    #: A scored message without it is no scored message (`default` is then only what the
    #: core's verdict holds until set): every detector release wrote it; a transaction sent
    #: to the scored topic lacks it.
    required: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        """Its CSV column name(s), in order."""
        return RULE_COLUMNS if self.kind == "flags" else (self.name,)

    @property
    def power_bi_type(self) -> str:
        return POWER_BI_TYPES[self.kind]


def _input(name: str, kind: Kind, doc: str) -> Field:
    return Field(name, kind, "input", doc)


#: The scored row, in CSV column order: the input columns (the historic CSV layout, labels
#: last), then the verdict, then provenance.
SCORED_ROW: tuple[Field, ...] = (
    _input("transaction_id", "text", "the payment's id (any text)"),
    _input("customer_id", "text", "the paying customer's id (any text); the Kafka key"),
    _input("timestamp", "time", "event time, naive UTC"),
    _input("amount", "number", "amount; negative for a refund"),
    _input("country", "text", "country of the payment"),
    _input("channel", "text", "web, app, branch, atm, ..."),
    _input("device", "text", "device or terminal"),
    _input("merchant_category", "text", "merchant category"),
    _input("ip", "text", "client IP address; may be empty"),
    Field("is_anomaly", "bool", "label", "ground truth when known", nullable=True),
    Field("anomaly_type", "text", "label", "ground truth kind when known", nullable=True),
    Field("score", "number", "verdict",
          "combined surprise, 0..1, higher is more anomalous", nullable=True, bounds=(0, 1)),
    Field("model_score", "number", "verdict",
          "the Isolation Forest alone, 0..1; empty before its first fit", nullable=True,
          bounds=(0, 1)),
    Field("is_ml_flag", "bool", "verdict", "model_score at or above the model threshold",
          default=False),
    Field("rule_flags", "flags", "verdict", "each rule's verdict, one column per rule",
          default={}),
    Field("is_rule_flag", "bool", "verdict", "any rule fired", default=False),
    Field("is_flag", "bool", "verdict", "flagged for review (model, rule or score)",
          default=False, required=True),
    Field("reasons_top3", "list", "verdict", "up to three reasons joined by ' | '",
          default=[]),
    Field("triggered_rules", "list", "verdict", "fired rules joined by ';'", default=[]),
    Field("model_version", "text", "provenance", "the model that scored the row, or "
          "'rules-only' before the first fit", default=""),
    Field("source_partition", "int", "provenance", "input partition", nullable=True,
          bounds=(0, None)),
    Field("source_offset", "int", "provenance", "input offset (offline: position)",
          nullable=True, bounds=(0, None)),
)

#: Fields of the historic CSV layout (input and labels), in order.
INPUT_FIELDS: tuple[str, ...] = tuple(f.name for f in SCORED_ROW if f.role in ("input", "label"))
#: A transaction message's fields, in order (`shared.schemas.Transaction`, the detector's
#: fast decoder `shared.fastcodec`): its version, the input columns, then free attributes
#: (the version and the attributes are not columns).
MESSAGE_FIELDS: tuple[str, ...] = ("schema_version", *INPUT_FIELDS, "attributes")
#: Fields the detector adds to a transaction (verdict and provenance), in order.
VERDICT_FIELDS: tuple[str, ...] = tuple(
    f.name for f in SCORED_ROW if f.role in ("verdict", "provenance"))
#: transactions_scored CSV columns, in order.
SCORED_COLUMNS: tuple[str, ...] = tuple(c for f in SCORED_ROW for c in f.columns)
#: Each column's index in an exported row (readers of the day files index cells by it).
SCORED_INDEX: dict[str, int] = {c: i for i, c in enumerate(SCORED_COLUMNS)}
#: Each scored column's Power BI type.
SCORED_TYPES: dict[str, str] = {c: f.power_bi_type for f in SCORED_ROW for c in f.columns}

#: thresholds.csv: one row per grid threshold 0.00..1.00 (step 0.01). Four ways to flag:
#: `ml_*` = model_score >= t (the Isolation Forest alone), `rules_*` = any rule (the same
#: at every t), `hybrid_*` = model_score >= t or any rule, `combined_*` = score >= t (the
#: combined surprise, rules included). Workload is the % of rows flagged.
_PER_MODE = (
    "tp", "fp", "fn", "tn", "flagged", "precision", "recall", "fpr", "workload_pct",
    "expected_cost",
)
MODES: tuple[str, ...] = ("ml", "rules", "hybrid", "combined")
#: The modes a threshold can be recommended for (`EXPORTS_RECOMMEND_FOR`, run.json's
#: `recommended_mode`), in MODES' order: the dashboards draw each one's cost and KPIs.
RecommendMode = Literal["combined", "hybrid", "ml"]
RECOMMEND_MODES: tuple[str, ...] = tuple(m for m in MODES if m in get_args(RecommendMode))
THRESHOLD_COLUMNS: tuple[str, ...] = (
    "threshold",
    *(f"{mode}_{m}" for mode in MODES for m in _PER_MODE),
    "is_recommended",
    # expected cases per day (`sink.tables.cases_per_day`), against EXPORTS_DAILY_CAPACITY
    *(f"{mode}_cases_per_day" for mode in MODES),
    "daily_capacity",  # the setting on every row (empty when unset), for the capacity line
)

#: metrics_by_type.csv, long format: `section` is anomaly_type | rule | model | hybrid |
#: combined. anomaly_type rows fill support and, at the recommended threshold, what each
#: mode detects (detected/recall = hybrid); rule/model/hybrid/combined rows fill
#: flags/true_flags/precision.
METRICS_BY_TYPE_COLUMNS: tuple[str, ...] = (
    "section",
    "name",
    "support",
    "detected",
    "recall",
    "ml_detected",
    "ml_recall",
    "rules_detected",
    "rules_recall",
    "combined_detected",
    "combined_recall",
    "flags",
    "true_flags",
    "precision",
)

#: confusion_matrix.csv at the recommended threshold, for every mode.
CONFUSION_COLUMNS: tuple[str, ...] = ("mode", "threshold", "actual", "predicted", "count")

#: cases.csv: cases (a customer's flagged transactions within EXPORTS_CASE_GAP_S of each
#: other, `sink.cases`), most suspicious first: the top EXPORTS_TOP_CASES by score plus every
#: case of the last EXPORTS_CASE_DAYS days. `case_id` is stable (customer + first
#: transaction), `score`/`model_score` the highest of its transactions, the review columns
#: its current outcome (last wins), labels (`anomalous_transactions`) empty without them.
CASES_COLUMNS: tuple[str, ...] = (
    "rank",
    "case_id",
    "customer_id",
    "first_time",
    "last_time",
    "transactions",
    "total_amount",
    "score",
    "model_score",
    "is_ml_flag",
    "is_rule_flag",
    "triggered_rules",
    "reasons_top3",
    "top_transaction_id",
    "channel",
    "country",
    "anomalous_transactions",
    "anomaly_type",
    "outcome",
    "reviewer",
    "reviewed_at",
    "note",
)

#: case_transactions.csv: every flagged transaction of each case in cases.csv.
CASE_TRANSACTIONS_COLUMNS: tuple[str, ...] = (
    "case_id", "transaction_id", "customer_id", "timestamp", "amount", "score", "is_anomaly",
)

#: audit_sample.csv: the day's deterministic sample of non-flagged transactions
#: (`sink.sampling`), per amount band, with their current review.
AUDIT_SAMPLE_COLUMNS: tuple[str, ...] = (
    "day", "amount_band", "transaction_id", "customer_id", "timestamp", "amount", "score",
    "model_score", "rank_in_stratum", "outcome", "reviewer", "reviewed_at", "note",
)

#: reviews_log.csv: every review message the sink read, in topic order (appended).
REVIEWS_LOG_COLUMNS: tuple[str, ...] = (
    "logged_at", "target", "id", "outcome", "reviewer", "reviewed_at", "note", "partition",
    "offset", "matched",
)

#: assurance.csv, long format (`sink.assurance`): reviewed precision with its 95% Wilson
#: interval per mode, rule and threshold; the audit sample's miss rate and the implied
#: recall (in the precision columns, section `miss_rate` / `recall`); label-based precision
#: of the same reviewed cases beside it when labels exist.
ASSURANCE_COLUMNS: tuple[str, ...] = (
    "section", "name", "threshold", "reviewed", "confirmed", "dismissed", "unclear",
    "precision", "precision_low", "precision_high", "labelled", "labelled_precision",
)

#: status.csv: one row on how fresh the exports are (`sink.status`).
STATUS_COLUMNS: tuple[str, ...] = (
    "data_as_of",
    "last_row_written_at",
    "heartbeat_at",
    "rows",
    "lag_messages",
    "minutes_behind",
    "auditstream_version",
    "librdkafka_version",
    "model_versions",
    "stopped_at",
    "source",
)

#: Which program wrote an exports folder: run.json's and status.csv's `source`. A folder of
#: SOURCE_SCORE is a batch run's (`auditstream score`): no stream follows it, no sink writes
#: it, so no reader says how far it is behind a stream nor that a sink stopped.
SOURCE_SINK = "auditstream sink"
SOURCE_SCORE = "auditstream score"
