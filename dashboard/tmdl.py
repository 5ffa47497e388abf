"""The semantic model as TMDL text (`<name>.SemanticModel/`), generated from `dashboard.spec`.

Every table is an import partition that reads `ExportsFolder & "<file>.csv"` (UTF-8, quoted
CSV, `en-US` number parsing); `ExportsFolder` is a required text parameter. Lineage tags are
UUIDv5 of the object's name, so regenerating gives byte-identical files.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from dashboard.measures import MEASURE_TABLE, MEASURES
from dashboard.spec import (
    ARCHIVE_YEARS,
    COLUMN_FORMATS,
    DATE_COLUMNS,
    DATE_TABLE,
    NAME,
    PARAMETER,
    PARAMETER_DEFAULT,
    RANGE_PARAMETERS,
    REFRESH_DAYS,
    RELATIONSHIPS,
    RUN_COLUMNS,
    RUN_TABLE,
    TABLES,
    Table,
)
from shared.atomic import atomic_write_text
from shared.date_range import FIELDS as RANGE_FIELDS
from shared.dayfiles import (
    DATE_CHARS,
    FIRST_DAY,
    LAST_DAY,
    M_DATE_FORMAT,
    NAME_CHARS,
    PREFIX,
    SUFFIX,
)
from shared.exports_folder import RUN_FILE

_NS = uuid.UUID("6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f")
_M_TYPES = {"int64": "Int64.Type", "double": "type number", "string": "type text",
            "dateTime": "type datetime", "boolean": "type logical"}
_FORMATS = {"int64": "0", "dateTime": "General Date"}
SCHEMA = "https://developer.microsoft.com/json-schemas/fabric/item/semanticModel"
PLATFORM_SCHEMA = ("https://developer.microsoft.com/json-schemas/fabric/gitIntegration/"
                   "platformProperties/2.0.0/schema.json")


def tag(*parts: str) -> str:
    """A stable lineage tag for a model object."""
    return str(uuid.uuid5(_NS, "/".join(parts)))


def quote(name: str) -> str:
    """TMDL object name, quoted when it is not a plain identifier."""
    if name.replace("_", "").isalnum() and not name[0].isdigit():
        return name
    return "'" + name.replace("'", "''") + "'"


def _m_string(text: str) -> str:
    """`text` as an M text literal: `"` doubled, and `#(`, which starts an escape in M
    (`#(lf)`, `#(0041)`), written `#(#)(` so it stays those two characters."""
    return '"' + text.replace('"', '""').replace("#(", "#(#)(") + '"'


_CSV_OPTIONS = '[Delimiter=",", Encoding=65001, QuoteStyle=QuoteStyle.Csv]'


def day_file_rule_m() -> str:
    """An M function: whether a file name is a day file's (`shared.dayfiles`, the sink's
    rule): exactly NAME_CHARS characters, the prefix, the suffix, and between them a
    `yyyy-MM-dd` date that parses and prints back as the same text (so `2025-02-30`,
    `2025-1-1` and `+2025-01-01` are refused), in [FIRST_DAY, LAST_DAY] (compared as text:
    exact dates of fixed width order as text; `>=` only, as the rest of the model, which
    pbi-parsers reads). M's `and` stops at the first false."""
    at, fmt = len(PREFIX), f'[Format="{M_DATE_FORMAT}", Culture="en-US"]'
    day = f"Text.Middle(n, {at}, {DATE_CHARS})"
    return (f"(n) => Text.Length(n) = {NAME_CHARS}"
            f" and Text.StartsWith(n, {_m_string(PREFIX)})"
            f" and Text.EndsWith(n, {_m_string(SUFFIX)})"
            f" and (try Date.ToText(Date.FromText({day}, {fmt}), {fmt}) = {day} otherwise false)"
            f' and {day} >= "{FIRST_DAY.isoformat()}" and "{LAST_DAY.isoformat()}" >= {day}')


