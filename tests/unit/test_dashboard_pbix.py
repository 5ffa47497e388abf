"""dashboard_anomalies.pbix, read back with pbixray and evaluated with pbix-mcp's DAX engine.

Both the committed file and one built afresh from the committed PBIP folder are checked.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pbixray import PBIXRay  # type: ignore[import-untyped]

from dashboard.build import SAMPLE_EXPORTS
from dashboard.measures import MEASURES
from dashboard.pbix import build_pbix
from dashboard.sample import write_day_files
from dashboard.spec import DATE_TABLE, NAME, PARAMETER, RUN_TABLE, TABLES, Table
from dashboard.tmdl import partition_m
from shared.columns import SOURCE_SCORE
from tests.scored_days import read_scored

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / f"{NAME}.pbix"
PANDAS_TYPES = {"int64": "Int64", "double": "Float64", "string": "string",
                "dateTime": "datetime64[ns]", "boolean": "bool"}


@pytest.fixture(scope="module")
def fresh_pbix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pbix") / f"{NAME}.pbix"
    return build_pbix(ROOT, SAMPLE_EXPORTS, out)


@pytest.fixture(scope="module", params=["committed", "fresh"])
def pbix(request: pytest.FixtureRequest, fresh_pbix: Path) -> PBIXRay:
    return PBIXRay(str(COMMITTED if request.param == "committed" else fresh_pbix))


def test_pbix_has_the_spec_tables_columns_and_types(pbix: PBIXRay) -> None:
    schema = pbix.schema
    assert sorted(pbix.tables) == sorted([*(t.name for t in TABLES), DATE_TABLE, RUN_TABLE])
    for table in TABLES:
        got = schema[schema["TableName"] == table.name]
        assert dict(zip(got["ColumnName"], got["PandasDataType"], strict=True)) == {
            c: PANDAS_TYPES[table.type_of(c)] for c in table.columns}


def test_pbix_measures_carry_the_source_dax_verbatim(pbix: PBIXRay) -> None:
    got = dict(zip(pbix.dax_measures["Name"], pbix.dax_measures["Expression"], strict=True))
    assert got == {m.name: m.dax for m in MEASURES}


def test_pbix_queries_read_exports_folder_not_an_inline_snapshot(pbix: PBIXRay) -> None:
    queries = dict(zip(pbix.power_query["TableName"], pbix.power_query["Expression"],
                       strict=True))
    assert set(queries) == {t.name for t in TABLES} | {DATE_TABLE, RUN_TABLE}
    assert f'File.Contents({PARAMETER} & "run.json")' in queries.pop(DATE_TABLE)
    assert f'File.Contents({PARAMETER} & "run.json")' in queries.pop(RUN_TABLE)
    fact = queries.pop("transactions_scored")
    assert f'Folder.Contents({PARAMETER} & "scored")' in fact and "RangeStart" in fact
    assert "Binary.FromText" not in fact
    for name, m in queries.items():
        assert f'File.Contents({PARAMETER} & "{name}.csv")' in m
        assert "Binary.FromText" not in m and ":\\" not in m


def test_pbix_has_the_exports_folder_text_parameter(pbix: PBIXRay) -> None:
    params = pbix.m_parameters
    (expression,) = params.loc[params["ParameterName"] == PARAMETER, "Expression"]
    assert "IsParameterQuery=true" in expression and 'Type="Text"' in expression
    for name in ("RangeStart", "RangeEnd"):  # incremental refresh's parameters
        (expression,) = params.loc[params["ParameterName"] == name, "Expression"]
        assert expression.startswith("#datetime(") and 'Type="DateTime"' in expression


def _sample(table: Table, **read_csv: Any) -> pd.DataFrame:
    """A table's rows in the sample snapshot (the fact table: its day files)."""
    if table.day_folder:
        return read_scored(SAMPLE_EXPORTS, **(read_csv or {"na_filter": True}))
    return pd.read_csv(SAMPLE_EXPORTS / table.file, **read_csv)


def _sample_scored() -> pd.DataFrame:
    return _sample(TABLES[0])


