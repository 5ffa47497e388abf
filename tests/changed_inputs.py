"""What the tests of an input changed or swapped while read share: review files to import,
and the refusal `score` gives such an input (`tests/unit/test_input_changed.py`,
`tests/unit/test_input_swapped.py`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import openpyxl
import pytest

from auditstream.cli import main
from shared.errors import ExitCode


def review_csv(path: Path, ids: Iterable[str]) -> Path:
    """A review file at `path`: each case of `ids` confirmed."""
    path.write_text("case_id,outcome\n" + "".join(f"{i},confirmed\n" for i in ids))
    return path


def review_xlsx(path: Path, ids: Iterable[str]) -> Path:
    """The same as a workbook of one sheet."""
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.append(["case_id", "outcome"])
    for i in ids:
        ws.append([i, "confirmed"])
    book.save(path)
    return path


def assert_score_refuses(f: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`score f --out out` is exit 2 saying `f` changed while read, and finishes no exports."""
    code = main(["score", str(f), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE, err
    assert f"{f} changed while it was read, the exports not finished" in err
    assert not (out / "run.json").exists()
