"""Offline scoring: the streaming detector's exact result, computed from rows in event order.

Rows are routed to partitions the way the producer keys them (Kafka's murmur2 on
`customer_id`) and fed to one `PartitionEngine` per partition in that order, so
`source_partition`/`source_offset` and every verdict are what a streaming run over a topic of
`partitions` partitions produces. `score_batches` takes any iterable already in stable
event-time order and yields the scored rows batch by batch, in the same order, so a caller
that streams its input never holds more than one batch; `verdict_batches` yields each
batch's inputs and verdicts instead, for a caller that formats them without a scored row
object each (`auditstream score`); `score_transactions` is `score_batches` over a list,
sorted here.

The engine's result does not depend on how its rows are cut into calls (the streaming
detector gets whatever batches Kafka gives): a batch here is `BATCH` rows of the stream,
each partition's engine called once with its share of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from operator import attrgetter
from typing import Any

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine, scored_row
from detector.core.verdict import scored_fields
from shared.partitioning import partition_for
from shared.schemas import ScoredTransaction, Transaction

#: Rows of the stream scored per step (large batches amortise the model call).
BATCH = 8192


def score_batches(
    rows: Iterable[Transaction], config: CoreConfig, partitions: int = 1,
    batch: int | None = None,
) -> Iterator[list[ScoredTransaction]]:
    """Score `rows` (in stable event-time order); yield one scored list per `batch` rows
    (default `BATCH`), row for row in the same order."""
    for chunk, verdicts in verdict_batches(rows, config, partitions, batch):
        yield [scored_row(scored_fields(tx, v)) for tx, v in zip(chunk, verdicts, strict=True)]


def verdict_batches(
    rows: Iterable[Transaction], config: CoreConfig, partitions: int = 1,
    batch: int | None = None,
) -> Iterator[tuple[list[Transaction], list[Any]]]:
    """`score_batches` without making the scored rows: each batch's inputs and their
    `Verdict`s (`detector.core.verdict`), in the same order (`auditstream score` formats
    its cells from both)."""
    batch = BATCH if batch is None else batch
    if partitions < 1:
        raise ValueError("partitions must be >= 1")
    if batch < 1:
        raise ValueError("batch must be >= 1")
    # An engine per partition that gets rows, made at its first: one that never gets any
    # outputs nothing, and a million partitions must not mean a million engines.
    engines: dict[int, PartitionEngine] = {}
    it = iter(rows)
    while chunk := list(islice(it, batch)):
        yield chunk, _verdicts(chunk, engines, partitions, config)


def _engine(engines: dict[int, PartitionEngine], p: int, config: CoreConfig
            ) -> PartitionEngine:
    engine = engines.get(p)
    if engine is None:
        engine = engines[p] = PartitionEngine(config, partition=p)
    return engine


def _verdicts(
    chunk: list[Transaction], engines: dict[int, PartitionEngine], partitions: int,
    config: CoreConfig,
) -> list[Any]:
    if partitions == 1:
        return _engine(engines, 0, config).verdicts(chunk)
    routes: dict[int, list[int]] = {}
    for i, tx in enumerate(chunk):
        routes.setdefault(partition_for(tx.customer_id, partitions), []).append(i)
    out: list[Any] = [None] * len(chunk)
    for p in sorted(routes):  # partition order, as before engines were made on demand
        indices = routes[p]
        verdicts = _engine(engines, p, config).verdicts([chunk[i] for i in indices])
        for i, verdict in zip(indices, verdicts, strict=True):
            out[i] = verdict
    return out  # every slot filled: routes cover the chunk


def score_transactions(
    txs: Sequence[Transaction], config: CoreConfig, partitions: int = 1,
) -> list[ScoredTransaction]:
    """Score `txs`; the result is in stable timestamp order, one row per input."""
    ordered = sorted(txs, key=attrgetter("timestamp"))
    return [row for rows in score_batches(ordered, config, partitions) for row in rows]
