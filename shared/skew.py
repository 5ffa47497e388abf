"""What run.json says of a rolling upgrade that updated the detector before the sink: the
scored messages' fields and rules (keys of `rule_flags`) the sink did not know, the reviews
partitions it holds at a newer release's review (a rollback), and one
line for the places an operator looks (`python -m sink.health`, report.html's status area;
docs/sink.md, "Upgrades")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.codec import MAX_NAME_CHARS as CUT_AT
from shared.columns import RULE_NAMES
from shared.fastcodec import MAX_UNKNOWN_FIELDS
from shared.schemas import ScoredTransaction, escape_controls
from shared.settings import REVIEWS_PASS_VARIABLE

#: run.json's (and the sink's checkpoint's) record of fields ignored in scored messages:
#: name -> rows, and the rows holding any.
UNKNOWN_FIELDS = "unknown_scored_fields"
UNKNOWN_ROWS = "rows_with_unknown_fields"
#: run.json's record of rules in scored messages' `rule_flags` the sink has no column for:
#: name -> rows holding it, name -> rows it fired in, and the rows holding any.
UNKNOWN_RULES = "unknown_rules"
UNKNOWN_RULES_FIRED = "unknown_rules_fired"
UNKNOWN_RULE_ROWS = "rows_with_unknown_rules"
#: run.json's `skew_note` of itself, written by the sink ("" when none): the line as text,
#: for a reader that does not build it (the Power BI model's `run` table).
UPGRADE_NOTE = "upgrade_note"
#: run.json's reviews partitions held at a review a newer release wrote (`held_line`):
#: partition -> {"topic", "offset", "version" (the review's), "reads" (this sink's)}.
HELD_REVIEWS = "held_reviews"
#: A note shows at most the names the sink keeps, each at most as long as the sink keeps
#: it (its characters and the cut mark): a hand-edited run.json is bounded the same.
MAX_NAMES = MAX_UNKNOWN_FIELDS
MAX_NAME_CHARS = CUT_AT + 1


def _named(counts: Mapping[str, int]) -> str:
    return ", ".join(f"'{name}' ({rows:,} row{'' if rows == 1 else 's'})"
                     for name, rows in counts.items())


def _counts(found: object) -> dict[str, int]:
    """A run.json count (name -> rows) as a note shows it: bounded, escaped, rows > 0."""
    if not isinstance(found, Mapping):
        return {}
    return {escape_controls(str(name)[:MAX_NAME_CHARS]): rows
            for name, rows in list(found.items())[:MAX_NAMES]
            if type(rows) is int and rows > 0}


def unknown_fields_note(run: Mapping[str, Any]) -> str:
    """One line on the fields run.json says the sink ignored; "" when none (or a run.json
    from before the count). A name this sink's schema knows now was ignored by an earlier
    sink: its rows lack that column, and upgrading again does not bring it back."""
    counts = _counts(run.get(UNKNOWN_FIELDS))
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


def _rules_named(counts: Mapping[str, int], fired: Mapping[str, int]) -> str:
    def one(name: str, rows: int) -> str:
        return (f"'{name}' ({rows:,} row{'' if rows == 1 else 's'}, fired in "
                f"{fired.get(name, 0):,})")
    return ", ".join(one(name, rows) for name, rows in counts.items())


def unknown_rules_note(run: Mapping[str, Any]) -> str:
    """One line on the rules run.json says the sink had no column for; "" when none (or a
    run.json from before the count). A rule this sink knows now was unknown to an earlier
    sink: its rows lack that rule's column (their `triggered_rules` name it where it fired)."""
    counts = _counts(run.get(UNKNOWN_RULES))
    fired = _counts(run.get(UNKNOWN_RULES_FIRED))
    new = {name: rows for name, rows in counts.items() if name not in RULE_NAMES}
    old = {name: rows for name, rows in counts.items() if name in RULE_NAMES}
    parts = []
    if new:
        parts.append("scored messages' rule_flags hold rule(s) this sink does not know: "
                     f"{_rules_named(new, fired)}; those rows are exported without a column "
                     "for them, triggered_rules naming them where they fired (written by a "
                     "newer detector? upgrade the sink to give them columns)")
    if old:
        parts.append("rows scored before this sink's upgrade lack rule column(s) "
                     f"{_rules_named(old, fired)}: the sink then did not know them (a folder "
                     "rebuilt from the topic has them for the rows it still holds)")
    return "; ".join(parts)


def held_line(topic: str, partition: int, offset: int, version: int, reads: int) -> str:
    """What the sink says (its WARNING, run.json's note) of a reviews partition it holds at
    a review a newer release wrote (docs/review.md, "Rollbacks")."""
    return (f"{topic} partition {partition} offset {offset} holds a review of schema version "
            f"{version}, written by a newer auditstream release; this release reads version "
            f"{reads}: the sink takes nothing of partition {partition} from offset {offset} "
            "on (not rejected either: its checkpoint stays there) and goes on with the rest; "
            "run that release (or a later one) on this folder to take them; if none will, "
            f"set {REVIEWS_PASS_VARIABLE}={partition}:{offset} to pass it "
            "(docs/review.md, \"Rollbacks\")")


def held_reviews_note(run: Mapping[str, Any]) -> str:
    """One line on the reviews partitions run.json says the sink holds; "" when none."""
    held = run.get(HELD_REVIEWS)
    if not isinstance(held, Mapping):
        return ""
    parts = []
    for part, at in list(held.items())[:MAX_NAMES]:
        if not (isinstance(at, Mapping) and str(part).isdigit()):
            continue
        offset, version, reads = (at.get(k) for k in ("offset", "version", "reads"))
        if type(offset) is int and type(version) is int and type(reads) is int:
            topic = escape_controls(str(at.get("topic", "the reviews topic"))[:MAX_NAME_CHARS])
            parts.append(held_line(topic, int(part), offset, version, reads))
    return "; ".join(parts)


def skew_note(run: Mapping[str, Any]) -> str:
    """The line on fields and rules the sink did not know, and on reviews partitions it
    holds; "" when none."""
    return "; ".join(n for n in (unknown_fields_note(run), unknown_rules_note(run),
                                 held_reviews_note(run)) if n)
