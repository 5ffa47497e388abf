"""Small `score` runs for the tests of an exports folder's writers: a.csv (30 normal rows
over 3 days) scored into `o/`, b.csv (40 burst rows a month later) beside it, and a
folder's files as bytes to compare before and after."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditstream.cli import main

HEADER = ("transaction_id,customer_id,timestamp,amount,country,channel,device,"
          "merchant_category,ip,is_anomaly,anomaly_type\n")


def write_inputs(folder: Path) -> None:
    """a.csv and b.csv in `folder`."""
    (folder / "a.csv").write_text(HEADER + "".join(
        f"a{i},c{i % 3},2025-01-0{1 + i % 3} 10:{i:02d}:00,{10 + i},CH,app,pc,food,,False,"
        "normal\n" for i in range(30)), encoding="utf-8")
    (folder / "b.csv").write_text(HEADER + "".join(
        f"b{i},c{i % 5},2025-02-0{1 + i % 3} 11:{i:02d}:00,{900 + i},CH,app,pc,food,,True,"
        "burst\n" for i in range(40)), encoding="utf-8")


def scored_a(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`tmp_path/o`, holding `score`'s run of a.csv (the Python core, a fixed sample key),
    with the working folder `tmp_path` holding a.csv and b.csv."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUDITSTREAM_CORE", "python")
    monkeypatch.setenv("EXPORTS_SAMPLE_KEY", "k" * 16)
    write_inputs(tmp_path)
    assert main(["score", "a.csv", "--out", "o"]) == 0
    return tmp_path / "o"


def files(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative POSIX path -> bytes)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}
