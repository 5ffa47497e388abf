"""`replay`: historic CSV files -> `transactions`, in stable timestamp order, keyed by customer.

Every file's header is checked before anything is read; every row is parsed before anything
is sent, so `--strict` fails without sending and the order is global across files. Bad
rows go to `<name>.rejects.csv` beside each input (line, reason, raw cells, each cell made
safe for Excel).
"""

from __future__ import annotations

import csv
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import TextIO

from producer.app import PublishReport, Record, dict_to_record, publish
from producer.pacing import Pacer, Progress
from producer.settings import ProducerSettings
from shared.csv_io import RowError, iter_records
from shared.errors import AuditstreamError

log = logging.getLogger(__name__)

EXIT_OK, EXIT_REJECTS, EXIT_FATAL, EXIT_UNDELIVERED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ReplayError(AuditstreamError):
    """A replay that must not send anything (bad rows under `--strict`)."""


def neutralise(cell: str) -> str:
    """Prefix `'` to a cell a spreadsheet would run as a formula."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def rejects_path(source: Path, rejects_dir: Path | None = None) -> Path:
    """`<name>.rejects.csv` beside `source` (or in `rejects_dir`)."""
    return (rejects_dir or source.parent) / f"{source.stem}.rejects.csv"


def write_rejects(errors: Sequence[RowError], path: Path) -> Path:
    """Write `line, reason, <raw columns...>` atomically, every cell neutralised."""
    columns: dict[str, None] = {}
    for err in errors:
        columns.update(dict.fromkeys(err.raw))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["line", "reason", *(neutralise(c) for c in columns)])
            for err in errors:
                cells = [err.raw.get(c, "") for c in columns]
                writer.writerow([err.line, neutralise(err.reason), *map(neutralise, cells)])
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; people open this file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@dataclass
class Loaded:
    records: list[Record]
    rejects: dict[Path, list[RowError]] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return sum(len(v) for v in self.rejects.values())


def load(paths: Sequence[Path]) -> Loaded:
    """Parse every file (headers first) into records in stable timestamp order."""
    iterators = [(Path(p), iter_records(Path(p))) for p in paths]
    loaded = Loaded(records=[])
    append = loaded.records.append
    for path, items in iterators:
        bad: list[RowError] = []
        for item in items:
            if isinstance(item, RowError):
                bad.append(item)
            else:
                append(dict_to_record(item[1]))
        if bad:
            loaded.rejects[path] = bad
    loaded.records.sort(key=itemgetter(0))
    return loaded


@dataclass
class ReplaySummary:
    rows: int
    rejected: int
    report: PublishReport | None
    rejects_files: list[Path]

    @property
    def exit_code(self) -> int:
        r = self.report
        if r is not None and r.interrupted:
            return EXIT_INTERRUPTED
        if r is not None and r.undelivered:
            return EXIT_UNDELIVERED
        return EXIT_REJECTS if self.rejected else EXIT_OK

    def lines(self) -> list[str]:
        r = self.report
        out = [f"rejected {self.rejected:,} row(s)"]
        out += [f"  rejects written to {p}" for p in self.rejects_files]
        if r is not None:
            out.insert(0, f"sent {r.delivered:,} of {self.rows:,} row(s) in {r.elapsed:.2f} s "
                          f"({r.rate:,.0f} rows/s)")
            if r.undelivered:
                out.append(f"UNDELIVERED {r.undelivered:,} message(s): {'; '.join(r.errors[:3])}")
            if r.interrupted:
                out.append(f"interrupted: {r.sent:,} handed to Kafka, "
                           f"{self.rows - r.sent:,} not sent")
        return out


def run_replay(
    paths: Sequence[Path],
    settings: ProducerSettings,
    *,
    rate: float | None = None,
    speed: float | None = None,
    strict: bool = False,
    rejects_dir: Path | None = None,
    progress_stream: TextIO | None = None,
) -> ReplaySummary:
    """Load, write rejects, then publish (unless `strict` and something was rejected)."""
    pacer = Pacer(rate, speed)
    loaded = load(paths)
    files = [write_rejects(errs, rejects_path(src, rejects_dir))
             for src, errs in loaded.rejects.items()]
    for src, errs in loaded.rejects.items():
        for err in errs[:5]:
            log.warning("%s:%d: %s", src, err.line, err.reason)
    if strict and loaded.rejected:
        first_src, first = next(iter(loaded.rejects.items()))
        raise ReplayError(
            f"--strict: {loaded.rejected} bad row(s), nothing sent; first: "
            f"{first_src}:{first[0].line}: {first[0].reason} (all in {files[0]})"
        )
    stream = progress_stream if progress_stream is not None else sys.stderr
    progress = Progress(len(loaded.records), stream) if stream.isatty() else None
    report = publish(loaded.records, settings, len(loaded.records), pacer, progress)
    return ReplaySummary(len(loaded.records), loaded.rejected, report, files)