def _day_files_source(table: Table) -> list[str]:
    """M steps that read the day files dated in [RangeStart, RangeEnd) into `Promoted`.

    The files are the day files of `shared.dayfiles`: the files (binary content, not
    subfolders: `Folder.Contents` lists one level, where `Folder.Files` would take a copy
    of the folder below it too) whose names pass `day_file_rule_m`; any other file is not
    loaded. The date comes from each file's name, so only those files are opened: a file
    source cannot fold a filter into the files' contents. An empty table with every column
    keeps the later steps valid when no file is in the range.
    """
    start, end = (name for name, _ in RANGE_PARAMETERS)
    names = ", ".join(_m_string(c) for c in table.csv_columns)
    return [
        f"    Files = Folder.Contents({PARAMETER} & {_m_string(table.day_folder)}),",
        f"    IsDayFile = {day_file_rule_m()},",
        "    Named = Table.SelectRows(Files, each Value.Is([Content], type binary) and "
        "IsDayFile([Name])),",
        f'    Dated = Table.AddColumn(Named, "Day", each DateTime.From(Date.FromText('
        f'Text.Middle([Name], {len(PREFIX)}, {DATE_CHARS}), [Format="{M_DATE_FORMAT}", '
        f'Culture="en-US"])), type datetime),',
        f"    InRange = Table.SelectRows(Dated, each [Day] >= {start} and {end} > [Day]),",
        f"    Parts = List.Transform(InRange[Content], (c) => Table.PromoteHeaders("
        f"Csv.Document(c, {_CSV_OPTIONS}), [PromoteAllScalars=true])),",
        f"    Promoted = Table.Combine({{#table({{{names}}}, {{}})}} & Parts),",
    ]


def partition_m(table: Table) -> str:
    """Power Query M for one table: its CSV (or day files) under ExportsFolder, typed,
    booleans parsed.

    `Selected` keeps exactly the table's columns (`shared.columns`), in order, before any
    step names one: a column the file lacks (written by a version before the column was
    added: status.csv before `stopped_at`) is null (`MissingField.UseNull`) instead of
    failing the refresh ("The column ... of the table wasn't found"), and one it has that
    the model does not know (a later version's) is left out.
    """
    bools = [c for c in table.csv_columns if table.type_of(c) == "boolean"]
    typed = [c for c in table.csv_columns if table.type_of(c) != "boolean"]
    names = ", ".join(_m_string(c) for c in table.csv_columns)
    source = _day_files_source(table) if table.day_folder else [
        f"    Source = Csv.Document(File.Contents({PARAMETER} & {_m_string(table.file)}), "
        f"{_CSV_OPTIONS}),",
        "    Promoted = Table.PromoteHeaders(Source, [PromoteAllScalars=true]),",
    ]
    lines = [
        "let",
        *source,
        f"    Selected = Table.SelectColumns(Promoted, {{{names}}}, MissingField.UseNull),",
        '    ToBool = (v) => if v = null or v = "" then null else Text.Lower(v) = "true",',
        "    Bools = Table.TransformColumns(Selected, {"
        + ", ".join(f"{{{_m_string(c)}, ToBool, type logical}}" for c in bools) + "}),",
        "    Typed = Table.TransformColumnTypes(Bools, {"
        + ", ".join(f"{{{_m_string(c)}, {_M_TYPES[table.type_of(c)]}}}" for c in typed)
        + '}, "en-US")',
    ]
    last = "Typed"
    for name, _, expr, m_type in table.derived:
        step = f"Added_{name}"
        lines[-1] += ","
        lines.append(f"    {step} = Table.AddColumn({last}, {_m_string(name)}, each {expr}, "
                     f"{m_type})")
        last = step
    return "\n".join([*lines, "in", f"    {last}"])


def _block(text: str, indent: int) -> list[str]:
    return ["\t" * indent + line if line else "" for line in text.splitlines()]


def _column_tmdl(table: str, column: str, kind: str, *, key: bool = False) -> list[str]:
    """One column of `table`; a `key` column (the date table's date) is marked so, and
    formatted as an ISO day."""
    out = [f"\tcolumn {quote(column)}", f"\t\tdataType: {kind}"]
    if key:
        out += ["\t\tisKey", "\t\tformatString: yyyy-mm-dd"]
    elif column in COLUMN_FORMATS or kind in _FORMATS:
        out.append(f"\t\tformatString: {COLUMN_FORMATS.get(column) or _FORMATS[kind]}")
    return [*out, f"\t\tlineageTag: {tag('column', table, column)}",
            "\t\tsummarizeBy: none", f"\t\tsourceColumn: {column}", "",
            "\t\tannotation SummarizationSetBy = Automatic", ""]


