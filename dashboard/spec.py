"""The one spec of the Power BI dashboard: tables, measures, relationships, pages.

`dashboard.tmdl` (semantic model), `dashboard.pbir` (report) and `dashboard.pbix` (the built
file) are all generated from the values here; the tests check the outputs against them.
Column names, order and (for the scored row) types come from `shared.columns`, so the
model follows the export contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dashboard.labels import column_label
from dashboard.measures import (
    CARD_SUFFIX,
    CARD_WORDS,
    MEASURE_TABLE,
    RECOMMENDED_MODE,
    UPGRADE_NOTE,
    card_measure,
    label,
)
from dashboard.measures import DATE_TABLE as DATE_TABLE
from dashboard.measures import RUN_TABLE as RUN_TABLE
from shared.columns import (
    ASSURANCE_COLUMNS,
    AUDIT_SAMPLE_COLUMNS,
    CASE_TRANSACTIONS_COLUMNS,
    CASES_COLUMNS,
    CONFUSION_COLUMNS,
    METRICS_BY_TYPE_COLUMNS,
    RECOMMEND_MODES,
    SCORED_COLUMNS,
    SCORED_TYPES,
    STATUS_COLUMNS,
    THRESHOLD_COLUMNS,
)
from shared.dayfiles import PREFIX, SCORED_DIR
from shared.exports_folder import (
    ASSURANCE_FILE,
    AUDIT_SAMPLE_FILE,
    CASE_TRANSACTIONS_FILE,
    CASES_FILE,
    CONFUSION_FILE,
    METRICS_FILE,
    SCORED_FILE,
    STATUS_FILE,
    THRESHOLDS_FILE,
)
from shared.schemas import MAX_TIMESTAMP, MIN_TIMESTAMP

NAME = "dashboard_anomalies"
#: The status table's column that says when the refresh read status.csv (UTC, as its times).
READ_AT = "read_at"
READ_AT_M = "DateTimeZone.RemoveZone(DateTimeZone.UtcNow())"
PARAMETER = "ExportsFolder"
#: Placeholder only: Power Query needs a full folder path, which each user sets.
PARAMETER_DEFAULT = "set-to-your-exports-folder/"

#: Types of the columns of the other exports, by name (a scored column's type comes from
#: its declaration, `SCORED_TYPES`; a column of the same name elsewhere has the same type).
#: Every column must have one: a name none of these covers is an error (`column_type`), so a
#: column added to `shared.columns` cannot reach the model with a guessed type.
_INT = {"rank", "support", "flags", "true_flags", "count", "transactions",
        "anomalous_transactions", "rank_in_stratum", "reviewed", "confirmed", "dismissed",
        "unclear", "labelled"}
_INT_SUFFIXES = ("_tp", "_fp", "_fn", "_tn", "_flagged", "detected")
_DOUBLE = {"threshold", "total_amount", "daily_capacity"}
_DOUBLE_SUFFIXES = ("precision", "precision_low", "precision_high", "recall", "_fpr",
                    "_workload_pct", "_expected_cost", "_cases_per_day")
_BOOL = {"is_recommended", "actual", "predicted"}
_TEXT = {"section", "name", "mode", "case_id", "top_transaction_id", "outcome", "reviewer",
         "reviewed_at", "note", "amount_band"}
#: Event times of the case and sample tables.
_TIMES = {"first_time", "last_time", "day"}
#: status.csv's times and counts (the rest of it is text).
_STATUS_TIMES = {"data_as_of", "last_row_written_at", "heartbeat_at", "stopped_at"}
_STATUS_COUNTS = {"rows", "lag_messages", "minutes_behind"}
_TEXT |= {"auditstream_version", "librdkafka_version", "model_versions", "source"}


#: Columns shown otherwise than their type's default: the threshold grid as 0.00 .. 1.00
#: (the slicer and the cost axis read "0.2" and "0.0" for 0.20 and 0.00, as General); the
#: assurance and per-type rates as percentages with two decimals, as report.html's table
#: (as General the assurance table read 0.5945945945945946).
COLUMN_FORMATS: dict[str, str] = {
    "threshold": "0.00",
    **{rate: "0.00%" for rate in ("precision", "precision_low", "precision_high",
                                  "labelled_precision")},
}


class UntypedColumnError(KeyError):
    """An export column with no declared Power BI type."""


def column_type(name: str) -> str:
    """TMDL data type of an export column: declared for the scored row, else by name;
    `UntypedColumnError` for a name with no declared type (never a guess)."""
    if name in SCORED_TYPES:
        return SCORED_TYPES[name]
    if name in _STATUS_TIMES or name in _TIMES:
        return "dateTime"
    if name in _STATUS_COUNTS:
        return "int64"
    if name in _BOOL:
        return "boolean"
    if name in _TEXT:
        return "string"
    if name in _INT or name.endswith(_INT_SUFFIXES):
        return "int64"
    if name in _DOUBLE or name.endswith(_DOUBLE_SUFFIXES):
        return "double"
    raise UntypedColumnError(f"export column {name!r} has no Power BI type: declare it in "
                             "dashboard/spec.py (_TEXT, _INT, _DOUBLE, ...)")


@dataclass(frozen=True)
class Table:
    """A model table loaded from one export CSV; `derived` columns are added in Power Query."""

    file: str  # its name as the exports declare it (`shared.exports_folder`)
    csv_columns: tuple[str, ...]
    # (name, TMDL type, M expression of a row, M type): each added in Power Query
    derived: tuple[tuple[str, str, str, str], ...] = ()
    day_folder: str = ""  # read the day files here (incremental refresh), not `file`

    @property
    def name(self) -> str:
        """The model's name of the table: its file's, without `.csv`."""
        return self.file.removesuffix(".csv")

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.csv_columns, *(d[0] for d in self.derived))

    def type_of(self, column: str) -> str:
        for name, kind, _, _ in self.derived:
            if name == column:
                return kind
        return column_type(column)


TABLES: tuple[Table, ...] = (
    Table(SCORED_FILE, SCORED_COLUMNS,
          derived=(("date", "dateTime", "if [timestamp] = null then null else "
                    "DateTime.Date([timestamp])", "type date"),), day_folder=SCORED_DIR),
    Table(THRESHOLDS_FILE, THRESHOLD_COLUMNS),
    Table(METRICS_FILE, METRICS_BY_TYPE_COLUMNS),
    Table(CONFUSION_FILE, CONFUSION_COLUMNS),
    Table(CASES_FILE, CASES_COLUMNS),
    Table(CASE_TRANSACTIONS_FILE, CASE_TRANSACTIONS_COLUMNS),
    Table(AUDIT_SAMPLE_FILE, AUDIT_SAMPLE_COLUMNS),
    Table(ASSURANCE_FILE, ASSURANCE_COLUMNS),
    # `read_at`: when the refresh read the row, to judge its heartbeat by (`shared.freshness`)
    Table(STATUS_FILE, STATUS_COLUMNS, derived=((READ_AT, "dateTime", READ_AT_M,
                                                 "type datetime"),)),
)


_TS = MEASURE_TABLE


def _m_datetime(t: datetime) -> str:
    return f"#datetime({t.year}, {t.month}, {t.day}, {t.hour}, {t.minute}, {t.second})"


#: Incremental refresh of the tables with a `day_folder`: Power BI's two dateTime parameters
#: (exact names), their values in Desktop (the schema's event time range, so every day file
#: loads there: with 2000..2100 a row dated 1970 or 2100 was silently not loaded), and the
#: policy: keep ARCHIVE_YEARS years, re-read the last REFRESH_DAYS days on each refresh.
RANGE_PARAMETERS: tuple[tuple[str, str], ...] = (
    ("RangeStart", _m_datetime(MIN_TIMESTAMP)),
    ("RangeEnd", _m_datetime(MAX_TIMESTAMP)),
)
#: Years back from the refresh year, so the archive starts on or before the schema's first
#: day from any refresh up to its last: every row in exactly one partition, as in Desktop
#: (with 2, the service's model lacked every row over 2 years old, a stray 1970 row too).
ARCHIVE_YEARS = (MAX_TIMESTAMP - timedelta(days=1)).year - MIN_TIMESTAMP.year
REFRESH_DAYS = 3
DAY_FILE_PREFIX = PREFIX  # the day files' names: shared.dayfiles (dashboard.tmdl's M tests it)

#: The date dimension (DATE_TABLE): one row per day of run.json's date range
#: (`shared.date_range`: the days a quorum of customers reached, so a stray row dated 2100
#: adds no 75 years; a small file, so the table stays full refresh), marked as the model's
#: date table. Date axes use it; rows dated outside it are on page "outside".
DATE_COLUMNS: tuple[tuple[str, str], ...] = (("date", "dateTime"), ("year", "int64"),
                                             ("month", "string"))

#: The run table (RUN_TABLE): one row of run.json's fields the measures read, each null when
#: the run.json lacks it (`MissingField.UseNull`); unrelated to the other tables.
RUN_COLUMNS: tuple[tuple[str, str], ...] = ((RECOMMENDED_MODE, "string"),
                                            (UPGRADE_NOTE, "string"))

#: (many side table, column, one side table, column). Only the fact's day to the date
#: dimension (unique by construction): a one-side key on transaction_id would make Desktop's
#: refresh fail if an exports folder ever held a repeated id (two replayed files).
#: Drill-through from a case to its transactions (issue 17 item 5): cases (one) filter
#: case_transactions (many) by case_id, which (one side: the sink writes each transaction
#: id once) filters the fact by transaction_id.
RELATIONSHIPS: tuple[tuple[str, str, str, str], ...] = (
    (MEASURE_TABLE, "date", DATE_TABLE, "date"),
    ("case_transactions", "case_id", "cases", "case_id"),
    (MEASURE_TABLE, "transaction_id", "case_transactions", "transaction_id"),
)


@dataclass(frozen=True)
class Field:
    """A visual's field: a measure (`column` None) or a column, optionally summed."""

    table: str
    name: str
    kind: str = "measure"  # measure | column | sum


