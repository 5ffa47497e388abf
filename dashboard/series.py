"""Each chart series' colour, declared once by the series' key.

Power BI colours a visual's series by position in its theme (the first blue, the second
orange, ...), so a series changed colour from one visual to the next and whenever another
was absent: hybrid was orange beside ML, blue alone. Here a series is known by what it
counts (`series_key`: the mode of a measure or column, or a name below), and that key has
one colour, which the PBIR visuals (`dashboard.pbir`), report.html (its data's `colors`)
and the layout previews (`dashboard.preview`) all take from `SERIES_COLORS`.
"""

from __future__ import annotations

from shared.columns import MODES

#: Key -> colour (#rrggbb). The modes (`shared.columns.MODES`: ml, rules, hybrid,
#: combined), the donut's overlap, the labelled anomalies, the daily capacity and the
#: recommended mark (the cost chart's mark; the recommended mode's cases per day).
SERIES_COLORS: dict[str, str] = {
    "ml": "#2563eb",
    "rules": "#7c3aed",
    "hybrid": "#d97706",
    "combined": "#059669",
    "overlap": "#db2777",
    "labels": "#6b7280",
    "capacity": "#9aa5b1",
    "recommended": "#dc2626",
}
#: Series whose key their name does not start with (a measure's or column's name does:
#: "ML Recall", "hybrid_expected_cost").
_NAMED: dict[str, str] = {
    "ML Only": "ml",
    "Rules Only": "rules",
    "ML and Rules": "overlap",
    "Total Anomalies": "labels",
    "daily_capacity": "capacity",
    "Recommended Cost Marker": "recommended",
    "Recommended Mode Cases Per Day": "recommended",
}


class UncolouredSeriesError(KeyError):
    """A chart series with no declared colour."""


def series_key(name: str) -> str:
    """The key of a series drawn from the measure or column `name`: the name's own entry,
    else the mode it starts with (`ML Recall` ml, `combined_expected_cost` combined);
    `UncolouredSeriesError` for a name with neither (never a colour by position)."""
    if name in _NAMED:
        return _NAMED[name]
    first = name.replace("_", " ").split(" ")[0].lower()
    if first in MODES and first in SERIES_COLORS:
        return first
    raise UncolouredSeriesError(f"series {name!r} has no colour: declare it in "
                                "dashboard/series.py (_NAMED)")


def series_color(name: str) -> str:
    """The colour of the series drawn from the measure or column `name`."""
    return SERIES_COLORS[series_key(name)]
