"""The report as PBIR JSON (`<name>.Report/`) and the `.pbip` shortcut, from `dashboard.spec`.

Each page and visual is a small JSON document with the `$schema` of the Microsoft schema it
follows; `tests/unit/test_dashboard_pbip.py` validates them offline against a copy of those
schemas and checks that every bound field exists in the semantic model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dashboard.series import series_color
from dashboard.spec import NAME, PAGES, Field, Page, Visual, display_name
from dashboard.tmdl import tag
from shared.atomic import atomic_write_text

BASE = "https://developer.microsoft.com/json-schemas/fabric"
REPORT_SCHEMAS = {
    "definition.pbir": f"{BASE}/item/report/definitionProperties/2.0.0/schema.json",
    "version": f"{BASE}/item/report/definition/versionMetadata/1.0.0/schema.json",
    "report": f"{BASE}/item/report/definition/report/3.0.0/schema.json",
    "pages": f"{BASE}/item/report/definition/pagesMetadata/1.0.0/schema.json",
    "page": f"{BASE}/item/report/definition/page/2.0.0/schema.json",
    "visual": f"{BASE}/item/report/definition/visualContainer/2.4.0/schema.json",
    "pbip": f"{BASE}/pbip/pbipProperties/1.0.0/schema.json",
    "platform": f"{BASE}/gitIntegration/platformProperties/2.0.0/schema.json",
}
_SUM = 0  # QueryAggregateFunction.Sum


def _literal(value: str) -> dict[str, Any]:
    return {"expr": {"Literal": {"Value": value}}}


def _text(value: str) -> dict[str, Any]:
    return _literal("'" + value.replace("'", "''") + "'")


def field_expression(f: Field) -> dict[str, Any]:
    """The semantic-query expression that binds a field."""
    source = {"Expression": {"SourceRef": {"Entity": f.table}}, "Property": f.name}
    if f.kind == "measure":
        return {"Measure": source}
    if f.kind == "sum":
        return {"Aggregation": {"Expression": {"Column": source}, "Function": _SUM}}
    return {"Column": source}


def query_ref(f: Field) -> str:
    """The name a visual knows a bound field by (its projection's `queryRef`)."""
    ref = f"{f.table}.{f.name}"
    return f"Sum({ref})" if f.kind == "sum" else ref


def _projection(f: Field) -> dict[str, Any]:
    """A field bound to a visual, shown by its human name (`spec.display_name`): without a
    `displayName`, Desktop shows the native name (`Sum of ml_expected_cost`)."""
    native = f"Sum of {f.name}" if f.kind == "sum" else f.name
    return {"field": field_expression(f), "queryRef": query_ref(f), "nativeQueryRef": native,
            "displayName": display_name(f)}


def _series_colors(v: Visual) -> list[dict[str, Any]]:
    """Each series' fill by its own name (`dashboard.series`), not by its position: the
    theme's colours go by position, so a series changed colour when another was absent."""
    return [{"properties": {"fill": {"solid": {"color": _text(series_color(f.name))}}},
             "selector": {"metadata": query_ref(f)}} for f in v.roles.get("Y", ())]


def visual_json(v: Visual, z: int) -> dict[str, Any]:
    x, y, w, h = v.box
    visual: dict[str, Any] = {
        "visualType": v.type,
        "query": {"queryState": {
            role: {"projections": [_projection(f) for f in fields]}
            for role, fields in v.roles.items()}},
        "drillFilterOtherVisuals": True,
    }
    if v.title:
        visual["visualContainerObjects"] = {
            "title": [{"properties": {"show": _literal("true"), "text": _text(v.title)}}]}
    if v.type == "slicer":
        visual["objects"] = {
            "data": [{"properties": {"mode": _text("Dropdown" if v.dropdown else "Basic")}}],
            "selection": [{"properties": {"singleSelect": _literal("true")}}],
        }
    if "Y" in v.roles:  # a chart: each series its declared colour
        visual["objects"] = {"dataPoint": _series_colors(v)}
    if v.type == "lineChart":  # a one-point series (the recommended marker) needs markers
        visual["objects"]["lineStyles"] = [{"properties": {"showMarker": _literal("true")}}]
    if v.widths:  # a table: its columns' widths, headers and cells wrapped
        fields = [f for fs in v.roles.values() for f in fs]
        visual["objects"] = {
            "columnWidth": [{"properties": {"value": _literal(f"{w}D")},
                             "selector": {"metadata": query_ref(f)}}
                            for f, w in zip(fields, v.widths, strict=True)],
            "columnHeaders": [{"properties": {"wordWrap": _literal("true")}}],
            "values": [{"properties": {"wordWrap": _literal("true")}}]}
    if v.sync_group:
        visual["syncGroup"] = {"groupName": v.sync_group, "fieldChanges": True,
                               "filterChanges": True}
    return {
        "$schema": REPORT_SCHEMAS["visual"],
        "name": v.name,
        "position": {"x": x, "y": y, "z": z, "width": w, "height": h, "tabOrder": z},
        "visual": visual,
    }


def page_json(page: Page) -> dict[str, Any]:
    data: dict[str, Any] = {
        "$schema": REPORT_SCHEMAS["page"],
        "name": page.name,
        "displayName": page.display_name,
        # a taller page is shown at its width and scrolled (fitted, its text would shrink)
        "displayOption": "FitToPage" if page.height <= 720 else "FitToWidth",
        "height": page.height,
        "width": 1280,
    }
    if page.no_filter:
        data["visualInteractions"] = [
            {"source": s, "target": t, "type": "NoFilter"} for s, t in page.no_filter]
    if page.drillthrough is not None:  # reached by right-click > Drill through on the field
        target = f"{page.name}Drillthrough"
        data["pageBinding"] = {
            "name": f"{page.name}Binding", "type": "Drillthrough",
            "parameters": [{"name": f"{page.name}Parameter", "boundFilter": target,
                            "fieldExpr": field_expression(page.drillthrough)}]}
        data["filterConfig"] = {"filters": [{
            "name": target, "field": field_expression(page.drillthrough),
            "type": "Categorical", "howCreated": "Drillthrough"}]}
    return data


def _platform(kind: str, display: str) -> dict[str, Any]:
    return {"$schema": REPORT_SCHEMAS["platform"],
            "metadata": {"type": kind, "displayName": display},
            "config": {"version": "2.0", "logicalId": tag("item", kind)}}


def report_files() -> dict[str, dict[str, Any]]:
    """Relative path (inside `<name>.Report/`) -> JSON document."""
    files: dict[str, dict[str, Any]] = {
        ".platform": _platform("Report", NAME),
        "definition.pbir": {"$schema": REPORT_SCHEMAS["definition.pbir"], "version": "4.0",
                            "datasetReference": {"byPath": {"path": f"../{NAME}.SemanticModel"}}},
        "definition/version.json": {"$schema": REPORT_SCHEMAS["version"], "version": "2.0.0"},
        "definition/report.json": {
            "$schema": REPORT_SCHEMAS["report"],
            "themeCollection": {"baseTheme": {
                "name": "CY24SU10", "type": "SharedResources",
                "reportVersionAtImport": {"visual": "1.8.95", "report": "2.0.95",
                                          "page": "1.3.95"}}},
            "settings": {"useStylableVisualContainerHeader": True,
                         "defaultDrillFilterOtherVisuals": True},
        },
        "definition/pages/pages.json": {"$schema": REPORT_SCHEMAS["pages"],
                                        "pageOrder": [p.name for p in PAGES],
                                        "activePageName": PAGES[0].name},
    }
    for page in PAGES:
        files[f"definition/pages/{page.name}/page.json"] = page_json(page)
        for z, visual in enumerate(page.visuals):
            files[f"definition/pages/{page.name}/visuals/{visual.name}/visual.json"] = (
                visual_json(visual, z))
    return files


def pbip_json() -> dict[str, Any]:
    return {"$schema": REPORT_SCHEMAS["pbip"], "version": "1.0",
            "artifacts": [{"report": {"path": f"{NAME}.Report"}}],
            "settings": {"enableAutoRecovery": True}}


def json_text(data: dict[str, Any]) -> str:
    """A PBIR / PBIP document as the project holds it."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _dump(path: Path, data: dict[str, Any]) -> None:
    # Never half a file (shared.atomic), for Power BI Desktop or a build beside this one.
    atomic_write_text(path, json_text(data), durable=False)


def write_report_definition(root: Path) -> Path:
    """Write `<root>/<name>.Report/` and `<root>/<name>.pbip`; return the report folder."""
    folder = root / f"{NAME}.Report"
    for rel, data in report_files().items():
        _dump(folder / rel, data)
    _dump(root / f"{NAME}.pbip", pbip_json())
    return folder
