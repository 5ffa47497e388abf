"""The one spec of the Power BI dashboard: tables, measures, relationships, pages.

`dashboard.tmdl` (semantic model), `dashboard.pbir` (report) and `dashboard.pbix` (the built
file) are all generated from the values here; the tests check the outputs against them.
Column names, order and (for the scored row) types come from `shared.columns`, so the
model follows the export contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.columns import (
    CASES_COLUMNS,
    CONFUSION_COLUMNS,
    METRICS_BY_TYPE_COLUMNS,
    SCORED_COLUMNS,
    SCORED_TYPES,
    STATUS_COLUMNS,
    THRESHOLD_COLUMNS,
)

NAME = "dashboard_anomalies"
PARAMETER = "ExportsFolder"
#: Placeholder only: Power Query needs a full folder path, which each user sets.
PARAMETER_DEFAULT = "set-to-your-exports-folder/"
MEASURE_TABLE = "transactions_scored"

#: Types of the columns of the other exports, by name (a scored column's type comes from
#: its declaration, `SCORED_TYPES`; a column of the same name elsewhere has the same type).
_INT = {"rank", "support", "detected", "ml_detected", "flags", "true_flags", "count"}
_BOOL = {"is_recommended", "actual", "predicted"}
_TEXT = {"section", "name", "mode"}
#: status.csv's times and counts (the rest of it is text).
_STATUS_TIMES = {"data_as_of", "last_row_written_at", "heartbeat_at"}
_STATUS_COUNTS = {"rows", "lag_messages", "minutes_behind"}
_TEXT |= {"auditstream_version", "librdkafka_version", "model_versions"}


def column_type(name: str) -> str:
    """TMDL data type of an export column: declared for the scored row, else by name."""
    if name in SCORED_TYPES:
        return SCORED_TYPES[name]
    if name in _STATUS_TIMES:
        return "dateTime"
    if name in _STATUS_COUNTS:
        return "int64"
    if name in _BOOL:
        return "boolean"
    if name in _TEXT:
        return "string"
    if name in _INT or name.endswith(("_tp", "_fp", "_fn", "_tn", "_flagged")):
        return "int64"
    return "double"


@dataclass(frozen=True)
class Table:
    """A model table loaded from one export CSV; `derived` columns are added in Power Query."""

    name: str
    csv_columns: tuple[str, ...]
    derived: tuple[tuple[str, str, str], ...] = ()  # (name, TMDL type, M expression)
    day_folder: str = ""  # read the day files here (incremental refresh), not `file`

    @property
    def file(self) -> str:
        return f"{self.name}.csv"

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.csv_columns, *(d[0] for d in self.derived))

    def type_of(self, column: str) -> str:
        for name, kind, _ in self.derived:
            if name == column:
                return kind
        return column_type(column)


TABLES: tuple[Table, ...] = (
    Table("transactions_scored", SCORED_COLUMNS,
          derived=(("date", "dateTime", "DateTime.Date([timestamp])"),), day_folder="scored"),
    Table("thresholds", THRESHOLD_COLUMNS),
    Table("metrics_by_type", METRICS_BY_TYPE_COLUMNS),
    Table("confusion_matrix", CONFUSION_COLUMNS),
    Table("cases", CASES_COLUMNS),
    Table("status", STATUS_COLUMNS),
)


@dataclass(frozen=True)
class Measure:
    name: str
    dax: str
    fmt: str = "0.0%"


_TS = "transactions_scored"
_TH = "VAR th = [Selected Threshold]\nRETURN\n"


def _count(cond: str) -> str:
    """Rows meeting `cond` at the selected threshold; 0 (not BLANK) when there are none."""
    return f"{_TH}COUNTROWS(FILTER({_TS}, {cond})) + 0"


def _lookup(column: str) -> str:
    return (f"{_TH}CALCULATE(MAX(thresholds[{column}]), "
            f"FILTER(ALL(thresholds), thresholds[threshold] = th))")


_ML = f"{_TS}[model_score] >= th"
_HY = f"({_TS}[model_score] >= th || {_TS}[is_rule_flag])"
_CO = f"{_TS}[score] >= th"
_Y = f"{_TS}[is_anomaly]"

MEASURES: tuple[Measure, ...] = (
    Measure("Recommended Threshold",
            "CALCULATE(MAX(thresholds[threshold]), "
            "FILTER(ALL(thresholds), thresholds[is_recommended] = TRUE()))", "0.00"),
    Measure("Selected Threshold",
            "IF(HASONEVALUE(thresholds[threshold]), MAX(thresholds[threshold]), "
            "[Recommended Threshold])", "0.00"),
    Measure("Transactions", f"COUNTROWS({_TS})", "#,0"),
    Measure("Total Anomalies", f"COUNTROWS(FILTER({_TS}, {_Y})) + 0", "#,0"),
    Measure("Anomaly Rate", "DIVIDE([Total Anomalies], [Transactions])"),
    Measure("ML Flagged", _count(_ML), "#,0"),
    Measure("ML True Positives", _count(f"{_ML} && {_Y}"), "#,0"),
    Measure("Hybrid Flagged", _count(_HY), "#,0"),
    Measure("Hybrid True Positives", _count(f"{_HY} && {_Y}"), "#,0"),
    Measure("ML Precision", "DIVIDE([ML True Positives], [ML Flagged])"),
    Measure("ML Recall", "DIVIDE([ML True Positives], [Total Anomalies])"),
    Measure("ML Workload %", "DIVIDE([ML Flagged], [Transactions])"),
    Measure("Hybrid Precision", "DIVIDE([Hybrid True Positives], [Hybrid Flagged])"),
    Measure("Hybrid Recall", "DIVIDE([Hybrid True Positives], [Total Anomalies])"),
    Measure("Hybrid Workload %", "DIVIDE([Hybrid Flagged], [Transactions])"),
    Measure("Rules Flagged", f"COUNTROWS(FILTER({_TS}, {_TS}[is_rule_flag])) + 0", "#,0"),
    Measure("Rules True Positives",
            f"COUNTROWS(FILTER({_TS}, {_TS}[is_rule_flag] && {_Y})) + 0", "#,0"),
    Measure("Rules Recall", "DIVIDE([Rules True Positives], [Total Anomalies])"),
    Measure("Combined Flagged", _count(_CO), "#,0"),
    Measure("Combined True Positives", _count(f"{_CO} && {_Y}"), "#,0"),
    Measure("Combined Precision", "DIVIDE([Combined True Positives], [Combined Flagged])"),
    Measure("Combined Recall", "DIVIDE([Combined True Positives], [Total Anomalies])"),
    Measure("ML Expected Cost", _lookup("ml_expected_cost"), "#,0.##"),
    Measure("Hybrid Expected Cost", _lookup("hybrid_expected_cost"), "#,0.##"),
    Measure("Total Flagged", "[Hybrid Flagged]", "#,0"),
    Measure("Flag Rate", "DIVIDE([Total Flagged], [Transactions])"),
    Measure("ML Only", _count(f"{_ML} && NOT({_TS}[is_rule_flag])"), "#,0"),
    Measure("Rules Only", _count(f"NOT({_ML}) && {_TS}[is_rule_flag]"), "#,0"),
    Measure("ML and Rules", _count(f"{_ML} && {_TS}[is_rule_flag]"), "#,0"),
    Measure("Data As Of",
            "VAR asof = MAX(status[data_as_of])\nVAR behind = MAX(status[minutes_behind])\n"
            'RETURN IF(ISBLANK(asof), "no data yet", "data as of " & '
            'FORMAT(asof, "yyyy-mm-dd hh:nn") & ", " & IF(ISBLANK(behind), '
            '"lag unknown", FORMAT(behind, "0") & " minutes behind the stream"))', ""),
    Measure("Recommended Cost Marker",
            "IF(MAX(thresholds[threshold]) = [Recommended Threshold], "
            "MAX(thresholds[hybrid_expected_cost]))", "#,0.##"),
)

#: KPIs read from thresholds.csv at the selected threshold: the sink's own counts, so O(1),
#: equal to the offline report by construction, and no fact table needed. The fact-based
#: measures above stay for what thresholds.csv does not split: by channel, day and type.
#: (label-based figures count labelled rows only, as docs/sink.md says.)
_KPI_COLUMNS = (("Flagged", "flagged", "#,0"), ("True Positives", "tp", "#,0"),
                ("Precision", "precision", "0.0%"), ("Recall", "recall", "0.0%"))
KPI_MEASURES: tuple[Measure, ...] = (
    *(Measure(f"KPI {mode} {label}", _lookup(f"{mode.lower()}_{column}"), fmt)
      for mode in ("ML", "Hybrid") for label, column, fmt in _KPI_COLUMNS),
    *(Measure(f"KPI {mode} Workload %",  # thresholds.csv holds a percentage
              f"{_TH}DIVIDE(CALCULATE(MAX(thresholds[{mode.lower()}_workload_pct]), "
              "FILTER(ALL(thresholds), thresholds[threshold] = th)), 100)")
      for mode in ("ML", "Hybrid")),
)
MEASURES = (*MEASURES, *KPI_MEASURES)

#: Incremental refresh of the tables with a `day_folder`: Power BI's two dateTime parameters
#: (exact names), their values in Desktop (wide, so the whole folder loads there), and the
#: policy: keep ARCHIVE_YEARS years, re-read the last REFRESH_DAYS days on each refresh.
RANGE_PARAMETERS: tuple[tuple[str, str], ...] = (
    ("RangeStart", "#datetime(2000, 1, 1, 0, 0, 0)"),
    ("RangeEnd", "#datetime(2100, 1, 1, 0, 0, 0)"),
)
ARCHIVE_YEARS = 2
REFRESH_DAYS = 3
DAY_FILE_PREFIX = "transactions_scored_"  # sink.days: <prefix>YYYY-MM-DD.csv

#: The date dimension: one row per day from the first to the last event day that run.json
#: records (a small file, so the table stays full refresh), marked as the model's date table.
DATE_TABLE = "dates"
DATE_COLUMNS: tuple[tuple[str, str], ...] = (("date", "dateTime"), ("year", "int64"),
                                             ("month", "string"))

#: (many side table, column, one side table, column). Only the fact's day to the date
#: dimension (unique by construction): a one-side key on transaction_id would make Desktop's
#: refresh fail if an exports folder ever held a repeated id (two replayed files).
RELATIONSHIPS: tuple[tuple[str, str, str, str], ...] = (
    (MEASURE_TABLE, "date", DATE_TABLE, "date"),
)


@dataclass(frozen=True)
class Field:
    """A visual's field: a measure (`column` None) or a column, optionally summed."""

    table: str
    name: str
    kind: str = "measure"  # measure | column | sum