def _partition_tmdl(table: str, m: str) -> list[str]:
    """`table`'s one import partition, its source the Power Query `m`."""
    return [f"\tpartition {quote(table)} = m", "\t\tmode: import", "\t\tsource =",
            *_block(m, 4), ""]


def table_tmdl(table: Table) -> str:
    out = [f"table {quote(table.name)}", f"\tlineageTag: {tag('table', table.name)}", ""]
    if table.name == MEASURE_TABLE:
        for measure in MEASURES:
            out.append(f"\tmeasure {quote(measure.name)} =")
            out += _block(measure.dax, 3)
            if measure.fmt:
                out.append(f"\t\tformatString: {measure.fmt}")
            out += [f"\t\tlineageTag: {tag('measure', measure.name)}", ""]
    for column in table.columns:
        out += _column_tmdl(table.name, column, table.type_of(column))
    out += _partition_tmdl(table.name, partition_m(table))
    if table.day_folder:
        out += refresh_policy_tmdl(table)
    out += ["\tannotation PBI_ResultType = Table", ""]
    return "\n".join(out)


def refresh_policy_tmdl(table: Table) -> list[str]:
    """The incremental refresh policy: archive ARCHIVE_YEARS years, refresh REFRESH_DAYS days;
    its source is the partition's own query (filtered by RangeStart/RangeEnd)."""
    out = ["\trefreshPolicy", "\t\tpolicyType: basic",
           "\t\trollingWindowGranularity: year",
           f"\t\trollingWindowPeriods: {ARCHIVE_YEARS}",
           "\t\tincrementalGranularity: day", f"\t\tincrementalPeriods: {REFRESH_DAYS}",
           "\t\tsourceExpression ="]
    return [*out, *_block(partition_m(table), 4), ""]


def date_table_m() -> str:
    """Power Query M of the date dimension: every day of run.json's date range
    (`shared.date_range`), or for a run.json written before it, of its event times."""
    first, last = RANGE_FIELDS
    day = 'Date.FromText(Text.Start(t, 10), [Format="yyyy-MM-dd", Culture="en-US"])'
    return "\n".join([
        "let",
        f'    Run = Json.Document(File.Contents({PARAMETER} & "{RUN_FILE}")),',
        f'    First = Record.FieldOrDefault(Run, "{first}", '
        'Record.FieldOrDefault(Run, "event_time_min", null)),',
        f'    Last = Record.FieldOrDefault(Run, "{last}", '
        'Record.FieldOrDefault(Run, "event_time_max", null)),',
        f"    Day = (t) => {day},",
        "    Days = if First = null or Last = null then {} else List.Dates("
        "Day(First), Duration.Days(Day(Last) - Day(First)) + 1, #duration(1, 0, 0, 0)),",
        '    Source = Table.FromList(Days, Splitter.SplitByNothing(), {"date"}),',
        '    Year = Table.AddColumn(Source, "year", each Date.Year([date]), Int64.Type),',
        '    Month = Table.AddColumn(Year, "month", each Date.ToText([date], "yyyy-MM"), '
        "type text),",
        '    Typed = Table.TransformColumnTypes(Month, {{"date", type date}})',
        "in",
        "    Typed",
    ])


def date_table_tmdl() -> str:
    """The date dimension, marked as the model's date table (`dataCategory: Time`, key)."""
    out = [f"table {quote(DATE_TABLE)}", f"\tlineageTag: {tag('table', DATE_TABLE)}",
           "\tdataCategory: Time", ""]
    for column, kind in DATE_COLUMNS:
        out += _column_tmdl(DATE_TABLE, column, kind, key=column == "date")
    out += _partition_tmdl(DATE_TABLE, date_table_m())
    out += ["\tannotation PBI_ResultType = Table", ""]
    return "\n".join(out)


def run_table_m() -> str:
    """Power Query M of the run table: one row of run.json's RUN_COLUMNS; a field the file
    lacks (a run.json not written by this version) is null, as a CSV's missing column."""
    names = ", ".join(_m_string(c) for c, _ in RUN_COLUMNS)
    types = ", ".join(f"{{{_m_string(c)}, {_M_TYPES[k]}}}" for c, k in RUN_COLUMNS)
    return "\n".join([
        "let",
        f"    Run = Json.Document(File.Contents({PARAMETER} & {_m_string(RUN_FILE)})),",
        f"    Selected = Record.SelectFields(Run, {{{names}}}, MissingField.UseNull),",
        "    Source = Table.FromRecords({Selected}),",
        f'    Typed = Table.TransformColumnTypes(Source, {{{types}}}, "en-US")',
        "in",
        "    Typed",
    ])


