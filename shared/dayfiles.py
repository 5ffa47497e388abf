"""What a day file is: the one rule, for the sink, `score`, report.html and Power BI.

A day file is a regular file directly in `scored/` named exactly
`transactions_scored_YYYY-MM-DD.csv`, where `YYYY-MM-DD` is a real calendar date in the
event times' range (`shared.schemas`: 1970-01-01 to 2100-12-31), ASCII digits, lower-case
name. Nothing else is: not `transactions_scored_2025-01-01 - Copy.csv` (what Windows
Explorer names a copy), `..._2025-01-01(1).csv`, `..._2025-1-1.csv`, `..._2025-02-30.csv`,
`..._9999-99-99.csv`, nor a folder, a symbolic link or a file in a subfolder named like
one. The sink (`sink.days`), `score`, report.html and the `.pbix` build read `day_files`;
the Power BI query (`dashboard.tmdl`) tests the same rule in M, from these constants.

An entry of `scored/` whose name starts like a day file but is none (`strangers`) is never
read, counted, cut, appended to or deleted; the sink and `score` name it in a warning at
start, since an older dashboard (which took any `transactions_scored_*.csv`) loads it.
"""

from __future__ import annotations

import os
import re
import stat
from datetime import date, timedelta
from pathlib import Path

from shared.schemas import MAX_TIMESTAMP, MIN_TIMESTAMP

#: The folder of the day files, in an exports folder.
SCORED_DIR = "scored"
PREFIX = "transactions_scored_"
SUFFIX = ".csv"
#: The day as it stands in the name (Python `strftime` and Power Query `Date.ToText`).
DATE_FORMAT = "%Y-%m-%d"
M_DATE_FORMAT = "yyyy-MM-dd"
DATE_CHARS = len("YYYY-MM-DD")
#: Every day file's name has exactly this many characters.
NAME_CHARS = len(PREFIX) + DATE_CHARS + len(SUFFIX)
#: The first and last day a day file can be of (the schema's event time range).
FIRST_DAY = MIN_TIMESTAMP.date()
LAST_DAY = (MAX_TIMESTAMP - timedelta(days=1)).date()

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_day(text: str) -> date | None:
    """The date `text` names if it is exactly `YYYY-MM-DD` (ASCII digits), a real calendar
    date in [FIRST_DAY, LAST_DAY]; else None."""
    if not _DATE.fullmatch(text):
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:  # 2025-02-30, month 13
        return None
    return day if FIRST_DAY <= day <= LAST_DAY else None


def file_name(day: str) -> str:
    """The name of `day`'s file (`day` is `YYYY-MM-DD`)."""
    return f"{PREFIX}{day}{SUFFIX}"


def day_of(name: str) -> str | None:
    """`YYYY-MM-DD` of a day file's name (a bare name, or a path: its last part), or None
    for any other name."""
    base = name.rsplit("/", 1)[-1]
    if len(base) != NAME_CHARS or not base.startswith(PREFIX) or not base.endswith(SUFFIX):
        return None
    text = base[len(PREFIX):len(PREFIX) + DATE_CHARS]
    return text if parse_day(text) else None


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(Path(folder) / SCORED_DIR) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _is_regular(entry: os.DirEntry[str]) -> bool:
    """A regular file itself (a symbolic link is not, whatever it points to)."""
    try:
        return stat.S_ISREG(entry.stat(follow_symlinks=False).st_mode)
    except FileNotFoundError:  # removed meanwhile
        return False


def day_files(folder: Path) -> list[Path]:
    """The day files of an exports folder, oldest day first."""
    return sorted(Path(e.path) for e in _entries(folder)
                  if day_of(e.name) is not None and _is_regular(e))


def strangers(folder: Path) -> list[Path]:
    """Entries of `scored/` that look like day files and are not (a copy, a name that is
    no date, a folder or symbolic link at a day file's name), by name."""
    return sorted(Path(e.path) for e in _entries(folder) if e.name.startswith(PREFIX)
                  and (day_of(e.name) is None or not _is_regular(e)))
