"""The scored rows of an exports folder, read back from its day files (`scored/`).

`transactions_scored.csv` is written only with `EXPORTS_SINGLE_FILE`, so the tests read the
day files, in day order (each file's rows in stream order), as the Power BI model does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from sink import days as dy


def read_scored(folder: Path, **read_csv: Any) -> pd.DataFrame:
    """Every scored row of `folder`; by default as text cells (exact comparison)."""
    options: dict[str, Any] = {"dtype": str, "keep_default_na": False}
    if read_csv:
        options = read_csv
    files = dy.day_files(folder)
    assert files, f"no day files in {folder}/{dy.SCORED_DIR}"
    return pd.concat([pd.read_csv(f, **options) for f in files], ignore_index=True)


def scored_lines(folder: Path) -> list[str]:
    """Every data line of the day files (headers dropped), in day order."""
    lines: list[str] = []
    for path in dy.day_files(folder):
        lines += path.read_text(encoding="utf-8").splitlines()[1:]
    return lines