#: Measures a visual names otherwise than their words say (the names report.html uses).
_MEASURE_LABELS = {
    "Recommended Cost Marker": "Recommended threshold",
    "Total Anomalies": "Labelled anomalies",
    "Anomaly Rate": "Anomaly rate (labels)",
    "KPI Hybrid Flagged": "Total flagged (hybrid)",
    "Recommended Mode Cases Per Day": "Expected cases per day (recommended mode)",
    "Recommended Cases Per Day": "Cases per day at the recommended threshold",
    "Outside Date Range Row": "Rows outside the range",
    "Labels Note": "Labels",
    "Date Range Note": "Date range",
}


def display_name(f: Field) -> str:
    """What a visual shows for a field (legend, tooltip, card label, table header): a
    column as `dashboard.labels.column_label` names it (report.html's names), a measure in
    sentence case without the `KPI ` of the cards' thresholds.csv lookups; never `Sum of
    ...` nor a snake_case name."""
    if f.kind != "measure":
        return column_label(f.name)
    if f.name.endswith(CARD_SUFFIX) and f.name.removesuffix(CARD_SUFFIX) in CARD_WORDS:
        return display_name(m(f.name.removesuffix(CARD_SUFFIX)))  # a card's text: its figure's
    if f.name in _MEASURE_LABELS:
        return _MEASURE_LABELS[f.name]
    first, *rest = f.name.removeprefix("KPI ").split(" ")
    return " ".join([first, *(w if w.isupper() else w.lower() for w in rest)])


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
    dropdown: bool = False  # a slicer as a drop-down list, not a list of every value
    widths: tuple[int, ...] = ()  # a table's column widths (px), in its columns' order


