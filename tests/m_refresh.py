"""A refresh of one of the model's single-file Power Query (M) queries, emulated in Python.

No Power Query engine runs on Linux, so this walks the query's `let` steps (parsed by
`pbi-parsers`, independent of the generator) and applies each table function as Power
Query documents it, for the functions the generator writes: `Csv.Document` over
`File.Contents(ExportsFolder & "<file>")`, `Table.PromoteHeaders`, `Table.SelectColumns`,
`Table.TransformColumns`, `Table.TransformColumnTypes` and `Table.AddColumn`; and for the
run table's query `Json.Document` over `File.Contents(ExportsFolder & "run.json")`,
`Record.SelectFields` and `Table.FromRecords`. Above all a column a step names that the
table lacks raises Power Query's own error ("The column 'x' of the table wasn't found."; a
record's field: "The field 'x' of the record wasn't found."), unless the step passes
`MissingField.UseNull` (a null column) or `MissingField.Ignore`. A step, function or type
it does not know is an error of the emulator, never skipped. `Table.AddColumn`'s row
expression is not evaluated (its cells hold `UNEVALUATED`); the let-bound functions are the
Python ones in `_FUNCTIONS`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from pbi_parsers import pq  # type: ignore[import-untyped]
from pbi_parsers.pq import exprs as px  # type: ignore[import-untyped]

UNEVALUATED = object()


class MError(Exception):
    """An error the refresh would report (Power Query's `Expression.Error`)."""


@dataclass
class MTable:
    columns: list[str]
    rows: list[list[Any]]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def _to_bool(v: Any) -> Any:
    """The queries' `ToBool`: `if v = null or v = "" then null else Text.Lower(v) = "true"`."""
    return None if v is None or v == "" else v.lower() == "true"


_FUNCTIONS = {"ToBool": _to_bool}


def _datetime(text: str) -> datetime:
    return datetime.fromisoformat(text)


#: M type -> conversion of a text cell (en-US); "" and null become null.
_TYPES: dict[str, Callable[[str], Any]] = {
    "type datetime": _datetime, "type number": float, "Int64.Type": int, "type text": str,
    "type date": _datetime, "type logical": lambda t: t.lower() == "true"}


def _name(expr: Any) -> str:
    if isinstance(expr, px.IdentifierExpression):
        return ".".join(t.text for t in expr.name_parts)
    if isinstance(expr, px.TypingExpression):
        name = ".".join(t.text for t in expr.tok_type_name)
        return name if name.endswith(".Type") else f"type {name}"  # Int64.Type: a name
    raise MError(f"emulator: not a name: {expr.pprint()}")


def _text(expr: Any) -> str:
    if not isinstance(expr, px.LiteralStringExpression):
        raise MError(f"emulator: not a text literal: {expr.pprint()}")
    return str(expr.value.text[1:-1].replace('""', '"'))


def _list(expr: Any) -> list[Any]:
    if not isinstance(expr, px.ArrayExpression):
        raise MError(f"emulator: not a list: {expr.pprint()}")
    return list(expr.elements)


def _missing_field(args: list[Any], at: int) -> str:
    return _name(args[at]) if len(args) > at else "MissingField.Error"


def _index(table: MTable, column: str, missing: str) -> int | None:
    if column in table.columns:
        return table.columns.index(column)
    if missing == "MissingField.Error":
        raise MError(f"Expression.Error: The column '{column}' of the table wasn't found.")
    return None


def _file(contents: Any, files: dict[str, str]) -> str:
    """The text of `File.Contents(ExportsFolder & "<name>")`."""
    if not (isinstance(contents, px.FunctionExpression)
            and _name(contents.name) == "File.Contents"):
        raise MError(f"emulator: a document of {contents.pprint()}")
    path = contents.args[0]
    if not (isinstance(path, px.ConcatenationExpression) and _name(path.left) == "ExportsFolder"):
        raise MError(f"emulator: File.Contents of {path.pprint()}")
    name = _text(path.right)
    if name not in files:
        raise MError(f"DataSource.Error: Could not find file '{name}'.")
    return files[name]


def _json_document(args: list[Any], files: dict[str, str]) -> Any:
    try:
        return json.loads(_file(args[0], files))
    except json.JSONDecodeError as exc:
        raise MError(f"DataFormat.Error: We found extra characters ... ({exc})") from None


def _select_fields(record: Any, args: list[Any]) -> dict[str, Any]:
    """`Record.SelectFields(record, {names}, missingField)`: those fields, in that order."""
    if not isinstance(record, dict):
        raise MError(f"Expression.Error: We cannot convert a value of type {type(record)} "
                     "to type Record.")
    missing, out = _missing_field(args, 2), {}
    for name in (_text(e) for e in _list(args[1])):
        if name in record:
            out[name] = record[name]
        elif missing == "MissingField.Error":
            raise MError(f"Expression.Error: The field '{name}' of the record wasn't found.")
        elif missing == "MissingField.UseNull":
            out[name] = None
    return out


def _from_records(args: list[Any], steps: dict[str, Any]) -> MTable:
    """`Table.FromRecords({a, b})` of records named by steps: the first one's fields."""
    records = [steps[_name(e)] for e in _list(args[0])]
    columns = list(records[0]) if records else []
    if any(list(r) != columns for r in records):
        raise MError("emulator: records of different fields")
    return MTable(columns, [[r[c] for c in columns] for r in records])


def _csv_document(args: list[Any], files: dict[str, str]) -> MTable:
    rows = list(csv.reader(io.StringIO(_file(args[0], files), newline="")))
    width = max((len(r) for r in rows), default=0)
    return MTable([f"Column{i + 1}" for i in range(width)],
                  [r + [""] * (width - len(r)) for r in rows])


def _promote(table: MTable) -> MTable:
    header, *rows = table.rows or [[]]
    return MTable([str(h) for h in header], rows)


def _select(table: MTable, args: list[Any]) -> MTable:
    names = [_text(e) for e in _list(args[1])]
    missing = _missing_field(args, 2)
    picks = [(n, _index(table, n, missing)) for n in names]
    if missing == "MissingField.Ignore":
        picks = [(n, i) for n, i in picks if i is not None]
    return MTable([n for n, _ in picks],
                  [[None if i is None else row[i] for _, i in picks] for row in table.rows])


def _transform(table: MTable, args: list[Any], functions: dict[str, Any]) -> MTable:
    missing = _missing_field(args, 3)
    rows = [list(r) for r in table.rows]
    for op in _list(args[1]):
        column, fn, *_ = _list(op)
        i = _index(table, _text(column), missing)
        f = functions[_name(fn)]
        if i is None:
            continue
        for row in rows:
            row[i] = f(row[i])
    return MTable(list(table.columns), rows)


def _types(table: MTable, args: list[Any]) -> MTable:
    rows = [list(r) for r in table.rows]
    for op in _list(args[1]):
        column, kind = _list(op)
        i = _index(table, _text(column), "MissingField.Error")
        assert i is not None  # MissingField.Error raised
        convert = _TYPES[_name(kind)]
        for row in rows:
            cell = row[i]
            if isinstance(cell, str):
                try:
                    row[i] = None if cell == "" else convert(cell)
                except ValueError as exc:
                    raise MError(f"DataFormat.Error: {cell!r}: {exc}") from None
    return MTable(list(table.columns), rows)


@lru_cache(maxsize=32)
def _parse(m: str) -> Any:
    return pq.to_ast(m)  # about a second per query: parsed once


def refresh(m: str, files: dict[str, str]) -> MTable:
    """The table query `m` gives over the exports `files` (name -> CSV or JSON text)."""
    ast = _parse(m)
    if not isinstance(ast, px.StatementExpression):
        raise MError("emulator: not a let expression")
    steps: dict[str, Any] = {}
    functions = dict(_FUNCTIONS)
    for var in ast.statements:
        name, expr = var.var_name.text, var.statement
        if isinstance(expr, px.ArrowExpression):
            if name not in functions:
                raise MError(f"emulator: no Python function for {name}")
            continue
        if not isinstance(expr, px.FunctionExpression):
            raise MError(f"emulator: step {name} is {expr.pprint()}")
        fn, args = _name(expr.name), list(expr.args)
        if fn == "Csv.Document":
            steps[name] = _csv_document(args, files)
            continue
        if fn == "Json.Document":
            steps[name] = _json_document(args, files)
            continue
        if fn == "Table.FromRecords":
            steps[name] = _from_records(args, steps)
            continue
        if fn == "Record.SelectFields":
            steps[name] = _select_fields(steps[_name(args[0])], args)
            continue
        table = steps[_name(args[0])]
        if fn == "Table.PromoteHeaders":
            steps[name] = _promote(table)
        elif fn == "Table.SelectColumns":
            steps[name] = _select(table, args)
        elif fn == "Table.TransformColumns":
            steps[name] = _transform(table, args, functions)
        elif fn == "Table.TransformColumnTypes":
            steps[name] = _types(table, args)
        elif fn == "Table.AddColumn":
            steps[name] = MTable([*table.columns, _text(args[1])],
                                 [[*r, UNEVALUATED] for r in table.rows])
        else:
            raise MError(f"emulator: {fn} is not emulated")
    result = steps[_name(ast.let_expr)]
    assert isinstance(result, MTable)
    return result
