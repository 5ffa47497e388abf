"""Each chart series has one colour, declared by its name (`dashboard.series`), in every
Power BI visual, in report.html and in the layout previews. Before 2026-12-07 Power BI
coloured series by position (the theme's first, second, ...): hybrid was the second colour
beside ML and the first alone, and the previews did the same."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dashboard.pbir import query_ref, report_files, visual_json
from dashboard.preview import _body
from dashboard.report import collect
from dashboard.series import SERIES_COLORS, UncolouredSeriesError, series_color, series_key
from dashboard.spec import NAME, PAGES, Visual, col, m

ROOT = Path(__file__).resolve().parents[2]
CHARTS = [(p.name, v) for p in PAGES for v in p.visuals if "Y" in v.roles]


def _fills(doc: dict) -> dict[str, str]:  # type: ignore[type-arg]
    """queryRef -> the colour a visual's dataPoint gives it."""
    return {o["selector"]["metadata"]:
            o["properties"]["fill"]["solid"]["color"]["expr"]["Literal"]["Value"].strip("'")
            for o in doc["visual"].get("objects", {}).get("dataPoint", [])}


def test_every_series_of_every_chart_has_its_colour_by_name() -> None:
    assert len(CHARTS) >= 6
    for page, v in CHARTS:
        fills = _fills(visual_json(v, 0))
        assert fills == {query_ref(f): series_color(f.name) for f in v.roles["Y"]}, (page, v.name)


@pytest.mark.parametrize(("names", "key"), [
    (("ML Recall", "ML Flagged", "ml_expected_cost", "ML Only"), "ml"),
    (("Rules Recall", "Rules Only"), "rules"),
    (("Hybrid Recall", "Hybrid Flagged", "hybrid_expected_cost"), "hybrid"),
    (("Combined Recall", "combined_expected_cost"), "combined"),
    (("Total Anomalies",), "labels"),
    (("daily_capacity",), "capacity"),
    (("Recommended Cost Marker", "Recommended Mode Cases Per Day"), "recommended"),
    (("ML and Rules",), "overlap"),
])
def test_the_same_thing_has_the_same_colour_everywhere(names: tuple[str, ...], key: str) -> None:
    assert {series_key(n) for n in names} == {key}
    assert {series_color(n) for n in names} == {SERIES_COLORS[key]}


def test_the_keys_colours_are_distinct() -> None:
    assert len(set(SERIES_COLORS.values())) == len(SERIES_COLORS)
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in SERIES_COLORS.values())


def test_a_series_keeps_its_colour_when_another_is_absent_or_moved() -> None:
    """The position-based theme gave hybrid ML's colour alone; by name it keeps its own."""
    x = col("thresholds", "threshold")
    both = Visual("a", "lineChart", {"Category": (x,), "Y": (m("ML Flagged"),
                                                             m("Hybrid Flagged"))}, (0, 0, 1, 1))
    alone = Visual("b", "lineChart", {"Category": (x,), "Y": (m("Hybrid Flagged"),)},
                   (0, 0, 1, 1))
    moved = Visual("c", "lineChart", {"Category": (x,), "Y": (m("Hybrid Flagged"),
                                                              m("ML Flagged"))}, (0, 0, 1, 1))
    ref = "transactions_scored.Hybrid Flagged"
    assert (_fills(visual_json(both, 0))[ref] == _fills(visual_json(alone, 0))[ref]
            == _fills(visual_json(moved, 0))[ref] == SERIES_COLORS["hybrid"])


def test_a_series_without_a_declared_colour_is_an_error_not_a_position() -> None:
    with pytest.raises(UncolouredSeriesError, match="Transactions"):
        series_color("Transactions")


def test_the_committed_report_carries_the_colours() -> None:
    folder = ROOT / f"{NAME}.Report"
    for rel, doc in report_files().items():
        if "/visuals/" in rel and "dataPoint" in doc["visual"].get("objects", {}):
            committed = json.loads((folder / rel).read_text(encoding="utf-8"))
            assert _fills(committed) == _fills(doc), rel


def test_report_html_gets_the_same_colours(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text("{}", encoding="utf-8")
    assert collect(tmp_path)["colors"] == SERIES_COLORS


def test_the_previews_draw_each_series_in_its_colour() -> None:
    """A layout preview's chart and legend: the series' declared colours, in its order."""
    (v,) = [v for _, v in CHARTS if v.name == "byChannel"]

    def ev(names: list[str], ctx: str | None) -> dict[str, float]:
        return {n: 1.0 for n in names}

    import pandas as pd

    drawn = _body(v, ev, lambda name: pd.DataFrame({"channel": ["web", "pos"]}))
    legend = re.findall(r"background:(#[0-9a-f]{6})", drawn)
    assert legend == [SERIES_COLORS["ml"], SERIES_COLORS["hybrid"]]
    assert set(re.findall(r'fill="(#[0-9a-f]{6})"', drawn)) == set(legend)
