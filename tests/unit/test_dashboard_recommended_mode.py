"""The Power BI dashboard shows the mode the recommended threshold is for (run.json's
`recommended_mode`, `EXPORTS_RECOMMEND_FOR`: combined by default, or ml or hybrid).

Before 2026-12-06 its cost chart drew ML's and hybrid's cost only, its mark
(`Recommended Cost Marker`) read hybrid's cost whatever the mode, and the KPI page had no
combined card: with the default recommendation the mark stood where neither drawn line was
lowest, and the recommended mode's precision, recall and workload were nowhere. Now the
chart draws each mode a threshold can be recommended for, the mark reads the cost of the
mode run.json names, and the KPI page has each mode's cards. Measures are evaluated by
pbix-mcp's DAX engine on `.pbix` files built from the sample with run.json naming each
mode (and thresholds.csv recommending that mode's cheapest threshold, as the sink does);
the run table's query by the emulator of `tests/m_refresh.py`, also on a run.json without
the field; and an export of a release before the combined columns (2026-11-30, 9113534)
still builds, its mark on hybrid's line.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.build import SAMPLE_EXPORTS
from dashboard.pbix import build_pbix
from dashboard.spec import NAME, PAGES, Field
from shared.errors import AuditstreamError
from sink.settings import ExportSettings
from tests.m_refresh import MError, refresh

ROOT = Path(__file__).resolve().parents[2]
KPIS = next(p for p in PAGES if p.name == "kpis")
#: The modes a threshold can be recommended for, as the settings allow them.
MODES = get_args(ExportSettings.model_fields["recommend_for"].annotation)
LABELS = {"ml": "ML", "hybrid": "Hybrid", "combined": "Combined"}
#: thresholds.csv's header before the combined score (9113534^, 2026-11-30): ml and hybrid.
OLD_HEADER = ["threshold", *(f"{mode}_{c}" for mode in ("ml", "hybrid") for c in (
    "tp", "fp", "fn", "tn", "flagged", "precision", "recall", "fpr", "workload_pct",
    "expected_cost")), "is_recommended"]
ABSENT = "(absent)"


def _sweep() -> list[dict[str, str]]:
    with (SAMPLE_EXPORTS / "thresholds.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _cheapest(rows: list[dict[str, str]], mode: str) -> int:
    """The sink's pick without a budget: the lowest cost, a tie to the higher threshold."""
    return -min((float(r[f"{mode}_expected_cost"]), -k) for k, r in enumerate(rows))[1]


def test_the_modes_are_the_three_a_threshold_can_be_recommended_for() -> None:
    assert set(MODES) == {"ml", "hybrid", "combined"}


def test_the_cost_chart_draws_each_mode_and_the_mark() -> None:
    (curve,) = [v for v in KPIS.visuals if v.name == "costCurve"]
    assert curve.roles["Y"] == (
        Field("thresholds", "ml_expected_cost", "sum"),
        Field("thresholds", "hybrid_expected_cost", "sum"),
        Field("thresholds", "combined_expected_cost", "sum"),
        Field("transactions_scored", "Recommended Cost Marker"))


def test_the_kpi_page_has_each_modes_cards() -> None:
    cards = {v.roles["Values"][0].name for v in KPIS.visuals if v.type == "card"}
    for mode in MODES:
        label = LABELS[mode]
        assert {f"KPI {label} Precision", f"KPI {label} Recall", f"KPI {label} Workload %",
                f"{label} Expected Cost"} <= cards, mode
    assert "Recommended Mode" in cards


