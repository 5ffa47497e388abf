"""`dashboard_anomalies.pbix` is byte-reproducible: the same inputs give the same bytes.

Three real builds (about 20 s each): one here, one in another process from a copy of the
project (other pid, hash seed, folder and file mtimes, started seconds later), one from
exports with a single cell changed.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from dashboard.build import SAMPLE_EXPORTS
from dashboard.pbix import build_pbix
from dashboard.spec import NAME

ROOT = Path(__file__).resolve().parents[2]


def _environ() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, float]]:
    """The sample build, made in this process, and the time its build started."""
    out = tmp_path_factory.mktemp("baseline") / f"{NAME}.pbix"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("SOURCE_DATE_EPOCH", raising=False)
        started = time.time()
        build_pbix(ROOT, SAMPLE_EXPORTS, out)
        yield out, started


def _entries(pbix: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(pbix) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_a_rebuild_elsewhere_and_later_is_byte_identical(
    baseline: tuple[Path, float], tmp_path: Path
) -> None:
    """Another process (other pid and PYTHONHASHSEED) builds the same inputs from a copy of
    the project (another folder, fresh file mtimes) at least 2 s later (a ZIP date's
    resolution): the bytes are the same as the first build's."""
    first, started = baseline
    copy = tmp_path / "project"
    copy.mkdir()
    shutil.copy(ROOT / f"{NAME}.pbip", copy)
    for folder in (f"{NAME}.SemanticModel", f"{NAME}.Report"):
        shutil.copytree(ROOT / folder, copy / folder)
    while time.time() < started + 2.5:
        time.sleep(0.1)
    second = tmp_path / f"{NAME}.pbix"
    seed = "1" if os.environ.get("PYTHONHASHSEED") != "1" else "2"
    env = _environ() | {"PYTHONHASHSEED": seed}
    code = ("import sys; from pathlib import Path; from dashboard.pbix import build_pbix; "
            "build_pbix(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))")
    subprocess.run([sys.executable, "-c", code, str(copy), str(SAMPLE_EXPORTS), str(second)],
                   env=env, check=True, capture_output=True)
    assert time.time() - started > 2
    assert _entries(second).keys() == _entries(first).keys()
    for name, content in _entries(first).items():
        assert _entries(second)[name] == content, name
    assert hashlib.sha256(second.read_bytes()).hexdigest() == \
        hashlib.sha256(first.read_bytes()).hexdigest()


def test_one_changed_cell_changes_the_model_bytes(
    baseline: tuple[Path, float], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same project with one score changed in one day file (run.json untouched, so the
    build's date is the same): the DataModel differs, the report entries do not."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    exports = tmp_path / "exports"
    shutil.copytree(SAMPLE_EXPORTS, exports)
    day = sorted((exports / "scored").glob("*.csv"))[3]
    with day.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    before = rows[0]["score"]
    rows[0]["score"] = "0.123457" if before != "0.123457" else "0.654321"
    with day.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    changed = _entries(build_pbix(ROOT, exports, tmp_path / f"{NAME}.pbix"))
    first = _entries(baseline[0])
    assert changed.keys() == first.keys()
    assert changed["DataModel"] != first["DataModel"]
    assert {n: c for n, c in changed.items() if n.startswith("Report/")} == \
        {n: c for n, c in first.items() if n.startswith("Report/")}


def test_entries_are_dated_by_the_snapshot_in_canonical_order(
    baseline: tuple[Path, float]
) -> None:
    """Without SOURCE_DATE_EPOCH every entry carries how far run.json's event time got (its
    `event_watermark`; the sample has one since 2026-12-07. UTC; a ZIP date has 2 s
    resolution), whatever the clock or the files' mtimes said; entries come in name order
    after [Content_Types].xml, each a 0644 regular file."""
    run = json.loads((SAMPLE_EXPORTS / "run.json").read_text(encoding="utf-8"))
    assert run["event_watermark"] != run["event_time_max"]  # tells the two rules apart
    newest = datetime.fromisoformat(run["event_watermark"])
    expected = (newest.year, newest.month, newest.day, newest.hour, newest.minute,
                newest.second - newest.second % 2)
    with zipfile.ZipFile(baseline[0]) as archive:
        infos = archive.infolist()
    assert {info.date_time for info in infos} == {expected}
    names = [info.filename for info in infos]
    assert names[0] == "[Content_Types].xml" and names[1:] == sorted(names[1:])
    assert {info.external_attr >> 16 for info in infos} == {0o100644}
    methods = {info.filename: info.compress_type for info in infos}
    assert methods.pop("DataModel") == zipfile.ZIP_STORED  # already XPress9-compressed
    assert set(methods.values()) == {zipfile.ZIP_DEFLATED}


def test_the_committed_pbix_is_what_the_build_makes(baseline: tuple[Path, float]) -> None:
    """`dashboard_anomalies.pbix` in the repository is byte for byte a fresh build of the
    project and the sample (`auditstream dashboard build`): what users open is what the
    code says, and a change of the spec or the sample without a rebuild fails here."""
    committed = ROOT / f"{NAME}.pbix"
    assert hashlib.sha256(committed.read_bytes()).hexdigest() == \
        hashlib.sha256(baseline[0].read_bytes()).hexdigest(), (
        "rebuild it: env -u SOURCE_DATE_EPOCH auditstream dashboard build")
