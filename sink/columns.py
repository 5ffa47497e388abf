"""Column contracts of the exports (what Power BI and report.html read). Change with care.

Every file is UTF-8 CSV with a header row, ISO-8601 timestamps (`2025-01-01T00:00:00`),
`.` decimals, booleans as `True`/`False`, and an empty cell for unknown values.
"""

from __future__ import annotations

from shared.schemas import CSV_FIELDS

#: The detector's rules, in column order; `rule_flags` keys of `ScoredTransaction`.
RULE_NAMES: tuple[str, ...] = (
    "high_amount",
    "odd_hour",
    "duplicate",
    "burst",
    "impossible_travel",
    "new_country",
)
RULE_COLUMNS: tuple[str, ...] = tuple(f"rule_{name}" for name in RULE_NAMES)

#: transactions_scored.csv: the input columns, then the verdict, then provenance.
SCORED_COLUMNS: tuple[str, ...] = (
    *CSV_FIELDS,
    "score",
    "model_score",
    "is_ml_flag",
    *RULE_COLUMNS,
    "is_rule_flag",
    "is_flag",
    "reasons_top3",  # up to three reasons joined by " | "
    "triggered_rules",  # rule names joined by ";"
    "model_version",
    "source_partition",
    "source_offset",
)

#: thresholds.csv: one row per grid threshold 0.00..1.00 (step 0.01). Four ways to flag:
#: `ml_*` = model_score >= t (the Isolation Forest alone), `rules_*` = any rule (the same
#: at every t), `hybrid_*` = model_score >= t or any rule, `combined_*` = score >= t (the
#: combined surprise, rules included). Workload is the % of rows flagged.
_PER_MODE = (
    "tp", "fp", "fn", "tn", "flagged", "precision", "recall", "fpr", "workload_pct",
    "expected_cost",
)
MODES: tuple[str, ...] = ("ml", "rules", "hybrid", "combined")
THRESHOLD_COLUMNS: tuple[str, ...] = (
    "threshold",
    *(f"{mode}_{m}" for mode in MODES for m in _PER_MODE),
    "is_recommended",
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

#: cases.csv: the top alerts for reviewers, most suspicious first.
CASES_COLUMNS: tuple[str, ...] = (
    "rank",
    "transaction_id",
    "customer_id",
    "timestamp",
    "amount",
    "country",
    "channel",
    "merchant_category",
    "score",
    "model_score",
    "is_ml_flag",
    "is_rule_flag",
    "triggered_rules",
    "reasons_top3",
    "is_anomaly",
    "anomaly_type",
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
)
