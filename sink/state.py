"""The sink's checkpoint: what is durably in the exports folder, stored beside it.

`.sink-state.json` records the byte length of every file the sink appends to, the next
offset to read per partition and the rollup counters, all as of one instant. It is
replaced atomically after the appended files are fsynced, so on restart anything past the
recorded lengths (a torn or not yet checkpointed tail) is cut off and read again from the
recorded offsets: each row lands exactly once.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.atomic import atomic_write_text, atomic_writer
from shared.errors import AuditstreamError
from shared.exports_folder import STATE_FILE as STATE_FILE
from shared.names import shown
from shared.outputs import open_regular, read_regular
from sink.rollup import RollupParams
from sink.settings import ExportSettings
from sink.volume import SinkRollup

log = logging.getLogger(__name__)

#: Raised when a checkpoint an older release would misread is written (one it cannot
#: continue exactly): an older sink then refuses it as a newer release's (`load`). Fields
#: added that an older release ignores, or a newer one defaults exactly, keep it.
STATE_VERSION = 1
#: Rollup fields a checkpoint has had since the given date that cannot be defaulted once it
#: counted rows: the case book groups rows in stream order, which the day files do not keep,
#: and without the sample its population leaves those rows out. `sink.folder` refuses such
#: a checkpoint (`Checkpoint.missing`); the other fields added since day files are defaulted
#: exactly (docs/sink.md, "Upgrades").
ROLLUP_FIELDS_SINCE = {"case_book": "2026-11-30", "audit_sample": "2026-11-30"}


class SinkStateError(AuditstreamError):
    """The exports folder does not match the sink's checkpoint (or has none where it should)."""


@dataclass
class Checkpoint:
    topic: str
    lengths: dict[str, int]  # file name -> committed byte length
    offsets: dict[int, int]  # partition -> next offset to read
    rollup: SinkRollup
    rejected: int = 0
    created_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: `ROLLUP_FIELDS_SINCE` the stored rollup lacked (an older release's; never saved).
    missing: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "topic": self.topic,
            "lengths": self.lengths,
            "offsets": {str(p): o for p, o in sorted(self.offsets.items())},
            "rejected": self.rejected,
            "created_at": self.created_at,
            "extra": self.extra,
            "rollup": self.rollup.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], sample_key: str = RollupParams.sample_key
                  ) -> Checkpoint:
        if data.get("version") != STATE_VERSION:  # `load` names a newer release's first
            raise ValueError(f"unknown sink state version {data.get('version')!r}")
        return cls(
            topic=str(data["topic"]),
            lengths={_inside(str(k)): _count(v) for k, v in data["lengths"].items()},
            offsets={_count(p): _count(o) for p, o in data["offsets"].items()},
            rollup=_within_settings(SinkRollup.from_json(data["rollup"], sample_key)),
            rejected=int(data.get("rejected", 0)),
            created_at=str(data.get("created_at", "")),
            extra=dict(data.get("extra", {})),
            missing=tuple(k for k in ROLLUP_FIELDS_SINCE if k not in data["rollup"]),
        )


def _inside(name: str) -> str:
    """A file name of the folder as the checkpoint records it (`scored/<day>.csv`); a name
    that could reach outside it (absolute, `..`, a backslash) is a ValueError: the start
    cuts each named file back to its length (`cut_to_checkpoint`)."""
    if "\\" in name or "\0" in name or any(p in ("", ".", "..") for p in name.split("/")):
        raise ValueError(f"{name!r} is no file name inside the folder")
    return name


def _within_settings(rollup: SinkRollup) -> SinkRollup:
    """`rollup`, its params ones `ExportSettings` accepts (`check_restored`), the copies its
    case book and audit sample keep the params' own (the sink made them of the params) and
    its watermarks' quorums within `watermark_customers`' bounds, else a ValueError: a
    `case_days` of 1e12 was an OverflowError traceback once cases aged, 0 or -1 a run on
    values the settings refuse, a `quorum` of 10**9 days that never closed."""
    p = rollup.params
    ExportSettings.check_restored(p.to_json())
    kept = {"case_book top": (rollup.cases.top, p.top_cases),
            "case_book gap_s": (rollup.cases.gap_s, p.case_gap_s),
            "case_book days": (rollup.cases.days, p.case_days),
            "audit_sample per_band": (rollup.sample.per_band, p.sample_per_band)}
    for name, (value, param) in kept.items():
        if value != param:
            raise ValueError(f"{name} {value!r} is not the params' {param!r}")
    # A watermark's quorum may differ from the params' (one restored from a checkpoint of an
    # older release keeps its own), never from what the setting accepts.
    for name, quorum in (("case_book/clock", rollup.cases.clock.quorum),
                         ("first_mark", rollup.first_mark.mark.quorum),
                         ("row_marks", rollup.row_marks.quorum)):
        try:
            ExportSettings.check_restored({"watermark_customers": quorum})
        except ValueError as exc:
            raise ValueError(f"{name} quorum: {exc}") from None
    return rollup