def test_the_committed_report_draws_the_combined_cost_and_its_cards() -> None:
    """The committed PBIR (what Desktop opens) is regenerated, not only the spec."""
    visuals = ROOT / f"{NAME}.Report" / "definition" / "pages" / "kpis" / "visuals"

    def bound(visual: str) -> set[str]:
        text = (visuals / visual / "visual.json").read_text(encoding="utf-8")
        found: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if isinstance(node.get("Property"), str):
                    found.add(node["Property"])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)
        walk(json.loads(text))
        return found

    assert {"ml_expected_cost", "hybrid_expected_cost", "combined_expected_cost",
            "Recommended Cost Marker"} <= bound("costCurve")
    assert bound("combinedCost") == {"Combined Expected Cost"}
    assert bound("recommendedMode") == {"Recommended Mode"}
    every = set().union(*(bound(p.name) for p in visuals.iterdir()))
    assert {"KPI Combined Precision", "KPI Combined Recall", "KPI Combined Workload %"} <= every


# --- the run table's query (emulated refresh) -------------------------------------------

def _run_m() -> str:
    from dashboard.tmdl import run_table_m  # the run table's query

    return run_table_m()


def test_the_run_query_reads_the_recommended_mode() -> None:
    files = {"run.json": (SAMPLE_EXPORTS / "run.json").read_text(encoding="utf-8")}
    table = refresh(_run_m(), files)
    assert table.records() == [{"recommended_mode": "combined", "upgrade_note": None}]


@settings(max_examples=60, deadline=None)
@given(mode=st.sampled_from([*MODES, None, ABSENT]),
       other=st.dictionaries(st.text(min_size=1, max_size=12).filter(
           lambda k: k not in ("recommended_mode", "upgrade_note")),
           st.integers() | st.text(max_size=5),
           max_size=4))
def test_a_run_json_with_or_without_the_mode_refreshes(mode: str | None,
                                                       other: dict[str, Any]) -> None:
    """An older or hand-made run.json without `recommended_mode` refreshes (the mode null,
    so the mark marks nothing), as a CSV's missing column does; other fields are left out."""
    run = dict(other) if mode == ABSENT else {**other, "recommended_mode": mode}
    table = refresh(_run_m(), {"run.json": json.dumps(run)})
    assert table.records() == [{"recommended_mode": None if mode == ABSENT else mode,
                                "upgrade_note": None}]


def test_the_emulator_fails_a_missing_field_unless_told_to_use_null() -> None:
    head = ('let Run = Json.Document(File.Contents(ExportsFolder & "run.json")), '
            'Selected = Record.SelectFields(Run, {"a", "b"}')
    tail = "), Source = Table.FromRecords({Selected}) in Source"
    files = {"run.json": '{"a": "x"}'}
    with pytest.raises(MError, match="The field 'b' of the record wasn't found"):
        refresh(head + tail, files)
    got = refresh(head + ", MissingField.UseNull" + tail, files)
    assert got.records() == [{"a": "x", "b": None}]


def test_a_mode_that_is_not_text_is_refused_by_the_build(tmp_path: Path) -> None:
    from dashboard.pbix import run_rows

    for bad in (1, True, ["combined"]):
        (tmp_path / "run.json").write_text(json.dumps({"recommended_mode": bad}),
                                           encoding="utf-8")
        with pytest.raises(AuditstreamError, match=r"recommended_mode is .*, not text"):
            run_rows(tmp_path)
    (tmp_path / "run.json").write_text("{}", encoding="utf-8")
    assert run_rows(tmp_path) == [{"recommended_mode": None, "upgrade_note": None}]


# --- the measures, evaluated on .pbix files built for each mode -------------------------

#: case -> (run.json's recommended_mode or ABSENT, thresholds.csv's header: current or old)
CASES = {mode: (mode, "current") for mode in MODES} | {
    "old-hybrid": ("hybrid", "old"), "no-mode": (ABSENT, "current")}


def _exports(folder: Path, mode: str, header: str) -> tuple[Path, list[dict[str, str]]]:
    """The sample with run.json naming `mode` and thresholds.csv recommending its cheapest
    threshold (the sample's own recommendation when the mode is absent); `old`: the columns
    a release before the combined score wrote."""
    shutil.copytree(SAMPLE_EXPORTS, folder)
    run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    rows = _sweep()
    if mode == ABSENT:
        del run["recommended_mode"]
    else:
        run["recommended_mode"] = mode
        best = _cheapest(rows, mode)
        for k, row in enumerate(rows):
            row["is_recommended"] = str(k == best)
    (folder / "run.json").write_text(json.dumps(run), encoding="utf-8")
    columns = OLD_HEADER if header == "old" else list(rows[0])
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    (folder / "thresholds.csv").write_text(out.getvalue(), encoding="utf-8")
    return folder, rows


