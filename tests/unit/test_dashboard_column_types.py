"""Every export column reaches the Power BI model with a declared type, never a guess.

The column names come from `shared.columns` (one declaration); their types from the scored
row's declaration or, for the other exports, from `dashboard.spec`'s tables of names. A name
those tables do not cover is an error: before, it silently became `double`, so a text column
added to cases.csv would have been typed a number (a refresh error per cell in Desktop, a
traceback in the build).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from dashboard.build import SAMPLE_EXPORTS
from dashboard.spec import TABLES, Table, UntypedColumnError, column_type
from shared import columns
from shared.dayfiles import day_files

#: What a cell of each type looks like as the exports write it (empty is null everywhere).
CELL = {
    "int64": re.compile(r"-?\d+"),
    "double": re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?"),
    "boolean": re.compile(r"True|False"),
    "dateTime": re.compile(r"\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\d(\.\d+)?)?"),
    "string": re.compile(r"(?s).*"),
}


def _sample_rows(table_name: str, day_folder: str) -> list[dict[str, str]]:
    files = (day_files(SAMPLE_EXPORTS) if day_folder else [SAMPLE_EXPORTS / f"{table_name}.csv"])
    rows: list[dict[str, str]] = []
    for path in files:
        with Path(path).open(encoding="utf-8", newline="") as f:
            rows += list(csv.DictReader(f))
    return rows


def test_a_column_with_no_declared_type_is_an_error_not_a_double() -> None:
    with pytest.raises(UntypedColumnError, match="merchant_name"):
        column_type("merchant_name")


def test_every_column_of_every_model_table_has_a_declared_type() -> None:
    for table in TABLES:
        for column in table.columns:
            table.type_of(column)  # raises for an undeclared one


def test_every_exported_table_of_the_contract_is_in_the_model() -> None:
    """A table contract added to `shared.columns` is modelled, or named here as not."""
    not_modelled = {"RULE_COLUMNS", "REVIEWS_LOG_COLUMNS"}  # rule flags are scored columns;
    # reviews_log.csv is the sink's audit trail of review messages, not a dashboard table
    contracts = {name: getattr(columns, name) for name in dir(columns)
                 if name.endswith("_COLUMNS") and name not in not_modelled}
    modelled = {t.csv_columns for t in TABLES}
    assert {n for n, cols in contracts.items() if cols not in modelled} == set()
    assert len(contracts) == len(TABLES)


@pytest.mark.parametrize("count", ["detected", "ml_detected", "rules_detected",
                                   "combined_detected", "support", "flags", "true_flags"])
def test_counts_of_metrics_by_type_are_whole_numbers(count: str) -> None:
    """The sink writes every `*_detected` as an int; two of the four were typed double."""
    assert column_type(count) == "int64"


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_every_sample_cell_is_a_value_of_its_columns_type(table: Table) -> None:
    """The committed snapshot, as the sink wrote it, fits the model's types cell by cell
    (what Power Query's typing step would otherwise turn into errors)."""
    rows = _sample_rows(table.name, table.day_folder)
    assert rows, table.name
    for column in table.csv_columns:
        pattern = CELL[table.type_of(column)]
        bad = [r[column] for r in rows if r[column] and not pattern.fullmatch(r[column])]
        assert not bad, (table.name, column, table.type_of(column), bad[:3])
