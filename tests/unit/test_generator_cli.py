"""`auditstream generate` from the command line: files, determinism, argument errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditstream.cli import main
from shared.csv_io import iter_csv
from shared.schemas import CSV_FIELDS


def test_generate_writes_identical_historic_csv_for_the_same_arguments(tmp_path: Path) -> None:
    args = ["generate", "--customers", "20", "--days", "15", "--seed", "5",
            "--anomaly-rate", "burst=0.02", "--start", "2024-03-01"]
    assert main([*args, "--out", str(tmp_path / "a.csv")]) == 0
    assert main([*args, "--out", str(tmp_path / "b.csv")]) == 0
    data = (tmp_path / "a.csv").read_bytes()
    assert data == (tmp_path / "b.csv").read_bytes()
    assert data.decode().splitlines()[0] == ",".join(CSV_FIELDS)
    rows = [item for item in iter_csv(tmp_path / "a.csv") if isinstance(item, tuple)]
    assert rows and rows[0][1].timestamp.year == 2024
    assert any(tx.anomaly_type == "BURST" for _, tx in rows)


def test_generate_reference_recipe_from_the_cli(tmp_path: Path) -> None:
    assert main(["generate", "--recipe", "reference", "--out", str(tmp_path / "r.csv")]) == 0
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 8_026  # header + 8,025


def test_generate_without_a_destination_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate"]) == 2
    assert "--out" in capsys.readouterr().err


def test_unknown_anomaly_type_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        main(["generate", "--anomaly-rate", "FRAUD=0.1", "--out", "x.csv"])
