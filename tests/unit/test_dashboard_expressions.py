"""Every DAX measure and every Power Query (M) expression of the committed model, parsed by
an independent parser (`pbi-parsers`, not the project's builder nor pbix-mcp), and every
table, column and measure they name checked against the model (read by pbix-mcp's TMDL
reader, so neither side of the comparison is the generator's own data)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pbi_parsers import dax, pq  # type: ignore[import-untyped]
from pbi_parsers.dax import exprs as dx  # type: ignore[import-untyped]
from pbix_mcp.formats.tmdl_reader import parse_tmdl_folder  # type: ignore[import-untyped]

from dashboard.spec import NAME
from dashboard.tmdl import _m_string

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / f"{NAME}.SemanticModel" / "definition"


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    parsed: dict[str, Any] = parse_tmdl_folder(str(MODEL))
    return parsed


def _measures(model: dict[str, Any]) -> dict[str, str]:
    return {m["name"]: m["expression"] for t in model["tables"] for m in t["measures"]}


def _queries(model: dict[str, Any]) -> dict[str, str]:
    """Every M text of the model: table partitions and shared expressions (parameters)."""
    out = {f"partition {t['name']}": p["source"]
           for t in model["tables"] for p in t["partitions"] if p["kind"] == "m"}
    out.update({f"expression {e['name']}": e["expression"] for e in model["expressions"]})
    return out


def _unquote(name: str) -> str:
    if name.startswith("'") and name.endswith("'"):
        return name[1:-1].replace("''", "'")
    if name.startswith("[") and name.endswith("]"):
        return name[1:-1].replace("]]", "]")
    return name


def dax_references(text: str) -> tuple[set[tuple[str, str]], set[str], set[str]]:
    """(table, column) pairs, measure names and table names a DAX expression uses.

    Raises ValueError (or AssertionError, pbi-parsers' way of saying "tokens left over")
    when the text does not parse. Identifiers bound by VAR, and DATEDIFF's interval
    keywords, are not table names.
    """
    ast = dax.to_ast(text)
    if ast is None:
        raise ValueError("no expression")
    columns = {(_unquote(c.table.text), _unquote(c.column.text))
               for c in ast.find_all(dx.ColumnExpression)}
    measures = {_unquote(m.name.text) for m in ast.find_all(dx.MeasureExpression)}
    variables = {v.var_name.text for v in ast.find_all(dx.VariableExpression)}
    tables = {_unquote(t.name.text) for t in ast.find_all((dx.TableExpression,
                                                           dx.IdentifierExpression))}
    return columns, measures, tables - variables - _INTERVALS


#: DATEDIFF's last argument, a bare keyword the parser reads as an identifier.
_INTERVALS = {"SECOND", "MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "QUARTER", "YEAR"}


def test_every_measure_parses_as_dax(model: dict[str, Any]) -> None:
    measures = _measures(model)
    assert len(measures) >= 20
    failed = []
    for name, text in measures.items():
        try:
            dax_references(text)
        except (ValueError, AssertionError) as exc:
            failed.append(f"{name}: {exc!r}")
    assert failed == []


def test_every_m_expression_parses(model: dict[str, Any]) -> None:
    queries = _queries(model)
    assert len(queries) >= 6  # five tables and the ExportsFolder parameter at least
    for name, text in queries.items():
        assert pq.to_ast(text) is not None, name


def test_every_table_column_and_measure_a_measure_names_exists(model: dict[str, Any]) -> None:
    tables = {t["name"] for t in model["tables"]}
    columns = {(t["name"], c["name"]) for t in model["tables"] for c in t["columns"]}
    measures = set(_measures(model))
    seen = 0
    for name, text in _measures(model).items():
        used_columns, used_measures, used_tables = dax_references(text)
        assert used_columns <= columns, (name, used_columns - columns)
        assert used_measures <= measures, (name, used_measures - measures)
        assert used_tables <= tables, (name, used_tables - tables)
        seen += len(used_columns) + len(used_measures) + len(used_tables)
    assert seen >= 50


_M_COLUMN = re.compile(r'\{"((?:[^"]|"")+)", (?:ToBool|Int64\.Type|type \w+)')


def test_every_column_an_m_query_types_is_a_column_of_its_table(model: dict[str, Any]) -> None:
    """The typing steps name only columns the table declares, and type every CSV column."""
    for table in model["tables"]:
        declared = {c["name"] for c in table["columns"]}
        (partition,) = table["partitions"]
        typed = {m.replace('""', '"') for m in _M_COLUMN.findall(partition["source"])}
        assert typed and typed <= declared, (table["name"], typed - declared)
        computed = {c["name"] for c in table["columns"] if c["name"] not in typed}
        assert all(f'"{c}"' in partition["source"] for c in computed), table["name"]


def test_the_checks_fail_on_a_broken_or_dangling_expression() -> None:
    """The parser rejects malformed text, and a reference to a missing column is seen."""
    for broken in ("COUNTROWS(", "1 +", "CALCULATE(MAX(t[c]),, )x"):
        with pytest.raises((ValueError, AssertionError)):
            dax_references(broken)
    columns, measures, tables = dax_references(
        "VAR th = [Sel]\nRETURN COUNTROWS(FILTER(ALL(thresholds), thresholds[nope] >= th))")
    assert columns == {("thresholds", "nope")}
    assert measures == {"Sel"} and tables == {"thresholds"}
    with pytest.raises((ValueError, AssertionError)):
        pq.to_ast('let Source = Csv.Document(File.Contents(X & "a.csv"), in Source')


@given(st.text())
@example("a#(lf)b")
@example("#(#)\"#(0041)")
def test_an_m_text_literal_holds_its_text_whatever_it_is(text: str) -> None:
    """M reads `""` as `"` and `#(...)` as an escape (`#(lf)` a line feed, `#(#)` a `#`):
    every `#(` is written `#(#)(`, so `a#(lf)b` stays those six characters."""
    literal = _m_string(text)
    inner = literal[1:-1]
    assert literal[0] == literal[-1] == '"'
    assert '"' not in inner.replace('""', "")  # no quote that ends the literal early
    assert re.search(r"#\((?!#\))", inner) is None  # every escape is #(#)
    assert inner.replace("#(#)", "#").replace('""', '"') == text
