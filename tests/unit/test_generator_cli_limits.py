"""`auditstream generate` at its limits, found probing the CLI (2026-12-05): a size that
ate memory for minutes, a span past 2100 refused only after generating it, a `--start`
with a clock and zone taken silently, and an `--out` device replaced by a file."""

from __future__ import annotations

import os
import stat
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from auditstream.cli import main
from producer.generator import GeneratorConfig
from producer.limits import MAX_CUSTOMERS, MAX_ROWS
from producer.reference_recipe import ReferenceConfig
from shared.atomic import atomic_write_bytes
from shared.errors import ExitCode, UsageError

SMALL = ["--customers", "3", "--days", "3"]


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("auditstream generate: error: "), err
    return err[0]


@pytest.mark.parametrize("args", [
    ["--customers", "1000000000"],                          # ran 10 minutes, 2.9 GB, on
    ["--customers", "10", "--days", "1000000"],             # ran on past 2 minutes
    ["--tx-per-day", "1e9"],                                # numpy's 483 GiB, exit 70
    ["--recipe", "reference", "--transactions", "1000000000000"],  # 7.28 TiB, exit 70
])
def test_a_size_beyond_the_bound_is_refused_at_once_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
) -> None:
    out = tmp_path / "x.csv"
    started = time.monotonic()
    code = main(["generate", *args, "--out", str(out)])
    assert code == ExitCode.USAGE and not out.exists()
    assert time.monotonic() - started < 5  # refused, not generated first
    line = _one_error_line(capsys)
    assert "at most" in line


def test_the_row_bound_is_the_expected_rows_of_customers_days_and_rate() -> None:
    days = 100
    customers = MAX_ROWS // days  # exactly MAX_ROWS expected rows at 1 row a day
    GeneratorConfig(customers=customers, days=days, tx_per_customer_day=1.0)
    with pytest.raises(ValueError, match=f"too many rows: .*, at most {MAX_ROWS:,}"):
        GeneratorConfig(customers=customers + 1, days=days, tx_per_customer_day=1.0)
    with pytest.raises(ValueError, match=f"too many rows: .*, at most {MAX_ROWS:,}"):
        GeneratorConfig(customers=customers, days=days, tx_per_customer_day=1.0 + 1e-9)


def test_the_customer_bound_holds_whatever_the_rows() -> None:
    tiny = {"days": 1, "tx_per_customer_day": 1e-6}
    GeneratorConfig(customers=MAX_CUSTOMERS, **tiny)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=f"too many customers: .*, at most {MAX_CUSTOMERS:,}"):
        GeneratorConfig(customers=MAX_CUSTOMERS + 1, **tiny)  # type: ignore[arg-type]


def test_the_reference_recipe_has_the_same_bounds() -> None:
    ReferenceConfig(transactions=MAX_ROWS, customers=MAX_CUSTOMERS)
    with pytest.raises(ValueError, match=f"too many rows: .*, at most {MAX_ROWS:,}"):
        ReferenceConfig(transactions=MAX_ROWS + 1)
    with pytest.raises(ValueError, match=f"too many customers: .*, at most {MAX_CUSTOMERS:,}"):
        ReferenceConfig(customers=MAX_CUSTOMERS + 1)


@pytest.mark.parametrize("recipe", ["realistic", "reference"])
@pytest.mark.parametrize(("start", "days", "ok"), [
    ("2100-12-29", 3, True),   # the last day is 2100-12-31
    ("2100-12-29", 4, False),  # one day more: 2101-01-01
    ("1970-01-01", 5, True),
    ("1969-12-31", 5, False),
])
def test_the_days_must_fall_in_the_schema_range_before_anything_is_generated(
    recipe: str, start: str, days: int, ok: bool,
) -> None:
    """Before: the span was checked on the generated rows, after generating all of them
    (40,000 days: 30 s, then `a generated transaction's timestamp ... out of range`)."""
    cls = GeneratorConfig if recipe == "realistic" else ReferenceConfig
    first = datetime.fromisoformat(start)
    if ok:
        cls(start=first, days=days, customers=5)
        return
    with pytest.raises(ValueError, match="1970-2100") as exc:
        cls(start=first, days=days, customers=5)
    last = first + timedelta(days=days - 1)
    assert (f"{last:%Y-%m-%d}" in str(exc.value) if first.year > 2000
            else start in str(exc.value))


