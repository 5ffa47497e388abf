"""`python -m detector` with timestamps of each loop turn, commit and checkpoint written to a
file (`LATENCY_TRACE`), for `latency_bench.py --trace`: where a row's latency goes.

Times are `time.monotonic()` (CLOCK_MONOTONIC: one clock for every process of the machine,
so the bench's produce and read times compare with these). One JSON line per event:

    {"turn": [consume called, consume returned, processed], "parts": {p: [first, last]}, "n": N}
    {"commit": [start, end]}
    {"snapshot": [start, end], "p": partition}

The detector's code is not changed: its methods are wrapped here.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector import app, loop
from detector.__main__ import main

_out = Path(os.environ["LATENCY_TRACE"]).open("ab")  # noqa: SIM115  (open for the run)


def _write(event: dict[str, Any]) -> None:
    _out.write(orjson.dumps(event) + b"\n")
    _out.flush()


_consume_called = [0.0]
_turn = app.Detector._turn
_commit = app.Detector._commit
_snapshot = loop.BatchProcessor.take_snapshot
_run = app.Detector.run


def _traced_turn(self: app.Detector, records: list[Any]) -> None:
    got = time.monotonic()
    parts: dict[int, list[int]] = {}
    for m in records:
        p, off = m.partition(), m.offset()
        span = parts.get(p)
        if span is None:
            parts[p] = [off, off]
        else:
            span[0], span[1] = min(span[0], off), max(span[1], off)
    commits_before = self.metrics._window.commits
    _turn(self, records)
    done = time.monotonic()
    if records:
        _write({"turn": [_consume_called[0], got, done], "n": len(records),
                "parts": {str(p): span for p, span in parts.items()},
                "committed_in_turn": self.metrics._window.commits != commits_before})
    _consume_called[0] = time.monotonic()


def _traced_commit(self: app.Detector) -> bool:
    start = time.monotonic()
    ok = _commit(self)
    _write({"commit": [start, time.monotonic()], "ok": ok})
    return ok


def _traced_snapshot(self: loop.BatchProcessor, p: int, state: Any) -> None:
    start = time.monotonic()
    _snapshot(self, p, state)
    _write({"snapshot": [start, time.monotonic()], "p": p})


app.Detector._turn = _traced_turn  # type: ignore[method-assign]
app.Detector._commit = _traced_commit  # type: ignore[method-assign]
loop.BatchProcessor.take_snapshot = _traced_snapshot  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
