"""The committed PBIP project: schema-valid, bound to fields that exist, no absolute paths."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator  # type: ignore[import-untyped]
from pbix_mcp.formats.tmdl_reader import parse_tmdl_folder  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from dashboard.build import DESKTOP_STATE, write_pbip
from dashboard.measures import MEASURES
from dashboard.spec import DATE_TABLE, NAME, PARAMETER, RELATIONSHIPS, RUN_TABLE, TABLES

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "tests" / "data" / "pbir-schemas"
SCHEMA_BASE = "https://developer.microsoft.com/json-schemas/"
REPORT = ROOT / f"{NAME}.Report"
MODEL = ROOT / f"{NAME}.SemanticModel"
ABSOLUTE = re.compile(r'[A-Za-z]:[\\/]|\\\\[A-Za-z]|"/[A-Za-z]|file:/', re.I)


@pytest.fixture(scope="module")
def registry() -> Registry:
    reg: Registry = Registry()
    for path in SCHEMAS.rglob("*.json"):
        resource = Resource.from_contents(json.loads(path.read_text(encoding="utf-8")),
                                          default_specification=DRAFT7)
        reg = reg.with_resource(SCHEMA_BASE + path.relative_to(SCHEMAS).as_posix(), resource)
        if resource.id():
            reg = reg.with_resource(str(resource.id()), resource)
    return reg


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    parsed: dict[str, Any] = parse_tmdl_folder(str(MODEL / "definition"))
    return parsed


def _json_documents() -> Iterator[Path]:
    yield ROOT / f"{NAME}.pbip"
    for folder in (REPORT, MODEL):
        for path in _project(folder):
            if (path.suffix in (".json", ".pbir", ".pbism")
                                   or path.name == ".platform"):
                yield path


def _errors(doc: dict[str, Any], registry: Registry) -> list[str]:
    schema = registry.contents(doc["$schema"])
    return [f"{e.json_path}: {e.message}"
            for e in Draft7Validator(schema, registry=registry).iter_errors(doc)]


def _fields(node: Any) -> Iterator[tuple[str, str, str]]:
    """(kind, table, name) of every Column / Measure reference in a visual."""
    if isinstance(node, dict):
        for kind in ("Column", "Measure"):
            ref = node.get(kind)
            if isinstance(ref, dict) and "Property" in ref:
                yield kind, ref["Expression"]["SourceRef"]["Entity"], ref["Property"]
        for value in node.values():
            yield from _fields(value)
    elif isinstance(node, list):
        for value in node:
            yield from _fields(value)


def _project(folder: Path) -> Iterator[Path]:
    """The project's files in `folder`, not Desktop's state beside them (`.pbi/`)."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and DESKTOP_STATE not in path.relative_to(folder).parts:
            yield path


def test_committed_pbip_is_what_the_generator_writes(tmp_path: Path) -> None:
    write_pbip(tmp_path)
    generated = {p.relative_to(tmp_path): p.read_bytes()
                 for p in tmp_path.rglob("*") if p.is_file()}
    committed = {p.relative_to(ROOT): p.read_bytes()
                 for folder in (REPORT, MODEL) for p in _project(folder)}
    committed[Path(f"{NAME}.pbip")] = (ROOT / f"{NAME}.pbip").read_bytes()
    assert generated == committed, "run `auditstream dashboard build` and commit the result"


def _stamps(root: Path) -> dict[Path, tuple[int, int, bytes]]:
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes())
            for p in root.rglob("*") if p.is_file()}


