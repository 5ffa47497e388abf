"""Every place that carries the scored row agrees with its one declaration, `SCORED_ROW`.

Derived places follow it by construction; the places that cannot be derived (the typed view
mypy reads, the input model with its validators, the core's verdict, the rule table) are
checked here, and a failure names the field and the place that misses it.
"""

from __future__ import annotations

import ast
import typing
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from dashboard.sample import scored_frame
from dashboard.spec import TABLES
from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.rules import RULES
from shared.columns import (
    INPUT_FIELDS,
    POWER_BI_TYPES,
    RULE_NAMES,
    SCORED_COLUMNS,
    SCORED_ROW,
    SCORED_TYPES,
    VERDICT_FIELDS,
)
from shared.schemas import CSV_FIELDS, ScoredTransaction, Transaction
from sink.csvfmt import _CELL_OF_KIND, _cells_source, scored_cells

ROOT = Path(__file__).resolve().parents[2]
#: Transaction fields that are not columns: the message version and free attributes.
NOT_COLUMNS = {"schema_version", "attributes"}


def _typed_view() -> list[tuple[str, str]]:
    """(name, annotation) of the `if TYPE_CHECKING:` ScoredTransaction in shared/schemas.py."""
    tree = ast.parse((ROOT / "shared" / "schemas.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "ScoredTransaction":
            return [(s.target.id, ast.unparse(s.annotation)) for s in node.body
                    if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
    raise AssertionError("no ScoredTransaction class for mypy in shared/schemas.py")


def _annotation(kind: str, nullable: bool) -> str:
    base = {"text": "str", "time": "datetime", "number": "float", "int": "int", "bool": "bool",
            "list": "list[str]", "flags": "dict[str, bool]"}[kind]
    return f"{base} | None" if nullable else base


def test_the_typed_view_mypy_reads_matches_the_declaration() -> None:
    declared = [(f.name, _annotation(f.kind, f.nullable)) for f in SCORED_ROW
                if f.name in VERDICT_FIELDS]
    assert _typed_view() == declared, "shared/schemas.py: update the TYPE_CHECKING view"


def test_the_runtime_model_is_derived_from_the_declaration() -> None:
    verdict = [n for n in ScoredTransaction.model_fields if n not in Transaction.model_fields]
    assert verdict == list(VERDICT_FIELDS)
    for f in SCORED_ROW:
        if f.name in VERDICT_FIELDS:
            info = ScoredTransaction.model_fields[f.name]
            assert info.description == f.doc
            assert (type(None) in typing.get_args(info.annotation)) == f.nullable, f.name


def test_the_input_model_has_the_declared_input_fields_in_order() -> None:
    fields = [n for n in Transaction.model_fields if n not in NOT_COLUMNS]
    assert fields == list(INPUT_FIELDS) == list(CSV_FIELDS), "shared/schemas.py Transaction"


def test_the_core_computes_every_declared_field_and_nothing_else() -> None:
    engine = PartitionEngine(CoreConfig(first_fit_after=64, refit_every=64, n_trees=10))
    start = datetime(2025, 1, 1)
    rows = engine.process([
        Transaction(transaction_id=str(i), customer_id=f"c{i % 3}",
                    timestamp=start + timedelta(minutes=7 * i), amount=10.0 + i,
                    country="CH", channel="web", device="pc", merchant_category="food")
        for i in range(150)])
    for row in rows:
        missing = [n for n in ScoredTransaction.model_fields if n not in row.__dict__]
        extra = [n for n in row.__dict__ if n not in ScoredTransaction.model_fields]
        assert not missing, f"detector/core/rowloop.py verdict does not compute {missing}"
        assert not extra, f"detector/core/rowloop.py verdict computes undeclared {extra}"
        row.model_dump_json()  # serialisable as declared


def test_rules_are_the_declared_flags() -> None:
    assert tuple(RULES) == RULE_NAMES, "detector/core/rules.py RULES vs shared.columns"


def test_every_kind_has_a_type_a_cell_and_a_power_bi_type() -> None:
    for f in SCORED_ROW:
        assert f.kind in POWER_BI_TYPES
        assert f.kind in (*_CELL_OF_KIND, "list", "flags"), f"sink/csvfmt.py: kind {f.kind}"


@pytest.mark.parametrize("derived, where", [
    (lambda: tuple(scored_frame(30).columns), "dashboard/sample.py"),
    (lambda: next(t for t in TABLES if t.name == "transactions_scored").csv_columns,
     "dashboard/spec.py"),
])
def test_derived_places_follow_the_declaration(derived: typing.Callable[[], tuple[str, ...]],
                                               where: str) -> None:
    assert tuple(derived()) == SCORED_COLUMNS, where


def test_cells_are_written_field_by_field_in_column_order() -> None:
    row = ScoredTransaction(
        transaction_id="=t1", customer_id="c", timestamp=datetime(2025, 1, 2, 3, 4, 5),
        amount=12.5, country="CH", channel="web", device="pc", merchant_category="food",
        score=0.25, model_score=None, rule_flags={"burst": True, "odd_hour": False},
        reasons_top3=["a", "b"], triggered_rules=["burst"], model_version="if-v1",
        is_flag=False, source_partition=3, source_offset=9)
    cells = dict(zip(SCORED_COLUMNS, scored_cells(row), strict=True))
    assert cells["transaction_id"] == "'=t1"
    assert cells["timestamp"] == "2025-01-02T03:04:05"
    assert cells["score"] == "0.25" and cells["model_score"] == ""
    assert cells["rule_burst"] == "True" and cells["rule_odd_hour"] == "False"
    assert cells["rule_duplicate"] == ""
    assert cells["reasons_top3"] == "a | b" and cells["triggered_rules"] == "burst"
    assert cells["source_partition"] == "3" and cells["source_offset"] == "9"
    assert cells["is_anomaly"] == "" and cells["is_flag"] == "False"
    assert _cells_source(SCORED_ROW).count("\n        ") == len(SCORED_COLUMNS)
    assert SCORED_TYPES["timestamp"] == "dateTime" and SCORED_TYPES["rule_burst"] == "boolean"
