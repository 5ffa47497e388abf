"""The services' own small files read only as regular files (`shared.outputs.open_text`):
the detector's failure count (`<state_dir>/<transactional id>.failures.json`, read as it
starts) and the sink's `status.csv` (read by `python -m sink.health`, the container's
health check). Hostile probe of 2026-12-06: a FIFO at either name hung its reader for
ever (the detector before it consumed anything, restarted by nobody; the health check
until Docker's timeout), a symbolic link was read through to any file."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from detector.circuit import FailureCircuit
from sink.health import check
from tests.fifo_guard import within

SAYS = {"fifo": "is a FIFO or device, not a regular file",
        "folder": "is a folder, not a regular file",
        "link": "is a symbolic link, not a regular file"}


def _plant(path: Path, kind: str, text: str) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        elsewhere = path.with_name("elsewhere")
        elsewhere.write_text(text)
        path.symlink_to(elsewhere)


@pytest.mark.parametrize("kind", ["fifo", "folder", "link"])
def test_the_failure_count_at_a_name_that_is_no_regular_file_is_ignored_with_a_warning(
        tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture) -> None:
    """As an unreadable count is (the count then starts again): never waited on, never
    read through a link; the next failure's count is kept beside it, not written into it."""
    path = tmp_path / "d.failures.json"
    _plant(path, kind, '{"partition": 0, "offset": 5, "count": 2, "error": "x"}')
    with caplog.at_level(logging.WARNING, logger="detector"):
        circuit = within(8, path, lambda: FailureCircuit(path, 3))
    assert circuit.last is None
    assert f"ignoring unreadable failure count {path}: {path} {SAYS[kind]}" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="detector"):
        assert circuit.failed(0, 5, RuntimeError("boom")).count == 1  # no exit 2 nor hang
    if kind == "fifo":
        assert "could not keep the failure count" in caplog.text


def test_a_regular_failure_count_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "d.failures.json"
    path.write_text('{"partition": 0, "offset": 5, "count": 2, "error": "x"}')
    assert FailureCircuit(path, 3).last is not None


@pytest.mark.parametrize("kind", ["fifo", "folder", "link"])
def test_the_health_check_names_a_status_file_that_is_no_regular_file(
        tmp_path: Path, kind: str) -> None:
    path = tmp_path / "status.csv"
    _plant(path, kind, "heartbeat_at,lag_messages,last_row_written_at\n2026-12-06T00:00:00,,\n")
    verdict = within(8, path, lambda: check(tmp_path, datetime(2026, 12, 6, tzinfo=UTC)
                                             .replace(tzinfo=None)))
    assert not verdict.healthy
    assert verdict.reason.startswith(f"cannot read {path}: {path} {SAYS[kind]}"), verdict
