"""Volume counts for report.html, kept beside the rollup counters and fed the same rows.

The report redraws its charts for any grid threshold without shipping every row, so rows
are reduced to counts keyed by (dimension value, rule flag, label, model_score bin) per
dimension (day, channel, anomaly_type). The bin is the rollup's own `score_bin` of the
Isolation Forest's `model_score` (102 bins: 0 = no model score yet, k+1 = `k/100 <=
model_score < (k+1)/100`), so the page's "ML-flagged at k/100" (`bin > k`) and "hybrid"
(that or a rule) are exactly thresholds.csv's `ml_*` and `hybrid_*` columns. An empty
anomaly type is the rollup's `UNSPECIFIED_TYPE`. Counts are bounded by
(days + channels + types) x 2 x 3 x 102.

`VolumeCounts` reads only formatted cells (`SCORED_COLUMNS` order), so the streaming sink,
`score` and day files read back all count with one function.
`SinkRollup` is `RollupState` plus these counts: every place that updates, merges,
checkpoints or restores the rollup carries them along, with no change to the rollup itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from shared.columns import SCORED_INDEX
from sink.bins import score_bins
from sink.rollup import UNSPECIFIED_TYPE, Facts, RollupParams, RollupState

DIMENSIONS = ("day", "channel", "anomaly_type")
#: One cube row: [dimension value, rule flag 0/1, label 1/0/-1 (unknown), bin 0..101, count].
CubeRow = tuple[str, int, int, int, int]
Key = tuple[str, int, int, int]

_TIME = SCORED_INDEX["timestamp"]
_CHANNEL = SCORED_INDEX["channel"]
_TYPE = SCORED_INDEX["anomaly_type"]
_LABEL = SCORED_INDEX["is_anomaly"]
_SCORE = SCORED_INDEX["model_score"]
_RULE = SCORED_INDEX["is_rule_flag"]
_LABELS = {"True": 1, "False": 0}


class VolumeCounts:
    """Counts per dimension of (value, rule flag, label, model_score bin)."""

    def __init__(self) -> None:
        self.rows = 0
        self.counts: dict[str, dict[Key, int]] = {dim: {} for dim in DIMENSIONS}

    def update(self, cells: Iterable[Sequence[str]]) -> None:
        rows = cells if isinstance(cells, list) else list(cells)
        if not rows:
            return
        labels = _LABELS
        rules = [1 if row[_RULE] == "True" else 0 for row in rows]
        marks = [labels.get(row[_LABEL], -1) for row in rows]
        bins = score_bins([float(row[_SCORE]) if row[_SCORE] else None for row in rows]
                          ).tolist()
        for dim, values in (("day", [row[_TIME][:10] for row in rows]),
                            ("channel", [row[_CHANNEL] for row in rows]),
                            ("anomaly_type", [row[_TYPE] or UNSPECIFIED_TYPE for row in rows])):
            counts = self.counts[dim]
            for key, n in Counter(zip(values, rules, marks, bins, strict=True)).items():
                counts[key] = counts.get(key, 0) + n
        self.rows += len(rows)

    def merge(self, other: VolumeCounts) -> None:
        self.rows += other.rows
        for dim, theirs in other.counts.items():
            mine = self.counts[dim]
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n

    def cubes(self) -> dict[str, list[CubeRow]]:
        """Each dimension's rows, sorted (what report.html embeds)."""
        return {dim: [(*key, n) for key, n in sorted(counts.items())]
                for dim, counts in self.counts.items()}

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "cubes": {k: [list(r) for r in v]
                                             for k, v in self.cubes().items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VolumeCounts:
        vol = cls()
        vol.rows = int(data["rows"])
        for dim, rows in data["cubes"].items():
            vol.counts[dim] = {(str(v), int(r), int(lab), int(b)): int(n)
                               for v, r, lab, b, n in rows}
        return vol


class SinkRollup(RollupState):
    """The rollup counters plus the report's volume counts."""

    def __init__(self, params: RollupParams | int | None = None) -> None:
        super().__init__(params)
        self.volume = VolumeCounts()

    def update(self, facts: Sequence[Facts], cells: Sequence[list[str]]) -> None:
        super().update(facts, cells)
        self.volume.update(cells)

    def merge(self, other: RollupState) -> None:
        if not isinstance(other, SinkRollup):  # its rows would be missing from the report
            raise TypeError(f"cannot merge a {type(other).__name__} into a SinkRollup")
        super().merge(other)
        self.volume.merge(other.volume)

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "volume": self.volume.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any],
                  sample_key: str = RollupParams.sample_key) -> SinkRollup:
        state = super().from_json(data, sample_key)
        assert isinstance(state, SinkRollup)
        if "volume" in data:
            state.volume = VolumeCounts.from_json(data["volume"])
        return state