@dataclass(frozen=True)
class Page:
    name: str
    display_name: str
    visuals: tuple[Visual, ...]
    no_filter: tuple[tuple[str, str], ...] = field(default=())  # (source, target) pairs
    drillthrough: Field | None = None  # a drill-through page, filtered to this field
    height: int = 720  # taller than the screen: shown at the page's width, scrolled


def _card(name: str, measure: str, x: int, y: int, w: int = 200, h: int = 110) -> Visual:
    """A card of `measure`, or of its text (`card_measure`) when it has words for blank."""
    return Visual(name, "card", {"Values": (m(card_measure(measure)),)}, (x, y, w, h),
                  display_name(m(measure)))


def _slicer(name: str, table: str, column: str, box: tuple[int, int, int, int],
            sync: str = "", dropdown: bool = False) -> Visual:
    return Visual(name, "slicer", {"Values": (col(table, column),)}, box,
                  column_label(column), sync, dropdown)


_THRESHOLD_SLICER = ("thresholds", "threshold", (20, 20, 180, 590), "threshold")


def _labels_note(name: str, x: int, y: int) -> Visual:
    """"no labels: see Assurance" on the label-based pages when the exports have none."""
    return _card(name, "Labels Note", x, y, 180, 80)


def _freshness(name: str, x: int, y: int, w: int, h: int) -> Visual:
    """The "data as of ..., N minutes behind the stream" card every page carries."""
    return _card(name, "Data As Of", x, y, w, h)
