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
    # expected cases per day (`sink.tables.cases_per_day`), against EXPORTS_DAILY_CAPACITY
    *(f"{mode}_cases_per_day" for mode in MODES),
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
)
