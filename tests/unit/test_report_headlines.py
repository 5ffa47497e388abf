"""report.html's headline cards as the page computes them (its script run under node with
`report_fakedom.js`), against the figures recomputed from the day files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from auditstream.report import write_report_from_rollup
from dashboard.series import SERIES_COLORS
from dashboard.spec import ASSURANCE_TABLE
from shared.columns import ASSURANCE_COLUMNS
from sink.offline import write_exports
from sink.settings import ExportSettings
from tests.scored_days import read_scored
from tests.unit.test_rollup_pandas import random_scored

NODE = shutil.which("node")
# With CI=true a missing node fails the run (`.ci/run` installs it), never a silent skip.
pytestmark = pytest.mark.skipif(NODE is None and os.environ.get("CI", "") != "true",
                                reason="node is not installed")


def _cards(folder: Path, address: str = "") -> dict[str, Any]:
    if NODE is None:
        pytest.fail("node is not installed (CI=true: `.ci/run` installs Debian's nodejs)")
    out = subprocess.run([str(NODE), str(Path(__file__).with_name("report_fakedom.js")),
                          str(folder / "report.html"), address], capture_output=True, text=True,
                         check=True, timeout=60)
    cards: dict[str, Any] = json.loads(out.stdout)
    return cards


def _pct(v: float) -> str:
    return f"{v * 100:.1f}%"


@pytest.mark.parametrize("labelled", [True, False])
def test_the_anomaly_rate_card_is_over_the_labelled_rows(tmp_path: Path, labelled: bool
                                                         ) -> None:
    rows = random_scored(3_000, seed=21, labelled=labelled)
    rows = [r.model_copy(update={"is_anomaly": None}) if i % 7 == 0 else r  # unlabelled
            for i, r in enumerate(rows)]
    write_exports(rows, tmp_path, on_rollup=write_report_from_rollup)
    df: pd.DataFrame = read_scored(tmp_path)
    pos = int((df["is_anomaly"] == "True").sum())
    known = int(df["is_anomaly"].isin(["True", "False"]).sum())
    cards = _cards(tmp_path)
    assert cards["rows"] == f"{len(df):,}"
    assert cards["total_anomalies"] == f"{pos:,}"
    assert cards["anomaly_rate"] == (_pct(pos / known) if known else "n/a")


@pytest.mark.parametrize("mode", ["combined", "hybrid", "ml"])
def test_the_cost_chart_draws_the_curve_the_recommendation_is_for(tmp_path: Path, mode: str
                                                                   ) -> None:
    """The chart marks the recommended threshold: it draws the expected cost of the mode the
    recommendation is for (`EXPORTS_RECOMMEND_FOR`), lowest at the mark. Before it drew ML
    and hybrid only, so the default (`combined`) mark stood where neither line was lowest
    (the demo: 0.40, ML lowest at about 0.5, hybrid at about 0.66)."""
    rows = random_scored(3_000, seed=5)
    write_exports(rows, tmp_path, ExportSettings(recommend_for=mode),
                  on_rollup=write_report_from_rollup)
    run = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert run["recommended_mode"] == mode and run["recommended_criterion"] == (
        "lowest expected cost")
    cards = _cards(tmp_path)
    names = {"combined": "Combined", "hybrid": "Hybrid", "ml": "ML"}
    legend = [str(x) for x in cards["_cost_legend"]]
    assert [n for n in legend if n.endswith("expected cost")] == [
        f"{names[m]} expected cost" for m in ("ml", "hybrid", "combined")]
    heights = cards["_cost_lines"][legend.index(f"{names[mode]} expected cost")]
    at = round(float(run["recommended_threshold"]) * 100)
    assert heights[at] == max(heights)  # the lowest cost is where the mark stands


def test_the_assurance_table_shows_its_rates_as_percentages(tmp_path: Path) -> None:
    """assurance.csv holds the rates as full doubles for Power BI; the page's table showed
    them as such (`0.9309160305343511`, found walking the report): now each rate is a
    percentage with two decimals, the counts as counts, an empty cell empty."""
    rows = random_scored(3_000, seed=7)
    write_exports(rows, tmp_path, on_rollup=write_report_from_rollup)
    table = pd.read_csv(tmp_path / "assurance.csv", dtype=str, keep_default_na=False)
    table = table[table["section"] != "threshold"]
    shown = _cards(tmp_path)["_assurance_rows"]
    assert len(shown) == len(table) > 0
    rates = ("precision", "precision_low", "precision_high", "labelled_precision")
    # Power BI's table's columns (`ASSURANCE_TABLE`): every one of assurance.csv but the
    # threshold (its rows are not listed here); `labelled` was left out before 2026-12-07
    cols = [c for c, _ in ASSURANCE_TABLE if c != "threshold"]
    assert set(cols) == set(ASSURANCE_COLUMNS) - {"threshold"}
    seen_rate = False
    for cells, (_, row) in zip(shown, table.iterrows(), strict=True):
        for col, cell in zip(cols, cells, strict=True):
            if col in rates and row[col] != "":
                assert cell == f"{float(row[col]) * 100:.2f}%", (col, row[col], cell)
                seen_rate = True
            else:
                assert cell == row[col], (col, row[col], cell)
    assert seen_rate  # the labelled rows give rates, so the case has teeth


_RECALLS = (("ML recall", "ml_recall", "ml"), ("Rules recall", "rules_recall", "rules"),
            ("Hybrid recall", "recall", "hybrid"), ("Combined recall", "combined_recall",
                                                    "combined"))


def _recall_by_type(df: pd.DataFrame, types: list[str], k: int) -> dict[str, list[float]]:
    """Each mode's recall of each labelled type at k/100, recomputed from the day files:
    ML `model_score >= t`, rules `is_rule_flag`, hybrid either (thresholds.csv's rules)."""
    bad = df[df["is_anomaly"] == "True"]
    score = pd.to_numeric(bad["model_score"], errors="coerce")
    ml = score >= k / 100  # the grid's comparison (`sink.bins.GRID`); no score: never
    rule = bad["is_rule_flag"] == "True"
    caught = {"ml": ml, "rules": rule, "hybrid": ml | rule}
    kind = bad["anomaly_type"]
    return {mode: [float(hit[kind == t].mean()) for t in types] for mode, hit in caught.items()}


def test_the_recall_chart_follows_the_threshold_with_power_bis_modes(tmp_path: Path) -> None:
    """The page's recall by anomaly type draws the series Power BI's draws (ML, rules, hybrid,
    combined). Before 2026-12-07 its bars stayed at the recommended threshold whatever the
    slider said (metrics_by_type.csv's figures). Now ML, rules and hybrid follow it, counted
    from the volume counts the rest of the page uses; at the recommended threshold they are
    metrics_by_type.csv's, and combined (no combined score in the counts) is drawn there only,
    which the caption says."""
    rows = random_scored(3_000, seed=5)
    write_exports(rows, tmp_path, on_rollup=write_report_from_rollup)
    table = pd.read_csv(tmp_path / "metrics_by_type.csv", dtype=str, keep_default_na=False)
    types = table[table["section"] == "anomaly_type"]
    assert len(types) >= 3 and "normal" not in set(types["name"])
    run = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    rec = round(float(run["recommended_threshold"]) * 100)
    cards = _cards(tmp_path, f"#page=kpis&t={rec / 100:.2f}")
    assert cards["_recall_legend"] == [name for name, _, _ in _RECALLS]
    assert cards["_recall_bars"] == [
        f"{row['name']} {name}: {_pct(float(row[column] or 0))}"
        for _, row in types.iterrows() for name, column, _ in _RECALLS]
    assert cards["_recall_at"] == f" at {rec / 100:.2f}"
    df = read_scored(tmp_path)
    names = list(types["name"])
    other = 90 if rec != 90 else 30
    expected = _recall_by_type(df, names, other)
    assert expected != _recall_by_type(df, names, rec)  # the threshold moves a bar
    cards = _cards(tmp_path, f"#page=kpis&t={other / 100:.2f}")
    drawn = _RECALLS[:3]
    assert cards["_recall_legend"] == [name for name, _, _ in drawn]
    assert cards["_recall_bars"] == [
        f"{t} {name}: {_pct(expected[mode][i])}"
        for i, t in enumerate(names) for name, _, mode in drawn]
    assert cards["_recall_at"] == (
        f" at {other / 100:.2f}; Combined: drawn at the recommended threshold "
        f"{rec / 100:.2f} only (the volume counts hold no combined score)")


def test_each_recall_series_has_its_declared_colour_whatever_is_drawn(tmp_path: Path) -> None:
    """Colours by the series' name (`dashboard.series`), Power BI's too: hybrid keeps its
    colour when combined is not drawn beside it."""
    rows = random_scored(3_000, seed=5)
    write_exports(rows, tmp_path, on_rollup=write_report_from_rollup)
    run = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    rec = round(float(run["recommended_threshold"]) * 100)
    want = {name: SERIES_COLORS[mode] for name, _, mode in _RECALLS}
    assert len(set(want.values())) == 4
    both = _cards(tmp_path, f"#page=kpis&t={rec / 100:.2f}")["_recall_fills"]
    fewer = _cards(tmp_path, f"#page=kpis&t={(rec + 1) % 100 / 100:.2f}")["_recall_fills"]
    assert both == want
    assert fewer == {k: v for k, v in want.items() if k != "Combined recall"}


def test_the_run_footer_names_and_rounds_every_value_as_the_cards_do(tmp_path: Path) -> None:
    """The footer was run.json dumped as `key: value` (`recommended_precision:
    0.6153846153846154`, `recommended_workload_pct: 1.6652433817250214`): now every value is
    there, named in words and formatted as the cards format the same figure."""
    rows = random_scored(3_000, seed=5)
    write_exports(rows, tmp_path, on_rollup=write_report_from_rollup)
    run = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    shown = _cards(tmp_path)["_run"]
    scalars = {k: v for k, v in run.items() if isinstance(v, str | int | float | bool)}
    assert set(shown) == set(scalars)  # every value kept
    assert shown["recommended_precision"] == [
        "Recommended precision", _pct(run["recommended_precision"])]
    assert shown["recommended_recall"] == ["Recommended recall", _pct(run["recommended_recall"])]
    assert shown["recommended_workload_pct"] == [
        "Recommended workload %", f"{run['recommended_workload_pct']:.1f}%"]
    assert shown["recommended_threshold"] == [
        "Recommended threshold", f"{run['recommended_threshold']:.2f}"]
    assert shown["rows"] == ["Rows", f"{run['rows']:,}"]
    assert shown["cost_fn"] == ["Cost of a false negative", f"{run['cost_fn']:g}"]
    assert shown["recommended_cases_per_day"][1] == f"{run['recommended_cases_per_day']:.1f}"
    assert shown["event_time_max"][1] == run["event_time_max"].replace("T", " ")
    for key, (name, value) in shown.items():
        assert "_" not in name and value, key
        assert len(value) <= 40 or key == "input", (key, value)  # no 16-digit doubles