def _date_range(name: str, x: int, y: int, w: int, h: int) -> Visual:
    """The date range the axes span and how many rows are dated outside it."""
    return _card(name, "Date Range Note", x, y, w, h)


#: The cases table's columns, in order, on the Cases page and in report.html (which had the
#: channel and the labelled type, Power BI's table not).
CASE_TABLE: tuple[str, ...] = (
    "rank", "case_id", "customer_id", "first_time", "last_time", "transactions",
    "total_amount", "channel", "score", "anomaly_type", "triggered_rules", "reasons_top3",
    "outcome")
#: The Assurance page's table of assurance.csv, every column, in the order an auditor reads
#: a row (what it is, the reviewed precision and its interval, the reviews it rests on, then
#: the generated labels' figure), each with its width (px): ten columns in 560 px, headers
#: cut, `unclear` and `labelled` left out, were unreadable. Headers and cells wrap.
#: report.html's table has the same columns but `threshold` (its rows are not per threshold).
ASSURANCE_TABLE: tuple[tuple[str, int], ...] = (
    ("section", 90), ("name", 150), ("threshold", 90), ("precision", 100),
    ("precision_low", 100), ("precision_high", 100), ("reviewed", 90), ("confirmed", 90),
    ("dismissed", 90), ("unclear", 80), ("labelled", 90), ("labelled_precision", 110))
#: A row of cards per mode a threshold can be recommended for (ML, hybrid, combined).
_KPIS = tuple(f"KPI {label(mode)} {name}" for mode in RECOMMEND_MODES
              for name in ("Precision", "Recall", "Workload %"))
#: Where the KPI page's charts start: under the rows of cards.
_CHARTS_Y = 30 + 120 * len(RECOMMEND_MODES)


