"""Hand-written fakes for the detector's unit tests (no Kafka, no detection core)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from detector.loop import Record
from shared.codec import encode
from shared.schemas import ScoredTransaction, Transaction


class CountingEngine:
    """Scores each transaction by how many its customer had before (deterministic state)."""

    def __init__(self, counts: dict[str, int] | None = None) -> None:
        self.counts: dict[str, int] = dict(counts or {})

    def process(self, txs: Sequence[Transaction]) -> list[ScoredTransaction]:
        out = []
        for tx in txs:
            n = self.counts.get(tx.customer_id, 0)
            self.counts[tx.customer_id] = n + 1
            out.append(ScoredTransaction(**tx.model_dump(), score=min(1.0, n / 10),
                                         model_version=f"fake-{sum(self.counts.values()) // 5}"))
        return out

    def snapshot(self) -> bytes:
        return json.dumps(self.counts, sort_keys=True).encode()

    @classmethod
    def restore(cls, data: bytes) -> CountingEngine:
        return cls(json.loads(data))


class CountingFactory:
    def new(self, partition: int) -> CountingEngine:
        return CountingEngine()

    def restore(self, data: bytes) -> CountingEngine:
        return CountingEngine.restore(data)


@dataclass
class FakeMessage:
    _partition: int
    _offset: int
    _value: bytes | None
    _key: bytes | None = b"k"
    _topic: str = "transactions"

    def topic(self) -> str | None:
        return self._topic

    def partition(self) -> int | None:
        return self._partition

    def offset(self) -> int | None:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value


@dataclass
class RecordingOutput:
    scored_rows: list[tuple[bytes, bytes]] = field(default_factory=list)
    dead_letters: list[tuple[Record, list[tuple[str, bytes]]]] = field(default_factory=list)
    snapshots: list[tuple[int, int, bytes]] = field(default_factory=list)

    def scored(self, key: bytes, value: bytes) -> None:
        self.scored_rows.append((key, value))

    def dead(self, record: Record, headers: list[tuple[str, bytes]]) -> None:
        self.dead_letters.append((record, headers))

    def snapshot(self, partition: int, next_offset: int, data: bytes) -> None:
        self.snapshots.append((partition, next_offset, data))


def tx(i: int, customer: str | None = None) -> Transaction:
    return Transaction(
        transaction_id=str(i), customer_id=customer or str(i % 7),
        timestamp=datetime(2025, 1, 1) + timedelta(minutes=i), amount=10.0 + i,
        country="CH", channel="app", device="pc", merchant_category="grocery",
    )


def messages(partition: int, start: int, txs: Sequence[Transaction]) -> list[FakeMessage]:
    return [FakeMessage(partition, start + i, encode(t)) for i, t in enumerate(txs)]
