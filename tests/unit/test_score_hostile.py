"""`auditstream score` against an unlucky moment: an input that changes while it is read is
refused (exit 2), the exports not finished (run.json and the rollups as they were), rather
than finished with a run.json whose input_sha256 describes other bytes than the rows
scored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditstream import score
from auditstream.cli import main
from detector import offline
from shared.csv_io import write_transactions_csv
from shared.schemas import ScoredTransaction, Transaction
from tests.unit.test_core_engine import stream
from tests.unit.test_score_stream import _files


@pytest.fixture(scope="module")
def rows() -> list[Transaction]:
    return stream(n=700, customers=20, seed=5)


def _changing(change: Any) -> Any:
    """`score_batches` that calls `change()` once the first batch is scored."""
    real = offline.score_batches

    def batches(*args: Any, **kwargs: Any) -> Iterator[list[ScoredTransaction]]:
        for i, batch in enumerate(real(*args, **kwargs)):
            if i == 0:
                change()
            yield batch

    return batches


@pytest.mark.parametrize("how", ["appended", "rewritten", "replaced"])
def test_an_input_changed_while_it_is_scored_is_refused_and_the_exports_kept(
        rows: list[Transaction], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], how: str) -> None:
    source = tmp_path / "in.csv"
    write_transactions_csv(rows[:600], source)
    out = tmp_path / "out"
    assert main(["score", str(source), "--out", str(out)]) == 0
    before = _files(out)
    capsys.readouterr()

    def change() -> None:
        if how == "appended":  # a job still writing the file
            text = (tmp_path / "more.csv")
            write_transactions_csv(rows[600:], text)
            with source.open("a", encoding="utf-8") as fh:
                fh.writelines(text.read_text().splitlines(keepends=True)[1:])
        elif how == "rewritten":  # the same size, other bytes, in place
            data = source.read_bytes()
            source.write_bytes(data.replace(b",CH,", b",FR,"))
        else:  # a new file renamed over it
            write_transactions_csv(rows[100:], tmp_path / "new.csv")
            (tmp_path / "new.csv").replace(source)

    monkeypatch.setattr(offline, "BATCH", 100)
    monkeypatch.setattr(score, "score_batches", _changing(change))
    assert main(["score", str(source), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("auditstream score: error: ") and "Traceback" not in err
    assert f"{source} changed while it was read" in err
    after = _files(out)
    # not finished: run.json and every rollup as they were; a day file closed on the way is
    # whole (as `ExportWriter` leaves an abandoned run)
    assert {k: v for k, v in after.items() if not k.startswith("scored/")} == {
        k: v for k, v in before.items() if not k.startswith("scored/")}
    assert after.keys() == before.keys()
