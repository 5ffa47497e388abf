"""The poison-pill circuit: the same input offset failing the process again and again.

Data problems are dead letters; what still fails is a bug (or the environment). When the same
(partition, offset) fails `limit` times in a row, retrying cannot help: the detector stops
with exit code 7 (`PoisonPillError`) and says so once, loudly, instead of crash-looping.

A failure of the transaction itself (`send_offsets`, `commit`: no record being handled) is
not any record's: it is counted apart, at the transaction's first uncommitted offset for the
message, and any commit that succeeds clears it. So only commits failing again and again with
none succeeding in between stop the process (a fault in the commit path, or the environment);
transient ones that strike twice while one partition waits on its commit do not add up at its
committed offset, the one position every retry and every restart starts from.

The count lives in a small JSON file (`<state_dir>/<transactional_id>.failures.json`), so it
survives the process: failures that end the process count as well as those the detector
survives in place. A commit past the failed offset clears it. Writing is best effort (a
read-only state dir only loses the count across restarts, with a warning). Hard crashes
(SIGKILL, a segfault, the watchdog's exit) write nothing, so they are not counted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shared.atomic import atomic_write_text
from shared.errors import PoisonPillError, UsageError
from shared.outputs import open_text

log = logging.getLogger("detector")


@dataclass(frozen=True)
class Failure:
    partition: int
    offset: int
    count: int
    error: str
    #: False for a failure of the transaction (no record being handled): see the module doc.
    record: bool = True


class FailureCircuit:
    """Counts consecutive failures at one input position; trips at `limit`."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self.limit = limit
        self.last = self._load()
        if self.last is not None:
            log.warning("earlier runs failed %d time(s) in a row at partition %d offset %d: %s",
                        self.last.count, self.last.partition, self.last.offset,
                        self.last.error)

    def _load(self) -> Failure | None:
        try:
            with open_text(self.path, "utf-8") as fh:  # a FIFO there waited for ever
                data = json.load(fh)
            record = data.get("record", True)  # files written before 2026-12-05: records
            if not isinstance(record, bool):
                raise TypeError(f"record is {record!r}")
            return Failure(int(data["partition"]), int(data["offset"]), int(data["count"]),
                           str(data["error"]), record)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, UsageError) as exc:
            log.warning("ignoring unreadable failure count %s: %s", self.path, exc)
            return None

    def failed(self, partition: int, offset: int, exc: BaseException,
               record: bool = True) -> Failure:
        """Count a failure at (partition, offset), of the record there or (`record` False) of
        the transaction starting there; raise `PoisonPillError` at the limit."""
        error = f"{type(exc).__name__}: {exc}"[:2000]
        last = self.last
        if last is None or last.record != record:
            same = False
        else:  # a transaction's failures add up until a commit succeeds, wherever they start
            same = not record or (last.partition, last.offset) == (partition, offset)
        count = last.count + 1 if same and last is not None else 1
        self.last = Failure(partition, offset, count, error, record)
        self._save()
        what = (f"partition {partition} offset {offset}" if record else
                f"the commit (partition {partition} from offset {offset})")
        if 1 < count < self.limit:
            log.warning("%s has failed %d times in a row (exit 7 at %d): %s", what, count,
                        self.limit, error)
        if count >= self.limit:
            advice = ("This is a bug, not bad data: fix it, or move the group's offset past "
                      "the record" if record else "No commit succeeded in between: a bug in "
                      "the commit path or the cluster refusing it; fix that")
            log.critical("POISON PILL: %s failed the detector %d times in a row (%s). %s; "
                         "then delete %s. Exiting with code 7.", what, count, error, advice,
                         self.path)
            raise PoisonPillError(
                f"{what} failed {count} times in a row: {error} (count in {self.path})"
            ) from exc
        return self.last

    def progress(self, committed: Mapping[int, int]) -> None:
        """After a commit, with each partition's committed next offset: clear the count of a
        transaction's failure, or of a record's once it is behind."""
        last = self.last
        if last is None or (last.record and committed.get(last.partition, -1) <= last.offset):
            return
        self.last = None
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not clear %s: %s", self.path, exc)

    def _save(self) -> None:
        last = self.last
        assert last is not None
        try:
            # Its own temporary file (shared.atomic), not one fixed name: two processes of one
            # transactional id (one host name, until one is fenced) never move each other's
            # half-written file into place, nor fail the rename for the file the other took.
            atomic_write_text(self.path, json.dumps(last.__dict__))
        except (OSError, UsageError) as exc:  # UsageError: a FIFO or device at the name
            log.warning("could not keep the failure count in %s (it will not survive a "
                        "restart): %s", self.path, exc)
