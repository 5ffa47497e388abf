"""Power BI layout previews: every visual at its PBIR position, untrusted text escaped."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from dashboard.build import SAMPLE_EXPORTS
from dashboard.pbir import report_files
from dashboard.pbix import date_rows
from dashboard.preview import fmt, page_html
from dashboard.spec import DATE_TABLE, PAGES
from tests.scored_days import read_scored

PAYLOAD = "<script>alert(1)</script>"


def _tables(name: str) -> pd.DataFrame:
    if name == DATE_TABLE:  # built from run.json, as the .pbix's
        return pd.DataFrame(date_rows(SAMPLE_EXPORTS)).assign(
            date=lambda f: pd.to_datetime(f["date"]))
    if name == "transactions_scored":  # the day files
        frame = read_scored(SAMPLE_EXPORTS, na_filter=True)
    else:
        frame = pd.read_csv(SAMPLE_EXPORTS / f"{name}.csv")
    if name == "transactions_scored":
        frame["date"] = pd.to_datetime(frame["timestamp"]).dt.normalize()
    if name == "cases":
        frame.loc[0, "reasons_top3"] = PAYLOAD
    return frame


def _evaluate(names: list[str], ctx: str | None) -> dict[str, Any]:
    return dict.fromkeys(names, 0.25)


def test_every_visual_is_drawn_at_its_pbir_position() -> None:
    files = report_files()
    for page in PAGES:
        doc = page_html(page, _evaluate, _tables)
        for visual in page.visuals:
            pos = files[f"definition/pages/{page.name}/visuals/{visual.name}/visual.json"]
            box = pos["position"]
            assert f"left:{box['x']}px;top:{box['y'] + 30}px;width:{box['width']}px" in doc


def test_preview_escapes_untrusted_text() -> None:
    (cases,) = [p for p in PAGES if p.name == "cases"]
    doc = page_html(cases, _evaluate, _tables)
    assert PAYLOAD not in doc and "&lt;script&gt;alert(1)&lt;/script&gt;" in doc


def test_the_outside_page_previews_only_the_rows_dated_outside_the_range() -> None:
    (outside,) = [p for p in PAGES if p.name == "outside"]

    def strays(name: str) -> pd.DataFrame:
        frame = _tables(name)
        if name == "transactions_scored":  # one row moved to 2100
            frame["transaction_id"] = frame["transaction_id"].astype(str)
            frame.loc[3, ["transaction_id", "date"]] = ["stray-2100", pd.Timestamp("2100-01-01")]
        return frame

    doc = page_html(outside, _evaluate, strays)
    table = doc[doc.index("<table>"):]
    assert table.count("<tr>") == 2 and "<td>stray-2100</td>" in table  # header + the stray


def test_preview_formats_values_like_the_measures() -> None:
    assert fmt("ML Precision", 0.4673) == "46.7%"
    assert fmt("Total Flagged", 1234.0) == "1,234"
    assert fmt("Recommended Threshold", 0.67) == "0.67"
    assert fmt("ML Only", None) == "(Blank)"


def test_preview_card_of_a_text_measure_shows_the_text_escaped() -> None:
    text = "data as of 2025-01-30 09:58, 0 minutes behind <b>"
    assert fmt("Data As Of", text) == text
    (kpis,) = [p for p in PAGES if p.name == "kpis"]
    doc = page_html(kpis, lambda names, ctx: {n: text if n == "Data As Of" else 0.25
                                              for n in names}, _tables)
    assert '<b class="text">data as of 2025-01-30 09:58, 0 minutes behind &lt;b&gt;</b>' in doc
    assert "behind <b>" not in doc and '<b class="text">0.25' not in doc


def test_the_recall_chart_leaves_out_normal_and_shows_each_type_whole() -> None:
    """Power BI leaves out a category whose every value is blank: "normal" rows have no
    recall (no anomaly to find), so its category is not drawn; the preview drew it empty
    beside the others, and cut "IMPOSSIBLE_TRAVEL" to "IMPOSSIBLE_TRA"."""
    (kpis,) = [p for p in PAGES if p.name == "kpis"]

    def recall(names: list[str], ctx: str | None) -> dict[str, Any]:
        blank = ctx is not None and '["normal"]' in ctx
        return {n: None if blank else 0.5 for n in names}

    doc = page_html(kpis, recall, _tables)
    chart = doc[doc.index("Recall by anomaly type"):doc.index("Expected cost across")]
    assert ">IMPOSSIBLE_TRAVEL</text>" in chart and ">BURST</text>" in chart
    assert ">normal<" not in chart
    assert "ML recall" in chart and "Combined recall" in chart


def test_no_preview_shows_a_native_field_name_or_a_missing_value() -> None:
    """Legends, card labels and table headers show each field's display name (the cost
    legend read "Sum of ml_expected_cost"); a blank cell is empty, not pandas' `<NA>`."""
    for page in PAGES:
        doc = page_html(page, _evaluate, _tables)
        assert "Sum of" not in doc and "&lt;NA&gt;" not in doc and ">nan<" not in doc, page.name
        assert "<th>case_id</th>" not in doc and "<small>KPI " not in doc, page.name


def test_the_case_detail_preview_shows_the_top_case_and_only_its_transactions() -> None:
    """A drill-through page previewed from the top case: it listed every case and the
    data's first 16 transactions, none of them the case's."""
    (detail,) = [p for p in PAGES if p.name == "caseDetail"]
    doc = page_html(detail, _evaluate, _tables)
    cases = _tables("cases").sort_values("rank")
    links = _tables("case_transactions")
    top = cases["case_id"].iloc[0]
    ids = {str(t) for t in links[links["case_id"] == top]["transaction_id"]}
    assert ids and f"<td>{top}</td>" in doc and f"<td>{cases['case_id'].iloc[1]}</td>" not in doc
    rows = doc[doc.index("Its transactions"):]
    shown = set(re.findall(r"<tr><td>([^<]*)</td>", rows))
    assert shown == ids
