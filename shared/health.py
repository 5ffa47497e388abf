"""Whether a long-running service is doing its job: the decision of the containers' health
checks (docs/compose.md, "Health checks"), the same for the detector and the sink.

Healthy means all of:

- its loop turned within `beat_s` (not wedged in a call, not stopped);
- it knows how many messages wait for it: the number is unknown when its consumer has had
  no broker connection for `NO_BROKER_S` (the cached partition ends are then stale) or
  before the ends are first known;
- nothing waits (caught up: a quiet topic stays healthy however long it is quiet), or it
  made progress within `stall_s` (not stuck behind a record, nor committing in vain).

Each bound is inclusive: at the bound healthy, one unit over not. Docker wants `retries`
failed checks in a row before it calls a container unhealthy (docker-compose.yml).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

#: How long a consumer may have had no broker connection before what it knows of the
#: partitions' ends counts as unknown (s): librdkafka reconnects within its backoff (10 s
#: at most by default), so this is an outage, not a blip.
NO_BROKER_S = 30.0


@dataclass(frozen=True)
class Signs:
    """What a service's loop last did, as ages at the moment of the check."""

    beat_age_s: float | None  # since its loop last turned; None: it has not yet
    lag: int | None  # messages waiting for it; None: unknown
    stalled_s: float | None  # since it last made progress; None: never


@dataclass(frozen=True)
class Bounds:
    beat_s: float  # the longest a turn of the loop may take
    stall_s: float  # the longest it may make no progress while messages wait


class Verdict(NamedTuple):
    healthy: bool
    reason: str

    def line(self) -> str:
        return f"{'healthy' if self.healthy else 'unhealthy'}: {self.reason}"


def judge(signs: Signs, bounds: Bounds) -> Verdict:
    """Healthy or not, with the reason (see the module doc)."""
    beat, lag, stalled = signs.beat_age_s, signs.lag, signs.stalled_s
    if beat is None:
        return Verdict(False, "its loop has not started (starting, or waiting for the broker)")
    if beat > bounds.beat_s:
        return Verdict(False, f"its loop has not turned for {beat:.0f} s (bound "
                              f"{bounds.beat_s:.0f} s): stuck")
    if lag is None:
        return Verdict(False, "how many messages wait is unknown: no broker connection for "
                              f"{NO_BROKER_S:.0f} s, or the partitions' ends not known yet")
    if lag == 0:
        return Verdict(True, "caught up (0 messages waiting)")
    if stalled is None:
        return Verdict(False, f"{lag:,} messages waiting and no progress made yet")
    if stalled > bounds.stall_s:
        return Verdict(False, f"{lag:,} messages waiting and no progress for {stalled:.0f} s "
                              f"(bound {bounds.stall_s:.0f} s)")
    return Verdict(True, f"{lag:,} messages waiting, progress {stalled:.0f} s ago")