def test_pbix_holds_every_row_of_the_sample_snapshot(pbix: PBIXRay) -> None:
    for table in TABLES:
        expected = _sample(table)
        got = pbix.get_table(table.name)
        assert len(got) == len(expected), table.name
    scored = pbix.get_table("transactions_scored")
    sample = _sample_scored()
    assert scored["score"].astype(float).round(6).tolist() == sample["score"].round(6).tolist()
    assert int(scored["is_anomaly"].sum()) == int(sample["is_anomaly"].sum())


def _divide(part: Any, whole: Any) -> float:
    """DAX's DIVIDE: a share of nothing is no figure (NaN here, BLANK there), not 0/0."""
    return float(part) / float(whole) if whole else math.nan


def _pandas_figures(threshold: float) -> dict[str, float]:
    """The dashboard's KPIs computed independently from the sample CSVs."""
    df = _sample_scored()
    sweep = pd.read_csv(SAMPLE_EXPORTS / "thresholds.csv")
    y, rule = df["is_anomaly"].astype(bool), df["is_rule_flag"].astype(bool)
    ml = df["model_score"] >= threshold  # the model alone (NaN before its first fit: no)
    hybrid = ml | rule
    combined = df["score"] >= threshold
    n, positives = len(df), int(y.sum())
    row = sweep.loc[(sweep["threshold"] - threshold).abs() < 1e-9].iloc[0]
    return {
        "Selected Threshold": threshold,
        "Transactions": n,
        "Total Anomalies": positives,
        "Anomaly Rate": _divide(positives, n),
        "ML Flagged": int(ml.sum()),
        "Hybrid Flagged": int(hybrid.sum()),
        "ML Precision": _divide((ml & y).sum(), ml.sum()),
        "ML Recall": _divide((ml & y).sum(), positives),
        "ML Workload %": _divide(ml.sum(), n),
        "Hybrid Precision": _divide((hybrid & y).sum(), hybrid.sum()),
        "Hybrid Recall": _divide((hybrid & y).sum(), positives),
        "Hybrid Workload %": _divide(hybrid.sum(), n),
        "ML Expected Cost": float(row["ml_expected_cost"]),
        "Hybrid Expected Cost": float(row["hybrid_expected_cost"]),
        "Combined Expected Cost": float(row["combined_expected_cost"]),
        "Total Flagged": int(hybrid.sum()),
        "Flag Rate": _divide(hybrid.sum(), n),
        "ML Only": int((ml & ~rule).sum()),
        "Rules Only": int((~ml & rule).sum()),
        "ML and Rules": int((ml & rule).sum()),
        "Rules Recall": _divide((rule & y).sum(), positives),
        "Combined Flagged": int(combined.sum()),
        "Combined Precision": _divide((combined & y).sum(), combined.sum()),
        "Combined Recall": _divide((combined & y).sum(), positives),
        "Recommended Threshold": float(sweep.loc[sweep["is_recommended"], "threshold"].iloc[0]),
    }


@pytest.fixture(scope="module")
def dax_session() -> Iterator[Any]:
    from pbix_mcp import server  # type: ignore[import-untyped]

    alias = "auditstream-test"
    assert json.loads(server.pbix_open(str(COMMITTED), alias=alias))["success"]
    yield lambda names, ctx: json.loads(server.pbix_evaluate_dax(
        alias, ",".join(names), filter_context=json.dumps(ctx) if ctx else "",
        apply_default_filters=False))
    server.pbix_close(alias, force=True)


_RECOMMENDED = float(pd.read_csv(SAMPLE_EXPORTS / "thresholds.csv").query(
    "is_recommended")["threshold"].iloc[0])


@pytest.mark.parametrize("threshold", [0.3, None, 0.6], ids=["0.30", "recommended", "0.60"])
def test_measures_equal_pandas_figures_at_three_thresholds(
    dax_session: Any, threshold: float | None
) -> None:
    """A slicer selection (or none: the recommended threshold) drives every KPI."""
    expected = _pandas_figures(_RECOMMENDED if threshold is None else threshold)
    ctx = {"thresholds.threshold": [threshold]} if threshold is not None else None
    reply = dax_session(list(expected), ctx)
    got = {r["name"]: r["value"] for r in reply["results"] if r["status"] == "ok"}
    assert got.keys() == expected.keys(), reply
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_thresholds_differ_enough_to_make_the_comparison_meaningful() -> None:
    low, high = _pandas_figures(0.3), _pandas_figures(0.6)
    assert low["ML Flagged"] > _pandas_figures(_RECOMMENDED)["ML Flagged"] > high["ML Flagged"]


