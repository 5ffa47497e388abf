"""Fixtures of the unit tests: `page`, the review page over a three-case file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.review_page import Running, cases_folder


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Running]:
    """`review serve`'s app serving `cases_folder`'s three cases, stopped after the test."""
    with Running(cases_folder(tmp_path / "ex")) as running:
        yield running