class _Built(dict[str, Any]):
    """case -> (evaluate(names, threshold or None) -> name -> value, thresholds rows); each
    case's .pbix built when first asked for (about 20 s each)."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        super().__init__()
        self.factory, self.opened = factory, list[str]()

    def __missing__(self, case: str) -> Any:
        from pbix_mcp import server  # type: ignore[import-untyped]

        mode, header = CASES[case]
        work = self.factory.mktemp(case)
        exports, rows = _exports(work / "exports", mode, header)
        pbix = build_pbix(ROOT, exports, work / f"{NAME}.pbix")
        alias = f"auditstream-mode-{case}"
        assert json.loads(server.pbix_open(str(pbix), alias=alias))["success"]
        self.opened.append(alias)

        def evaluate(names: list[str], t: float | None) -> dict[str, Any]:
            ctx = json.dumps({"thresholds.threshold": [t]}) if t is not None else ""
            reply = json.loads(server.pbix_evaluate_dax(
                alias, ",".join(names), filter_context=ctx, apply_default_filters=False))
            assert "results" in reply, reply  # an unknown measure: an error, no results
            results = {r["name"]: r for r in reply["results"]}
            assert all(r["status"] in ("ok", "blank") for r in results.values()), reply
            return {n: results[n].get("value") for n in names}
        self[case] = (evaluate, rows)
        return self[case]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Built]:
    from pbix_mcp import server

    cases = _Built(tmp_path_factory)
    try:
        yield cases
    finally:
        for alias in cases.opened:
            server.pbix_close(alias, force=True)


def _at(rows: list[dict[str, str]], k: int, column: str) -> float | None:
    """A cell as the model reads it: empty (no figure, e.g. precision of nothing) is blank."""
    return float(rows[k][column]) if rows[k][column] else None


def _percent(value: float | None) -> float | None:
    return None if value is None else value / 100


@pytest.mark.parametrize("mode", MODES)
def test_the_mark_stands_at_the_lowest_point_of_its_modes_line(
        built: _Built, mode: str) -> None:
    """At the recommended threshold (the mode's cheapest) the mark is that mode's cost,
    the lowest of its line; one step either side (the grid's end has one), and with no
    threshold selected, none."""
    evaluate, rows = built[mode]
    best = _cheapest(rows, mode)
    beside = [k for k in (best - 1, best + 1) if 0 <= k < len(rows)]
    t = float(rows[best]["threshold"])
    cost = _at(rows, best, f"{mode}_expected_cost")
    assert cost == min(float(r[f"{mode}_expected_cost"]) for r in rows)
    others = {m: _at(rows, best, f"{m}_expected_cost") for m in MODES if m != mode}
    assert cost not in others.values()  # the mark tells the modes apart here
    assert evaluate(["Recommended Threshold"], None)["Recommended Threshold"] == t
    assert evaluate(["Recommended Cost Marker"], t)["Recommended Cost Marker"] == cost
    for k in beside:
        got = evaluate(["Recommended Cost Marker"], float(rows[k]["threshold"]))
        assert got["Recommended Cost Marker"] is None, rows[k]["threshold"]
    assert evaluate(["Recommended Cost Marker"], None)["Recommended Cost Marker"] is None


@pytest.mark.parametrize("mode", MODES)
def test_the_recommended_mode_and_each_modes_cards_read_the_exports(
        built: _Built, mode: str) -> None:
    evaluate, rows = built[mode]
    best = _cheapest(rows, mode)
    t = float(rows[best]["threshold"])
    assert evaluate(["Recommended Mode"], None) == {"Recommended Mode": mode}
    for m in MODES:
        label = LABELS[m]
        names = [f"KPI {label} Precision", f"KPI {label} Recall", f"KPI {label} Workload %",
                 f"{label} Expected Cost"]
        got = evaluate(names, t)
        assert got == {
            names[0]: _at(rows, best, f"{m}_precision"),
            names[1]: _at(rows, best, f"{m}_recall"),
            names[2]: _percent(_at(rows, best, f"{m}_workload_pct")),
            names[3]: _at(rows, best, f"{m}_expected_cost")}, m


def test_an_export_before_the_combined_columns_marks_hybrids_line(
        built: _Built) -> None:
    """A release before the combined score: no combined_* columns, the mode hybrid. It
    builds (the columns null), the mark is hybrid's cost, the combined cards are blank."""
    evaluate, rows = built["old-hybrid"]
    best = _cheapest(rows, "hybrid")
    t = float(rows[best]["threshold"])
    assert evaluate(["Recommended Mode"], None) == {"Recommended Mode": "hybrid"}
    assert evaluate(["Recommended Cost Marker"], t) == {
        "Recommended Cost Marker": _at(rows, best, "hybrid_expected_cost")}
    names = ["KPI Combined Precision", "KPI Combined Recall", "KPI Combined Workload %",
             "Combined Expected Cost"]
    assert evaluate(names, t) == dict.fromkeys(names)
    assert evaluate(["KPI Hybrid Precision"], t) == {
        "KPI Hybrid Precision": _at(rows, best, "hybrid_precision")}


def test_a_run_json_without_the_mode_marks_nothing(built: _Built) -> None:
    """No mode named: no line to put the mark on, so none (it used to be hybrid's cost);
    the rest of the page reads as usual."""
    evaluate, rows = built["no-mode"]
    best = next(k for k, r in enumerate(rows) if r["is_recommended"] == "True")
    t = float(rows[best]["threshold"])
    assert evaluate(["Recommended Mode"], None) == {"Recommended Mode": None}
    for k in (best - 1, best, best + 1):
        got = evaluate(["Recommended Cost Marker"], float(rows[k]["threshold"]))
        assert got == {"Recommended Cost Marker": None}, rows[k]["threshold"]
    assert evaluate(["Combined Expected Cost"], t) == {
        "Combined Expected Cost": _at(rows, best, "combined_expected_cost")}


# --- the Assurance page's cases per day: the recommended mode's too ---------------------

def test_the_capacity_chart_draws_the_recommended_modes_cases_per_day() -> None:
    """It drew `combined_cases_per_day` whatever the mode; the sink fits the capacity on
    the recommended mode's (`sink.tables.recommend`), as report.html draws."""
    assurance = next(p for p in PAGES if p.name == "assurance")
    (curve,) = [v for v in assurance.visuals if v.name == "capacityCurve"]
    assert curve.roles["Y"] == (Field("transactions_scored", "Recommended Mode Cases Per Day"),
                                Field("thresholds", "daily_capacity", "sum"))


@pytest.mark.parametrize("mode", MODES)
def test_cases_per_day_are_the_recommended_modes(built: _Built, mode: str) -> None:
    """The card at the recommended threshold, and the chart at it and one step either side,
    read the recommended mode's `<mode>_cases_per_day` (the card read combined's)."""
    evaluate, rows = built[mode]
    best = _cheapest(rows, mode)
    assert evaluate(["Recommended Cases Per Day"], None) == {
        "Recommended Cases Per Day": _at(rows, best, f"{mode}_cases_per_day")}
    for k in (k for k in (best - 1, best, best + 1) if 0 <= k < len(rows)):
        got = evaluate(["Recommended Mode Cases Per Day"], float(rows[k]["threshold"]))
        assert got == {"Recommended Mode Cases Per Day": _at(rows, k, f"{mode}_cases_per_day")}
    if mode != "combined":  # the modes' figures differ there: the test tells them apart
        assert _at(rows, best, f"{mode}_cases_per_day") != _at(rows, best,
                                                              "combined_cases_per_day")
