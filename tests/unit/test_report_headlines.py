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
    cols = ["section", "name", "reviewed", "confirmed", "dismissed", "unclear", *rates]
    seen_rate = False
    for cells, (_, row) in zip(shown, table.iterrows(), strict=True):
        for col, cell in zip(cols, cells, strict=True):
            if col in rates and row[col] != "":
                assert cell == f"{float(row[col]) * 100:.2f}%", (col, row[col], cell)
                seen_rate = True
            else:
                assert cell == row[col], (col, row[col], cell)
    assert seen_rate  # the labelled rows give rates, so the case has teeth


def test_the_recall_chart_draws_power_bis_modes_from_metrics_by_type(tmp_path: Path) -> None:
    """The page's recall by anomaly type drew ML and hybrid only (from the volume counts);
    Power BI's draws ML, rules, hybrid and combined (issue 13 item 3). Now the page draws
    the same four, each bar metrics_by_type.csv's recall of its type at the recommended
    threshold, and says at which."""
    rows = random_scored(3_000, seed=5)
    write_exports(rows, tmp_path, on_rollup=write_report_from_rollup)
    table = pd.read_csv(tmp_path / "metrics_by_type.csv", dtype=str, keep_default_na=False)
    types = table[table["section"] == "anomaly_type"]
    assert len(types) >= 3 and "normal" not in set(types["name"])
    run = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    cards = _cards(tmp_path, "#page=kpis&t=0.90")  # another threshold: the bars stay
    series = (("ML recall", "ml_recall"), ("Rules recall", "rules_recall"),
              ("Hybrid recall", "recall"), ("Combined recall", "combined_recall"))
    assert cards["_recall_legend"] == [name for name, _ in series]
    assert cards["_recall_bars"] == [
        f"{row['name']} {name}: {_pct(float(row[column] or 0))}"
        for _, row in types.iterrows() for name, column in series]
    assert cards["_recall_at"] == (
        f" at the recommended threshold {float(run['recommended_threshold']):.2f}")


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
