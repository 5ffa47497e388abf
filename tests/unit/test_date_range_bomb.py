"""run.json's date range asking for memory (`dashboard.pbix.date_rows`): a hand-edited or
damaged range beyond the event times allowed (`shared.dayfiles`, 1970-01-01 .. 2100-12-31)
is refused in one line, before any row is made. Found by the memory-bomb hunt of
2026-12-06: `0001-01-01 .. 9999-12-30`, 60 bytes, made 3.6 million rows (+1.3 GiB); to
9999-12-31 the same, then an `OverflowError` traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from dashboard.pbix import date_rows
from shared.dayfiles import FIRST_DAY, LAST_DAY
from shared.errors import UsageError

GROWTH_LIMIT_KIB = 64 * 1024
DAY = timedelta(days=1)

_PROBE = """
import json, pathlib, resource, sys, tempfile
from dashboard.pbix import date_rows
from shared.errors import UsageError
folder = pathlib.Path(tempfile.mkdtemp())
(folder / "run.json").write_text(sys.stdin.read())
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    said = f"{len(date_rows(folder))} rows"
except UsageError as exc:
    said = str(exc)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
print(said)
"""


def _run(tmp_path: Path, first: str, last: str) -> Path:
    (tmp_path / "run.json").write_text(json.dumps(
        {"date_range_first": first, "date_range_last": last}))
    return tmp_path


def test_a_range_of_every_date_is_refused_without_its_rows() -> None:
    run = json.dumps({"date_range_first": "0001-01-01", "date_range_last": "9999-12-30"})
    done = subprocess.run([sys.executable, "-c", _PROBE], input=run, text=True,
                          capture_output=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr[-400:]
    growth, said = done.stdout.splitlines()
    assert int(growth) < GROWTH_LIMIT_KIB, (growth, said)
    assert "date range 0001-01-01 .. 9999-12-30 is beyond the event times allowed " \
           "(1970-01-01 .. 2100-12-31)" in said, said


def test_the_whole_range_allowed_is_every_day_of_it(tmp_path: Path) -> None:
    days = [r["date"][:10] for r in date_rows(_run(tmp_path, "1970-01-01", "2100-12-31"))]
    assert (days[0], days[-1], len(days)) == ("1970-01-01", "2100-12-31",
                                              (LAST_DAY - FIRST_DAY).days + 1)


@pytest.mark.parametrize(("first", "last"), [
    (FIRST_DAY - DAY, FIRST_DAY), (LAST_DAY, LAST_DAY + DAY), (FIRST_DAY - DAY, LAST_DAY + DAY)])
def test_a_day_beyond_either_end_is_refused(tmp_path: Path, first: object, last: object) -> None:
    with pytest.raises(UsageError, match=f"date range {first} .. {last} is beyond"):
        date_rows(_run(tmp_path, str(first), str(last)))
