"""The Assurance page's table, walked as an auditor would: before 2026-12-07 ten columns in
560 px (headers cut, `unclear` and `labelled` of assurance.csv nowhere on the page). Now
every column of assurance.csv, each wide enough for its header's longest word (headers and
cells wrap), in the order a row is read, the section a drop-down above it."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd

from dashboard.build import SAMPLE_EXPORTS
from dashboard.pbir import page_json, query_ref, visual_json
from dashboard.preview import cell
from dashboard.spec import ASSURANCE_TABLE, NAME, PAGES, Visual, display_name
from shared.columns import ASSURANCE_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
#: A header's pixels per character (Segoe UI at Power BI's 11 px table font, bold, about 6.5)
#: and a cell's padding either side.
_CHAR_PX, _PAD_PX = 7, 8
(PAGE,) = [p for p in PAGES if p.name == "assurance"]
(TABLE,) = [v for v in PAGE.visuals if v.name == "assuranceTable"]


def test_the_table_shows_every_column_of_assurance_csv() -> None:
    shown = [f.name for f in TABLE.roles["Values"]]
    assert sorted(shown) == sorted(ASSURANCE_COLUMNS) and len(set(shown)) == len(shown)


def test_a_row_reads_what_it_is_then_the_precision_then_what_it_rests_on() -> None:
    shown = [f.name for f in TABLE.roles["Values"]]
    assert shown[:3] == ["section", "name", "threshold"]
    assert shown[3:6] == ["precision", "precision_low", "precision_high"]
    assert shown.index("precision") < shown.index("reviewed") < shown.index("labelled")
    assert shown[-1] == "labelled_precision"


def test_each_column_is_wide_enough_for_its_headers_words_and_all_fit() -> None:
    fields = TABLE.roles["Values"]
    assert len(TABLE.widths) == len(fields)
    for f, w in zip(fields, TABLE.widths, strict=True):
        longest = max(len(word) for word in display_name(f).split())
        assert w >= longest * _CHAR_PX + 2 * _PAD_PX, (f.name, w, display_name(f))
    assert sum(TABLE.widths) <= TABLE.box[2] - 20  # the row header and a scroll bar's room


def test_each_name_of_the_sample_fits_its_column_unbroken() -> None:
    """A name (`impossible_travel`) has no space to wrap at: its column holds it whole."""
    rows = pd.read_csv(SAMPLE_EXPORTS / "assurance.csv", dtype=str, keep_default_na=False)
    (width,) = [w for c, w in ASSURANCE_TABLE if c == "name"]
    assert max(map(len, rows["name"])) * _CHAR_PX + 2 * _PAD_PX <= width


def test_the_pbir_table_has_the_widths_and_wraps() -> None:
    objects = visual_json(TABLE, 0)["visual"]["objects"]
    widths = {o["selector"]["metadata"]: o["properties"]["value"]["expr"]["Literal"]["Value"]
              for o in objects["columnWidth"]}
    assert widths == {query_ref(f): f"{w}D"
                      for f, w in zip(TABLE.roles["Values"], TABLE.widths, strict=True)}
    for part in ("columnHeaders", "values"):
        assert objects[part] == [{"properties": {"wordWrap": {"expr": {"Literal": {
            "Value": "true"}}}}}]


def test_the_section_slicer_is_a_drop_down() -> None:
    (slicer,) = [v for v in PAGE.visuals if v.name == "assuranceSection"]
    data = visual_json(slicer, 0)["visual"]["objects"]["data"]
    assert data == [{"properties": {"mode": {"expr": {"Literal": {"Value": "'Dropdown'"}}}}}]
    assert [c for c, _ in ASSURANCE_TABLE] == [f.name for f in TABLE.roles["Values"]]


def _overlap(a: Visual, b: Visual) -> bool:
    (ax, ay, aw, ah), (bx, by, bw, bh) = a.box, b.box
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def test_no_two_visuals_of_a_page_overlap_and_all_are_on_it() -> None:
    """The Assurance page is taller (the table at the page's width, the capacity chart and
    the outcomes under it): shown at its width and scrolled, not shrunk to fit."""
    for page in PAGES:
        for a, b in itertools.combinations(page.visuals, 2):
            assert not _overlap(a, b), (page.name, a.name, b.name)
        for v in page.visuals:
            x, y, w, h = v.box
            assert x >= 0 and y >= 0 and x + w <= 1280 and y + h <= page.height, v.name
        shown = page_json(page)
        assert shown["height"] == page.height
        assert shown["displayOption"] == ("FitToPage" if page.height == 720 else "FitToWidth")
    assert PAGE.height > 720


def test_the_rates_are_percentages_in_the_model_and_the_preview() -> None:
    """As General the table read 0.5945945945945946; now 59.46%, as report.html's table."""
    tmdl = (ROOT / f"{NAME}.SemanticModel/definition/tables/assurance.tmdl").read_text(
        encoding="utf-8")
    for rate in ("precision", "precision_low", "precision_high", "labelled_precision"):
        block = tmdl.split(f"\tcolumn {rate}\n", 1)[1].split("\tcolumn ", 1)[0]
        assert "\t\tformatString: 0.00%\n" in block, rate
        assert cell("0.5945945945945946", rate) == "59.46%"
    assert cell("0.42", "threshold") == "0.42" and cell("37", "labelled") == "37"
