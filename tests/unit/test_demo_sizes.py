"""`demo` refuses a size `generate` would refuse before it starts anything (probe of
2026-12-05, after the leftovers): `demo --customers 2000000` started the local broker,
created the run's topics, started a sink and a detector, and only then did its `generate`
step fail, exit 2 after a minute of work. The bound is generate's (producer/limits.py):
customers x days x 2.2 rows at most 5,000,000."""

from __future__ import annotations

from pathlib import Path

import pytest

import auditstream.demo as demo
from auditstream.cli import main
from producer.limits import MAX_ROWS
from shared.errors import ExitCode

#: The demo's rows per customer and day (generate's default --tx-per-day).
PER_DAY = 2.2


def _largest(days: int) -> int:
    """The most customers `days` days of the demo's stream may hold (generate's limit)."""
    n = int(MAX_ROWS / (days * PER_DAY))
    while (n + 1) * days * PER_DAY <= MAX_ROWS:
        n += 1
    return n


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    calls: list[tuple[int, int]] = []

    def run(self: demo.Demo) -> int:
        calls.append((self.args.customers, self.args.days))
        return 0

    monkeypatch.setattr(demo.Demo, "run", run)
    return calls


@pytest.mark.parametrize("days", [90, 7])
def test_a_demo_too_large_to_generate_starts_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], started: list[tuple[int, int]],
        days: int) -> None:
    most = _largest(days)
    for customers in (most - 1, most):
        assert main(["demo", "--customers", str(customers), "--days", str(days),
                     "--exports", str(tmp_path / "e")]) == 0
    assert main(["demo", "--customers", str(most + 1), "--days", str(days),
                 "--exports", str(tmp_path / "e")]) == ExitCode.USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"auditstream demo: error: too many rows: about "
                   f"{round((most + 1) * days * PER_DAY):,} from --customers {most + 1} and "
                   f"--days {days} at {PER_DAY:g} rows a customer-day, at most {MAX_ROWS:,} "
                   "(about 1.8 KB of memory each while generating); nothing started "
                   "(--customers, --days)"]
    assert started == [(most - 1, days), (most, days)]
    assert not (tmp_path / "e").exists()


def test_a_demo_past_2100_starts_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        started: list[tuple[int, int]]) -> None:
    assert main(["demo", "--customers", "1", "--days", "40000",
                 "--exports", str(tmp_path / "e")]) == ExitCode.USAGE
    assert "after 2100-12-31" in capsys.readouterr().err
    assert started == []