def test_committed_pbix_carries_the_committed_pbir_report() -> None:
    import zipfile

    definition = ROOT / f"{NAME}.Report" / "definition"
    expected = {f"Report/definition/{p.relative_to(definition).as_posix()}":
                json.loads(p.read_text(encoding="utf-8"))
                for p in definition.rglob("*.json")}
    with zipfile.ZipFile(COMMITTED) as archive:
        got = {name: json.loads(archive.read(name)) for name in archive.namelist()
               if name.startswith("Report/definition/")}
    assert got == expected


def test_pbix_timestamps_round_trip_to_the_second(pbix: PBIXRay) -> None:
    stored = pbix.get_table("transactions_scored")["timestamp"].dt.round("s")
    sample = pd.to_datetime(_sample_scored()["timestamp"])
    assert stored.tolist() == sample.tolist()


def test_text_ids_load_as_text(tmp_path: Path) -> None:
    """The pipeline accepts any id ("L1", "A-77"): the model types ids as text, so a folder
    of text ids builds and reads back unchanged (as Int64 it would fail to load)."""
    exports = tmp_path / "exports"
    exports.mkdir()
    for table in TABLES:
        frame = _sample(table, dtype=str, keep_default_na=False)
        for column in ("transaction_id", "customer_id", "top_transaction_id"):
            if column in frame:
                frame[column] = [f"{column[0].upper()}-{v}" for v in frame[column]]
        if table.day_folder:
            write_day_files(frame, exports)
        else:
            frame.to_csv(exports / table.file, index=False)
    (exports / "run.json").write_bytes((SAMPLE_EXPORTS / "run.json").read_bytes())
    out = build_pbix(ROOT, exports, tmp_path / f"{NAME}.pbix")
    # cases.csv holds episodes (issue 16): its transaction id is top_transaction_id
    for name, tx in (("transactions_scored", "transaction_id"), ("cases", "top_transaction_id"),
                     ("case_transactions", "transaction_id")):
        table = next(t for t in TABLES if t.name == name)
        expected = (read_scored(exports) if table.day_folder
                    else pd.read_csv(exports / f"{name}.csv", dtype=str))
        got = PBIXRay(str(out)).get_table(name)
        for column in (tx, "customer_id"):
            assert got[column].tolist() == expected[column].tolist()
        assert got[tx].iloc[0].startswith("T-")
    for table in TABLES:
        for column in ("transaction_id", "customer_id", "top_transaction_id", "case_id"):
            if column in table.columns:
                assert table.type_of(column) == "string", (table.name, column)


def test_pbix_date_dimension_covers_every_event_day_once(pbix: PBIXRay) -> None:
    days = pd.to_datetime(pbix.get_table(DATE_TABLE)["date"]).dt.normalize()
    sample = pd.to_datetime(_sample_scored()["timestamp"])
    expected = pd.date_range(sample.min().normalize(), sample.max().normalize(), freq="D")
    assert days.tolist() == expected.tolist()
    assert set(sample.dt.normalize()) <= set(days)
    # the date dimension, and the drill-through chain cases -> case_transactions -> fact
    rel = pbix.relationships
    assert sorted(zip(rel["FromTableName"], rel["ToTableName"], strict=True)) == sorted([
        ("transactions_scored", DATE_TABLE), ("case_transactions", "cases"),
        ("transactions_scored", "case_transactions")])


def test_data_as_of_reads_status_csv(dax_session: Any) -> None:
    """The freshness text every page shows, from the sample's status.csv row: a batch run's
    (`auditstream score`: no sink, no stream), so when it scored, not a lag."""
    status = pd.read_csv(SAMPLE_EXPORTS / "status.csv", dtype=str).iloc[0]
    assert status["source"] == SOURCE_SCORE
    reply = dax_session(["Data As Of"], None)
    (result,) = reply["results"]
    day = status["data_as_of"][:10]
    assert result["value"].startswith(f"data as of {day} ")  # the hour: Desktop's FORMAT
    assert f", scored by a batch run at {status['heartbeat_at'][:10]} " in result["value"]
    assert result["value"].endswith(" (no live stream)"), result["value"]


