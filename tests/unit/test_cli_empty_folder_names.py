"""An empty folder name is refused where a folder is given (probe of 2026-12-05, after the
leftovers): `Path("")` is `.`, so `score in.csv --out "$UNSET"` wrote its exports into the
working folder with exit 0, `--rejects-dir ''` put the reports there, and `dashboard
sample ''` wrote a sample there. Each is now one usage line, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditstream.cli import build_parser, main
from shared.csv_io import write_transactions_csv
from shared.errors import ExitCode
from tests.unit.test_core_engine import stream

CASES = [
    (["score", "in.csv", "--out", ""], "--out"),
    (["score", "in.csv", "--out", "out", "--rejects-dir", ""], "--rejects-dir"),
    (["replay", "in.csv", "--rejects-dir", ""], "--rejects-dir"),
    (["sink", "--exports", ""], "--exports"),
    (["demo", "--exports", ""], "--exports"),
    (["review", "import", "in.csv", "--exports", ""], "--exports"),
    (["review", "import", "in.csv", "--rejects-dir", ""], "--rejects-dir"),
    (["review", "serve", "--exports", ""], "--exports"),
    (["dashboard", "sample", ""], "out"),
    (["dashboard", "report", ""], "exports"),
    (["dashboard", "build", "--out", ""], "--out"),
    (["dashboard", "build", "--exports", ""], "--exports"),
    (["dashboard", "screenshots", "--out", ""], "--out"),
    (["dashboard", "screenshots", "--exports", ""], "--exports"),
]


@pytest.mark.parametrize(("argv", "option"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_an_empty_folder_name_is_one_usage_line_and_nothing_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        argv: list[str], option: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EXPORTS_SAMPLE_KEY", "a-test-key-of-our-own")
    write_transactions_csv(stream(n=30, customers=3, seed=5), tmp_path / "in.csv")
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == ExitCode.USAGE
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith(f"argument {option}: an empty name; give a folder ('.' for this one)"), err
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("argv", [["score", "in.csv", "--out", "."],
                                  ["dashboard", "sample", "."], ["sink", "--exports", "."]])
def test_the_working_folder_can_still_be_named(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert Path(".") in {getattr(args, name, None) for name in ("out", "exports")}
