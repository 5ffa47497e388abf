"""Every field a Power BI visual shows has a human name (legend, tooltip, card label, table
header), the one report.html uses for the same figure. Before, the PBIR projections had none,
so Desktop showed the native names: the KPI page's cost legend read "Sum of
ml_expected_cost", the tables `case_id` and `reasons_top3`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from dashboard.labels import column_label
from dashboard.pbir import report_files
from dashboard.spec import NAME, PAGES, Field, col, display_name, m

ROOT = Path(__file__).resolve().parents[2]
SNAKE = re.compile(r"[a-z0-9]+_[a-z0-9_]+")


def _projections(files: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path, doc in files.items():
        if not path.endswith("visual.json"):
            continue
        for role in doc["visual"]["query"]["queryState"].values():
            out += [(path, p) for p in role["projections"]]
    return out


def _committed() -> dict[str, Any]:
    folder = ROOT / f"{NAME}.Report"
    return {str(p.relative_to(folder)): json.loads(p.read_text(encoding="utf-8"))
            for p in folder.rglob("visual.json")}


@pytest.mark.parametrize("files", [report_files, _committed], ids=["generated", "committed"])
def test_no_projection_shows_an_aggregation_or_a_snake_case_name(files: Any) -> None:
    shown = _projections(files())
    assert len(shown) > 50
    for path, p in shown:
        name = p.get("displayName", "")
        assert name, (path, p["queryRef"])
        assert not name.startswith("Sum of") and not SNAKE.search(name), (path, name)
        assert not name[0].islower() and not name.startswith("KPI "), (path, name)


def test_the_cost_curve_names_each_modes_cost_as_report_html_does() -> None:
    files = report_files()
    doc = files["definition/pages/kpis/visuals/costCurve/visual.json"]
    names = [p["displayName"] for p in doc["visual"]["query"]["queryState"]["Y"]["projections"]]
    # report.js's cost legend (tests/unit/test_report_headlines.py holds it there)
    assert names == ["ML expected cost", "Hybrid expected cost", "Combined expected cost",
                     "Recommended threshold"]


@pytest.mark.parametrize(("name", "label"), [
    ("ml_expected_cost", "ML expected cost"), ("daily_capacity", "Daily capacity"),
    ("case_id", "Case ID"), ("reasons_top3", "Top 3 reasons"), ("is_ml_flag", "ML flag"),
    ("hybrid_workload_pct", "Hybrid workload %"), ("threshold", "Threshold"),
    ("recommended_cases_per_day", "Recommended cases per day"),
])
def test_a_column_is_named_from_its_words(name: str, label: str) -> None:
    assert column_label(name) == label


@pytest.mark.parametrize(("field", "label"), [
    (m("KPI ML Precision"), "ML precision"), (m("Data As Of"), "Data as of"),
    (m("ML and Rules"), "ML and rules"), (col("thresholds", "ml_expected_cost", "sum"),
                                          "ML expected cost"),
    (Field("cases", "customer_id", "column"), "Customer ID"),
])
def test_a_field_shows_its_display_name(field: Field, label: str) -> None:
    assert display_name(field) == label


def test_every_card_title_is_its_fields_name() -> None:
    for page in PAGES:
        for v in page.visuals:
            if v.type == "card":
                assert v.title == display_name(v.roles["Values"][0]), v.name