def test_a_long_span_past_2100_is_refused_from_the_cli_before_generating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "x.csv"
    started = time.monotonic()
    code = main(["generate", "--customers", "5", "--days", "40000", "--out", str(out)])
    assert code == ExitCode.USAGE and not out.exists()
    assert time.monotonic() - started < 5
    line = _one_error_line(capsys)
    assert "--days 40000" in line and "2134-07-08" in line


@pytest.mark.parametrize("start", [
    "2025-01-01T23:59:59+05:00", "2025-01-01 12:34:56.789", "20250101", "2025-W01-3",
])
def test_a_start_that_is_not_a_plain_date_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], start: str,
) -> None:
    """Before: the clock time (and zone) shifted every generated timestamp, silently
    (`12:34:56.789` gave every row a `.789000` fraction), though the help says YYYY-MM-DD."""
    out = tmp_path / "x.csv"
    with pytest.raises(SystemExit) as exc:
        main(["generate", *SMALL, "--start", start, "--out", str(out)])
    assert exc.value.code == ExitCode.USAGE and not out.exists()
    assert f"not a date: {start!r} (use YYYY-MM-DD)" in capsys.readouterr().err


def _fifo(tmp_path: Path) -> Path:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    return fifo


def test_out_naming_a_pipe_or_device_is_refused_and_left_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """Before: the atomic rename replaced it with a regular file, exit 0 (as root,
    `--out /dev/full` replaced the machine's /dev/full with a CSV)."""
    fifo = _fifo(tmp_path)
    code = main(["generate", *SMALL, "--out", str(fifo)])
    assert code == ExitCode.USAGE and stat.S_ISFIFO(fifo.lstat().st_mode)
    line = _one_error_line(capsys)
    assert "not a regular file" in line and str(fifo) in line


def test_an_atomic_write_never_replaces_a_pipe_or_a_link_to_one(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path)
    link = tmp_path / "link.csv"
    link.symlink_to(fifo)
    for target in (fifo, link):
        with pytest.raises(UsageError, match="not a regular file"):
            atomic_write_bytes(target, b"x")
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.csv", "pipe.csv"]


def test_an_atomic_write_still_replaces_a_regular_file(tmp_path: Path) -> None:
    target = tmp_path / "x.csv"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"


@pytest.mark.parametrize(("flag", "value", "ok"), [
    ("--travel-gap-hours", "72", True),          # the shortest stay, 3 days
    ("--travel-gap-hours", "72.01", False),
    ("--travel-gap-hours", "1e300", False),      # was numpy's "high is out of bounds for int64"
    ("--duplicate-window-minutes", "1440", True),  # a day
    ("--duplicate-window-minutes", "1440.01", False),
    ("--duplicate-window-minutes", "1e12", False),  # was taken: twins 1.9 million years on
    ("--duplicate-window-minutes", "1e300", False),
])
def test_a_gap_or_window_beyond_its_meaning_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, ok: bool,
) -> None:
    out = tmp_path / "x.csv"
    code = main(["generate", *SMALL, flag, value, "--out", str(out)])
    if ok:
        assert code == ExitCode.OK and out.exists()
        return
    assert code == ExitCode.USAGE and not out.exists()
    line = _one_error_line(capsys)
    assert flag in line and "int64" not in line  # the flag, not the knob (2026-12-06)


def test_a_start_in_the_first_centuries_is_named_as_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """`%Y` writes the year 1 as `1` on Linux: the message said `--start 1-01-01`."""
    code = main(["generate", *SMALL, "--start", "0001-01-01", "--out", str(tmp_path / "x.csv")])
    assert code == ExitCode.USAGE
    assert "--start 0001-01-01 is before 1970-01-01" in _one_error_line(capsys)