def _right(slot: int) -> tuple[int, int, int]:
    """x, y, width of a card in the KPI page's right block (two columns, rows of 120)."""
    x, w = ((860, 200), (1070, 190))[slot % 2]
    return x, 20 + 120 * (slot // 2), w


PAGES: tuple[Page, ...] = (
    Page("kpis", "Threshold / KPIs", (
        _slicer("thresholdSlicer", *_THRESHOLD_SLICER),
        *(_card(f"kpi{i}", name, 220 + (i % 3) * 210, 20 + (i // 3) * 120)
          for i, name in enumerate(_KPIS)),
        _card("recommended", "Recommended Threshold", *_right(0)),
        _freshness("freshness", *_right(1), 110),
        _card("recommendedMode", "Recommended Mode", *_right(2)),
        *(_card(f"{mode}Cost", f"{label(mode)} Expected Cost", *_right(3 + i))
          for i, mode in enumerate(RECOMMEND_MODES)),
        Visual("recallByType", "clusteredColumnChart",
               {"Category": (col(_TS, "anomaly_type"),),
                "Y": (m("ML Recall"), m("Rules Recall"), m("Hybrid Recall"),
                      m("Combined Recall"))},
               (220, _CHARTS_Y, 500, 700 - _CHARTS_Y),
               "Recall by anomaly type (ML, rules, hybrid, combined)"),
        Visual("costCurve", "lineChart",
               {"Category": (col("thresholds", "threshold"),),
                "Y": (*(col("thresholds", f"{mode}_expected_cost", "sum")
                        for mode in RECOMMEND_MODES),
                      m("Recommended Cost Marker"))},
               (740, _CHARTS_Y, 520, 700 - _CHARTS_Y),
               "Expected cost across thresholds (recommended marked)"),
        _labels_note("labelsNote", 20, 620),
    ), no_filter=(("thresholdSlicer", "costCurve"),)),
    Page("volume", "Anomaly Volume & Trends", (
        _slicer("thresholdSlicer2", "thresholds", "threshold", (20, 20, 180, 590), "threshold"),
        _labels_note("labelsNote2", 20, 620),
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
               {"Category": (col(DATE_TABLE, "date"),),
                "Y": (m("ML Flagged"), m("Hybrid Flagged"), m("Total Anomalies"))},
               (220, 420, 830, 280), "Flagged per day (the data's date range)"),
        _date_range("dateRange", 1060, 420, 200, 280),
    )),
    Page("cases", "Cases", (
        _slicer("caseType", "cases", "anomaly_type", (20, 20, 200, 300)),
        _slicer("caseChannel", "cases", "channel", (20, 340, 200, 200)),
        _freshness("freshness3", 20, 560, 200, 140),
        Visual("caseTable", "tableEx",
               {"Values": tuple(col("cases", c) for c in CASE_TABLE)},
               (240, 20, 1020, 680), "Cases (right-click a case: Drill through > Case detail)"),
    )),
    Page("assurance", "Assurance", (
        _card("reviewedPrecision", "Reviewed Precision", 20, 20),
        _card("reviewedLow", "Reviewed Precision Low", 230, 20),
        _card("reviewedHigh", "Reviewed Precision High", 440, 20),
        _card("missRate", "Miss Rate", 650, 20),
        _card("missHigh", "Miss Rate High", 860, 20),
        _freshness("freshness4", 1070, 20, 190, 110),
        _card("recall", "Implied Recall", 20, 140),
        _card("recallLow", "Implied Recall Low", 230, 140),
        _card("reviewed", "Reviewed Cases", 440, 140),
        _card("backlog", "Review Backlog", 650, 140),
        _card("oldestOpen", "Oldest Open Case", 860, 140),
        _card("casesPerDay", "Recommended Cases Per Day", 1070, 140, 190),
        # the table under the cards at the page's width, the section a drop-down above it;
        # the capacity chart and the outcomes below (the page scrolls: 1000 px tall)
        _slicer("assuranceSection", "assurance", "section", (20, 260, 220, 60),
                dropdown=True),
        Visual("assuranceTable", "tableEx",
               {"Values": tuple(col("assurance", c) for c, _ in ASSURANCE_TABLE)},
               (20, 330, 1240, 400), "Reviewed precision (95% Wilson), miss rate, recall",
               widths=tuple(w for _, w in ASSURANCE_TABLE)),
        Visual("capacityCurve", "lineChart",
               {"Category": (col("thresholds", "threshold"),),
                "Y": (m("Recommended Mode Cases Per Day"),
                      col("thresholds", "daily_capacity", "sum"))},
               (20, 750, 610, 230), "Expected cases per day against the daily capacity"),
        Visual("recentOutcomes", "tableEx",
               {"Values": tuple(col("cases", c) for c in (
                   "case_id", "outcome", "reviewer", "reviewed_at", "note"))},
               (650, 750, 610, 230), "Outcomes"),
    ), height=1000),
    Page("caseDetail", "Case detail", (
        _freshness("freshness5", 1070, 20, 190, 120),
        Visual("caseHeader", "tableEx",
               {"Values": tuple(col("cases", c) for c in (
                   "case_id", "customer_id", "first_time", "last_time", "transactions",
                   "total_amount", "score", "triggered_rules", "reasons_top3", "outcome"))},
               (20, 20, 1030, 120), "Case"),
        Visual("caseRows", "tableEx",
               {"Values": tuple(col(_TS, c) for c in (
                   "transaction_id", "timestamp", "amount", "country", "channel",
                   "merchant_category", "score", "model_score", "triggered_rules",
                   "reasons_top3"))},
               (20, 160, 1240, 540), "Its transactions"),
    ), drillthrough=col("cases", "case_id")),
    # Rows dated outside the date range (a device clock off by decades): on no date axis,
    # so listed here, never dropped.
    Page("outside", "Outside the date range", (
        _date_range("dateRange2", 20, 20, 400, 110),
        _freshness("freshness6", 1070, 20, 190, 110),
        Visual("outsideRows", "tableEx",
               {"Values": (*(col(_TS, c) for c in (
                   "transaction_id", "customer_id", "timestamp", "amount", "country",
                   "channel", "score", "is_flag", "triggered_rules")),
                   m("Outside Date Range Row"))},
               (20, 150, 1240, 550), "Rows dated outside the data's date range"),
    )),
)
