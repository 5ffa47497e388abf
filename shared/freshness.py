"""How current status.csv's row is, read at a known time: the one staleness every reader uses.

The sink rewrites status.csv at least every `STALE_S / BEATS_WITHIN` seconds while its loop
turns (`beat_every`), so a row whose `heartbeat_at` is more than `STALE_S` older than the
moment it is read was left by a sink that is stuck, or was killed (kill -9, a crash, a host
gone): its lag and minutes behind are what they were then, not now. Each reader that knows
when it reads compares with its own time: the health check (`sink.health`), report.html at
its generation (`dashboard.report`) and the dashboard at its refresh (the status table's
`read_at`, `dashboard.measures`' "Data As Of", built from `STALE_S`). The bound is inclusive:
at `STALE_S` the row still holds, one second over it does not. A heartbeat more than `STALE_S`
ahead of the reader's clock vouches for nothing either (`ahead_by`): the two clocks disagree
(the sink's host ahead, or the reader's behind), so its age is unknown, and a sink killed on
a host an hour ahead would otherwise show its last lag as current for that hour. A time with
a zone (`...Z`, `...+02:00`) is read as its UTC time (`utc`).

A row a batch run wrote (`source` is `shared.columns.SOURCE_SCORE`: `auditstream score`)
follows no stream and had no sink: it says when the run scored ("scored by a batch run at
T (no live stream)"), never "sink stopped" nor "sink not heard from", however old.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime

from shared.columns import SOURCE_SCORE

#: The longest a heartbeat vouches for its row (s): a checkpoint or a refresh of a large
#: folder may hold the sink's loop (sink.app's PACE) for a while between two beats.
STALE_S = 120
#: Beats within `STALE_S` at the least, whatever the rollup interval.
BEATS_WITHIN = 3


def beat_every(rollup_interval_s: float) -> float:
    """Seconds between the sink's heartbeats: its rollup interval (1 s at the least), but
    never so long that `STALE_S` passes with fewer than `BEATS_WITHIN` beats."""
    return min(max(rollup_interval_s, 1.0), STALE_S / BEATS_WITHIN)


def utc(value: str) -> datetime:
    """ISO text as a naive UTC time (as the sink writes them; one with a zone is converted,
    so it is never compared with a naive one: a TypeError). ValueError when not ISO."""
    t = datetime.fromisoformat(value)
    try:
        return t if t.tzinfo is None else t.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:  # year 9999 west of Greenwich, or year 1 east of it
        raise ValueError(f"{value} is off the calendar in UTC") from None


def _age(heartbeat_at: str, now: datetime) -> float:
    # whole seconds, as DATEDIFF
    return (now.replace(microsecond=0) - utc(heartbeat_at).replace(microsecond=0)).total_seconds()


def silent_for(heartbeat_at: str, now: datetime) -> float | None:
    """Seconds since `heartbeat_at` (ISO text; `now` naive UTC) when that is more than
    `STALE_S`; None while it vouches for its row, or when there is none (a sink starting).
    ValueError when it is not an ISO time."""
    if not heartbeat_at:
        return None
    age = _age(heartbeat_at, now)
    return age if age > STALE_S else None


def ahead_by(heartbeat_at: str, now: datetime) -> float | None:
    """Seconds `heartbeat_at` is ahead of `now` when that is more than `STALE_S` (the clocks
    disagree: its age is unknown); None otherwise."""
    if not heartbeat_at:
        return None
    ahead = -_age(heartbeat_at, now)
    return ahead if ahead > STALE_S else None


def _minute(value: str) -> str:
    return utc(value).strftime("%Y-%m-%d %H:%M")


def _whole(value: str) -> int:
    number = float(value)
    if not math.isfinite(number):  # int() of it was an OverflowError, not a ValueError
        raise ValueError(f"{value!r} is no finite number")
    return int(number)


def batch_run(row: Mapping[str, str]) -> bool:
    """Whether status.csv's `row` is a batch run's (`auditstream score`), not a sink's."""
    return (row.get("source") or "") == SOURCE_SCORE


def describe(row: Mapping[str, str], now: datetime) -> str:
    """The freshness sentence of a status.csv `row` read at `now`, as the dashboard's card
    says it ("data as of ..., N minutes behind the stream"); ValueError for a time that is
    not ISO text."""
    asof = row.get("data_as_of") or ""
    if not asof:
        return "no data yet"
    stopped, beat = row.get("stopped_at") or "", row.get("heartbeat_at") or ""
    behind = row.get("minutes_behind") or ""
    if batch_run(row):
        at = stopped or beat  # the end of its run (score's `stopped_at`)
        how = f"scored by a batch run{f' at {_minute(at)}' if at else ''} (no live stream)"
    elif stopped:
        how = f"sink stopped {_minute(stopped)}, lag unknown since"
    elif silent_for(beat, now) is not None:
        how = f"sink not heard from since {_minute(beat)}"
    elif ahead_by(beat, now) is not None:
        how = f"heartbeat {_minute(beat)} ahead of the reader's clock, lag unknown"
    elif not beat or not behind:
        how = "lag unknown"
    else:
        how = f"{_whole(behind)} minutes behind the stream"
    return f"data as of {_minute(asof)}, {how}"