@pytest.mark.parametrize("threshold", [0.3, None, 0.8], ids=["0.30", "recommended", "0.80"])
def test_kpi_measures_equal_the_thresholds_row(dax_session: Any, threshold: float | None) -> None:
    """The KPI cards read the sink's counts at the selected threshold, not the fact table."""
    sweep = pd.read_csv(SAMPLE_EXPORTS / "thresholds.csv")
    t = _RECOMMENDED if threshold is None else threshold
    row = sweep.loc[(sweep["threshold"] - t).abs() < 1e-9].iloc[0]
    expected: dict[str, float] = {}
    for mode in ("ML", "Hybrid", "Combined"):
        key = mode.lower()
        expected |= {f"KPI {mode} Flagged": row[f"{key}_flagged"],
                     f"KPI {mode} True Positives": row[f"{key}_tp"],
                     f"KPI {mode} Precision": row[f"{key}_precision"],
                     f"KPI {mode} Recall": row[f"{key}_recall"],
                     f"KPI {mode} Workload %": row[f"{key}_workload_pct"] / 100}
    ctx = {"thresholds.threshold": [threshold]} if threshold is not None else None
    reply = dax_session(list(expected), ctx)
    got = {r["name"]: r["value"] for r in reply["results"] if r["status"] == "ok"}
    blank = {name for name, value in expected.items() if pd.isna(value)}  # an empty cell
    assert got.keys() == expected.keys() - blank, reply  # (combined flags none at 0.80)
    assert {r["name"] for r in reply["results"] if r["status"] == "blank"} == blank
    for name in got:
        assert got[name] == pytest.approx(float(expected[name]), rel=1e-9, abs=1e-12), name
    # The sample is fully labelled, so they also equal the fact-table figures.
    figures = _pandas_figures(t)
    for name in ("ML Precision", "ML Recall", "Hybrid Precision", "Hybrid Workload %"):
        assert got[f"KPI {name}"] == pytest.approx(figures[name], rel=1e-9), name


def test_pbix_run_table_holds_the_recommended_mode(pbix: PBIXRay) -> None:
    """run.json's `recommended_mode` (the sink wrote the sample's), the mark's mode; no
    `upgrade_note` (a batch run's: its detector scored every row)."""
    run = json.loads((SAMPLE_EXPORTS / "run.json").read_text(encoding="utf-8"))
    assert "upgrade_note" not in run
    assert pbix.get_table(RUN_TABLE).to_dict("records") == [
        {"recommended_mode": run["recommended_mode"], "upgrade_note": None}] == [
        {"recommended_mode": "combined", "upgrade_note": None}]


def test_pbix_carries_the_tmdl_refresh_policy(pbix: PBIXRay) -> None:
    """The fact table's incremental refresh policy, read back from the .pbix's model, is the
    TMDL's: the same settings (TOM's enum values) and the table's own query as its source;
    no other table has one."""
    tmdl = (ROOT / f"{NAME}.SemanticModel" / "definition" / "tables" /
            "transactions_scored.tmdl").read_text(encoding="utf-8")
    block = tmdl[tmdl.index("\trefreshPolicy\n"):].split("\t\tsourceExpression =")[0]
    settings = dict(line.strip().split(": ") for line in block.splitlines()[1:] if line.strip())
    granularity = {"day": 0, "month": 1, "quarter": 2, "year": 3}  # RefreshGranularityType
    (policy,) = pbix.tmschema_refresh_policies.to_dict("records")
    assert policy["TableName"] == "transactions_scored"
    assert settings["policyType"] == "basic" and policy["PolicyType"] == 0  # Basic
    assert policy["RollingWindowGranularity"] == granularity[
        settings["rollingWindowGranularity"]] == 3
    assert policy["RollingWindowPeriods"] == int(settings["rollingWindowPeriods"]) == 130
    assert policy["IncrementalGranularity"] == granularity[
        settings["incrementalGranularity"]] == 0
    assert policy["IncrementalPeriods"] == int(settings["incrementalPeriods"]) == 3
    assert policy["IncrementalPeriodsOffset"] == 0 and policy["Mode"] == 0  # import
    queries = dict(zip(pbix.power_query["TableName"], pbix.power_query["Expression"],
                       strict=True))
    fact = next(t for t in TABLES if t.day_folder)
    assert policy["SourceExpression"] == queries[fact.name] == partition_m(fact)
    assert "RangeStart" in policy["SourceExpression"]
