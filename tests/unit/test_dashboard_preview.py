"""Power BI layout previews: every visual at its PBIR position, untrusted text escaped."""

from __future__ import annotations

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
