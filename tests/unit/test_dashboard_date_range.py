"""The dashboards' date range (`shared.date_range`): one row dated 2100 or 1970 (the schema
takes 1970-2100) widens no date axis or date table, and is still counted and listed.

The range is the days from the earliest to the latest time a quorum of customers
(EXPORTS_WATERMARK_CUSTOMERS) reached: run.json's `date_range_first`/`date_range_last`,
which report.html and the Power BI model (date table M, the `.pbix`'s rows) both read.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from auditstream.report import write_report_from_rollup
from dashboard.build import SAMPLE_EXPORTS
from dashboard.measures import MEASURES
from dashboard.pbix import date_rows
from dashboard.report import collect
from dashboard.spec import DATE_TABLE, PAGES, RANGE_PARAMETERS, TABLES
from dashboard.tmdl import date_table_m
from shared.dayfiles import FIRST_DAY, LAST_DAY
from shared.schemas import ScoredTransaction
from sink.offline import write_exports
from sink.settings import ExportSettings
from tests.unit.test_rollup_pandas import random_scored

NODE = shutil.which("node")
ROOT = Path(__file__).resolve().parents[2]
REAL = ("2025-01-01", "2025-01-02")  # random_scored's 3,000 rows, 37 s apart, 200 customers


def _strays(rows: list[ScoredTransaction], when: datetime, customers: int, tag: str
            ) -> list[ScoredTransaction]:
    """One row dated `when` from each of `customers` customers of their own."""
    return [rows[i].model_copy(update={"transaction_id": f"{tag}-{i}", "timestamp": when,
                                       "customer_id": f"{tag}-c{i}"})
            for i in range(customers)]


def _exports(folder: Path, late: int = 1, early: int = 1, quorum: int = 8,
             report: bool = False) -> dict[str, Any]:
    rows = random_scored(3_000, seed=5)
    mixed = (rows[:1500] + _strays(rows, datetime(2100, 1, 1), late, "late")
             + _strays(rows, datetime(1970, 1, 1), early, "early") + rows[1500:])
    write_exports(mixed, folder, ExportSettings(watermark_customers=quorum),
                  on_rollup=write_report_from_rollup if report else None)
    run: dict[str, Any] = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    return run


def test_one_stray_row_at_each_end_leaves_the_range_on_the_real_days(tmp_path: Path) -> None:
    run = _exports(tmp_path)
    # the true extremes stay recorded: an auditor finds the stray rows by them
    assert (run["event_time_min"], run["event_time_max"]) == (
        "1970-01-01T00:00:00", "2100-01-01T00:00:00")
    assert (run["date_range_first"], run["date_range_last"]) == REAL
    assert run["event_low_watermark"].startswith("2025-01-01T")


@pytest.mark.parametrize(("customers", "first", "last"), [
    (6, *REAL), (7, *REAL), (8, "1970-01-01", "2100-01-01"), (9, "1970-01-01", "2100-01-01")])
def test_a_far_day_joins_the_range_once_a_quorum_of_customers_reached_it(
        tmp_path: Path, customers: int, first: str, last: str) -> None:
    """Quorum 8: 7 customers dated 2100 (and 7 dated 1970) are strays, 8 are the data."""
    run = _exports(tmp_path, late=customers, early=customers, quorum=8)
    assert (run["date_range_first"], run["date_range_last"]) == (first, last)


def test_the_pbix_date_table_spans_the_range_not_the_stray_years(tmp_path: Path) -> None:
    _exports(tmp_path)
    days = [r["date"][:10] for r in date_rows(tmp_path)]
    assert days == list(REAL)


def test_the_date_table_query_reads_the_range_from_run_json() -> None:
    text = date_table_m()
    assert ('First = Record.FieldOrDefault(Run, "date_range_first", '
            'Record.FieldOrDefault(Run, "event_time_min", null))') in text
    assert ('Last = Record.FieldOrDefault(Run, "date_range_last", '
            'Record.FieldOrDefault(Run, "event_time_max", null))') in text


def _date_typed(table: str, column: str) -> bool:
    if table == DATE_TABLE:
        return column == "date"
    return any(t.name == table and t.type_of(column) == "dateTime" for t in TABLES)


def test_every_date_axis_of_the_report_is_the_date_table() -> None:
    """A date axis on the fact's own column spans every row's day, strays included."""
    axes = [(v.name, f.table) for p in PAGES for v in p.visuals
            for f in v.roles.get("Category", ()) if _date_typed(f.table, f.name)]
    assert axes and all(table == DATE_TABLE for _, table in axes), axes


def test_rows_outside_the_range_are_counted_and_listed_in_the_model() -> None:
    dax = {m.name: m.dax for m in MEASURES}
    assert "ALL(transactions_scored)" in dax["Rows Outside Date Range"]
    assert "[Rows Outside Date Range]" in dax["Date Range Note"]
    (page,) = [p for p in PAGES if p.name == "outside"]
    bound = {f.name for v in page.visuals for fs in v.roles.values() for f in fs}
    assert {"Outside Date Range Row", "Date Range Note", "transaction_id", "timestamp",
            "customer_id"} <= bound


def test_the_report_data_carries_the_range(tmp_path: Path) -> None:
    _exports(tmp_path)
    assert collect(tmp_path)["date_range"] == list(REAL)
    # exports written before the range: by their event times, as before
    assert collect(SAMPLE_EXPORTS)["date_range"] == ["2025-01-01", "2025-01-30"]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_report_chart_spans_the_range_and_lists_the_stray_rows(tmp_path: Path) -> None:
    _exports(tmp_path, report=True)
    out = subprocess.run([str(NODE), str(Path(__file__).with_name("report_fakedom.js")),
                          str(tmp_path / "report.html")], capture_output=True, text=True,
                         check=True, timeout=60)
    page = json.loads(out.stdout)
    assert page["_daily_labels"] == ["01-01", "01-02"]  # no 1970 or 2100 day on the axis
    assert page["_daily_points"] == 2
    assert page["date_range"] == "2025-01-01 to 2025-01-02"
    assert page["outside_range"] == "2: 1970-01-01 (1), 2100-01-01 (1)"


def test_the_model_counts_and_lists_the_stray_rows(tmp_path: Path) -> None:
    """The measures evaluated (pbix-mcp's DAX engine) in a `.pbix` loaded with the strays."""
    pytest.importorskip("pbix_mcp")
    from pbix_mcp import server  # type: ignore[import-untyped]

    from dashboard.pbix import build_pbix

    _exports(tmp_path / "exports")
    pbix = build_pbix(ROOT, tmp_path / "exports", tmp_path / "strays.pbix")
    assert json.loads(server.pbix_open(str(pbix), alias="strays"))["success"]
    try:
        def value(name: str, ctx: dict[str, list[str]] | None = None) -> Any:
            got = json.loads(server.pbix_evaluate_dax(
                "strays", name, filter_context=json.dumps(ctx) if ctx else "",
                apply_default_filters=False))["results"][0]
            return got.get("value")
        assert value("Rows Outside Date Range") == 2
        assert value("Date Range Note") == (
            "days 2025-01-01 to 2025-01-02, 2 rows dated outside them: "
            "page Outside the date range")
        tx = "transactions_scored.transaction_id"
        assert value("Outside Date Range Row", {tx: ["late-0"]}) == 1
        assert value("Outside Date Range Row", {tx: ["early-0"]}) == 1
        assert value("Outside Date Range Row", {tx: ["7"]}) is None  # in the range: not listed
    finally:
        server.pbix_close("strays", force=True)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_outside_card_says_none_only_when_the_page_has_the_day_counts(
        tmp_path: Path) -> None:
    from dashboard.report import write_report

    _exports(tmp_path / "strays", late=0, early=0, report=True)  # no stray row
    _exports(tmp_path / "bare")
    write_report(tmp_path / "bare")  # no cubes: the rows per day are unknown
    got = [json.loads(subprocess.run(
        [str(NODE), str(Path(__file__).with_name("report_fakedom.js")),
         str(tmp_path / name / "report.html")], capture_output=True, text=True, check=True,
        timeout=60).stdout)["outside_range"] for name in ("strays", "bare")]
    assert got == ["none", "n/a"]


def test_desktops_refresh_range_loads_every_day_file_the_schema_allows() -> None:
    """RangeStart/RangeEnd as Desktop evaluates them: [start, end) must hold a day file
    dated 1970-01-01 and one dated 2100-12-31 (`shared.dayfiles`' first and last day)."""
    def value(expr: str) -> datetime:
        y, mo, d, h, mi, sec = (int(x) for x in expr.removeprefix("#datetime(").rstrip(")")
                                .split(","))
        return datetime(y, mo, d, h, mi, sec)
    params = dict(RANGE_PARAMETERS)
    start, end = value(params["RangeStart"]), value(params["RangeEnd"])
    first = datetime.combine(FIRST_DAY, datetime.min.time())
    last = datetime.combine(LAST_DAY, datetime.min.time())
    assert (first, last) == (datetime(1970, 1, 1), datetime(2100, 12, 31))
    assert start <= first and last < end
