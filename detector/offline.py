"""Offline scoring: the streaming detector's exact result, computed from a list in memory.

Transactions are stably sorted by event time, routed to partitions the way the producer
keys them (Kafka's murmur2 on `customer_id`), and fed to one `PartitionEngine` per
partition in that order, so `source_partition`/`source_offset` and every verdict are what
a streaming run over a topic of `partitions` partitions produces.

Partitions are independent, so a large run with several partitions is spread over the
machine's cores: forked worker processes score whole partitions and send back only the
verdict fields, which are joined to the inputs here in input order (the same rows, byte for
byte, as scoring them one after another).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine, scored_row
from shared import forkpool
from shared.columns import VERDICT_FIELDS as VERDICT_FIELDS  # a worker sends back, in order
from shared.partitioning import partition_for
from shared.schemas import ScoredTransaction, Transaction

#: Rows handed to an engine per call (large batches amortise the model call).
BATCH = 8192
#: Below this many rows worker processes cost more than they save.
PARALLEL_MIN_ROWS = 20_000
#: Called with the output list and how many of its first rows are final.
Progress = Callable[[list[ScoredTransaction | None], int], None]
#: What forked workers inherit (`forkpool.current_job()`): ordered transactions, routes, config.
Job = tuple[list[Transaction], list[list[int]], CoreConfig]


def score_transactions(
    txs: Sequence[Transaction], config: CoreConfig, partitions: int = 1,
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[ScoredTransaction]:
    """Score `txs`; the result is in stable timestamp order, one row per input.

    `workers`: processes to use (default: the usable cores, when there are several
    partitions and at least `PARALLEL_MIN_ROWS` rows); 1 scores in this process only.
    `progress(out, n)`, with one partition, is called whenever the first `n` rows of the
    list `out` (which becomes the result) are final, so their export can start.
    """
    if partitions < 1:
        raise ValueError("partitions must be >= 1")
    ordered = sorted(txs, key=attrgetter("timestamp"))
    routes: list[list[int]] = [[] for _ in range(partitions)]
    for i, tx in enumerate(ordered):
        routes[partition_for(tx.customer_id, partitions) if partitions > 1 else 0].append(i)
    out: list[ScoredTransaction | None] = [None] * len(ordered)
    # Millions of small live objects make the cyclic GC rescan the heap again and again;
    # nothing here makes cycles, so it is paused for the run (about 1/3 of the time).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    if workers is None:
        workers = forkpool.usable_cores() if len(ordered) >= PARALLEL_MIN_ROWS else 1
    groups = _groups(routes, workers)
    try:
        if len(groups) > 1 and forkpool.can_fork():
            _run_parallel(ordered, routes, config, out, groups)
        else:
            _run(ordered, routes, config, out, progress if partitions == 1 else None)
    finally:
        if gc_was_enabled:
            gc.enable()
    return [row for row in out if row is not None]


def _run(
    ordered: list[Transaction],
    routes: list[list[int]],
    config: CoreConfig,
    out: list[ScoredTransaction | None],
    progress: Progress | None = None,
) -> None:
    for p, indices in enumerate(routes):
        engine = PartitionEngine(config, partition=p)
        for lo in range(0, len(indices), BATCH):
            chunk = indices[lo : lo + BATCH]
            for i, row in zip(chunk, engine.process([ordered[i] for i in chunk]), strict=True):
                out[i] = row
            if progress is not None:
                progress(out, lo + len(chunk))


def _groups(routes: list[list[int]], workers: int) -> list[list[int]]:
    """Partitions split into at most `workers` groups of similar row counts (largest first
    into the lightest group); empty partitions and empty groups left out."""
    bins: list[tuple[int, list[int]]] = [(0, []) for _ in range(max(1, workers))]
    for p in sorted(range(len(routes)), key=lambda q: -len(routes[q])):
        if routes[p]:
            k = min(range(len(bins)), key=lambda b: bins[b][0])
            bins[k] = (bins[k][0] + len(routes[p]), [*bins[k][1], p])
    return [group for _, group in bins if group]


def _verdicts(group: list[int]) -> list[tuple[int, list[tuple[Any, ...]]]]:
    """Worker: score the group's partitions; per partition, each row's verdict fields."""
    job: Job = forkpool.current_job()
    ordered, routes, config = job
    result = []
    for p in group:
        engine = PartitionEngine(config, partition=p)
        indices = routes[p]
        rows: list[tuple[Any, ...]] = []
        for lo in range(0, len(indices), BATCH):
            chunk = [ordered[i] for i in indices[lo : lo + BATCH]]
            for row in engine.process(chunk):
                d = row.__dict__
                rows.append(tuple(d[f] for f in VERDICT_FIELDS))
        result.append((p, rows))
    return result


def _run_parallel(
    ordered: list[Transaction],
    routes: list[list[int]],
    config: CoreConfig,
    out: list[ScoredTransaction | None],
    groups: list[list[int]],
) -> None:
    """Forked workers score every group but the first, this process the first."""
    job: Job = (ordered, routes, config)
    with forkpool.pool(job, len(groups) - 1) as pool:
        pending = pool.map_async(_verdicts, groups[1:], chunksize=1)
        _run(ordered, [routes[p] if p in groups[0] else [] for p in range(len(routes))],
             config, out)
        for part in pending.get():
            for p, rows in part:
                for i, values in zip(routes[p], rows, strict=True):
                    data = dict(ordered[i].__dict__)
                    data.update(zip(VERDICT_FIELDS, values, strict=True))
                    out[i] = scored_row(data)