def test_a_rebuild_keeps_desktops_state_and_rewrites_only_what_differs(tmp_path: Path) -> None:
    """Desktop keeps per-user state beside a project it opened (`.pbi/localSettings.json`,
    the model's data cache `.pbi/cache.abf`): a build removed both folders whole, so each
    rebuild deleted them (and every file was written anew). Now a rebuild leaves a file
    already as generated untouched, restores an edited one and removes one the spec no
    longer makes, and Desktop's state stays."""
    write_pbip(tmp_path)
    model, report = tmp_path / f"{NAME}.SemanticModel", tmp_path / f"{NAME}.Report"
    state = {model / DESKTOP_STATE / "localSettings.json": b'{"version": "1.0"}',
             model / DESKTOP_STATE / "cache.abf": b"\x00abf",
             report / DESKTOP_STATE / "localSettings.json": b"{}"}
    for path, content in state.items():
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content)
    edited = model / "definition" / "model.tmdl"
    generated = edited.read_bytes()
    edited.write_bytes(generated + b"\n// by hand\n")
    gone = report / "definition" / "pages" / "dropped" / "visuals" / "old" / "visual.json"
    gone.parent.mkdir(parents=True)
    gone.write_text("{}", encoding="utf-8")
    before = _stamps(tmp_path)
    write_pbip(tmp_path)
    after = _stamps(tmp_path)
    assert {p: p.read_bytes() if p.is_file() else None for p in state} == state
    assert edited.read_bytes() == generated
    assert not (report / "definition" / "pages" / "dropped").exists()
    unchanged = set(before) - set(state) - {edited, gone}
    assert len(unchanged) >= 30
    assert {p: after[p] for p in unchanged} == {p: before[p] for p in unchanged}


def test_every_report_and_project_file_is_valid_against_microsoft_schemas(
    registry: Registry,
) -> None:
    checked = 0
    for path in _json_documents():
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert _errors(doc, registry) == [], path
        checked += 1
    assert checked >= 30  # pages, 25+ visuals, metadata


def test_schema_validation_rejects_a_malformed_visual(registry: Registry) -> None:
    path = next(REPORT.rglob("visual.json"))
    doc = json.loads(path.read_text(encoding="utf-8"))
    broken = copy.deepcopy(doc)
    broken["visual"]["notAVisualProperty"] = 1
    assert _errors(broken, registry)
    del doc["position"]
    assert _errors(doc, registry)


def test_every_visual_binds_only_tables_columns_and_measures_of_the_model(
    model: dict[str, Any],
) -> None:
    columns = {(t["name"], c["name"]) for t in model["tables"] for c in t["columns"]}
    measures = {(t["name"], m["name"]) for t in model["tables"] for m in t["measures"]}
    bound = 0
    for path in REPORT.rglob("visual.json"):
        for kind, table, name in _fields(json.loads(path.read_text(encoding="utf-8"))):
            known = columns if kind == "Column" else measures
            assert (table, name) in known, f"{path.parent.name}: {kind} {table}[{name}]"
            bound += 1
    assert bound >= 40


def test_model_tables_and_measures_follow_the_spec(model: dict[str, Any]) -> None:
    tables = {t["name"]: t for t in model["tables"]}
    assert set(tables) == {t.name for t in TABLES} | {DATE_TABLE, RUN_TABLE}
    for spec in TABLES:
        assert [c["name"] for c in tables[spec.name]["columns"]] == list(spec.columns)
    dax = {m["name"]: m["expression"] for t in model["tables"] for m in t["measures"]}
    assert dax == {m.name: m.dax for m in MEASURES}


def test_every_query_reads_its_csv_under_exports_folder(model: dict[str, Any]) -> None:
    for table in model["tables"]:
        (partition,) = table["partitions"]
        source = partition["source"]
        if table["name"] in (DATE_TABLE, RUN_TABLE):
            assert f'File.Contents({PARAMETER} & "run.json")' in source
            continue
        if table["name"] == "transactions_scored":  # the day files, for incremental refresh
            assert f'Folder.Contents({PARAMETER} & "scored")' in source
            assert "RangeStart" in source and "RangeEnd" in source
            continue
        assert f'File.Contents({PARAMETER} & "{table["name"]}.csv")' in source
        assert "Encoding=65001" in source and "QuoteStyle=QuoteStyle.Csv" in source


def test_exports_folder_is_a_required_text_parameter(model: dict[str, Any]) -> None:
    (expression,) = [e for e in model["expressions"] if e["name"] == PARAMETER]
    text = expression["expression"]
    assert "IsParameterQuery=true" in text and 'Type="Text"' in text


def test_no_absolute_path_anywhere_in_the_project() -> None:
    files = [ROOT / f"{NAME}.pbip", *_project(REPORT), *_project(MODEL)]
    for path in files:
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            text = text.replace(SCHEMA_BASE, "")  # schema URLs are not paths
            assert not ABSOLUTE.search(text), path


