"""How many messages the next consume() may take: a batch bounded by time as well as by count.

A transaction commits after the batch in which it reaches `commit_interval_ms`, so a batch
that takes 500 ms (5,000 messages behind, at ~100 us each) keeps every row of it invisible
for all of that, the oldest waiting longest. The pacer sizes batches from the time the last
ones took per record, so that one takes about `target_s`: behind, the backlog is worked off
in transactions of about that age; the rest stays fetched in the consumer's queue. A detector
that keeps up takes what is there (less than the bound) and is not slowed.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Weight of the newest batch in the per-record time (the rest: the batches before).
NEWEST = 0.5


@dataclass
class BatchPacer:
    """`limit(cap)`: at most `cap`, about `target_s` of work, never under `floor`."""

    target_s: float
    floor: int = 100
    #: Seconds per record of the last batches (a moving average); 0 before the first.
    per_record_s: float = 0.0

    def batch(self, records: int, seconds: float) -> None:
        """Learn from a processed batch of `records` that took `seconds`."""
        if records <= 0 or seconds <= 0:
            return
        cost = seconds / records
        self.per_record_s = (cost if self.per_record_s == 0
                             else NEWEST * cost + (1 - NEWEST) * self.per_record_s)

    def limit(self, cap: int) -> int:
        """Messages the next consume may take (`cap`: the count bound, `batch_size` or less
        after failures)."""
        if self.per_record_s == 0:
            return cap
        return max(min(self.floor, cap), min(cap, int(self.target_s / self.per_record_s)))
