"""bench/unseen_kinds.py never writes over its own input and never leaves half a file
(hostile probe, 2026-12-05: `OUT` naming the source or a `--mix-in` replaced that labelled
ground truth with the injected copy, and a Ctrl-C while writing left a truncated CSV)."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from producer.generator import GeneratorConfig, generate
from shared.csv_io import write_transactions_csv

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import unseen_kinds


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    source, mix = tmp_path / "base.csv", tmp_path / "mix.csv"
    write_transactions_csv(generate(GeneratorConfig(seed=3, customers=40, days=20)), source)
    write_transactions_csv(generate(GeneratorConfig(seed=4, customers=10, days=20)), mix)
    (tmp_path / "sub").mkdir()
    return source, mix


@pytest.mark.parametrize("out", ["base.csv", "sub/../base.csv", "mix.csv", "./mix.csv",
                                 "hard-link-to-base.csv"])
def test_out_naming_an_input_is_refused_and_the_input_kept(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], out: str,
) -> None:
    source, mix = files
    monkeypatch.chdir(source.parent)
    os.link(source, "hard-link-to-base.csv")
    before = {p: p.read_bytes() for p in (source, mix)}
    with pytest.raises(SystemExit) as exc:
        unseen_kinds.main([source.name, out, "--mix-in", mix.name, "--rate", "0.01"])
    assert exc.value.code == 2
    assert {p: p.read_bytes() for p in (source, mix)} == before
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "error: " in err and "is also an input" in err


def test_an_interrupted_write_leaves_the_old_output_whole(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, _ = files
    out = source.parent / "out.csv"
    out.write_text("the old output\n")

    def interrupted(self: Any, rows: Any) -> None:
        self.writerow(next(iter(rows)))
        raise KeyboardInterrupt

    monkeypatch.setattr(csv.DictWriter, "writerows", interrupted)
    with pytest.raises(KeyboardInterrupt):
        unseen_kinds.main([str(source), str(out), "--rate", "0.01"])
    assert out.read_text() == "the old output\n"
    assert sorted(p.name for p in source.parent.iterdir()) == [
        "base.csv", "mix.csv", "out.csv", "sub"]


def test_a_new_output_is_written_whole(files: tuple[Path, Path]) -> None:
    source, mix = files
    out = source.parent / "new.csv"
    assert unseen_kinds.main([str(source), str(out), "--mix-in", str(mix)]) == 0
    with open(out, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(source, encoding="utf-8", newline="") as f:
        n_source = sum(1 for _ in csv.DictReader(f))
    assert len(rows) > n_source and any(r["customer_id"].startswith("m1-") for r in rows)
