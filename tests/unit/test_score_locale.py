"""`score`'s run.json is the same under every locale (`auditstream.score.input_name`).

Before: run.json's `inputs` held the file name as Python decoded it by the locale, so the
same `données.csv` scored with the same seed gave `donn\\u00e9es.csv` under a UTF-8
locale, `donn\\u00c3\\u00a9es.csv` under a Latin-1 one and `donn\\udcc3\\udca9es.csv` (lone
surrogates) under `LC_ALL=C` without UTF-8 mode.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditstream.score import input_name

ROOT = Path(__file__).resolve().parents[2]
ROWS = ("transaction_id,customer_id,timestamp,amount,country,channel,device,"
        "merchant_category,ip,is_anomaly,anomaly_type\n"
        "1,c1,2025-01-01 10:00:00,12.5,CH,app,mobile,café,,False,normal\n"
        "2,c2,2025-01-01T11:00:00+05:30,40,CH,web,pc,grocery,,False,normal\n")
#: The C locale exists everywhere; Python's UTF-8 mode and locale coercion turned off.
ASCII_LOCALE = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}


def _run_json(folder: Path, locale: dict[str, str]) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUDITSTREAM_CORE": "python", **locale}
    done = subprocess.run(
        [sys.executable, "-m", "auditstream", "score", "données.csv", "--out", "e"],
        cwd=folder, env=env, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-600:]
    run: dict[str, object] = json.loads((folder / "e" / "run.json").read_bytes())
    del run["written_at"]  # the wall clock
    return run


def test_run_json_names_the_input_alike_under_an_ascii_and_a_utf8_locale(
    tmp_path: Path,
) -> None:
    runs = []
    for name, locale in (("utf8", {"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}),
                         ("ascii", ASCII_LOCALE)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "données.csv").write_text(ROWS, encoding="utf-8")
        runs.append(_run_json(tmp_path / name, locale))
    assert runs[1]["inputs"] == ["données.csv"]
    assert runs[0] == runs[1]


@pytest.mark.parametrize(("raw", "name"), [
    (b"donn\xc3\xa9es.csv", "données.csv"),
    (b"caf\xe9.csv", "caf\\xe9.csv"),  # not UTF-8: the byte as an escape, valid JSON text
    (b"dir/plain.csv", "dir/plain.csv"),
])
def test_input_name_reads_a_names_bytes_as_utf8(raw: bytes, name: str) -> None:
    assert input_name(Path(os.fsdecode(raw))) == name
    assert json.loads(json.dumps(name, ensure_ascii=False).encode("utf-8")) == name
