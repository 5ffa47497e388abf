"""report.html in a real headless Chromium: the threshold control drives the KPI cards.

Needs Debian's `chromium`; without it the tests skip, except with CI=true where they fail.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import pytest

from auditstream.report import write_report_from_exports
from dashboard.browser import Chromium, find_chromium
from dashboard.build import SAMPLE_EXPORTS
from dashboard.series import SERIES_COLORS
from tests.ci import unavailable
from tests.scored_days import read_scored

PAYLOAD = '<img src=x onerror="alert(1)"></td><script>alert(2)</script>'
RECALL_KEYS = {"ML recall": "ml", "Rules recall": "rules", "Hybrid recall": "hybrid",
               "Combined recall": "combined"}
KPIS = ("ml_precision", "ml_recall", "ml_workload_pct",
        "hybrid_precision", "hybrid_recall", "hybrid_workload_pct",
        "ml_expected_cost", "hybrid_expected_cost",
        "combined_precision", "combined_recall", "combined_workload_pct",
        "combined_expected_cost")


def _js_fixed(value: float, digits: int = 1) -> str:
    """JavaScript's Number.prototype.toFixed: exact binary value, ties away from zero."""
    return str(Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def expected_text(column: str, value: float) -> str:
    if math.isnan(value):  # e.g. precision where nothing is flagged: the page says so
        return "n/a"
    if column.endswith("_workload_pct"):
        return _js_fixed(value) + "%"
    if column.endswith("_expected_cost"):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return _js_fixed(value * 100) + "%"


@pytest.fixture(scope="module")
def report_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    exports = tmp_path_factory.mktemp("exports")
    shutil.copytree(SAMPLE_EXPORTS, exports, dirs_exist_ok=True)  # day files in scored/ too
    cases = pd.read_csv(exports / "cases.csv", dtype=str, keep_default_na=False)
    cases.loc[0, "reasons_top3"] = PAYLOAD
    cases.to_csv(exports / "cases.csv", index=False)
    return write_report_from_exports(exports)


@pytest.fixture(scope="module")
def page(report_path: Path) -> Iterator[Chromium]:
    if find_chromium() is None:
        unavailable("no chromium on PATH (apt-get install chromium)")
    with Chromium() as browser:
        yield browser


def _slider(page: Chromium) -> int:
    return int(page.evaluate("document.getElementById('threshold').value"))


def _move_slider_to(page: Chromium, k: int) -> None:
    """Focus the range input and press arrow keys, as a keyboard user would."""
    page.evaluate("document.getElementById('threshold').focus()")
    for _ in range(150):
        current = _slider(page)
        if current == k:
            return
        page.press(*(("ArrowRight", 39) if current < k else ("ArrowLeft", 37)))
    raise AssertionError(f"slider stuck at {_slider(page)}")


def _card(page: Chromium, kpi: str) -> str:
    text = page.evaluate(f"document.querySelector('[data-kpi-value={kpi}]').textContent")
    return str(text)


@pytest.mark.parametrize("k", [71, 35, 90])
def test_moving_the_threshold_shows_the_kpis_of_thresholds_csv(
    page: Chromium, report_path: Path, k: int
) -> None:
    page.open(report_path.as_uri() + "#page=kpis")
    _move_slider_to(page, k)
    sweep = pd.read_csv(report_path.parent / "thresholds.csv")
    row = sweep.loc[(sweep["threshold"] * 100).round().astype(int) == k].iloc[0]
    assert page.evaluate("document.getElementById('threshold-value').textContent") == f"{k/100:.2f}"
    for kpi in KPIS:
        assert _card(page, kpi) == expected_text(kpi, float(row[kpi])), kpi
    assert _card(page, "total_flagged") == f"{int(row['hybrid_flagged']):,}"
    # the recommendation names the mode it is for, whose figures are on the page too
    mode = json.loads((report_path.parent / "run.json").read_text())["recommended_mode"]
    label = page.evaluate("document.querySelector('[data-kpi=recommended_threshold] .label')"
                          ".textContent")
    assert label == f"Recommended threshold ({mode})" and f"{mode}_precision" in KPIS
    assert page.evaluate("location.hash") == f"#page=kpis&t={k/100:.2f}"


def _recall_bars(page: Chromium) -> dict[tuple[str, str], tuple[float, str, float]]:
    """The recall chart's bars as drawn: (type, series) -> (value, fill, height on screen)."""
    bars = page.evaluate(
        "Array.from(document.querySelectorAll('#chart-recall rect')).map((r) => "
        "[r.dataset.category, r.dataset.series, Number(r.dataset.value), "
        "r.getAttribute('fill'), r.getBoundingClientRect().height])")
    return {(t, name): (value, fill, height) for t, name, value, fill, height in bars}


def _expected_recall(folder: Path, k: int) -> dict[tuple[str, str], float]:
    """ML, rules and hybrid recall of each labelled anomaly type at k/100, from the day files
    (ML `model_score >= k/100`, the grid's comparison; hybrid that or a rule)."""
    df = read_scored(folder)
    bad = df[df["is_anomaly"] == "True"]
    ml = pd.to_numeric(bad["model_score"], errors="coerce") >= k / 100
    rule = bad["is_rule_flag"] == "True"
    types = pd.read_csv(folder / "metrics_by_type.csv", dtype=str, keep_default_na=False)
    names = types.loc[types["section"] == "anomaly_type", "name"]
    return {(t, name): float(hit[bad["anomaly_type"] == t].mean())
            for t in names for name, hit in (("ML recall", ml), ("Rules recall", rule),
                                             ("Hybrid recall", ml | rule))}


def test_the_recall_bars_follow_the_slider(page: Chromium, report_path: Path) -> None:
    """Before 2026-12-07 the recall bars stayed at the recommended threshold while the rest
    of the page followed the slider. At the recommended threshold (0.42) and at 0.60 each
    ML, rules and hybrid bar is its type's recall recomputed from the day files, drawn in its
    series' declared colour; combined is drawn at the recommended threshold only."""
    folder = report_path.parent
    run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    rec = round(float(run["recommended_threshold"]) * 100)
    drawn: dict[int, dict[tuple[str, str], float]] = {}
    for k in (rec, 60):
        page.open(report_path.as_uri() + "#page=kpis")
        _move_slider_to(page, k)
        bars = _recall_bars(page)
        want = _expected_recall(folder, k)
        assert {key: v[0] for key, v in bars.items() if key in want} == pytest.approx(want)
        for (_, name), (_, fill, _) in bars.items():
            assert fill == SERIES_COLORS[RECALL_KEYS[name]], name
        combined = {key for key in bars if key[1] == "Combined recall"}
        assert bool(combined) == (k == rec), k
        drawn[k] = {key: v[2] for key, v in bars.items() if key in want}
        text = page.evaluate("document.getElementById('recall-at').textContent")
        assert text.startswith(f" at {k / 100:.2f}"), text
    assert drawn[rec] != drawn[60]  # the bars on screen moved with the slider
    assert _expected_recall(folder, rec) != _expected_recall(folder, 60)


def test_each_modes_cards_and_lines_are_in_its_series_colour(page: Chromium,
                                                              report_path: Path) -> None:
    """The cards' colours were report.css's own copy of the modes' colours; now every one
    is dashboard.series's, as Power BI's visuals."""
    page.open(report_path.as_uri() + "#page=kpis")

    def rgb(hex_colour: str) -> str:
        r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
        return f"rgb({r}, {g}, {b})"

    for mode in ("ml", "hybrid", "combined"):
        shown = page.evaluate("getComputedStyle(document.querySelector("
                              f"'[data-kpi-value={mode}_precision]')).color")
        assert shown == rgb(SERIES_COLORS[mode]), mode
    strokes = page.evaluate("Array.from(document.querySelectorAll('#chart-cost polyline'))"
                            ".map((l) => l.getAttribute('stroke'))")
    assert strokes == [SERIES_COLORS[m] for m in ("ml", "hybrid", "combined")]


def test_threshold_in_the_address_selects_page_and_value(page: Chromium, report_path: Path) -> None:
    page.open(report_path.as_uri() + "#page=volume&t=0.42",
              ready="document.body.dataset.page === 'volume'")
    assert _slider(page) == 42
    assert page.evaluate("document.getElementById('page-volume').offsetHeight") > 0
    assert page.evaluate("document.getElementById('page-kpis').offsetHeight") == 0


def test_cases_table_filters_by_type_and_channel(page: Chromium, report_path: Path) -> None:
    page.open(report_path.as_uri() + "#page=cases", ready="document.body.dataset.page === 'cases'")
    cases = pd.read_csv(report_path.parent / "cases.csv", dtype=str, keep_default_na=False)
    # A case of a labelled type (a false alarm's type is empty), not the first one.
    labelled = cases[cases["anomaly_type"] != ""]
    kind, channel = labelled["anomaly_type"].iloc[1], labelled["channel"].iloc[1]
    page.evaluate(f"""(() => {{
        for (const [id, v] of [['filter-type', {kind!r}], ['filter-channel', {channel!r}]]) {{
            const s = document.getElementById(id); s.value = v;
            s.dispatchEvent(new Event('change'));
        }} }})()""")
    shown = page.evaluate("document.querySelectorAll('#cases-table tbody tr').length")
    expected = ((cases["anomaly_type"] == kind) & (cases["channel"] == channel)).sum()
    assert shown == expected > 0


def test_untrusted_reasons_render_as_text_and_run_no_script(
    page: Chromium, report_path: Path
) -> None:
    page.open(report_path.as_uri() + "#page=cases", ready="document.body.dataset.page === 'cases'")
    cells = page.evaluate(
        "Array.from(document.querySelectorAll('#cases-table td')).map(td => td.textContent)")
    assert PAYLOAD in cells
    assert page.evaluate("document.querySelectorAll('#cases-table img, main script').length") == 0
    assert page.dialogs == []


def test_each_page_can_be_captured(page: Chromium, report_path: Path, tmp_path: Path) -> None:
    for name in ("kpis", "volume", "cases"):
        page.open(f"{report_path.as_uri()}#page={name}",
                  ready=f"document.body.dataset.page === '{name}'")
        png = page.screenshot(tmp_path / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 20_000


def test_a_stray_2100_and_1970_row_leave_the_daily_chart_on_the_data_and_are_listed(
    page: Chromium, tmp_path: Path,
) -> None:
    """The volume page in a real browser: the chart spans run.json's date range (2 days),
    the cards name the range and the two stray rows (docs/dashboard.md, "The date range")."""
    from tests.unit.test_dashboard_date_range import _exports

    _exports(tmp_path, report=True)  # the sink's own report writer makes the page
    page.open(f"{(tmp_path / 'report.html').as_uri()}#page=volume")
    points = page.evaluate(
        "document.querySelector('#chart-daily polyline').getAttribute('points')")
    assert len(str(points).split(" ")) == 2
    assert _card(page, "date_range") == "2025-01-01 to 2025-01-02"
    assert _card(page, "outside_range") == "2: 1970-01-01 (1), 2100-01-01 (1)"


def test_the_cases_table_fits_the_screenshots_width_with_every_column(
        page: Chromium, report_path: Path) -> None:
    """At the screenshots' 1280 px the cases table overflowed the page: its reasons were
    cut at the right edge and the outcome column was off screen. Now it fits, its reasons
    one a line, its headers named as Power BI's."""
    page.open(report_path.as_uri() + "#page=cases",
              ready="document.body.dataset.page === 'cases'")
    wide, room = page.evaluate("[document.querySelector('#cases-table').scrollWidth, "
                               "document.querySelector('#page-cases').clientWidth]")
    assert wide <= room, (wide, room)
    heads = page.evaluate("Array.from(document.querySelectorAll('#cases-table th'))"
                          ".map((th) => th.textContent)")
    assert heads[:2] == ["Rank", "Case ID"] and heads[-2:] == ["Top 3 reasons", "Outcome"]