def m(name: str) -> Field:
    return Field(MEASURE_TABLE, name)


def col(table: str, name: str, kind: str = "column") -> Field:
    return Field(table, name, kind)


@dataclass(frozen=True)
class Visual:
    name: str
    type: str
    roles: dict[str, tuple[Field, ...]]
    box: tuple[int, int, int, int]  # x, y, width, height
    title: str = ""
    sync_group: str = ""


@dataclass(frozen=True)
class Page:
    name: str
    display_name: str
    visuals: tuple[Visual, ...]
    no_filter: tuple[tuple[str, str], ...] = field(default=())  # (source, target) pairs


def _card(name: str, measure: str, x: int, y: int, w: int = 200) -> Visual:
    title = measure.removeprefix("KPI ")
    return Visual(name, "card", {"Values": (m(measure),)}, (x, y, w, 110), title)


def _slicer(name: str, table: str, column: str, box: tuple[int, int, int, int],
            sync: str = "") -> Visual:
    return Visual(name, "slicer", {"Values": (col(table, column),)}, box, column, sync)


_THRESHOLD_SLICER = ("thresholds", "threshold", (20, 20, 180, 680), "threshold")


def _freshness(name: str, x: int, y: int, w: int, h: int) -> Visual:
    """The "data as of ..., N minutes behind the stream" card every page carries."""
    return Visual(name, "card", {"Values": (m("Data As Of"),)}, (x, y, w, h), "Data as of")
