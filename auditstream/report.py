"""report.html fed by the sink: its rollup state becomes the page's volume counts.

The sink calls `write_report_from_rollup` after each rollup refresh (it is injected here, at
the root, and by the `auditstream.sink` entry point for `python -m sink`), so the page is
written from the same counts, tables and run.json content the refresh wrote, and reads no
file back.
`write_report_from_exports` is for a folder with no live sink (`auditstream dashboard
report`): it counts the day files (`scored/`) once with the sink's own `VolumeCounts`.
"""

from __future__ import annotations

import csv
import logging
import os
from itertools import islice
from pathlib import Path

from dashboard.report import VolumeCubes, damaged, write_report
from shared.columns import SCORED_COLUMNS
from shared.csv_lines import BoundedLines, LineTooLong
from shared.outputs import open_regular
from sink.days import day_files
from sink.exports import SCORED_FILE, Rollups
from sink.volume import VolumeCounts

log = logging.getLogger(__name__)

#: Rows of a scored CSV counted at a time.
CHUNK = 50_000


def cubes_of(counts: VolumeCounts) -> VolumeCubes:
    return VolumeCubes(rows=counts.rows, cubes=counts.cubes())


def write_report_from_rollup(rollups: Rollups, folder: Path) -> Path:
    """The sink's `on_rollup`: report.html from what the rollup refresh just wrote."""
    tables = {Path(name).stem: [dict(zip(header, row, strict=True)) for row in rows]
              for name, (header, rows) in rollups.tables.items()}
    return write_report(folder, cubes_of(rollups.state.volume), tables, rollups.run)


def count_scored_csv(*files: Path) -> VolumeCounts | None:
    """The volume counts of scored CSVs (day files, or a transactions_scored.csv); None if
    there are none, one is absent or one has other columns."""
    counts = VolumeCounts()
    width = len(SCORED_COLUMNS)
    for scored in files:
        try:  # a regular file at the name: a FIFO waited for ever, a folder a traceback
            # utf-8-sig: a day file Excel saved back ("CSV UTF-8") starts with a BOM, which
            # read as a cell made its header "other columns" and the report chartless
            fh = open(open_regular(scored, os.O_RDONLY),  # noqa: SIM115 - closed below
                      newline="", encoding="utf-8-sig")
        except FileNotFoundError:
            return None
        with fh:
            rows = csv.reader(BoundedLines(fh))  # a 1 GB line was read whole
            try:
                if tuple(next(rows, ())) != SCORED_COLUMNS:
                    log.warning("report.html without volume charts: %s has other columns",
                                scored)
                    return None
                done = 0
                while chunk := list(islice(rows, CHUNK)):  # memory bounded by the chunk
                    at = next((i for i, r in enumerate(chunk) if len(r) != width), None)
                    if at is not None:
                        raise damaged(scored, f"data row {done + at + 1} has "
                                      f"{len(chunk[at])} of the {width} columns")
                    counts.update(chunk)
                    done += len(chunk)
            except UnicodeDecodeError:
                raise damaged(scored, "not UTF-8 text") from None
            except LineTooLong as exc:
                raise damaged(scored, str(exc)) from None
            except csv.Error as exc:
                raise damaged(scored, f"line {rows.line_num}: {exc}") from None
    return counts if files else None


def write_report_from_exports(folder: Path, into: Path | None = None) -> Path:
    """report.html of a folder, written there (or into the folder `into`): its day files
    counted (or, in a folder of the reference project's layout without `scored/`, its
    transactions_scored.csv)."""
    files = day_files(Path(folder)) or [Path(folder) / SCORED_FILE]
    counts = count_scored_csv(*files)
    return write_report(folder, None if counts is None else cubes_of(counts), into=into)

