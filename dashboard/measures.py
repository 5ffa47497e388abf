"""The DAX measures of the semantic model: label-based KPIs per mode, reviewed (assurance)
figures, freshness and the threshold that drives them all (`[Selected Threshold]`)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.columns import RECOMMEND_MODES, SOURCE_SCORE
from shared.freshness import STALE_S


@dataclass(frozen=True)
class Measure:
    name: str
    dax: str
    fmt: str = "0.0%"


#: The fact table the row-level measures count.
MEASURE_TABLE = "transactions_scored"
#: The date dimension (`dashboard.spec`): the days of run.json's date range.
DATE_TABLE = "dates"
#: One row of run.json's fields (`dashboard.spec`): which mode the recommendation is for.
RUN_TABLE = "run"
RECOMMENDED_MODE = "recommended_mode"  # run.json's key (`sink.tables`)
UPGRADE_NOTE = "upgrade_note"  # run.json's key (`shared.skew.UPGRADE_NOTE`: a test holds it)
_TS = MEASURE_TABLE
_TH = "VAR th = [Selected Threshold]\nRETURN\n"


def label(mode: str) -> str:
    """A mode of `shared.columns.MODES` as the measures and cards name it: ML, Hybrid, ..."""
    return mode.upper() if mode == "ml" else mode.title()


def _by_mode(column: str) -> str:
    """DAX: `thresholds[<mode>_<column>]` in context for the recommended mode (blank when
    run.json names none)."""
    return ("SWITCH([Recommended Mode], " + ", ".join(
        f'"{mode}", MAX(thresholds[{mode}_{column}])' for mode in RECOMMEND_MODES) + ")")


def _count(cond: str) -> str:
    """Rows meeting `cond` at the selected threshold; 0 (not BLANK) when there are none."""
    return f"{_TH}COUNTROWS(FILTER({_TS}, {cond})) + 0"


def _lookup(column: str) -> str:
    return (f"{_TH}CALCULATE(MAX(thresholds[{column}]), "
            f"FILTER(ALL(thresholds), thresholds[threshold] = th))")


def _assured(section: str, name: str, column: str) -> str:
    """One figure of assurance.csv (a row per section and name; `sink.assurance_table`)."""
    return (f"CALCULATE(MAX(assurance[{column}]), FILTER(ALL(assurance), "
            f'assurance[section] = "{section}" && assurance[name] = "{name}"))')


_RANGE = (f"VAR first = CALCULATE(MIN({DATE_TABLE}[date]), ALL({DATE_TABLE}))\n"
          f"VAR last = CALCULATE(MAX({DATE_TABLE}[date]), ALL({DATE_TABLE}))\n")
_OUTSIDE = f"{_TS}[date] < first || {_TS}[date] > last"
_ML = f"{_TS}[model_score] >= th"
_HY = f"({_TS}[model_score] >= th || {_TS}[is_rule_flag])"
_CO = f"{_TS}[score] >= th"
_Y = f"{_TS}[is_anomaly]"
#: How a time is shown in text: ISO day, 24-hour clock. pbix-mcp's engine (and .NET) read
#: `hh` as the 12-hour clock (21:58 showed "09:58", no AM/PM); `HH` is 24-hour either way.
_TIME = "yyyy-mm-dd HH:nn"

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
    *(Measure(f"{label(mode)} Expected Cost", _lookup(f"{mode}_expected_cost"), "#,0.##")
      for mode in RECOMMEND_MODES),
    Measure("Total Flagged", "[Hybrid Flagged]", "#,0"),
    Measure("Flag Rate", "DIVIDE([Total Flagged], [Transactions])"),
    Measure("ML Only", _count(f"{_ML} && NOT({_TS}[is_rule_flag])"), "#,0"),
    Measure("Rules Only", _count(f"NOT({_ML}) && {_TS}[is_rule_flag]"), "#,0"),
    Measure("ML and Rules", _count(f"{_ML} && {_TS}[is_rule_flag]"), "#,0"),
    # A sink that stopped (status.csv's `stopped_at`) says so: how far behind the stream it
    # is has been unknown since, never "0 minutes behind". A heartbeat more than STALE_S
    # older than the refresh (`read_at`) no longer vouches for its lag: the sink was killed
    # or is stuck; one more than STALE_S ahead of it vouches for nothing either (the clocks
    # disagree) (`shared.freshness.describe` is the same sentence in Python). A batch run's
    # row (`source` SOURCE_SCORE) had no sink: it says when the run scored.
    Measure("Data As Of",
            "VAR asof = MAX(status[data_as_of])\nVAR behind = MAX(status[minutes_behind])\n"
            "VAR stopped = MAX(status[stopped_at])\nVAR beat = MAX(status[heartbeat_at])\n"
            "VAR readat = MAX(status[read_at])\n"
            f"VAR batch = COUNTROWS(FILTER(status, status[source] = \"{SOURCE_SCORE}\")) > 0\n"
            "VAR ended = IF(ISBLANK(stopped), beat, stopped)\n"
            "VAR silent = NOT(ISBLANK(beat)) && NOT(ISBLANK(readat)) && "
            f"DATEDIFF(beat, readat, SECOND) > {STALE_S}\n"
            "VAR ahead = NOT(ISBLANK(beat)) && NOT(ISBLANK(readat)) && "
            f"DATEDIFF(readat, beat, SECOND) > {STALE_S}\n"
            'RETURN IF(ISBLANK(asof), "no data yet", "data as of " & '
            f'FORMAT(asof, "{_TIME}") & ", " & IF(batch, "scored by a batch run" & '
            f'IF(ISBLANK(ended), "", " at " & FORMAT(ended, "{_TIME}")) & '
            '" (no live stream)", IF(NOT(ISBLANK(stopped)), '
            f'"sink stopped " & FORMAT(stopped, "{_TIME}") & ", lag unknown since", '
            f'IF(silent, "sink not heard from since " & FORMAT(beat, "{_TIME}"), '
            f'IF(ahead, "heartbeat " & FORMAT(beat, "{_TIME}") & " ahead of the '
            'reader\'s clock, lag unknown", '
            'IF(ISBLANK(behind) || ISBLANK(beat), "lag unknown", FORMAT(behind, "0") & '
            '" minutes behind the stream")))))) & [Upgrade Note]', ""),
    # Fields or rules of scored messages the sink did not know (a newer detector's, mid
    # rolling upgrade: run.json's line, `shared.skew`), after the freshness as report.html
    # has it; blank when none, or a run.json from before the line.
    Measure("Upgrade Note",
            f"VAR said = SELECTEDVALUE({RUN_TABLE}[{UPGRADE_NOTE}])\n"
            'RETURN IF(ISBLANK(said) || said = "", "", "; note: " & said)', ""),
    # Rows dated outside the date table's days (`shared.date_range`: a stray row dated 1970
    # or 2100) are on no date axis; these count and list them, over every row (no slicer).
    Measure("Rows Outside Date Range", f"{_RANGE}RETURN IF(ISBLANK(first), 0, COUNTROWS(FILTER("
            f"ALL({_TS}), {_OUTSIDE})) + 0)", "#,0"),
    Measure("Date Range Note",
            f"{_RANGE}VAR n = [Rows Outside Date Range]\nRETURN IF(ISBLANK(first), "
            '"no dates yet", "days " & FORMAT(first, "yyyy-mm-dd") & " to " & '
            'FORMAT(last, "yyyy-mm-dd") & IF(n = 0, ", no row outside them", ", " & '
            'FORMAT(n, "#,0") & " rows dated outside them: page Outside the date range"))',
            ""),
    Measure("Outside Date Range Row",  # blank for a row in the range: a table shows the rest
            f"{_RANGE}RETURN IF(NOT(ISBLANK(first)), COUNTROWS(FILTER({_TS}, {_OUTSIDE})))", "#,0"),
    Measure("Labels Note",  # the label-based pages say where to look without labels
            "IF(COUNTROWS(FILTER(thresholds, NOT(ISBLANK(thresholds[combined_tp])))) = 0, "
            '"no labels: see Assurance", "labels: generated ground truth")', ""),
    *(Measure(f"Reviewed {label}", _assured("mode", "hybrid", column))
      for label, column in (("Precision", "precision"), ("Precision Low", "precision_low"),
                            ("Precision High", "precision_high"))),
    *(Measure(f"Miss Rate{label}", _assured("miss_rate", "audit_sample", column), "0.00%")
      for label, column in (("", "precision"), (" Low", "precision_low"),
                            (" High", "precision_high"))),
    *(Measure(f"Implied Recall{label}", _assured("recall", "implied", column))
      for label, column in (("", "precision"), (" Low", "precision_low"),
                            (" High", "precision_high"))),
    Measure("Reviewed Cases", _assured("mode", "hybrid", "reviewed") + " + 0", "#,0"),
    Measure("Review Backlog",
            'COUNTROWS(FILTER(cases, ISBLANK(cases[outcome]) || cases[outcome] = "")) + 0',
            "#,0"),
    Measure("Oldest Open Case",
            'MINX(FILTER(cases, ISBLANK(cases[outcome]) || cases[outcome] = ""), '
            "cases[first_time])", _TIME),
    # The recommended mode's cases per day (the sink fits EXPORTS_DAILY_CAPACITY on that
    # mode's; both read combined's whatever the mode): at the recommended threshold, and
    # at each threshold for the capacity chart.
    Measure("Recommended Cases Per Day",
            f"CALCULATE({_by_mode('cases_per_day')}, "
            "FILTER(ALL(thresholds), thresholds[is_recommended] = TRUE()))", "#,0.#"),
    Measure("Recommended Mode Cases Per Day", _by_mode("cases_per_day"), "#,0.#"),
    # The mode the recommendation is for (run.json's; blank when it names none: the marker
    # then marks nothing, rather than a line it is not for).
    Measure("Recommended Mode", f"SELECTEDVALUE({RUN_TABLE}[{RECOMMENDED_MODE}])", ""),
    # The cost chart's mark: at the recommended threshold, the cost of the mode it is for,
    # so it stands on that mode's line (it read hybrid's, off the default mode's line).
    # Blank without one threshold in context (MAX took the highest: with 1.00 recommended
    # the total was the line's highest cost).
    Measure("Recommended Cost Marker",
            "VAR t = SELECTEDVALUE(thresholds[threshold])\n"
            "RETURN IF(NOT(ISBLANK(t)) && t = [Recommended Threshold], "
            f"{_by_mode('expected_cost')})", "#,0.##"),
)

#: KPIs read from thresholds.csv at the selected threshold: the sink's own counts, so O(1),
#: equal to the offline report by construction, and no fact table needed. The fact-based
#: measures above stay for what thresholds.csv does not split: by channel, day and type.
#: (label-based figures count labelled rows only, as docs/sink.md says.)
_KPI_COLUMNS = (("Flagged", "flagged", "#,0"), ("True Positives", "tp", "#,0"),
                ("Precision", "precision", "0.0%"), ("Recall", "recall", "0.0%"))
KPI_MEASURES: tuple[Measure, ...] = (
    *(Measure(f"KPI {label(mode)} {name}", _lookup(f"{mode}_{column}"), fmt)
      for mode in RECOMMEND_MODES for name, column, fmt in _KPI_COLUMNS),
    *(Measure(f"KPI {label(mode)} Workload %",  # thresholds.csv holds a percentage
              f"{_TH}DIVIDE(CALCULATE(MAX(thresholds[{mode}_workload_pct]), "
              "FILTER(ALL(thresholds), thresholds[threshold] = th)), 100)")
      for mode in RECOMMEND_MODES),
)
MEASURES = (*MEASURES, *KPI_MEASURES)

#: The Assurance page's figures that are blank until there is something to show, and what
#: their card says then: its `Card` measure (`card_measure`) is the figure in its format,
#: or these words (Power BI's card said "(Blank)"). A count reads 0 instead (`Reviewed
#: Cases`, `Review Backlog`: "+ 0"); a figure of 0 is a figure ("0.00%"), not these words.
NONE_REVIEWED = "none reviewed yet"
CARD_WORDS: dict[str, str] = {
    **{f"Reviewed Precision{s}": NONE_REVIEWED for s in ("", " Low", " High")},
    **{f"Miss Rate{s}": NONE_REVIEWED for s in ("", " High")},
    **{f"Implied Recall{s}": NONE_REVIEWED for s in ("", " Low")},
    "Oldest Open Case": "no open case",
    "Recommended Cases Per Day": "no recommendation",
}
CARD_SUFFIX = " Card"
#: The text picture of a card's figure, where its measure's format is no FORMAT picture
#: ("#,0.#" would end "12." there): one decimal, as report.html's card.
_CARD_PICTURES = {"#,0.#": "#,0.0"}


def card_measure(name: str) -> str:
    """The measure a card of `name` shows: its `Card` text when it has words for blank."""
    return name + CARD_SUFFIX if name in CARD_WORDS else name


def _card_text(m: Measure) -> Measure:
    picture = _CARD_PICTURES.get(m.fmt, m.fmt)
    return Measure(m.name + CARD_SUFFIX, f"VAR v = [{m.name}]\nRETURN IF(ISBLANK(v), "
                   f'"{CARD_WORDS[m.name]}", FORMAT(v, "{picture}"))', "")


MEASURES = (*MEASURES, *(_card_text(m) for m in MEASURES if m.name in CARD_WORDS))