_KPIS = ("KPI ML Precision", "KPI ML Recall", "KPI ML Workload %",
         "KPI Hybrid Precision", "KPI Hybrid Recall", "KPI Hybrid Workload %")

PAGES: tuple[Page, ...] = (
    Page("kpis", "Threshold / KPIs", (
        _slicer("thresholdSlicer", *_THRESHOLD_SLICER),
        *(_card(f"kpi{i}", name, 220 + (i % 3) * 210, 20 + (i // 3) * 120)
          for i, name in enumerate(_KPIS)),
        _card("recommended", "Recommended Threshold", 860, 20, 200),
        _freshness("freshness", 1070, 20, 190, 110),
        _card("mlCost", "ML Expected Cost", 860, 140, 200),
        _card("hybridCost", "Hybrid Expected Cost", 1070, 140, 190),
        Visual("recallByType", "clusteredColumnChart",
               {"Category": (col(_TS, "anomaly_type"),),
                "Y": (m("ML Recall"), m("Rules Recall"), m("Hybrid Recall"),
                      m("Combined Recall"))},
               (220, 270, 500, 430), "Recall by anomaly type (model vs rules vs hybrid)"),
        Visual("costCurve", "lineChart",
               {"Category": (col("thresholds", "threshold"),),
                "Y": (col("thresholds", "ml_expected_cost", "sum"),
                      col("thresholds", "hybrid_expected_cost", "sum"),
                      m("Recommended Cost Marker"))},
               (740, 270, 520, 430), "Expected cost across thresholds (recommended marked)"),
    ), no_filter=(("thresholdSlicer", "costCurve"),)),
    Page("volume", "Anomaly Volume & Trends", (
        _slicer("thresholdSlicer2", "thresholds", "threshold", (20, 20, 180, 680), "threshold"),
        _card("totalFlagged", "KPI Hybrid Flagged", 220, 20),
        _card("flagRate", "KPI Hybrid Workload %", 430, 20),
        _card("totalAnomalies", "Total Anomalies", 640, 20),
        _card("anomalyRate", "Anomaly Rate", 850, 20),
        _freshness("freshness2", 1060, 20, 200, 110),
        Visual("breakdown", "donutChart",
               {"Y": (m("ML Only"), m("Rules Only"), m("ML and Rules"))},
               (220, 140, 400, 270), "Detection breakdown"),
        Visual("byChannel", "clusteredBarChart",
               {"Category": (col(_TS, "channel"),), "Y": (m("ML Flagged"), m("Hybrid Flagged"))},
               (640, 140, 620, 270), "Flagged by channel"),
        Visual("perDay", "lineChart",
               {"Category": (col(_TS, "date"),), "Y": (m("Hybrid Flagged"), m("ML Flagged"))},
               (220, 420, 1040, 280), "Flagged per day"),
    )),
    Page("cases", "Cases", (
        _slicer("caseType", "cases", "anomaly_type", (20, 20, 200, 300)),
        _slicer("caseChannel", "cases", "channel", (20, 340, 200, 300)),
        _freshness("freshness3", 20, 650, 200, 60),
        Visual("caseTable", "tableEx",
               {"Values": tuple(col("cases", c) for c in (
                   "rank", "transaction_id", "timestamp", "amount", "channel", "score",
                   "anomaly_type", "triggered_rules", "reasons_top3"))},
               (240, 20, 1020, 680), "Top alerts"),
    )),
)