def _count(value: Any) -> int:
    """A length, partition or offset: a whole number, 0 or more (a negative offset is
    Kafka's "end" or "beginning", not a place)."""
    number = int(value)
    if number < 0:
        raise ValueError(f"{value!r} is negative")
    return number


def load(folder: Path, sample_key: str = RollupParams.sample_key) -> Checkpoint | None:
    path = Path(folder) / STATE_FILE
    try:
        raw = read_regular(path)
    except FileNotFoundError:
        return None
    # not UTF-8 (a ValueError), JSON of another shape, or nested past the recursion limit:
    # damaged, not a traceback
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise TypeError(f"a JSON {type(data).__name__}, not an object")
        version = data.get("version")
        if type(version) is int and version > STATE_VERSION:
            raise SinkStateError(
                f"{shown(Path(folder))} was written by a newer auditstream release (sink "
                f"checkpoint version {version}; this release reads version {STATE_VERSION}): "
                "run that release (or a later one) on it; to go back to this one, give it a "
                "new folder (--exports NEW, rebuilt from the topic) and keep this one "
                "(docs/sink.md, \"Upgrades\")")
        return Checkpoint.from_json(data, sample_key)
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError,
            RecursionError) as exc:
        raise SinkStateError(f"{shown(path)} is unreadable ({exc}); move the folder aside") from exc


def save(folder: Path, checkpoint: Checkpoint) -> None:
    # Plain data made by `to_json` (no container twice on a path): the same text without
    # the cycle check's bookkeeping of every list and dict (~15 % of a 3 MB state's dump).
    atomic_write_text(Path(folder) / STATE_FILE,
                      json.dumps(checkpoint.to_json(), check_circular=False))


def cut_to_checkpoint(folder: Path, lengths: dict[str, int]) -> int:
    """Truncate each appended file to its committed length; return the bytes dropped. Each
    must be a regular file at its name (`open_regular`): never one cut through a link. A
    file with another name too (a hard link) is replaced by its committed bytes, not cut in
    place: the other name keeps all of its own."""
    dropped = 0
    for name, length in lengths.items():
        path = Path(folder) / name
        replaced = False
        try:
            fd = open_regular(path, os.O_RDONLY)  # read-only: a closed day may be 0444
        except FileNotFoundError:
            size = 0
        else:
            try:
                st = os.fstat(fd)
                size = st.st_size
                if size > length and st.st_nlink > 1:
                    _replace_by_head(path, fd, length)
                    replaced = True
            finally:
                os.close(fd)
        if size < length:
            raise SinkStateError(
                f"{shown(path)} has {size} bytes but the checkpoint recorded {length}: it was "
                "changed outside the sink; restore it, or start again with --reset"
            )
        if size > length:
            if not replaced:
                with os.fdopen(open_regular(path, os.O_RDWR), "r+b") as fh:
                    fh.truncate(length)
                    os.fsync(fh.fileno())
            log.info("dropped %d uncommitted bytes at the end of %s", size - length, name)
            dropped += size - length
    return dropped


def _replace_by_head(path: Path, fd: int, length: int) -> None:
    """Replace `path` (open as `fd`) atomically by a file of its first `length` bytes (of
    every export's mode, `shared.atomic`)."""
    with atomic_writer(path) as out:
        left = length
        while left:
            chunk = os.pread(fd, min(left, 1 << 20), length - left)
            if not chunk:
                raise SinkStateError(
                    f"{shown(path)} got shorter while it was cut to its checkpoint")
            out.write(chunk)
            left -= len(chunk)
