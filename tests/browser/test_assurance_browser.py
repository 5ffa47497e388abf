"""report.html's Assurance page in a real headless Chromium: the sink's reviewed precision
with its Wilson interval, the miss rate, the backlog, and the label notes.

Needs Debian's `chromium`; without it the tests skip, except with CI=true where they fail.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from auditstream.report import write_report_from_exports, write_report_from_rollup
from dashboard.browser import Chromium, find_chromium
from dashboard.build import SAMPLE_EXPORTS
from sink.assurance import wilson
from sink.exports import Rollups
from sink.settings import ExportSettings
from sink.writer import SinkWriter
from tests.ci import unavailable
from tests.unit.test_rollup_pandas import random_scored
from tests.unit.test_sink_reviews import REVIEWS, _plan
from tests.unit.test_sink_writer import TOPIC

READY = "document.body.dataset.page === 'assurance'"


def _pct(v: float, digits: int = 1) -> str:
    return f"{v * 100:.{digits}f}%"


@pytest.fixture(scope="module")
def page() -> Iterator[Chromium]:
    if find_chromium() is None:
        unavailable("no chromium on PATH (apt-get install chromium)")
    with Chromium() as browser:
        yield browser


def _cards(page: Chromium, report: Path) -> dict[str, str]:
    page.open(report.as_uri() + "#page=assurance", ready=READY)
    got = page.evaluate("Object.fromEntries(Array.from(document.querySelectorAll("
                        "'#assurance-cards [data-kpi]')).map(c => [c.dataset.kpi, "
                        "c.querySelector('.value').textContent]))")
    assert isinstance(got, dict)
    return got


def test_the_assurance_page_shows_the_sinks_reviewed_figures(page: Chromium,
                                                             tmp_path: Path) -> None:
    records, _cases, _sample = _plan(tmp_path)
    w = SinkWriter(tmp_path, TOPIC, ExportSettings(sample_per_band=3),
                   on_rollup=lambda r, f: write_report_from_rollup(r, f))
    w.add_reviews(records, REVIEWS)
    w.checkpoint()
    w.write_rollups()
    w.close()
    cards = _cards(page, tmp_path / "report.html")
    p, lo, hi = wilson(2, 4)  # type: ignore[misc]
    assert cards["reviewed-precision"] == f"{_pct(p)} [{_pct(lo)}, {_pct(hi)}]"
    a = pd.read_csv(tmp_path / "assurance.csv", dtype=str, keep_default_na=False)
    miss = a[(a["section"] == "miss_rate") & (a["name"] == "audit_sample")].iloc[0]
    assert cards["miss-rate"].startswith(_pct(float(miss["precision"]), 2) + " [")
    open_cases = (pd.read_csv(tmp_path / "cases.csv", dtype=str, keep_default_na=False)
                  ["outcome"] == "").sum()
    assert cards["backlog"] == f"{open_cases:,}" and cards["reviewed"] == "5"
    listed = len(pd.read_csv(tmp_path / "cases.csv", dtype=str))
    assert open_cases + 5 == listed  # reviewed and open add up (one through a transaction)
    shown = page.evaluate("document.querySelectorAll('#outcomes-table tbody tr').length")
    assert shown == 5  # four cases with an outcome of their own, one through a transaction
    note = page.evaluate("document.querySelector('#page-kpis .labels-note').textContent")
    assert note == ""  # generated rows carry labels


def test_without_labels_the_label_pages_point_to_assurance(page: Chromium,
                                                           tmp_path: Path) -> None:
    from sink.offline import write_exports

    def report(rollups: Rollups, folder: Path) -> None:
        write_report_from_rollup(rollups, folder)

    write_exports(random_scored(600, seed=9, labelled=False), tmp_path, on_rollup=report)
    cards = _cards(page, tmp_path / "report.html")
    assert cards["reviewed-precision"] == "none reviewed yet"  # was "n/a [n/a, n/a]"
    for section in ("kpis", "volume"):
        note = page.evaluate(f"document.querySelector('#page-{section} .labels-note')"
                             ".textContent")
        assert note == "no labels: see Assurance"


def test_recent_outcomes_are_ordered_by_time_not_by_text(page: Chromium,
                                                         tmp_path: Path) -> None:
    # As text `09:00:00.500000Z` sorts before `09:00:00Z`: the later review was listed after
    # the earlier one (the sink's own fix of the same flaw, 4b2b41b, left the page's sort).
    shutil.copytree(SAMPLE_EXPORTS, tmp_path, dirs_exist_ok=True)
    cases = pd.read_csv(tmp_path / "cases.csv", dtype=str, keep_default_na=False)
    cases["outcome"] = ""
    times = {0: "2026-01-05T09:00:00Z", 1: "2026-01-05T09:00:00.500000Z",
             2: "2026-01-05T08:59:59.999000Z"}
    for row, at in times.items():
        cases.loc[row, ["outcome", "reviewer", "reviewed_at"]] = ["dismissed", "a", at]
    cases.to_csv(tmp_path / "cases.csv", index=False)
    page.open(write_report_from_exports(tmp_path).as_uri() + "#page=assurance", ready=READY)
    shown = page.evaluate("Array.from(document.querySelectorAll('#outcomes-table tbody tr'))"
                          ".map(r => r.textContent)")
    assert isinstance(shown, list) and len(shown) == 3
    ids = [cases.loc[row, "case_id"] for row in (1, 0, 2)]  # latest first
    assert [next(i for i in ids if i in text) for text in shown] == ids
