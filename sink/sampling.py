"""Audit sample: per event day and amount band, a deterministic sample of non-flagged rows.

A row's draw is a keyed hash of its transaction id (BLAKE2b, 64 bits, keyed with
`EXPORTS_SAMPLE_KEY`); each stratum (day, amount band) keeps the `per_band` rows with the
smallest draws (bottom-k sampling). The sample is therefore a uniform random sample
without replacement of the stratum's non-flagged rows, and the same whatever the order,
the batch cuts, a restart or a second sink: the bottom-k of a union is the bottom-k of the
parts' bottom-ks, so `merge` is exact. Until a day ends a row can still be displaced by a
later one with a smaller draw; a review of a displaced row is kept (it is still a random
draw of its stratum, `sink.assurance`). The key keeps the sample unpredictable to whoever
knows the ids but not the key: set a secret one in production.

Each stratum also counts its non-flagged rows (`population`), the weights of the miss-rate
estimate. State: days x bands x per_band rows, independent of the row count.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right, insort
from collections.abc import Sequence
from typing import Any

import numpy as np

from shared.columns import SCORED_INDEX

#: Amount bands (lower edges; a refund, amount < 0, is its own band).
BAND_EDGES: tuple[float, ...] = (0.0, 50.0, 200.0, 1000.0)
BAND_NAMES: tuple[str, ...] = ("refund", "0-50", "50-200", "200-1000", "1000+")
_BAND_EDGES = np.array(BAND_EDGES, dtype=np.float64)

_TX = SCORED_INDEX["transaction_id"]
_CUSTOMER = SCORED_INDEX["customer_id"]
_TS = SCORED_INDEX["timestamp"]
_AMOUNT = SCORED_INDEX["amount"]
_SCORE = SCORED_INDEX["score"]
_MODEL = SCORED_INDEX["model_score"]
_LABEL = SCORED_INDEX["is_anomaly"]

#: One sampled row: draw, transaction id, customer, timestamp, amount, score, model_score,
#: label cell.
Sampled = list[Any]


def band_of(amount: float) -> str:
    return BAND_NAMES[bisect_right(BAND_EDGES, amount)]


def keyed(key: bytes) -> Any:
    """A keyed 64-bit BLAKE2b with the key absorbed (it compresses the key as a block of its
    own): `draw` copies it for each row, ~510 ns a row against ~680 keying one each time."""
    return hashlib.blake2b(key=key, digest_size=8)


def draw(start: Any, transaction_id: str) -> int:
    """The row's keyed 64-bit draw, from `keyed(key)`."""
    h = start.copy()
    h.update(transaction_id.encode())
    return int.from_bytes(h.digest(), "big")


class AuditSample:
    """Bottom-k per (day, band) of non-flagged rows, with each stratum's population."""

    def __init__(self, per_band: int = 10, key: str = "auditstream-audit-sample") -> None:
        self.per_band = per_band
        self._key = hashlib.blake2b(key.encode(), digest_size=32).digest()
        self._start = keyed(self._key)
        self.strata: dict[str, list[Sampled]] = {}  # "day|band" -> rows by draw
        self.population: dict[str, int] = {}

    def offer_rows(self, rows: Sequence[list[str]]) -> None:
        """`offer` each row in order (one call for a batch: the same state)."""
        if not rows:
            return
        amounts = np.array([float(c[_AMOUNT]) if c[_AMOUNT] else 0.0 for c in rows])
        bands = np.searchsorted(_BAND_EDGES, amounts, side="right").tolist()  # `band_of`
        population, strata, per_band = self.population, self.strata, self.per_band
        start = self._start
        for cells, band in zip(rows, bands, strict=True):
            stratum = f"{cells[_TS][:10]}|{BAND_NAMES[band]}"
            population[stratum] = population.get(stratum, 0) + 1
            kept = strata.get(stratum)
            if kept is None:
                kept = strata[stratum] = []
            d = draw(start, cells[_TX])
            if len(kept) >= per_band and d >= kept[-1][0]:
                continue
            row = [d, cells[_TX], cells[_CUSTOMER], cells[_TS], cells[_AMOUNT], cells[_SCORE],
                   cells[_MODEL], cells[_LABEL]]
            if row[:2] not in (r[:2] for r in kept):  # a replayed id is sampled once
                insort(kept, row)
                del kept[per_band:]

    def offer(self, cells: list[str]) -> None:
        self.offer_rows([cells])

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (a sink worker's rollup goes back to the sink) without the hash state,
        which does not pickle; `__setstate__` makes it again from the key."""
        return {k: v for k, v in self.__dict__.items() if k != "_start"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._start = keyed(self._key)

    @property
    def key_id(self) -> str:
        """A fingerprint of the key (the checkpoint never holds the key itself)."""
        return hashlib.sha256(self._key).hexdigest()[:16]

    def merge(self, other: AuditSample) -> None:
        for stratum, n in other.population.items():
            self.population[stratum] = self.population.get(stratum, 0) + n
        for stratum, rows in other.strata.items():
            kept = self.strata.setdefault(stratum, [])
            for row in rows:
                if row[:2] not in (r[:2] for r in kept):
                    insort(kept, list(row))
            del kept[self.per_band:]

    def rows(self) -> list[tuple[str, str, int, Sampled]]:
        """(day, band, rank in stratum from 1, row) for every sampled row, by day and band."""
        order = {name: i for i, name in enumerate(BAND_NAMES)}
        keys = sorted(self.strata, key=lambda s: (s.split("|")[0], order[s.split("|")[1]]))
        out = []
        for stratum in keys:
            day, band = stratum.split("|")
            out += [(day, band, i, row) for i, row in enumerate(self.strata[stratum], start=1)]
        return out

    def to_json(self) -> dict[str, Any]:
        return {"per_band": self.per_band, "key_id": self.key_id,
                "strata": {k: v for k, v in sorted(self.strata.items())},
                "population": dict(sorted(self.population.items()))}

    @classmethod
    def from_json(cls, data: dict[str, Any], key: str) -> AuditSample:
        sample = cls(int(data["per_band"]), key)
        if data.get("key_id") != sample.key_id:
            raise ValueError("the audit sample was drawn with another EXPORTS_SAMPLE_KEY")
        sample.strata = {str(k): [list(r) for r in v] for k, v in data["strata"].items()}
        sample.population = {str(k): int(v) for k, v in data["population"].items()}
        return sample