def test_absolute_path_pattern_catches_windows_and_posix_paths() -> None:
    for bad in ('"C:\\Users\\me\\exports\\"', '"/home/me/exports/"', "\\\\server\\share",
                "file:///tmp/x.csv"):
        assert ABSOLUTE.search(bad), bad


def test_the_date_dimension_is_marked_keyed_and_related_to_the_fact(
    model: dict[str, Any],
) -> None:
    (dates,) = [t for t in model["tables"] if t["name"] == DATE_TABLE]
    key = {c["name"]: c for c in dates["columns"]}["date"]
    assert key["is_key"] and key["tmdl_data_type"] == "dateTime"
    text = (MODEL / "definition" / "tables" / f"{DATE_TABLE}.tmdl").read_text(encoding="utf-8")
    assert "\n\tdataCategory: Time\n" in text
    got = {(r["from_table"], r["from_column"], r["to_table"], r["to_column"])
           for r in model["relationships"]}
    # the date dimension, and cases -> case_transactions -> the fact for the drill-through
    assert got == set(RELATIONSHIPS) == {
        ("transactions_scored", "date", DATE_TABLE, "date"),
        ("case_transactions", "case_id", "cases", "case_id"),
        ("transactions_scored", "transaction_id", "case_transactions", "transaction_id")}


def test_every_page_shows_how_fresh_the_data_is() -> None:
    pages = [p for p in (REPORT / "definition" / "pages").iterdir() if p.is_dir()]
    assert len(pages) >= 3
    for page in pages:
        bound = {name for path in page.rglob("visual.json")
                 for kind, _table, name in _fields(json.loads(path.read_text(encoding="utf-8")))
                 if kind == "Measure"}
        assert "Data As Of" in bound, page.name


def _tmdl_block(text: str, header: str) -> str:
    """The expression under `header =` (lines indented deeper than the header)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"{header} =")
    depth = len(lines[start]) - len(lines[start].lstrip("\t"))
    block = []
    for line in lines[start + 1:]:
        if line and len(line) - len(line.lstrip("\t")) <= depth:
            break
        block.append(line.strip())
    return "\n".join(b for b in block if b)


def test_the_fact_table_has_a_consistent_incremental_refresh_policy(
    model: dict[str, Any],
) -> None:
    from dashboard.spec import ARCHIVE_YEARS, REFRESH_DAYS
    from sink.days import PREFIX, day_file

    tables = MODEL / "definition" / "tables"
    fact = (tables / "transactions_scored.tmdl").read_text(encoding="utf-8")
    policy = fact[fact.index("\trefreshPolicy\n"):]
    for setting in ("policyType: basic", "rollingWindowGranularity: year",
                    f"rollingWindowPeriods: {ARCHIVE_YEARS}", "incrementalGranularity: day",
                    f"incrementalPeriods: {REFRESH_DAYS}"):
        assert f"\n\t\t{setting}\n" in policy, setting
    source = _tmdl_block(policy, "sourceExpression")
    assert source == _tmdl_block(fact, "source")  # the policy refreshes the table's own query
    assert "[Day] >= RangeStart and RangeEnd > [Day]" in source  # [start, end): no day twice
    # The day is read from the sink's file names: same prefix, the date right after it, and
    # only of names that are day files' (tests/unit/test_day_file_names.py evaluates it).
    assert f'Text.StartsWith(n, "{PREFIX}")' in source and "Text.Length(n) = 34" in source
    assert f"Text.Middle([Name], {len(PREFIX)}, 10)" in source
    assert day_file("2025-01-02").rsplit("/", 1)[1][len(PREFIX):len(PREFIX) + 10] == "2025-01-02"
    others = [p.name for p in tables.glob("*.tmdl") if p.name != "transactions_scored.tmdl"]
    assert len(others) >= 5
    assert not [n for n in others if "refreshPolicy" in (tables / n).read_text(encoding="utf-8")]
    params = {e["name"]: e["expression"] for e in model["expressions"]}
    for name in ("RangeStart", "RangeEnd"):
        assert params[name].startswith("#datetime(")
        assert 'IsParameterQuery=true' in params[name] and 'Type="DateTime"' in params[name]
