"""What run.json says of a rolling upgrade that updated the detector before the sink: the
scored messages' fields the sink did not know, and one line for the places an operator
looks (`python -m sink.health`, report.html's status area; docs/sink.md, "Upgrades")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.codec import MAX_NAME_CHARS as CUT_AT
from shared.fastcodec import MAX_UNKNOWN_FIELDS
from shared.schemas import ScoredTransaction, escape_controls

#: run.json's (and the sink's checkpoint's) record of fields ignored in scored messages:
#: name -> rows, and the rows holding any.
UNKNOWN_FIELDS = "unknown_scored_fields"
UNKNOWN_ROWS = "rows_with_unknown_fields"
#: A note shows at most the names the sink keeps, each at most as long as the sink keeps
#: it (its characters and the cut mark): a hand-edited run.json is bounded the same.
MAX_NAMES = MAX_UNKNOWN_FIELDS
MAX_NAME_CHARS = CUT_AT + 1


def _named(counts: Mapping[str, int]) -> str:
    return ", ".join(f"'{name}' ({rows:,} row{'' if rows == 1 else 's'})"
                     for name, rows in counts.items())


def unknown_fields_note(run: Mapping[str, Any]) -> str:
    """One line on the fields run.json says the sink ignored; "" when none (or a run.json
    from before the count). A name this sink's schema knows now was ignored by an earlier
    sink: its rows lack that column, and upgrading again does not bring it back."""
    found = run.get(UNKNOWN_FIELDS)
    if not isinstance(found, Mapping):
        return ""
    counts = {escape_controls(str(name)[:MAX_NAME_CHARS]): rows
              for name, rows in list(found.items())[:MAX_NAMES]
              if type(rows) is int and rows > 0}
    known = ScoredTransaction.model_fields
    new = {name: rows for name, rows in counts.items() if name not in known}
    old = {name: rows for name, rows in counts.items() if name in known}
    parts = []
    if new:
        parts.append(f"scored messages hold field(s) this sink does not know: {_named(new)}; "
                     "those rows are exported without them (written by a newer detector? "
                     "upgrade the sink to export them)")
    if old:
        parts.append(f"rows scored before this sink's upgrade lack column(s) {_named(old)}: "
                     "the sink then did not know them (a folder rebuilt from the topic has "
                     "them for the rows it still holds)")
    return "; ".join(parts)
