"""The dashboard's "Data As Of" card evaluated by pbix-mcp's DAX engine on a .pbix built from
the committed sample snapshot, the status table's row replaced case by case."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dashboard.build import SAMPLE_EXPORTS
from dashboard.pbix import build_pbix, sample_payloads
from dashboard.spec import NAME

ROOT = Path(__file__).resolve().parents[1]
#: Columns a status row may set that an older model lacks, with their types.
LATE_COLUMNS = (("read_at", "DateTime"), ("source", "String"))


def minute(iso: str) -> str:
    """An ISO time as the card writes it (`yyyy-mm-dd HH:nn`, a 24-hour clock)."""
    return iso[:16].replace("T", " ")


class Card:
    """The sample's status `row` and the card's text for any row put in its place."""

    def __init__(self, alias: str, row: dict[str, Any], columns: list[dict[str, Any]]) -> None:
        self.alias, self.row, self.columns = alias, row, columns

    def text(self, row: dict[str, Any]) -> str:
        """The card's text with `row` as the status table's only row."""
        from pbix_mcp import server  # type: ignore[import-untyped]

        reply = json.loads(server.pbix_set_table_data(
            self.alias, "status", json.dumps({"columns": self.columns, "rows": [row]})))
        assert reply["success"], reply
        (result,) = json.loads(server.pbix_evaluate_dax(
            self.alias, "Data As Of", filter_context="", apply_default_filters=False))["results"]
        return str(result["value"])


@contextmanager
def status_card(work: Path, alias: str) -> Iterator[Card]:
    """The card of a .pbix built in `work` from a copy of the sample, open under `alias`."""
    from pbix_mcp import server

    exports = work / "exports"
    shutil.copytree(SAMPLE_EXPORTS, exports)
    pbix = build_pbix(ROOT, exports, work / f"{NAME}.pbix")
    loads, _ = sample_payloads(exports)
    (status,) = (json.loads(data) for name, data in loads if name == "status")
    (row,) = status["rows"]
    columns = status["columns"]
    for name, kind in LATE_COLUMNS:  # an older model
        if name not in [c["name"] for c in columns]:
            columns = [*columns, {"name": name, "data_type": kind, "nullable": True}]
    assert json.loads(server.pbix_open(str(pbix), alias=alias))["success"]
    try:
        yield Card(alias, row, columns)
    finally:
        server.pbix_close(alias, force=True)
