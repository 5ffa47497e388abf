"""Rules in scored rows' `rule_flags` that this sink has no column for (a newer detector's
new rule, mid rolling upgrade: docs/sink.md, "Upgrades"), counted in the rollup.

Bounded and exact: the least `MAX_UNKNOWN_RULES` names (as a reason shows a name: cut to
40 characters, control characters escaped) are kept, with the rows holding each, the same
whatever the cuts (`sink.least_names`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.codec import field_name
from shared.columns import RULE_NAMES
from shared.fastcodec import MAX_UNKNOWN_FIELDS
from sink.least_names import add_least

KNOWN_RULES = frozenset(RULE_NAMES)
#: At most this many unknown rule names are kept (as many as unknown fields).
MAX_UNKNOWN_RULES = MAX_UNKNOWN_FIELDS


@dataclass
class UnknownRules:
    """Rows holding each kept unknown rule name, rows it fired in, rows holding any (every
    one counted). `rows` names the kept; `fired` is never counted for another name."""

    rows: dict[str, int] = field(default_factory=dict)
    fired: dict[str, int] = field(default_factory=dict)
    any: int = 0

    def _add(self, name: str, n: int, hits: int, dropped: set[str]) -> None:
        left = add_least(self.rows, name, n, MAX_UNKNOWN_RULES)
        if left is not None:
            dropped.add(left)
            self.fired.pop(left, None)
            if left == name:
                return
        if hits:
            self.fired[name] = self.fired.get(name, 0) + hits

    def see(self, flags: Iterable[Mapping[str, bool]]) -> set[str]:
        """Count rows' `rule_flags`; the names no longer (or never) kept."""
        dropped: set[str] = set()
        for row in flags:
            names: dict[str, bool] = {}
            for raw, hit in row.items():
                if raw not in KNOWN_RULES:
                    name = field_name(raw)
                    names[name] = names.get(name, False) or hit
            if names:
                self.any += 1
                for name in sorted(names):
                    self._add(name, 1, int(names[name]), dropped)
        return dropped - self.rows.keys()

    def merge(self, other: UnknownRules) -> set[str]:
        """Add `other`'s counts; the names no longer (or never) kept."""
        dropped: set[str] = set()
        for name, n in sorted(other.rows.items()):
            self._add(name, n, other.fired.get(name, 0), dropped)
        self.any += other.any
        return dropped - self.rows.keys()

    def counts(self, name: str) -> bool:
        """Whether a fired rule's name (as `rule_flags` holds it) is counted."""
        return name in KNOWN_RULES or field_name(name) in self.rows

    def to_json(self) -> dict[str, Any]:
        return {"rows": dict(sorted(self.rows.items())),
                "fired": dict(sorted(self.fired.items())), "any": self.any}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> UnknownRules:
        """Saved by `to_json`; none (a state from before the count, 2026-12-06): nothing
        counted, the rows read from then on are."""
        if not data:
            return cls()
        return cls({str(k): int(v) for k, v in data["rows"].items()},
                   {str(k): int(v) for k, v in data["fired"].items()}, int(data["any"]))