def run_table_tmdl() -> str:
    """The run table: run.json's fields the measures read (`Recommended Mode`)."""
    out = [f"table {quote(RUN_TABLE)}", f"\tlineageTag: {tag('table', RUN_TABLE)}", ""]
    for column, kind in RUN_COLUMNS:
        out += _column_tmdl(RUN_TABLE, column, kind)
    out += _partition_tmdl(RUN_TABLE, run_table_m())
    out += ["\tannotation PBI_ResultType = Table", ""]
    return "\n".join(out)


def expressions_tmdl() -> str:
    meta = 'meta [IsParameterQuery=true, Type="Text", IsParameterQueryRequired=true]'
    out = [
        f"expression {PARAMETER} = {_m_string(PARAMETER_DEFAULT)} {meta}",
        f"\tlineageTag: {tag('expression', PARAMETER)}", "",
        "\tannotation PBI_ResultType = Text", "",
    ]
    dt_meta = 'meta [IsParameterQuery=true, Type="DateTime", IsParameterQueryRequired=true]'
    for name, value in RANGE_PARAMETERS:
        out += [f"expression {name} = {value} {dt_meta}",
                f"\tlineageTag: {tag('expression', name)}", "",
                "\tannotation PBI_ResultType = DateTime", ""]
    return "\n".join(out)


def model_tmdl() -> str:
    out = ["model Model", "\tculture: en-US", "\tdefaultPowerBIDataSourceVersion: powerBI_V3",
           "\tsourceQueryCulture: en-US",
           "\tdataAccessOptions", "\t\tlegacyRedirects", "\t\treturnErrorValuesAsNull", "",
           "\tannotation PBI_QueryOrder = "
           + json.dumps([PARAMETER, *(n for n, _ in RANGE_PARAMETERS),
                         *(t.name for t in TABLES), DATE_TABLE, RUN_TABLE]), ""]
    out += [f"ref table {quote(t.name)}" for t in TABLES]
    out += [f"ref table {quote(DATE_TABLE)}", f"ref table {quote(RUN_TABLE)}"]
    return "\n".join([*out, ""])


def relationships_tmdl() -> str:
    out = []
    for many, many_col, one, one_col in RELATIONSHIPS:
        out += [f"relationship {tag('relationship', many, many_col, one, one_col)}",
                f"\tfromColumn: {quote(many)}.{quote(many_col)}",
                f"\ttoColumn: {quote(one)}.{quote(one_col)}", ""]
    return "\n".join(out)


def semantic_model_files() -> dict[str, str]:
    """Relative path (inside `<name>.SemanticModel/`) -> file text."""
    files = {
        ".platform": json.dumps({
            "$schema": PLATFORM_SCHEMA,
            "metadata": {"type": "SemanticModel", "displayName": NAME},
            "config": {"version": "2.0", "logicalId": tag("item", "SemanticModel")}},
            indent=2) + "\n",
        "definition.pbism": json.dumps({
            "$schema": f"{SCHEMA}/definitionProperties/1.0.0/schema.json",
            "version": "4.2", "settings": {}}, indent=2) + "\n",
        "definition/database.tmdl": "database\n\tcompatibilityLevel: 1567\n",
        "definition/model.tmdl": model_tmdl(),
        "definition/expressions.tmdl": expressions_tmdl(),
    }
    if RELATIONSHIPS:
        files["definition/relationships.tmdl"] = relationships_tmdl()
    for table in TABLES:
        files[f"definition/tables/{table.name}.tmdl"] = table_tmdl(table)
    files[f"definition/tables/{DATE_TABLE}.tmdl"] = date_table_tmdl()
    files[f"definition/tables/{RUN_TABLE}.tmdl"] = run_table_tmdl()
    return files


def write_semantic_model(root: Path) -> Path:
    """Write `<root>/<name>.SemanticModel/`; return that folder."""
    folder = root / f"{NAME}.SemanticModel"
    for rel, text in semantic_model_files().items():
        atomic_write_text(folder / rel, text, durable=False)  # never half a file
    return folder
