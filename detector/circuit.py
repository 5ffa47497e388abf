"""The poison-pill circuit: the same input offset failing the process again and again.

Data problems are dead letters; what still fails is a bug (or the environment). When the same
(partition, offset) fails `limit` times in a row, retrying cannot help: the detector stops
with exit code 7 (`PoisonPillError`) and says so once, loudly, instead of crash-looping.

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
from shared.errors import PoisonPillError

log = logging.getLogger("detector")


@dataclass(frozen=True)
class Failure:
    partition: int
    offset: int
    count: int
    error: str


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
            data = json.loads(self.path.read_text())
            return Failure(int(data["partition"]), int(data["offset"]), int(data["count"]),
                           str(data["error"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable failure count %s: %s", self.path, exc)
            return None

    def failed(self, partition: int, offset: int, exc: BaseException) -> Failure:
        """Count a failure at (partition, offset); raise `PoisonPillError` at the limit."""
        error = f"{type(exc).__name__}: {exc}"[:2000]
        last = self.last
        same = last is not None and (last.partition, last.offset) == (partition, offset)
        count = last.count + 1 if same and last is not None else 1
        self.last = Failure(partition, offset, count, error)
        self._save()
        if count >= self.limit:
            log.critical(
                "POISON PILL: partition %d offset %d failed the detector %d times in a row "
                "(%s). This is a bug, not bad data: fix it, or move the group's offset past "
                "the record; then delete %s. Exiting with code 7.",
                partition, offset, count, error, self.path)
            raise PoisonPillError(
                f"partition {partition} offset {offset} failed {count} times in a row: "
                f"{error} (count in {self.path})") from exc
        return self.last

    def progress(self, committed: Mapping[int, int]) -> None:
        """Committed next offsets: clear the count once the failed offset is behind."""
        last = self.last
        if last is None or committed.get(last.partition, -1) <= last.offset:
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
        except OSError as exc:
            log.warning("could not keep the failure count in %s (it will not survive a "
                        "restart): %s", self.path, exc)
